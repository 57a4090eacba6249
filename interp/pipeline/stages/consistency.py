"""Stage ``consistency``: phases 2-3, one consistency method continuing one organism (an ``after`` checkpoint).

One unit per failure mode x seed x method; :func:`interp.consistency.run_consistency` labels (or
pairs) the prompts and trains, resumably, into ``runs_root/runs/<id>/`` with per-epoch checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from interp.io import read_json
from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import StageSpec, Unit, register_stage
from interp.pipeline.stages.common import CheckpointOutputs


@dataclass(frozen=True)
class ConsistencyOutputs(CheckpointOutputs):
    """The run's adapter (the ``after`` checkpoint) and how many rows it trained on."""

    n_train_rows: int | None = None
    n_prompts: int | None = None


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        if o.given is None:  # built here (a given one comes from the checkpoint stage)
            for m in o.methods:
                yield Unit(o.producer(f"after:{m}"), "consistency",
                           {"failure_mode": o.failure_mode, "seed": o.seed, "method": m}, (o.producer("before"),))


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> ConsistencyOutputs:
    from interp.consistency import RunSpec, run_consistency
    from interp.models import resolve_checkpoint

    spec = ctx.config.organism_spec(unit.params["failure_mode"], unit.params["seed"])
    c = ctx.config
    run_dir = run_consistency(RunSpec(spec, unit.params["method"]), ctx.runs_root, data_root=ctx.data_root,
                              progress=ctx.progress, num_threads=c.threads, device=c.device, device_map=c.device_map)
    adapter = Path(run_dir) / "adapter"
    results = Path(run_dir) / "results.json"
    info = read_json(results) if results.is_file() else {}
    return ConsistencyOutputs(path=str(adapter), fingerprint=resolve_checkpoint(str(adapter)).fingerprint,
                              id=spec.run_id(unit.params["method"]), n_train_rows=info.get("n_train_rows"),
                              n_prompts=info.get("n_prompts"))


SPEC = register_stage(StageSpec("consistency", sections=("scale", "data_root"), plan=plan, run=run,
                                outputs=ConsistencyOutputs))
