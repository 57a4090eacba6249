"""Stage ``condition``: a consistency run trained again under a mediation condition (an ``after:<m>@<c>`` checkpoint).

One unit per organism x mediated method x condition of ``mediation.conditions``: the organism's
direction (``steering.probe`` fitted on its capture at each of ``mediation.layers``) builds the
:class:`~interp.training.during.DuringTraining` (:func:`interp.mediation.condition`), and
:func:`interp.consistency.run_consistency` trains phase 3 again on the plain run's labels with it
active in every training forward pass, into ``<run>/conditions/<tag>/``. ``steer:persona`` first
measures the steer's KL on neutral text in the organism and refuses one above ``steering.kl_budget``.
The adapter is an ordinary checkpoint: behaviour, capture, probes and sharpening measure it as any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import StageSpec, Unit, register_stage
from interp.pipeline.stages.common import CheckpointOutputs, check_layer, load_role, store


@dataclass(frozen=True)
class ConditionOutputs(CheckpointOutputs):
    """The conditioned run's adapter, its condition, and (``steer:persona``) the steer's KL on neutral text."""

    condition: str = ""
    layers: tuple[int, ...] = ()
    steer_kl: float | None = None
    steer_kl_high: float | None = None


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    layers = list(config.mediation_layers())
    for o in config.organisms():
        for variant in o.conditioned:
            method, cond = variant.split("@", 1)
            params: dict[str, Any] = {"failure_mode": o.failure_mode, "seed": o.seed, "method": method,
                                      "condition": cond, "layers": layers, "probe": config.steering.probe}
            if cond == "steer:persona":
                params |= {"alpha": config.mediation.alpha, "neutral_rows": config.steering.neutral_rows,
                           "kl_budget": config.steering.kl_budget}
            yield Unit(o.producer(f"after:{variant}"), "condition", params,
                       (o.producer("before"), o.producer(f"after:{method}"), f"capture/{o.id('before')}"),
                       loads=o.id("before") if cond == "steer:persona" else None)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> ConditionOutputs:
    import torch

    from interp.consistency import RunSpec, run_consistency
    from interp.mediation import condition
    from interp.models import resolve_checkpoint
    from interp.pipeline.stages.steering import fit_direction

    p, c = unit.params, ctx.config
    fm, seed, method, cond, layers = p["failure_mode"], p["seed"], p["method"], p["condition"], p["layers"]
    org = inputs.get_outputs(unit.deps[0], CheckpointOutputs)
    before = store(inputs, unit.deps[2])
    directions = {int(layer): torch.as_tensor(fit_direction(ctx, before, int(layer), org.fingerprint).vector,
                                              dtype=torch.float32) for layer in layers}
    scales, kl = None, None
    if cond == "steer:persona":
        scales, kl = _steer_scales(ctx, inputs, unit, directions)
    during = condition(cond, directions, seed=seed, alpha=float(p.get("alpha", 0.0)), scales=scales)
    spec = c.organism_spec(fm, seed)
    train_dir = run_consistency(RunSpec(spec, method), ctx.runs_root, data_root=ctx.data_root, progress=ctx.progress,
                                num_threads=c.threads, device=c.device, device_map=c.device_map, during=during)
    adapter = Path(train_dir) / "adapter"
    return ConditionOutputs(path=str(adapter), fingerprint=resolve_checkpoint(str(adapter)).fingerprint,
                            id=f"{spec.run_id(method)}@{cond}", condition=cond, layers=tuple(int(x) for x in layers),
                            steer_kl=None if kl is None else kl.kl, steer_kl_high=None if kl is None else kl.kl_high)


def _steer_scales(ctx: Context, inputs: Inputs, unit: Unit, directions: dict[int, Any]) -> tuple[dict[int, float], Any]:
    """The mean residual norm at each layer (the steer's unit, as in the steering stage) and the steer's
    KL on neutral text in the organism; an error when that KL's upper bound passes ``kl_budget``."""
    from interp.hooks import AddVector, backend_for
    from interp.steering import neutral_texts
    from interp.steering.coherence import CoherenceProbe
    from interp.steering.experiments import residual_norm

    p = unit.params
    lm = load_role(ctx, inputs, "before", p["failure_mode"], p["seed"])
    neutral = neutral_texts(int(p["neutral_rows"]))
    backend = backend_for(lm)
    hooks = {layer: f"blocks.{layer}.hook_resid_post" for layer in directions}
    scales = {layer: residual_norm(backend, hooks[layer], neutral) for layer in directions}
    steer = [AddVector(hooks[layer], v / v.norm() * scales[layer], alpha=float(p["alpha"])) for layer, v in directions.items()]
    kl = CoherenceProbe(backend, neutral).measure(steer, seed=int(p["seed"]))
    if kl.kl_high > float(p["kl_budget"]):
        raise ValueError(f"{unit.id}: steering alpha {p['alpha']} costs KL {kl.kl:.3f} (upper {kl.kl_high:.3f}) on "
                         f"neutral text, over steering.kl_budget {p['kl_budget']}; lower mediation.alpha")
    return scales, kl


def check(config: ExperimentConfig) -> None:
    """Every layer a condition edits exists and its resid_post is captured (its direction is fitted there)."""
    if config.mediation.conditions:
        for layer in config.mediation_layers():
            check_layer("mediation layer", layer, config)


SPEC = register_stage(StageSpec("condition", sections=("scale", "data_root"), plan=plan, run=run,
                                outputs=ConditionOutputs, check=check))
