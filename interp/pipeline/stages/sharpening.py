"""Stage ``sharpening``: does consistency training sharpen the persona direction (after vs before, before vs base)?

One unit per organism x method: :func:`interp.sharpening.sharpening_table` on the base, before
and after captures (separability, stability, concentration with paired intervals, permutation
p-values, BH/Holm across layers, controls), the layer x layer cosines of the directions, and with
``expression_rows`` the projection of each checkpoint's own generated replies on the before
direction (which runs the models, so those units need one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import ckpt_id, eval_records, load_role, store

PAIRS = (("before", "after"), ("base", "before"))


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        for m in o.variants:  # each method, and each run under a mediation condition
            deps = ("capture/base", f"capture/{o.id('before')}", f"capture/{o.id(f'after:{m}')}", o.producer("before"),
                    o.producer(f"after:{m}"))
            yield Unit(f"sharpening/{o.label}/{m}", "sharpening", {"failure_mode": o.failure_mode, "seed": o.seed,
                                                                   "method": m},
                       deps, loads="base" if config.sharpening.expression_rows else None)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    from interp.sharpening import layer_cosines, sharpening_table
    from probes import parse_layer

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    s = ctx.config.sharpening
    stores = {"base": store(inputs, "capture/base"), "before": store(inputs, f"capture/{fm}/s{seed}/before"),
              "after": store(inputs, f"capture/{ckpt_id(fm, seed, f'after:{m}')}")}
    meta = {name: (m, fm) for name in (*stores, "after-before", "before-base")}
    table = sharpening_table(stores, reference="before", pairs=PAIRS, meta=meta, methods=s.probes, n_boot=s.n_boot,
                             n_permutations=s.n_permutations, seed=seed)
    wide = layer_cosines(stores["before"], stores["after"], method=s.probes[0], seed=seed)
    cos = wide.rename_axis("hook_a").reset_index().melt(id_vars="hook_a", var_name="hook_b", value_name="cosine")
    cos = cos.assign(layer_a=cos["hook_a"].map(parse_layer), layer_b=cos["hook_b"].map(parse_layer), pair="after-before",
                     method=m, failure_mode=fm, seed=seed)
    sharp = table.assign(seed=seed)
    if s.expression_rows:
        sharp = pd.concat([sharp, _expression(ctx, unit, inputs, stores["before"], meta)], ignore_index=True)
    return Outputs(write_tables(tmp, sharpening=sharp, cosine_matrix=cos))


def _expression(ctx: Context, unit: Unit, inputs: Inputs, reference: Any, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Projection of each checkpoint's own greedy responses on the before checkpoint's direction."""
    from interp.activations import CaptureConfig, capture
    from interp.data import ChatRecord, Dataset, Message
    from interp.generation import SamplingParams, generate
    from interp.sharpening import expression_shift, fit_directions
    from interp.sharpening.acts import CheckpointActs

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    s = ctx.config.sharpening
    ref = CheckpointActs.from_store(reference, None)
    directions = dict(fit_directions(ref.acts, ref.y, ref.groups, method=s.probes[0], random_state=seed))
    records = eval_records(ctx, fm, s.expression_rows)
    response_stores = {}
    for role, name in (("base", "base"), ("before", "before"), (f"after:{m}", "after")):
        lm = load_role(ctx, inputs, role, fm, seed)
        replies = generate(lm, records, SamplingParams(max_new_tokens=s.max_new_tokens), progress=ctx.progress)
        own = [ChatRecord(id=r.id, messages=(*r.prompt_messages, Message("assistant", reply[0] or " ")))
               for r, reply in zip(records, replies, strict=True)]
        data = Dataset(f"{fm}-eval-own-{lm.checkpoint.fingerprint}", tuple(own))
        response_stores[name] = capture(lm, data, CaptureConfig(tuple(directions), positions="response_mean"))
    return expression_shift(response_stores, directions, pairs=PAIRS, meta=meta, n_boot=s.n_boot,
                            n_permutations=s.n_permutations, seed=seed).assign(seed=seed)


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    sharp = tables.get("sharpening")
    if sharp is None or sharp.empty:
        return []
    lines = ["sharpening: ΔAUROC after - before per probe (paired bootstrap 95% CI; layers with BH p_adj < 0.05)"]
    d = sharp[(sharp["metric"] == "delta_auroc") & (sharp["checkpoint"] == "after-before")]
    for (fm, seed, m, probe), g in d.groupby(["failure_mode", "seed", "method", "probe"], sort=False):
        g = g.dropna(subset=["value"])
        if g.empty:
            continue
        r = g.loc[g["value"].abs().idxmax()]
        lines.append(f"  {fm}/s{int(seed)} {m:<24} {probe:<10} largest at layer {int(r['layer']):>2}: "
                     f"{r['value']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]; "
                     f"{int((g['p_adj'] < 0.05).sum())}/{len(g)} layers significant")
    return lines


def expression_group(unit: Unit, config: ExperimentConfig) -> str | None:
    """Units that generate the same base and before replies (one organism's methods) never run at once:
    the first writes those activation stores, the others find them finished (a store is not safe to
    write from two processes)."""
    if config.sharpening.expression_rows > 0:
        return f"expression/{unit.params['failure_mode']}/s{unit.params['seed']}"
    return None


def _generates(config: ExperimentConfig) -> bool:
    return config.sharpening.expression_rows > 0


SPEC = register_stage(StageSpec(
    "sharpening", sections=("sharpening", "capture"), plan=plan, run=run, loads_model=_generates,
    tables=(TableSpec("sharpening", ("checkpoint", "method", "failure_mode", "seed", "layer", "hook", "probe", "metric",
                                     "value", "ci_low", "ci_high", "p", "p_adj", "p_holm", "n"),
                      "one metric of one probe direction at one layer, for a checkpoint or a pair 'b-a'"),
            TableSpec("cosine_matrix", ("hook_a", "hook_b", "cosine", "layer_a", "layer_b", "pair", "method",
                                        "failure_mode", "seed"),
                      "cosine between the before direction at one layer and the after direction at another")),
    summary=summary, dashboard="sharpening", exclusive=expression_group))
