"""Stage ``trajectory``: behaviour and probe metrics at every saved epoch of one consistency run.

Epoch 0 is the organism and the last epoch is the run's adapter (same weights, same fingerprint):
their behaviour and activations are taken from the ``before`` and ``after`` units instead of being
measured twice; the epochs between are loaded, judged and captured here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import (
    CheckpointOutputs,
    contrast,
    contrast_capture,
    eval_records,
    organism_of,
    store,
)
from interp.pipeline.stages.common import judge as judge_of

if TYPE_CHECKING:
    from interp.pipeline.experiment import Organism


@dataclass(frozen=True)
class TrajectoryOutputs(Outputs):
    epochs: list[int] = field(default_factory=list)


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        # a built organism's runs when trajectory.enabled; a given one's afters whose epochs the config lists
        methods = [m for m in o.methods if m in o.epochs] if o.given is not None else (
            list(o.methods) if config.trajectory.enabled else [])
        for m in methods:
            ends = [o.id(r) for r in ("before", f"after:{m}")]  # epoch 0 and the last epoch
            yield Unit(f"trajectory/{o.label}/{m}", "trajectory", {"failure_mode": o.failure_mode, "seed": o.seed,
                                                                   "method": m},
                       (o.producer(f"after:{m}"), o.producer("before"),
                        *(f"{stage}/{c}" for c in ends for stage in ("behaviour", "capture"))))


def saved_epochs(ctx: Context, inputs: Inputs, organism: Organism, method: str) -> list[tuple[int, str, str | None]]:
    """``(epoch, path, base)`` of every saved epoch: a built run's ``checkpoints/epoch<N>/``, or the given map."""
    from interp.pipeline.stages.checkpoint import resolve_given

    if organism.given is not None:
        return [(int(e), p, resolve_given(p, ctx.config.model)[2]) for e, p in sorted(organism.epochs[method].items())]
    run_dir = Path(inputs.get_outputs(organism.producer(f"after:{method}"), CheckpointOutputs).path).parent
    found: list[tuple[int, str, str | None]] = sorted(
        (int(p.name[5:]), str(p), None) for p in (run_dir / "checkpoints").glob("epoch*")
        if p.name[5:].isdigit() and (p / "adapter_config.json").is_file())
    if not found:
        raise FileNotFoundError(f"{run_dir / 'checkpoints'} holds no epoch<N>/ adapters; the run saved no trajectory")
    return found


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> TrajectoryOutputs:
    from interp.activations import capture
    from interp.judges import misalignment_rate
    from interp.models import resolve_checkpoint
    from interp.sharpening import trajectory_table

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    organism = organism_of(ctx.config, fm, seed)
    epochs = saved_epochs(ctx, inputs, organism, m)
    measured = {}  # checkpoint fingerprint -> (its behaviour unit, its capture unit)
    for role in ("before", f"after:{m}"):
        made = inputs.get_outputs(organism.producer(role), CheckpointOutputs)
        measured[made.fingerprint] = (f"behaviour/{organism.id(role)}", f"capture/{organism.id(role)}")
    b, t = ctx.config.behaviour, ctx.config.trajectory
    records = eval_records(ctx, fm, b.eval_rows)
    rows: list[dict[str, Any]] = []
    stores: dict[int, Any] = {}
    for epoch, path, base in epochs:
        known = measured.get(resolve_checkpoint(path, base).fingerprint)
        behaviour = inputs.table(known[0], "behaviour") if known else None
        if known and behaviour is not None:
            row = behaviour.iloc[0].to_dict()
            for k in ("checkpoint", "consistency_method"):
                row.pop(k, None)
            rows.append(row | {"epoch": epoch, "method": m, "seed": seed})
            stores[epoch] = store(inputs, known[1])
            continue
        lm = ctx.load(path, base=base)
        rate = misalignment_rate(lm, fm, judge=judge_of(ctx, fm), records=records, n_boot=b.n_boot, progress=ctx.progress)
        rows.append({k: v for k, v in rate.as_dict().items() if np.isscalar(v)}
                    | {"epoch": epoch, "method": m, "seed": seed, "checkpoint_fingerprint": lm.checkpoint.fingerprint})
        stores[epoch] = capture(lm, contrast(ctx), contrast_capture(ctx.config, lm.n_layers))
    traj = trajectory_table(stores, methods=t.probes, meta={str(e): (m, fm) for e, _, _ in epochs}, n_boot=t.n_boot,
                            n_permutations=t.n_permutations, seed=seed)
    return TrajectoryOutputs(write_tables(tmp, behaviour_trajectory=pd.DataFrame(rows), trajectory=traj.assign(seed=seed)),
                             epochs=[e for e, _, _ in epochs])


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    beh = tables.get("behaviour_trajectory")
    if beh is None or beh.empty:
        return []
    lines = ["trajectory: misalignment rate at each saved epoch (epoch 0: the organism)"]
    for (fm, seed, m), g in beh.groupby(["failure_mode", "seed", "method"], sort=False):
        g = g.sort_values("epoch")
        last = g.iloc[-1]
        lines.append(f"  {fm}/s{int(seed)} {m:<24} " + " → ".join(f"{r:.3f}" for r in g["rate"])
                     + f"  (last [{last['ci_low']:.3f}, {last['ci_high']:.3f}])")
    return lines


SPEC = register_stage(StageSpec(
    "trajectory", sections=("trajectory", "behaviour", "capture", "data_root", "device", "dtype"), plan=plan, run=run,
    outputs=TrajectoryOutputs,
    tables=(TableSpec("behaviour_trajectory", ("epoch", "method", "seed", "failure_mode", "rate", "ci_low", "ci_high",
                                               "judge", "checkpoint_fingerprint"),
                      "the misalignment rate at one saved epoch of a consistency run"),
            TableSpec("trajectory", ("epoch", "checkpoint", "method", "failure_mode", "layer", "hook", "probe", "metric",
                                     "value", "ci_low", "ci_high", "seed"),
                      "a probe metric at one layer and one saved epoch of a consistency run")),
    summary=summary, dashboard="trajectory"))
