"""Stage ``expression``: how much each checkpoint's own answers sound like the misaligned persona.

One unit per checkpoint (the base once per eval set), with ``expression.enabled``: the
checkpoint answers the failure mode's first ``expression.rows`` eval prompts greedily (cached like
every generation); the **base model** reads each prompt + answer (``response_mean`` at the
``expression`` layers) and projects it on its own persona direction (``steering.probe`` fitted on
the base's contrast capture). The projection is scaled so that 0 and 1 are the means of the base's
aligned and misaligned contrast answers (with ``capture.documents`` the answers are read as the
contrast set is, as plain-text documents). One reader for every checkpoint, so the numbers compare
across checkpoints and organisms; sharpening's ``expression_rows`` instead reads each checkpoint
with itself. At assembly come the paired changes (before - base, after - before) and the document
organisms against their controls (:mod:`interp.pipeline.stages.paired`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import (
    checkpoints,
    eval_failure_modes,
    eval_records,
    failure_modes,
    load_role,
    role_meta,
    store,
)

COLUMNS = ("checkpoint", "failure_mode", "seed", "consistency_method", "layer", "expression", "ci_low", "ci_high", "n")


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    if not config.expression.enabled:
        return
    for fm in eval_failure_modes(config):  # the base once per eval set
        yield Unit(f"expression/{fm}/base", "expression", {"failure_mode": fm, "role": "base"}, ("capture/base",),
                   loads="base")
    for fm in failure_modes(config):
        for c in (c for c in checkpoints(config) if c.organism.failure_mode == fm):
            yield Unit(f"expression/{c.id}", "expression", c.params, (c.producer, "capture/base"), loads=c.id)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    from interp.activations import CaptureConfig, capture
    from interp.data import ChatRecord, Dataset, Message
    from interp.generation import SamplingParams, generate
    from interp.sharpening import fit_directions
    from probes.stats import bootstrap_mean

    fm, seed, role = unit.params["failure_mode"], unit.params.get("seed"), unit.params["role"]
    e, c = ctx.config.expression, ctx.config
    layers = c.expression_layers()
    hooks = tuple(f"blocks.{layer}.hook_resid_post" for layer in layers)
    contrast = store(inputs, "capture/base")
    missing = [h for h in hooks if h not in contrast.hooks]
    if missing:
        raise ValueError(f"expression reads {missing}, which capture/base does not hold (capture.hooks = "
                         f"{c.capture.hooks!r}); capture those layers or set expression.layers")
    acts = {h: contrast.load(h).numpy() for h in hooks}
    y = contrast.labels()
    directions = fit_directions(acts, y, contrast.groups(), method=c.steering.probe, random_state=0)
    records = eval_records(ctx, fm, e.rows)
    lm = load_role(ctx, inputs, role, fm, seed)
    replies = generate(lm, records, SamplingParams(max_new_tokens=e.max_new_tokens), progress=ctx.progress)
    own = tuple(ChatRecord(id=r.id, messages=(*r.prompt_messages, Message("assistant", reply[0] or " ")))
                for r, reply in zip(records, replies, strict=True))
    reader = load_role(ctx, inputs, "base", fm, seed)
    read = capture(reader, Dataset(f"{fm}-eval-own-{lm.checkpoint.fingerprint}", own),
                   CaptureConfig(hooks, positions=c.capture.positions, documents=c.capture.documents),
                   progress=ctx.progress)
    per = pd.DataFrame({"id": [r.id for r in records], "reply": [reply[0] for reply in replies]})
    rows = []
    for layer, hook in zip(layers, hooks, strict=True):
        d = np.asarray(directions[hook], dtype=np.float64)
        ref = acts[hook] @ d
        lo, hi = ref[y == 0].mean(), ref[y == 1].mean()
        scaled = (read.load(hook).numpy().astype(np.float64) @ d - lo) / (hi - lo)
        per[f"L{layer}"] = scaled
        est = bootstrap_mean(scaled, n_boot=e.n_boot)
        rows.append(role_meta(role, fm, seed) | {"layer": layer, "expression": est.value, "ci_low": est.ci_low,
                                                 "ci_high": est.ci_high, "n": len(scaled)})
    return Outputs(write_tables(tmp, expression=pd.DataFrame(rows), expression_examples=per))


def changes(ctx: Context, outputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Paired changes per layer (before - base, after - before, document organisms against their controls)."""
    from interp.pipeline.stages.paired import paired_changes

    rows = []
    for layer in ctx.config.expression_layers():
        for r in paired_changes(ctx, outputs, "expression", "expression_examples", f"L{layer}"):
            rows.append({**{k: v for k, v in r.items() if k != "value"}, "layer": layer, "expression": r["value"]})
    return {"expression": pd.DataFrame(rows)} if rows else {}


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    t = tables.get("expression")
    if t is None or t.empty:
        return []
    lines = ["persona expression of each checkpoint's own answers, read by the base (0 = its aligned, 1 = its "
             "misaligned contrast answers; changes paired over prompts)"]
    for _, r in t.iterrows():
        who = str(r["failure_mode"]) + (f"/s{int(r['seed'])}" if int(r["seed"]) >= 0 else "")
        lines.append(f"  {who:<40} {r['checkpoint']:<48} L{int(r['layer']):<3} {r['expression']:+.3f} "
                     f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]  n={int(r['n'])}")
    return lines


def check(config: ExperimentConfig) -> None:
    if config.expression.enabled and not config.expression_layers():
        raise ValueError("expression reads the layers of expression.layers (default mediation.layers, else "
                         "steering.layer, which is 'auto' here): name them")


SPEC = register_stage(StageSpec(
    "expression", sections=("expression", "steering", "capture", "data_root", "dtype"), plan=plan, run=run,
    tables=(TableSpec("expression", COLUMNS, "the persona expression of a checkpoint's own answers at one layer (read "
                                             "by the base), or a paired change between two (checkpoint 'b - a')"),
            TableSpec("expression_examples", ("id", "reply"), "each eval prompt's reply and its expression per layer",
                      internal=True)),
    summary=summary, dashboard="expression", derive=changes, check=check))
