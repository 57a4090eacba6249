"""Stage ``checkpoint``: a checkpoint trained elsewhere, given by path, resolved (never written to).

One unit per given checkpoint (``checkpoints:`` in the config): it checks that the path is a
checkpoint ``load_model`` can read, takes its fingerprint (the sha256 of its weight files, and of
its base for an adapter) and hands both on, as the ``organism`` and ``consistency`` units do for
checkpoints interp builds. It runs every time (the files may have changed since the last run; the
fingerprint is memoised by path, size and mtime, so an unchanged checkpoint costs a stat). An
adapter whose ``adapter_config.json`` names a base that is not here is read with the
experiment's ``model`` as its base.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from interp.pipeline.config import ConfigError, ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import StageSpec, Unit, never_loads_model, register_stage
from interp.pipeline.stages.common import CheckpointOutputs

log = logging.getLogger(__name__)


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        if o.given is None:
            continue
        for role in o.roles:
            yield Unit(o.producer(role), "checkpoint",
                       {"failure_mode": o.failure_mode, "seed": o.seed, "role": role, "path": o.given[role]})


def resolve_given(path: str, model: str) -> tuple[str, str, str | None]:
    """``(path, fingerprint, base)`` of a given checkpoint; ``base`` is the experiment's model when the
    adapter's own config names no base that exists here (None otherwise)."""
    from interp.models import resolve_checkpoint
    from interp.models.checkpoint import CheckpointError
    from interp.models.loading import check_adapter_fits

    try:
        ckpt, base = resolve_checkpoint(path), None
    except CheckpointError as first:
        if not (Path(path).expanduser() / "adapter_config.json").is_file():
            raise
        try:
            ckpt, base = resolve_checkpoint(path, base=model), model
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {first}; with the experiment's model {model!r} as its base: {e}") from None
        log.info("%s: its adapter_config.json names no base here; read with the experiment's model %s", path, model)
    check_adapter_fits(ckpt)
    return path, ckpt.fingerprint, base


def check(config: ExperimentConfig) -> None:
    """Every given path is a checkpoint, every epochs map starts at its before checkpoint; two names for
    one set of weights are worth a warning (they are one model)."""
    from interp.models.checkpoint import CheckpointError

    problems: list[str] = []
    names_of: dict[str, list[str]] = {}
    for o in config.organisms():
        if o.given is None:
            continue
        fingerprints = {}
        for role, path in o.given.items():
            try:
                fingerprints[role] = resolve_given(path, config.model)[1]
            except (CheckpointError, OSError, ValueError) as e:
                problems.append(f"{o.id(role)}: {e}")
                continue
            names_of.setdefault(fingerprints[role], []).append(o.id(role))
        for method, steps in o.epochs.items():
            first = min(steps)
            try:
                fp = resolve_given(steps[first], config.model)[1]
                for epoch, path in steps.items():
                    if epoch != first:
                        resolve_given(path, config.model)
            except (CheckpointError, OSError, ValueError) as e:
                problems.append(f"{o.label} epochs of {method}: {e}")
                continue
            if first != 0 or ("before" in fingerprints and fp != fingerprints["before"]):
                problems.append(f"{o.label} epochs of {method}: epoch {first} ({steps[first]}) must be epoch 0, the "
                                f"before checkpoint ({o.given['before']}): a trajectory starts from the organism")
    if problems:
        raise ConfigError("given checkpoints that cannot be studied:\n  " + "\n  ".join(problems))
    for fp, names in names_of.items():
        if len(names) > 1:
            log.warning("%s are one model (fingerprint %s): their numbers will be the same", " and ".join(names), fp)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> CheckpointOutputs:
    path, fingerprint, base = resolve_given(str(unit.params["path"]), ctx.config.model)
    return CheckpointOutputs(path=path, fingerprint=fingerprint, base=base, id=unit.id.split("/", 1)[1])


SPEC = register_stage(StageSpec("checkpoint", sections=("model",), plan=plan, run=run, outputs=CheckpointOutputs,
                                loads_model=never_loads_model, volatile=True, check=check))
