"""Stage ``convergence``: do two or more organisms converge on one persona direction, and is it causal across them?

One unit per experiment with at least two organisms (failure modes x seeds): cosines of their
directions and of their shifts from the base (estimated on disjoint halves), transfer AUROC both
ways, BH across layers; and with ``convergence.ablate`` each organism's direction (the one its
steering unit used) ablated in every other organism beside its own and random directions (the own
and random rows are reused from the steering unit when it measured them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import ckpt_id, eval_records, load_role, store
from interp.pipeline.stages.common import judge as judge_of
from interp.pipeline.stages.steering import SteeringOutputs, ablation_lines


@dataclass(frozen=True)
class ConvergenceOutputs(Outputs):
    organisms: list[str] = field(default_factory=list)


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    found = config.organisms()
    if not config.convergence.enabled or len(found) < 2:
        return
    deps = ("capture/base", *(f"capture/{o.id('before')}" for o in found), *(o.producer("before") for o in found),
            *((f"steering/{o.label}" for o in found) if config.convergence.ablate else ()))
    yield Unit("convergence", "convergence", {"organisms": [[o.failure_mode, o.seed] for o in found]}, deps)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> ConvergenceOutputs:
    import torch

    import probes
    from interp.hooks import backend_for
    from interp.sharpening import convergence_table
    from interp.steering import ablation_effect, neutral_texts

    found = [(str(fm), int(seed)) for fm, seed in unit.params["organisms"]]
    names = {ckpt_id(fm, seed, "before"): (fm, seed) for fm, seed in found}
    stores = {"base": store(inputs, "capture/base")} | {cid: store(inputs, f"capture/{cid}") for cid in names}
    tables = {"convergence": convergence_table(stores, base="base", n_boot=ctx.config.convergence.n_boot,
                                               seed=found[0][1])}
    if ctx.config.convergence.ablate:
        s = ctx.config.steering
        vectors = {}
        for cid, (fm, seed) in names.items():
            steer = inputs.get_outputs(f"steering/{fm}/s{seed}", SteeringOutputs)
            d = probes.Direction.load(inputs.dir(f"steering/{fm}/s{seed}") / steer.direction)
            vectors[cid] = torch.as_tensor(d.vector, dtype=torch.float32)
        neutral, frames = neutral_texts(s.neutral_rows), []
        for cid, (fm, seed) in names.items():
            others = {f"from:{other}": v for other, v in vectors.items() if other != cid}
            own = _own_ablation(inputs, f"steering/{fm}/s{seed}")
            named = others if own is not None else {"persona": vectors[cid]} | others
            lm = load_role(ctx, inputs, "before", fm, seed)
            frame = ablation_effect(backend_for(lm), named, fm, records=eval_records(ctx, fm, s.eval_rows),
                                    neutral=neutral, judge=judge_of(ctx, fm),
                                    n_random=0 if own is not None else s.n_random, n_boot=s.n_boot, seed=seed,
                                    label=cid, keep_sink=s.keep_sink)
            if own is not None:  # untouched, own direction, other organisms' directions, random controls
                persona = own["direction"] == "ablated:persona"
                frame = pd.concat([frame.iloc[:1], own[persona], frame.iloc[1:], own[~persona]], ignore_index=True)
            frames.append(frame.assign(checkpoint=cid, failure_mode=fm, seed=seed))
        tables["convergence_ablation"] = pd.concat(frames, ignore_index=True)
    return ConvergenceOutputs(write_tables(tmp, **tables), organisms=sorted(names))


def _own_ablation(inputs: Inputs, steering_unit: str) -> pd.DataFrame | None:
    """The organism's own-direction and random-direction ablation rows its steering unit measured
    (same prompts, neutral texts, seeds and keep_sink as the convergence unit), or None when
    ``steering.ablate_in`` left the organism out."""
    table = inputs.table(steering_unit, "ablation")
    if table is None or table.empty:
        return None
    rows = table[(table["checkpoint"] == "before") & table["direction"].astype(str).str.startswith("ablated:")]
    return rows.drop(columns=["seed"], errors="ignore") if (rows["direction"] == "ablated:persona").any() else None


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    lines: list[str] = []
    conv = tables.get("convergence")
    if conv is not None and len(conv):
        lines.append("convergence between organisms (diffmeans directions): median over layers "
                     "[layers with BH p_adj < 0.05]")
        for (src, dst, metric), g in conv.groupby(["a", "b", "metric"], sort=False):
            count = f"  [{int((g['p_adj'] < 0.05).sum())}/{len(g)}]" if g["p_adj"].notna().any() else ""
            lines.append(f"  {metric:<15} {src} · {dst}: {g['value'].median():.3f}{count}")
    return ablation_lines(tables.get("convergence_ablation"), "cross-organism ablation") + lines


def _ablates(config: ExperimentConfig) -> bool:
    return config.convergence.ablate


SPEC = register_stage(StageSpec(
    "convergence", sections=("convergence", "behaviour", "data_root", "device", "dtype"), plan=plan, run=run,
    outputs=ConvergenceOutputs, loads_model=_ablates,
    tables=(TableSpec("convergence", ("a", "b", "layer", "hook", "probe", "metric", "value", "ci_low", "ci_high", "p",
                                      "p_adj", "n"),
                      "one convergence metric between two organisms (or an organism and the base) at one layer"),
            TableSpec("convergence_ablation", ("direction", "rate", "removed", "removed_low", "removed_high", "checkpoint",
                                               "failure_mode", "seed"),
                      "an organism's misalignment with its own, another organism's or a random direction ablated")),
    summary=summary, dashboard="convergence"))
