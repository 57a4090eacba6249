"""Stage ``organism``: phase 1, the model organism (LoRA SFT of the base model on an induction set).

One unit per failure mode x seed; it builds (or finds, resuming) ``runs_root/organisms/<id>`` and
hands on the adapter's path and fingerprint: the ``before`` checkpoint.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import StageSpec, Unit, register_stage
from interp.pipeline.stages.common import CheckpointOutputs


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        if o.given is None:  # built here (a given one comes from the checkpoint stage)
            yield Unit(o.producer("before"), "organism", {"failure_mode": o.failure_mode, "seed": o.seed})


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> CheckpointOutputs:
    from interp.models import resolve_checkpoint
    from interp.organisms import build_organism

    spec = ctx.config.organism_spec(unit.params["failure_mode"], unit.params["seed"])
    path = build_organism(spec, ctx.runs_root, data_root=ctx.data_root, progress=ctx.progress,
                          device=ctx.config.device, device_map=ctx.config.device_map)
    trajectory = Path(path) / "trajectory.jsonl"
    if trajectory.is_file():
        shutil.copy(trajectory, tmp / "trajectory.jsonl")
    return CheckpointOutputs(path=str(path), fingerprint=resolve_checkpoint(str(path)).fingerprint, id=spec.organism_id)


SPEC = register_stage(StageSpec("organism", sections=("model", "scale", "data_root"), plan=plan, run=run,
                                outputs=CheckpointOutputs))
