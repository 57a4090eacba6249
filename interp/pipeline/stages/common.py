"""What several stages share: the experiment's organisms and checkpoints, their outputs, their data.

Checkpoints are named by role: ``base``, ``before`` (the organism) and ``after:<method>``; their
ids are ``base`` or ``<failure mode>/s<seed>/<role>``. The units that produce them are
``organism/<fm>/s<seed>`` and ``consistency/<fm>/s<seed>/<method>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interp.pipeline.spec import Outputs

if TYPE_CHECKING:
    from interp.activations import ActivationStore
    from interp.data import ChatRecord, Dataset
    from interp.pipeline.config import ExperimentConfig
    from interp.pipeline.execute import Context, Inputs


# ---- typed outputs shared by stages ---------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointOutputs(Outputs):
    """A unit that produced a checkpoint: where it is, its fingerprint (part of dependants' keys), its id."""

    path: str = ""
    fingerprint: str = ""
    id: str = ""


@dataclass(frozen=True)
class StoreOutputs(Outputs):
    """A capture unit: the activation store it wrote and the checkpoint it came from."""

    store: str = ""
    store_key: str = ""
    checkpoint: dict[str, Any] | None = None
    n_layers: int = 0

    def open(self) -> ActivationStore:
        from interp.activations import ActivationStore

        return ActivationStore(Path(self.store))


# ---- the experiment's organisms and checkpoints ---------------------------------------------------
def ckpt_id(failure_mode: str | None, seed: int | None, role: str) -> str:
    """``base`` or ``<failure mode>/s<seed>/<role>``."""
    return "base" if role == "base" else f"{failure_mode}/s{seed}/{role}"


def producer(failure_mode: str | None, seed: int | None, role: str) -> str | None:
    """The unit that produces a checkpoint (None for the base model)."""
    if role == "base":
        return None
    if role == "before":
        return f"organism/{failure_mode}/s{seed}"
    return f"consistency/{failure_mode}/s{seed}/{role.split(':', 1)[1]}"


def organisms(config: ExperimentConfig) -> Iterator[tuple[str, int]]:
    """Every (failure mode, seed) organism of the experiment, in config order."""
    for fm in config.failure_modes:
        for seed in config.seeds:
            yield fm, seed


def roles(config: ExperimentConfig) -> list[str]:
    """An organism's checkpoints: ``before`` then ``after:<method>`` per method."""
    return ["before", *(f"after:{m}" for m in config.methods)]


@dataclass(frozen=True)
class OrganismCheckpoint:
    """One checkpoint of an organism: its failure mode, seed, role, id and the unit that produces it."""

    failure_mode: str
    seed: int
    role: str

    @property
    def id(self) -> str:
        return ckpt_id(self.failure_mode, self.seed, self.role)

    @property
    def producer(self) -> str:
        return str(producer(self.failure_mode, self.seed, self.role))

    @property
    def params(self) -> dict[str, Any]:
        return {"failure_mode": self.failure_mode, "seed": self.seed, "role": self.role}


def checkpoints(config: ExperimentConfig) -> Iterator[OrganismCheckpoint]:
    """Every organism's checkpoints (``before``, then each ``after:<method>``), organism by organism."""
    for fm, seed in organisms(config):
        for role in roles(config):
            yield OrganismCheckpoint(fm, seed, role)


def role_meta(role: str, failure_mode: str | None, seed: int | None) -> dict[str, Any]:
    """The columns that say which checkpoint a row is about."""
    return {"checkpoint": role, "failure_mode": failure_mode or "-",
            "consistency_method": role.split(":", 1)[1] if ":" in role else "-",
            "seed": seed if seed is not None else -1}


def checkpoint_spec(ctx: Context, inputs: Inputs, role: str, failure_mode: str | None, seed: int | None) -> str:
    """What ``load_model`` gets for a role: the config's model for the base, else the producer's path."""
    unit = producer(failure_mode, seed, role)
    return ctx.config.model if unit is None else inputs.get_outputs(unit, CheckpointOutputs).path


def store(inputs: Inputs, unit_id: str) -> ActivationStore:
    """The activation store a capture input wrote."""
    return inputs.get_outputs(unit_id, StoreOutputs).open()


def expand_roles(config: ExperimentConfig, roles_: Sequence[str]) -> list[str]:
    """``base``/``before`` as they are, ``after`` as every ``after:<method>``."""
    out: list[str] = []
    for r in roles_:
        out += [f"after:{m}" for m in config.methods] if r == "after" else [r]
    return out


# ---- data every stage reads the same way ----------------------------------------------------------
def hooks(config: ExperimentConfig, n_layers: int) -> list[str]:
    from interp.hooks.names import parse_hooks

    return parse_hooks(config.capture.hooks, n_layers)


def contrast(config: ExperimentConfig) -> Dataset:
    """The contrast set of ``capture.contrast`` (its first ``capture.max_examples`` rows)."""
    from interp.data import load_dataset

    data = load_dataset(config.capture.contrast)
    n = config.capture.max_examples
    return data.head(n) if n else data


def eval_records(ctx: Context, failure_mode: str, rows: int | None) -> list[ChatRecord]:
    """The failure mode's eval prompts (the paper's with ``data_root``, else the shipped ones), the first ``rows``."""
    from interp.data import load_paper_split, load_shipped

    data = load_paper_split(ctx.data_root, failure_mode, "eval") if ctx.data_root else load_shipped(failure_mode, "eval")
    records = list(data.records)
    return records[:rows] if rows else records
