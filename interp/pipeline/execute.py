"""Running one unit: its key, its finished outputs, its inputs, and the context every stage gets.

A unit's outputs live in ``<run>/stages/<unit id>/<key>/`` (``outputs.json`` plus its tables as
parquet). ``key`` hashes the config sections its stage reads, the unit's parameters and, per
input, that unit's key and the fingerprint of the checkpoint it produced. A finished unit is never
recomputed for the same key; a unit killed half-way leaves nothing behind (its directory appears
atomically), and the long stages (training, activation capture) resume inside themselves.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from interp.hooks.backends import BRIDGED_BACKENDS
from interp.io import (
    atomic_directory,
    atomic_write_json,
    cache_dir,
    canonical_hash,
    file_sha256,
    first_damaged,
    read_json,
)
from interp.models import usage
from interp.pipeline.config import ExperimentConfig
from interp.pipeline.spec import STAGES, Outputs, Unit

log = logging.getLogger(__name__)

STAGE_VERSION = 1  # bump when a stage's computation changes meaning, to invalidate finished units
OutputsT = TypeVar("OutputsT", bound=Outputs)


class ModelCache:
    """The checkpoint consecutive units share (one at a time), or a :class:`~interp.models.ModelPool`.

    With ``model_pool: true`` the pool holds the base once and swaps unmerged LoRA adapters
    (seconds instead of a reload per checkpoint for a 70B base).
    """

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self._key: str | None = None
        self._held: Any = None
        # a backend that patches the model it wraps gets no shared base: the pool's numerics instead
        # (each checkpoint on its own, its adapter unmerged in adapter_dtype)
        self._pooled = config.model_pool and config.backend not in BRIDGED_BACKENDS
        self._unmerged = config.model_pool and not self._pooled
        if self._unmerged:
            log.warning("backend %s patches each model it wraps, so the pool's base is not shared: every checkpoint "
                        "is loaded on its own, its LoRA adapter unmerged as in the pool", config.backend)

    def get(self, spec: str, base: str | None = None) -> Any:
        from interp.models import ModelPool, load_model

        c = self.config
        if self._pooled:
            if self._key != "pool":
                self._key, self._held = "pool", ModelPool(device=c.device, dtype=c.dtype, device_map=c.device_map,
                                                          max_adapters=c.model_pool_max_adapters,
                                                          adapter_dtype=c.adapter_dtype, **c.chat)
            return self._with_backend(self._held.get(spec, base=base))
        key = spec if base is None else f"{spec} (base {base})"
        if self._key != key:
            self._key, self._held = None, None  # free the last model before loading the next
            self._held = load_model(spec, base=base, device=c.device, dtype=c.dtype, device_map=c.device_map,
                                    merge_lora=not self._unmerged,
                                    adapter_dtype=c.adapter_dtype if self._unmerged else None, **c.chat)
            self._key = key
        return self._with_backend(self._held)

    def _with_backend(self, loaded: Any) -> Any:
        loaded.backend = self.config.backend  # what every stage runs it through (interp.hooks.backend_for)
        return loaded


@dataclass
class Context:
    """What every unit gets: the config, the run directory, where checkpoints live, the loaded model."""

    config: ExperimentConfig
    run_dir: Path
    progress: bool = True
    models: ModelCache = field(init=False)

    def __post_init__(self) -> None:
        self.models = ModelCache(self.config)

    @property
    def runs_root(self) -> Path:
        return Path(self.config.runs_root).expanduser() if self.config.runs_root else cache_dir() / "runs"

    @property
    def data_root(self) -> Path | None:
        return Path(self.config.data_root).expanduser() if self.config.data_root else None

    def load(self, spec: str, base: str | None = None) -> Any:
        """A checkpoint by anything ``load_model`` accepts (``base``: of an adapter whose config names
        no local base), kept loaded for the next unit."""
        return self.models.get(spec, base)

    def stage_root(self, unit_id: str) -> Path:
        return self.run_dir / "stages" / unit_id.replace(":", "=")


@dataclass(frozen=True)
class Finished:
    """A finished unit: its bookkeeping and its stage's typed outputs (``outputs.json`` holds both, flat)."""

    unit: str
    stage: str
    key: str
    params: Mapping[str, Any]
    seconds: float
    outputs: Outputs
    skipped: bool = False
    #: what its models computed while it ran (:class:`~interp.models.usage.Usage` as a dict)
    usage: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str | None:
        """The checkpoint this unit produced (organism, consistency), part of its dependants' keys."""
        return getattr(self.outputs, "fingerprint", None)

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "stage": self.stage, "key": self.key, "params": dict(self.params),
                "seconds": self.seconds, "usage": dict(self.usage), **self.outputs.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, skipped: bool = False) -> Finished:
        spec = STAGES[str(data["stage"])]
        return cls(str(data["unit"]), str(data["stage"]), str(data["key"]), dict(data.get("params") or {}),
                   float(data.get("seconds") or 0.0), spec.outputs.from_json(data), skipped, dict(data.get("usage") or {}))


class Inputs(Mapping[str, Finished]):
    """A unit's finished inputs by unit id, with typed access to what they produced."""

    def __init__(self, ctx: Context, finished: Mapping[str, Finished]) -> None:
        self.ctx = ctx
        self._finished = dict(finished)

    def __getitem__(self, unit_id: str) -> Finished:
        return self._finished[unit_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._finished)

    def __len__(self) -> int:
        return len(self._finished)

    def get_outputs(self, unit_id: str, kind: type[OutputsT]) -> OutputsT:
        """The outputs of input ``unit_id``, which must be of type ``kind``."""
        out = self._finished[unit_id].outputs
        if not isinstance(out, kind):
            raise TypeError(f"input {unit_id} produced {type(out).__name__}, expected {kind.__name__}")
        return out

    def dir(self, unit_id: str) -> Path:
        return unit_dir(self._finished[unit_id], self.ctx)

    def table(self, unit_id: str, name: str) -> pd.DataFrame | None:
        return read_table(self._finished[unit_id], self.ctx, name)


def static_key(unit: Unit, config: ExperimentConfig) -> dict[str, Any]:
    """What a unit's key reads besides its inputs: its stage (and version), parameters and config sections."""
    spec = STAGES[unit.stage]
    stage_version = {"stage_version": spec.version} if spec.version else {}  # 0: keys as before versions existed
    return {"stage": unit.stage, "version": STAGE_VERSION, **stage_version, "params": dict(unit.params),
            "config": {s: config.section(s) for s in STAGES[unit.stage].sections}}


def unit_key(unit: Unit, ctx: Context, dep_outputs: Mapping[str, Finished]) -> str:
    """The unit's key: its static inputs and, per dependency, that unit's key and checkpoint fingerprint."""
    deps = {d: [o.key, o.fingerprint] for d, o in sorted(dep_outputs.items())}
    return canonical_hash({"unit": static_key(unit, ctx.config), "deps": deps})


CHECKSUMS = "sha256.json"


def _checksums(directory: Path) -> dict[str, str]:
    """sha256 of every file a unit wrote (``outputs.json`` and the checksum file aside), by relative path."""
    return {p.relative_to(directory).as_posix(): file_sha256(p) for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name not in ("outputs.json", CHECKSUMS)}


def damage(directory: Path) -> str | None:
    """What is wrong with a finished unit's files (one missing or altered), or None; units written
    before checksums were recorded are trusted as they are."""
    record = directory / CHECKSUMS
    bad = first_damaged(directory, read_json(record)) if record.is_file() else None
    if bad is None:
        return None
    name, what = bad
    return f"{name} is missing" if what == "missing" else f"{name} was altered"


def finished(unit: Unit, ctx: Context, key: str) -> Finished | None:
    """The unit's outputs if it already ran with this key and its files are as it wrote them."""
    path = ctx.stage_root(unit.id) / key / "outputs.json"
    if not path.is_file():
        return None
    problem = damage(path.parent)
    if problem is not None:
        log.warning("%s: its finished outputs are damaged (%s); running it again", unit.id, problem)
        return None
    return Finished.from_json(read_json(path), skipped=True)


def execute(unit: Unit, ctx: Context, dep_outputs: Mapping[str, Finished]) -> Finished:
    """Run ``unit`` (or return its finished outputs); outputs appear atomically under its key."""
    key = unit_key(unit, ctx, dep_outputs)
    spec = STAGES[unit.stage]
    done = None if spec.volatile else finished(unit, ctx, key)
    if done is not None:
        return done
    final = ctx.stage_root(unit.id) / key
    if final.exists():  # a volatile unit's last run, or a damaged one (one without outputs.json cannot exist)
        shutil.rmtree(final)
    for stale in final.parent.glob(f".{key}.*.tmp"):  # scratch of an attempt that was killed
        shutil.rmtree(stale, ignore_errors=True)
    t0, before = time.perf_counter(), usage.snapshot()
    with atomic_directory(final) as tmp, declared_architecture(ctx.config):
        outputs = spec.run(unit, ctx, Inputs(ctx, dep_outputs), tmp)
        used = (usage.snapshot() - before).as_dict()
        for name in outputs.tables:
            if (tmp / f"{name}.parquet").is_file():
                spec.table(name).check(pd.read_parquet(tmp / f"{name}.parquet"), unit.id)
        result = Finished(unit.id, unit.stage, key, dict(unit.params), round(time.perf_counter() - t0, 2), outputs,
                          usage=used)
        atomic_write_json(tmp / CHECKSUMS, _checksums(tmp))
        atomic_write_json(tmp / "outputs.json", result.to_json())
    log.info("%s done in %.1f s", unit.id, result.seconds)
    return result


@contextlib.contextmanager
def declared_architecture(config: ExperimentConfig) -> Iterator[None]:
    """The config's ``architecture`` declared for its model's family while a unit runs (in whichever
    process runs it), what was declared before restored after."""
    if config.architecture is None:
        yield
        return
    from interp.hooks.architectures import ARCHITECTURES, as_architecture, register_architecture
    from interp.models.loading import model_config

    model_type = model_config(config.model).model_type
    previous = ARCHITECTURES.get(model_type)
    register_architecture(model_type, as_architecture(config.architecture), replace=True)
    try:
        yield
    finally:
        if previous is None:
            ARCHITECTURES.pop(model_type, None)
        else:
            ARCHITECTURES[model_type] = previous


def unit_dir(record: Finished, ctx: Context) -> Path:
    """Where a finished unit's outputs live (``<run>/stages/<unit>/<key>/``)."""
    return ctx.stage_root(record.unit) / record.key


def read_table(record: Finished, ctx: Context, name: str) -> pd.DataFrame | None:
    """A table a unit wrote (``<stage dir>/<key>/<name>.parquet``)."""
    path = unit_dir(record, ctx) / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def write_tables(tmp: Path, **tables: pd.DataFrame) -> tuple[str, ...]:
    """Write a unit's tables as parquet into its scratch directory; their names, for its outputs."""
    for name, frame in tables.items():
        frame.to_parquet(tmp / f"{name}.parquet", index=False)
    return tuple(sorted(tables))
