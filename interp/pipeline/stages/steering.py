"""Stage ``steering``: is the organism's persona direction causal? Dose-response and ablation, beside random directions.

One unit per organism: the direction (``steering.probe`` at ``steering.layer``, or with
``layer: auto`` the layer whose ablation most lowers the misalignment margin on held-out prompts
within a KL budget, Arditi et al.), steered into the organism (and with ``induce_in_base`` into
the base model) over ``alphas``, and ablated in the ``ablate_in`` checkpoints; random directions
of equal norm and a KL / perplexity guard beside every number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import (
    CheckpointOutputs,
    check_layer,
    eval_records,
    expand_roles,
    load_role,
    organism_of,
    store,
)
from interp.pipeline.stages.common import judge as judge_of


@dataclass(frozen=True)
class SteeringOutputs(Outputs):
    """The direction steered and ablated: its hook, layer and file (relative to the unit's directory)."""

    hook: str = ""
    layer: int = -1
    direction: str = ""


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    if not config.steering.enabled:
        return
    for o in config.organisms():
        producers = tuple(o.producer(f"after:{m}") for m in o.methods)
        yield Unit(f"steering/{o.label}", "steering", {"failure_mode": o.failure_mode, "seed": o.seed},
                   (o.producer("before"), f"capture/{o.id('before')}", *producers), loads=o.id("before"))


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> SteeringOutputs:
    import torch

    from interp.hooks import backend_for
    from interp.steering import ablation_effect, dose_response, neutral_texts

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    s, judge = ctx.config.steering, judge_of(ctx, fm)
    organism = organism_of(ctx.config, fm, seed)
    org = inputs.get_outputs(organism.producer("before"), CheckpointOutputs)
    lm = load_role(ctx, inputs, "before", fm, seed)
    before = store(inputs, f"capture/{fm}/s{seed}/before")
    records, neutral = eval_records(ctx, fm, s.eval_rows), neutral_texts(s.neutral_rows)
    tables: dict[str, pd.DataFrame] = {}
    if s.layer == "auto":  # Arditi et al.: the candidate whose ablation does most, on prompts the steering never sees
        direction, tables["direction_selection"] = _select_layer(ctx, lm, before, fm, seed, org.fingerprint, neutral)
    else:
        direction = fit_direction(ctx, before, s.layer, org.fingerprint)
    hook = f"blocks.{int(direction.layer)}.hook_resid_post"
    direction.save(tmp / "directions" / hook)
    vec = torch.as_tensor(direction.vector, dtype=torch.float32)
    steer = {"judge": judge, "n_random": s.n_random, "kl_budget": s.kl_budget, "n_boot": s.n_boot, "seed": seed,
             "records": records, "neutral": neutral}
    dr = dose_response(backend_for(lm), vec, hook, list(s.alphas), fm, **steer).assign(checkpoint="before", seed=seed)
    if s.induce_in_base:  # induction: the organism's direction added to the base model
        base = dose_response(backend_for(ctx.load(ctx.config.model)), vec, hook, list(s.alphas), fm, **steer)
        dr = pd.concat([dr, base.assign(checkpoint="base", seed=seed)], ignore_index=True)
    frames = []
    for role in expand_roles(organism, s.ablate_in):
        model = load_role(ctx, inputs, role, fm, seed)
        frames.append(ablation_effect(backend_for(model), vec, fm, records=records, neutral=neutral, judge=judge,
                                      n_random=s.n_random, n_boot=s.n_boot, seed=seed, label=role, keep_sink=s.keep_sink))
    tables |= {"dose_response": dr,
               "ablation": pd.concat(frames, ignore_index=True).assign(seed=seed) if frames else pd.DataFrame()}
    return SteeringOutputs(write_tables(tmp, **tables), hook=hook, layer=int(direction.layer),
                           direction=f"directions/{hook}")


def fit_direction(ctx: Context, capture_store: Any, layer: int, organism_fingerprint: str) -> Any:
    """``steering.probe`` fitted at ``layer`` on a checkpoint's contrast capture, as a :class:`probes.Direction`."""
    import probes
    from probes.registry import make_probe

    hook = f"blocks.{layer}.hook_resid_post"
    if hook not in capture_store.hooks:
        raise ValueError(f"steering.layer {layer}: {hook} is not captured (capture.hooks = {ctx.config.capture.hooks!r})")
    probe = make_probe(ctx.config.steering.probe).fit(capture_store.load(hook).numpy(), capture_store.labels())
    return probes.Direction.from_estimator(probe, hook_point=hook, layer=layer, checkpoint_fingerprint=organism_fingerprint,
                                           train_fingerprint=str(capture_store.manifest["dataset"].get("fingerprint", "")))


def _select_layer(ctx: Context, lm: Any, capture_store: Any, fm: str, seed: int, fingerprint: str,
                  neutral: Sequence[Any]) -> tuple[Any, pd.DataFrame]:
    """``steering.layer: auto``: rank every ``select_stride``-th captured resid_post layer by
    :func:`interp.steering.select_direction` on the ``select_rows`` eval prompts after the steering's own;
    returns the selected layer's :class:`probes.Direction` and the table."""
    import torch

    from interp.hooks.names import HookPoint
    from interp.steering import select_direction

    s = ctx.config.steering
    layers = sorted(p.layer for p in map(HookPoint.parse, capture_store.hooks) if p.kind == "resid_post")[:: s.select_stride]
    held_out = eval_records(ctx, fm, s.eval_rows + s.select_rows)[s.eval_rows :]
    if not layers or len(held_out) < 4:
        raise ValueError(f"steering.layer: auto needs captured resid_post layers and >= 4 eval prompts after the first "
                         f"{s.eval_rows}; got {len(layers)} layers and {len(held_out)} prompts")
    fitted = {layer: fit_direction(ctx, capture_store, layer, fingerprint) for layer in layers}
    candidates = {f"L{layer}": (d.hook_point, torch.as_tensor(d.vector, dtype=torch.float32)) for layer, d in fitted.items()}
    table = select_direction(lm, candidates, fm, records=held_out, neutral=neutral, kl_budget=s.select_kl_budget,
                             n_boot=s.n_boot, seed=seed, keep_sink=s.keep_sink)
    eligible = table[table["eligible"]]
    if eligible.empty:
        cheapest = table.sort_values("kl_high").head(5)
        seen = ", ".join(f"L{int(r.layer)}: KL <= {r.kl_high:.3f}, margin drop {r.margin_drop:+.3f}"
                         for r in cheapest.itertuples())
        raise ValueError(f"steering.layer: auto: no candidate layer's ablation stays within select_kl_budget "
                         f"{s.select_kl_budget} outside the last 20% of layers (cheapest: {seen}); raise "
                         "steering.select_kl_budget or set steering.layer")
    return fitted[int(eligible.iloc[0]["layer"])], table.assign(seed=seed, kl_budget=s.select_kl_budget,
                                                               selected=table.index == eligible.index[0])


def _span(values: pd.Series, fmt: str) -> str:
    """``lo..hi`` of the random-direction controls (their spread is the point, not their mean); ``-`` if none."""
    v = values.dropna()
    if v.empty:
        return "-"
    return format(v.min(), fmt) if len(v) == 1 else f"{format(v.min(), fmt)}..{format(v.max(), fmt)}"


def ablation_lines(ab: pd.DataFrame | None, title: str) -> list[str]:
    """Per checkpoint: each named direction's fraction removed beside the random directions' range."""
    if ab is None or not len(ab) or "removed" not in ab:
        return []
    lines = [f"{title}: fraction of misalignment removed (paired 95% CI) vs random directions (their range)"]
    for (fm, seed, ck), g in ab.groupby(["failure_mode", "seed", "checkpoint"], sort=False):
        rnd = g[g["direction"].astype(str).str.startswith("ablated:random")]
        for _, p in g[~g["direction"].astype(str).str.startswith(("ablated:random", "untouched"))].iterrows():
            lines.append(f"  {fm}/s{int(seed)} {ck:<28} {p['direction']:<20} {p['removed']:+.3f} "
                         f"[{p['removed_low']:+.3f}, {p['removed_high']:+.3f}] vs random {_span(rnd['removed'], '+.3f')}")
    return lines


def check(config: ExperimentConfig) -> None:
    s = config.steering
    if s.enabled and s.layer != "auto":
        check_layer("steering.layer", int(s.layer), config)


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    lines: list[str] = []
    dr = tables.get("dose_response")
    if dr is not None and len(dr):
        lines.append(f"steering: rate by alpha, the persona direction ({config.steering.probe} probe on the organism's "
                     "capture) vs random directions of equal norm (their range)")
        for (fm, seed, ck, hook), part in dr.groupby(["failure_mode", "seed", "checkpoint", "hook"], sort=False):
            lines.append(f"  {fm}/s{int(seed)} · {'the organism' if ck == 'before' else ck} · {hook}")
            for a, g in part.groupby("alpha"):
                per, rnd = g[g["direction"] == "persona"], g[g["direction"] != "persona"]
                if len(per):
                    p = per.iloc[0]
                    lines.append(f"    alpha {a:+.3f}: {p['rate']:.3f} [{p['rate_low']:.3f}, {p['rate_high']:.3f}] "
                                 f"(KL {p['kl']:.3f}{'' if p['coherent'] else ', over budget'}) vs random "
                                 f"{_span(rnd['rate'], '.3f')}")
    return lines + ablation_lines(tables.get("ablation"), f"ablation of the {config.steering.probe} direction")


SPEC = register_stage(StageSpec(
    "steering", sections=("steering", "probes", "behaviour", "data_root", "device", "dtype"), plan=plan, run=run,
    outputs=SteeringOutputs,
    tables=(TableSpec("dose_response", ("direction", "alpha", "hook", "rate", "rate_low", "rate_high", "n", "judge",
                                        "failure_mode", "kl", "coherent", "checkpoint", "seed"),
                      "the misalignment rate with a direction (the persona's or a random one) added at strength alpha"),
            TableSpec("ablation", ("direction", "rate", "rate_low", "rate_high", "removed", "removed_low", "removed_high",
                                   "checkpoint", "failure_mode", "seed"),
                      "the rate with a direction projected out of every layer, and the fraction of misalignment removed"),
            TableSpec("direction_selection", ("candidate", "hook", "layer", "margin_drop", "drop_low", "drop_high", "kl",
                                              "kl_high", "eligible", "selected", "failure_mode", "seed"),
                      "a candidate layer's direction ablated on held-out prompts (steering.layer: auto)")),
    summary=summary, dashboard="steering", check=check))
