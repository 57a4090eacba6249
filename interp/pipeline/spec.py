"""What a stage is: a :class:`StageSpec` in one registry, its units, its typed outputs, its tables.

A stage is one module under :mod:`interp.pipeline.stages` that registers one spec here:

- ``sections``: the config sections its units' keys read (a change there recomputes them);
- ``plan(config)``: its units (one checkpoint, organism or comparison each) and their inputs;
- ``run(unit, ctx, inputs, tmp)``: the science, writing its tables into ``tmp`` and returning
  typed :class:`Outputs` (what dependants read);
- ``tables``: the tables it writes, with the columns every row has (checked when written);
- ``loads_model(config)``: whether its units run a model (the sweep gives those a GPU);
- ``check(config)``: raises, before any unit of the run starts, for what the config asks of it
  that cannot work (e.g. a given path that is not a checkpoint);
- ``version``: bumped when the stage's outputs change meaning or gain a column, so its finished
  units (and their dependants) are recomputed; 0, the default, leaves the keys as they were;
- ``volatile``: its units run every time (they read something outside the run, such as a given
  checkpoint's current fingerprint, so a finished one is never trusted);
- ``summary(tables, config)``: its lines in the end-of-run summary; ``dashboard``: the dashboard section
  that draws its tables; ``derive``: tables computed from finished units when the run is assembled.

The runner (:mod:`interp.pipeline.run`), the Ray sweep, the summary and the dashboard tests read
:data:`STAGES`; nothing else lists the stages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

if TYPE_CHECKING:
    from interp.pipeline.config import ExperimentConfig
    from interp.pipeline.execute import Context, Inputs

OutputsT = TypeVar("OutputsT", bound="Outputs")


@dataclass(frozen=True)
class Unit:
    """One node of the experiment graph: a stage applied to one checkpoint, organism or comparison.

    ``loads``: the checkpoint (by id, see :func:`interp.pipeline.stages.common.ckpt_id`) the unit
    loads first, so the local runner can keep consecutive units on one loaded model.
    """

    id: str
    stage: str
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    loads: str | None = None


@dataclass(frozen=True)
class Outputs:
    """What a finished unit hands its dependants, stored in its ``outputs.json`` (JSON values only)."""

    tables: tuple[str, ...] = ()

    @classmethod
    def from_json(cls: type[OutputsT], data: Mapping[str, Any]) -> OutputsT:
        names = {f.name: f for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        if "tables" in kw:
            kw["tables"] = tuple(kw["tables"])
        return cls(**kw)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tables"] = list(self.tables)
        return out


@dataclass(frozen=True)
class TableSpec:
    """A table a stage writes: its name in the run directory, the columns every row has, what a row is.

    ``internal`` tables stay in the unit's directory for other stages to read; the others are
    gathered into the run directory (``<name>.csv`` / ``.parquet``) and drawn by the dashboard.
    """

    name: str
    columns: tuple[str, ...]
    doc: str = ""
    internal: bool = False

    def check(self, frame: pd.DataFrame, unit_id: str) -> None:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing and len(frame):
            raise ValueError(f"{unit_id}: table {self.name!r} lacks the declared columns {missing} "
                             f"(it has {list(frame.columns)}); fix the stage or its TableSpec")


def always_loads_model(config: ExperimentConfig) -> bool:
    """``loads_model`` of a stage whose units all run a model (the default)."""
    return True


def never_loads_model(config: ExperimentConfig) -> bool:
    """``loads_model`` of a stage that only reads stored activations and tables."""
    return False


@dataclass(frozen=True)
class StageSpec:
    """One stage of ``interp run`` (see the module docstring for what each field means)."""

    name: str
    sections: tuple[str, ...]
    plan: Callable[[ExperimentConfig], Iterable[Unit]]
    run: Callable[[Unit, Context, Inputs, Path], Outputs]
    outputs: type[Outputs] = Outputs
    tables: tuple[TableSpec, ...] = ()
    loads_model: Callable[[ExperimentConfig], bool] = always_loads_model
    summary: Callable[[Mapping[str, pd.DataFrame], ExperimentConfig], list[str]] | None = None
    dashboard: str | None = None
    derive: Callable[[Context, Mapping[str, Any]], dict[str, pd.DataFrame]] | None = None
    exclusive: Callable[[Unit, ExperimentConfig], str | None] | None = None
    volatile: bool = False
    check: Callable[[ExperimentConfig], None] | None = None
    version: int = 0

    def table(self, name: str) -> TableSpec:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"stage {self.name!r} declares no table {name!r} (it declares {[t.name for t in self.tables]})")


STAGES: dict[str, StageSpec] = {}
"""Every stage, in registration order (the order of the plan, the summary and the dashboard's tables)."""


def register_stage(spec: StageSpec, *, replace: bool = False) -> StageSpec:
    """Add ``spec`` to :data:`STAGES` (``replace=True`` to swap an existing stage, e.g. in a test)."""
    if spec.name in STAGES and not replace:
        raise ValueError(f"a stage named {spec.name!r} is already registered (pass replace=True to swap it)")
    taken = {t.name: s.name for s in STAGES.values() if s.name != spec.name for t in s.tables}
    clash = [t.name for t in spec.tables if t.name in taken]
    if clash:
        raise ValueError(f"stage {spec.name!r}: table(s) {clash} are already written by {[taken[c] for c in clash]}")
    STAGES[spec.name] = spec
    return spec


def check_config(config: ExperimentConfig) -> None:
    """Every stage's ``check``: what would fail is a :class:`~interp.pipeline.config.ConfigError` before any
    unit runs, naming the stage's setting and what the model or the files allow."""
    from interp.pipeline.config import ConfigError

    problems = []
    for spec in STAGES.values():
        if spec.check is not None:
            try:
                spec.check(config)
            except (ValueError, OSError) as e:  # ConfigError, CheckpointError, DataError, a missing file
                problems.append(str(e))
    if problems:
        raise ConfigError(f"config {config.name!r} cannot run:\n  " + "\n  ".join(problems))


def unregister_stage(name: str) -> None:
    """Remove a stage (a test's toy stage)."""
    STAGES.pop(name, None)
