"""Run an experiment config on this machine: every unit in order, then the run directory and dashboard.

``run_experiment(config)`` executes :func:`interp.pipeline.graph.plan` unit by unit (finished
units are skipped by key, see :mod:`interp.pipeline.execute`), isolates failures (a failed unit
skips its dependants; the others still run), then :func:`assemble` gathers every unit's tables
into ``artifacts/<name>/`` (tables as CSV + parquet, manifest with the config, versions,
checkpoint fingerprints, seeds and timings) and builds ``index.html``.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from interp.artifacts import RunDir
from interp.io import atomic_write_bytes, canonical_hash, read_json
from interp.pipeline.config import ConfigError, ExperimentConfig, parse_config
from interp.pipeline.execute import Context, Finished, execute, read_table
from interp.pipeline.experiment import describe_organisms
from interp.pipeline.graph import finished_units, model_order, plan, select
from interp.pipeline.profile import profile
from interp.pipeline.sections import Section
from interp.pipeline.spec import STAGES, Unit, check_config

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What happened: the run directory, every unit's outputs (in plan order), failures, and timings."""

    run_dir: Path
    config: ExperimentConfig
    outputs: dict[str, Finished] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def run_directory(config: ExperimentConfig, out: str | Path = "artifacts") -> Path:
    return Path(out) / config.name


#: settings that change how a run goes, not what it computes: a run directory's config key leaves them out
NOT_IN_CONFIG_KEY = ("name", "threads", "dashboard", "device", "device_map", "model_pool", "model_pool_max_adapters",
                     "backend", "precision")
#: sections and fields added after run directories were claimed: left out of the key while at their defaults
SECTIONS_ADDED_LATER = ("mediation", "prediction", "mechanism", "adapter_dtype", "chat_template", "chat_separator",
                        "architecture", "expression")


def config_key(config: ExperimentConfig | Mapping[str, Any]) -> str:
    """The identity of what a config computes (its JSON data less :data:`NOT_IN_CONFIG_KEY`)."""
    if isinstance(config, ExperimentConfig):  # each section as its units' keys read it
        data = {name: config.section(name) if isinstance(getattr(config, name), Section) else value
                for name, value in config.model_dump(mode="json").items()}
        for name in SECTIONS_ADDED_LATER:
            if getattr(config, name) == type(config).model_fields[name].default:
                data.pop(name)
    else:
        data = dict(config)
    return canonical_hash({k: v for k, v in data.items() if k not in NOT_IN_CONFIG_KEY})


class RunDirError(ValueError):
    """A run directory that holds another config's run; the message names both and the ways out."""


def claim_run_dir(config: ExperimentConfig, run_dir: Path, *, force: bool = False) -> None:
    """Make ``run_dir`` this config's: new, already this config's (same key), or with ``force`` another
    config's run moved aside into ``run_dir/previous/<time>/`` (its tables, manifest and page; the keyed
    unit outputs under ``stages/`` stay, and what the two configs share is not recomputed)."""
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        return
    recorded = read_json(manifest)
    theirs = recorded.get("config_key")
    if theirs is None and isinstance(recorded.get("config"), dict):  # written before run dirs recorded their key
        try:
            theirs = config_key(parse_config(recorded["config"], source=str(manifest)))  # its defaults filled in
        except ConfigError:
            theirs = "(a config this version cannot read)"
    if theirs is None or theirs == config_key(config):
        return
    if not force:
        raise RunDirError(f"{run_dir} holds the run of another config (key {theirs}, this one {config_key(config)}): "
                          "a run directory shows one config. Give this run its own directory (--name or --out), or "
                          "--force to move the old run's tables aside (the keyed unit outputs are kept and reused).")
    aside = run_dir / "previous" / time.strftime("%Y%m%d-%H%M%S")
    aside.mkdir(parents=True)
    for path in run_dir.iterdir():
        if path.is_file():
            os.replace(path, aside / path.name)
    log.info("moved the previous run of %s aside to %s", run_dir, aside)


def run_experiment(config: ExperimentConfig, *, out: str | Path = "artifacts", progress: bool = True,
                   only: Iterable[str] | None = None, force: bool = False,
                   executor: Callable[[Unit, Context, Mapping[str, Finished]], Finished] = execute) -> RunResult:
    """Run every unit of ``config`` (or those whose id starts with one of ``only``, plus their inputs).

    ``force``: run into a directory that holds another config's run, moving its tables aside.
    """
    t0 = time.perf_counter()
    from interp.pipeline.precision import set_threads

    set_threads(config.threads)
    check_config(config)  # what cannot work fails here, before any unit runs
    claim_run_dir(config, run_directory(config, out), force=force)
    ctx = Context(config, run_directory(config, out), progress=progress)
    units = plan(config)
    if only:
        units = select(units, list(only))
    result = RunResult(ctx.run_dir, config)
    bar = tqdm(model_order(units), desc=config.name, unit="unit", disable=not progress)
    for unit in bar:
        bar.set_postfix_str(unit.id)
        missing = [d for d in unit.deps if d not in result.outputs]
        if missing:
            result.blocked[unit.id] = f"needs {', '.join(missing)}"
            continue
        try:
            result.outputs[unit.id] = executor(unit, ctx, {d: result.outputs[d] for d in unit.deps})
        except KeyboardInterrupt:
            raise
        except Exception as e:  # isolate: record, skip dependants, go on
            log.error("unit %s failed: %s", unit.id, e)
            result.failed[unit.id] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
    result.outputs = {u.id: result.outputs[u.id] for u in units if u.id in result.outputs}  # plan order
    result.seconds = time.perf_counter() - t0
    assemble(ctx, result)
    return result


def gather(ctx: Context, outputs: Mapping[str, Finished]) -> dict[str, pd.DataFrame]:
    """Every non-internal table of the finished units, concatenated in plan order, plus derived tables."""
    frames: dict[str, list[pd.DataFrame]] = {t.name: [] for s in STAGES.values() for t in s.tables if not t.internal}
    for out in outputs.values():
        for name in out.outputs.tables:
            if name in frames:
                frame = read_table(out, ctx, name)
                if frame is not None and len(frame):
                    frames[name].append(frame)
    for spec in STAGES.values():
        if spec.derive is not None:
            for name, frame in spec.derive(ctx, outputs).items():
                if len(frame):
                    frames[name].append(frame)
    return {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items() if parts}


def assemble(ctx: Context, result: RunResult, command: str = "interp run") -> Path:
    """Gather the tables of every unit of the config finished under its key (those this run executed, and
    those an earlier run of the same config did: ``--only`` never shrinks a table) into the run directory,
    drop the tables no such unit wrote, and write the manifest and the dashboard."""
    run = RunDir(ctx.run_dir)
    everything = dict(finished_units(plan(ctx.config), ctx)) | result.outputs
    tables = gather(ctx, {u.id: everything[u.id] for u in plan(ctx.config) if u.id in everything})
    for name, frame in tables.items():
        run.write_table(name, frame)
    for stale in {t.name for s in STAGES.values() for t in s.tables} - set(tables):
        for suffix in (".csv", ".parquet"):
            (ctx.run_dir / f"{stale}{suffix}").unlink(missing_ok=True)
    checkpoints: dict[str, Any] = {}
    for uid, o in result.outputs.items():
        if hasattr(o.outputs, "fingerprint"):  # organism and consistency units
            checkpoints[uid.split("/", 1)[1]] = {k: getattr(o.outputs, k) for k in ("path", "fingerprint", "id")}
    for uid, o in result.outputs.items():
        described = getattr(o.outputs, "checkpoint", None)  # capture units
        if described:
            checkpoints.setdefault(uid.split("/", 1)[1], described)
    units = {uid: {"seconds": o.seconds, "skipped": o.skipped, "key": o.key, "usage": dict(o.usage)}
             for uid, o in result.outputs.items()}
    atomic_write_bytes(run.path / "profile.csv", profile(result.outputs, result.seconds).to_csv(index=False).encode())
    run.update_manifest(
        command=command, config=ctx.config.model_dump(mode="json"), config_key=config_key(ctx.config),
        seeds=list(dict.fromkeys(o.seed for o in ctx.config.organisms())),
        organisms=describe_organisms(ctx.config.organisms()),
        checkpoints=checkpoints, units=units, failed=result.failed, blocked=result.blocked,
        seconds={"total": round(result.seconds, 1),
                 "computed": round(sum(o.seconds for o in result.outputs.values() if not o.skipped), 1),
                 **_stage_seconds(result.outputs)},
    )
    if ctx.config.dashboard:
        from interp.dashboard import build_dashboard

        build_dashboard(run.path)
    return run.path


def _stage_seconds(outputs: Mapping[str, Finished]) -> dict[str, float]:
    """Seconds per stage as first computed (a skipped unit reports the time it took when it ran)."""
    per: dict[str, float] = {}
    for o in outputs.values():
        per[o.stage] = round(per.get(o.stage, 0.0) + o.seconds, 1)
    return per
