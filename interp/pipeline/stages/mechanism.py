"""Stage ``mechanism``: do the consistency methods of one organism change it the same way?

One unit per organism (``mechanism.enabled``, two or more methods). Every checkpoint (before and
each ``after:<m>``) is captured on the failure mode's first ``mechanism.rows`` clean and wrapped
prompts (the act_bct pairs, response mean at every captured layer); per pair of methods and layer:

- ``shift_cosine_clean`` / ``shift_cosine_wrapped``: the cosine of their residual shifts after minus
  before (:func:`interp.sharpening.mechanism.shift_cosine_paired`, disjoint halves);
- ``persona_shift_cosine``: the cosine of their shifts of the persona direction (class-mean
  difference on the contrast capture, after minus before, disjoint halves:
  :func:`interp.sharpening.convergence.shift_cosine`);
- ``latent_overlap`` (with the SAE stage on): the Jaccard overlap of the ``sae_top`` latents of the
  organism's SAE each method moves most on the wrapped prompts.

The seed-to-seed baseline: the same numbers for each method against itself on the next organism
seed of the same failure mode (rows ``kind = "seed baseline"``), each relative to its own before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import hooks, load_role, n_layers, organism_of, store

COLUMNS = ("failure_mode", "seed", "a", "b", "kind", "layer", "hook", "metric", "value", "ci_low", "ci_high", "p", "n")


def _methods(config: ExperimentConfig, o: Any) -> list[str]:
    return [m for m in o.methods if config.mechanism.methods is None or m in config.mechanism.methods]


def _partner(config: ExperimentConfig, o: Any) -> Any:
    """The next organism seed of the same failure mode (cyclic), None when there is only one."""
    same = [x for x in config.organisms() if x.failure_mode == o.failure_mode]
    return same[(same.index(o) + 1) % len(same)] if len(same) > 1 else None


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    if not config.mechanism.enabled:
        return
    for o in config.organisms():
        methods = _methods(config, o)
        if len(methods) < 2:
            continue
        other = _partner(config, o)
        roles = [(o, "before"), *((o, f"after:{m}") for m in methods)]
        if other is not None:
            roles += [(other, "before"), *((other, f"after:{m}") for m in methods if m in other.methods)]
        deps = tuple(dict.fromkeys(d for org, r in roles for d in (org.producer(r), f"capture/{org.id(r)}")))
        if config.sae.enabled:
            deps += (f"sae/{o.label}",)
        yield Unit(f"mechanism/{o.label}", "mechanism",
                   {"failure_mode": o.failure_mode, "seed": o.seed, "methods": methods,
                    "partner_seed": None if other is None else other.seed}, deps, loads=o.id("before"))


def _pairs_data(ctx: Context, fm: str, rows: int) -> tuple[Any, Any]:
    from interp.consistency import act_bct_pairs, unpair

    clean, wrapped = unpair(act_bct_pairs(fm, ctx.data_root).head(rows))
    return clean, wrapped


def _captured(ctx: Context, inputs: Inputs, fm: str, seed: int, role: str, sets: tuple[Any, Any],
              hook_names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """``{"clean" | "wrapped": {hook: [rows, d]}}`` of one checkpoint (cached like every capture)."""
    from interp.activations import CaptureConfig, capture

    lm = load_role(ctx, inputs, role, fm, seed)
    cfg = CaptureConfig(tuple(hook_names), positions="response_mean", batch_size=ctx.config.capture.batch_size)
    out = {}
    for name, data in zip(("clean", "wrapped"), sets, strict=True):
        st = capture(lm, data, cfg, progress=ctx.progress)
        out[name] = {h: st.load(h).numpy().astype(np.float64) for h in hook_names}
    return out


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    from interp.sharpening.convergence import shift_cosine
    from interp.sharpening.mechanism import shift_cosine_paired
    from probes import parse_layer

    fm, seed, methods, partner = (unit.params[k] for k in ("failure_mode", "seed", "methods", "partner_seed"))
    cfg = ctx.config.mechanism
    hook_names = hooks(ctx.config, n_layers(ctx.config))
    sets = _pairs_data(ctx, fm, cfg.rows)
    orgs = {seed: ["before", *(f"after:{m}" for m in methods)]}
    if partner is not None:
        other = organism_of(ctx.config, fm, partner)
        orgs[partner] = ["before", *(f"after:{m}" for m in methods if m in other.methods)]
    acts = {(s, r): _captured(ctx, inputs, fm, s, r, sets, hook_names) for s, roles in orgs.items() for r in roles}
    contrast = {(s, r): store(inputs, f"capture/{fm}/s{s}/{r}") for s, roles in orgs.items() for r in roles}

    comparisons = [("methods", (seed, a), (seed, b)) for a, b in combinations(methods, 2)]
    if partner is not None:
        comparisons += [("seed baseline", (seed, m), (partner, m)) for m in methods if f"after:{m}" in orgs[partner]]
    est = {"n_boot": cfg.n_boot, "seed": int(seed)}
    rows = []
    for kind, (sa, a), (sb, b) in comparisons:
        ra, rb = f"after:{a}", f"after:{b}"
        y = contrast[(sa, "before")].labels()
        for h in hook_names:
            meta = {"failure_mode": fm, "seed": seed, "a": f"{a}/s{sa}", "b": f"{b}/s{sb}", "kind": kind,
                    "layer": parse_layer(h), "hook": h}
            for which in ("clean", "wrapped"):
                da = acts[(sa, ra)][which][h] - acts[(sa, "before")][which][h]
                db = acts[(sb, rb)][which][h] - acts[(sb, "before")][which][h]
                e = shift_cosine_paired(da, db, n_splits=cfg.n_splits, **est)
                rows.append(meta | _row(f"shift_cosine_{which}", e, da.shape[0]))
            xa, xb = contrast[(sa, ra)].load(h).numpy(), contrast[(sb, rb)].load(h).numpy()
            # each run's shift of the persona direction relative to its own before: both before-relative
            x0a, x0b = contrast[(sa, "before")].load(h).numpy(), contrast[(sb, "before")].load(h).numpy()
            e = shift_cosine(xa - x0a + x0b, xb, x0b, y, contrast[(sb, "before")].groups(), n_splits=cfg.n_splits, **est)
            rows.append(meta | _row("persona_shift_cosine", e, len(y)))
    if ctx.config.sae.enabled:
        rows += _latent_rows(ctx, inputs, unit, comparisons, acts)
    return Outputs(write_tables(tmp, mechanism=pd.DataFrame(rows)))


def _row(metric: str, e: Any, n: int) -> dict[str, Any]:
    return {"metric": metric, "value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high, "p": e.p, "n": n}


def _latent_rows(ctx: Context, inputs: Inputs, unit: Unit, comparisons: list[Any],
                 acts: Mapping[tuple[int, str], Any]) -> list[dict[str, Any]]:
    """The overlap of the latents each run moves on the wrapped prompts, in the organism's SAE."""
    import torch

    from interp.pipeline.stages.sae import SAEOutputs
    from interp.sae import load_sae
    from interp.sae.latents import encode
    from interp.sharpening.mechanism import latent_overlap
    from probes import parse_layer

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    cfg = ctx.config.mechanism
    made = inputs.get_outputs(f"sae/{fm}/s{seed}", SAEOutputs)
    sae = load_sae(inputs.dir(f"sae/{fm}/s{seed}") / (made.sae_dir or "sae"))
    rows = []
    for kind, (sa, a), (sb, b) in comparisons:
        def moved(s: int, m: str) -> np.ndarray:
            f = [encode(sae, torch.as_tensor(acts[(s, r)]["wrapped"][made.hook], dtype=torch.float32)).numpy()
                 for r in (f"after:{m}", "before")]
            return np.asarray(f[0] - f[1], dtype=np.float64)
        e = latent_overlap(moved(sa, a), moved(sb, b), top=cfg.sae_top, n_boot=cfg.n_boot, n_splits=cfg.n_splits,
                           seed=int(seed))
        rows.append({"failure_mode": fm, "seed": seed, "a": f"{a}/s{sa}", "b": f"{b}/s{sb}", "kind": kind,
                     "layer": parse_layer(made.hook), "hook": made.hook} | _row("latent_overlap", e, cfg.rows))
    return rows


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    t = tables.get("mechanism")
    if t is None or t.empty:
        return []
    lines = ["mechanism: do two methods shift the organism the same way? (median over layers; seed baseline: one "
             "method on two organism seeds)"]
    for (fm, seed, a, b, kind, metric), g in t.groupby(["failure_mode", "seed", "a", "b", "kind", "metric"], sort=False):
        lines.append(f"  {fm}/s{seed} {a:<26} {b:<26} {kind:<14} {metric:<22} median {g['value'].median():+.2f} "
                     f"(layers {g['value'].min():+.2f}..{g['value'].max():+.2f})")
    return lines


SPEC = register_stage(StageSpec(
    "mechanism", sections=("mechanism", "capture", "data_root", "sae"), plan=plan, run=run,
    tables=(TableSpec("mechanism", COLUMNS, "one comparison of two runs' changes (two methods on one organism, or "
                                            "one method on two organism seeds) at one layer, with its interval"),),
    summary=summary, dashboard="mechanism"))
