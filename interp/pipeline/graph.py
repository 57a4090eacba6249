"""The experiment as a graph of units: every registered stage's units, an order to run them in, a dry run.

:func:`plan` asks each stage of :data:`~interp.pipeline.spec.STAGES` (in registration order) for
its units; :func:`model_order` runs them dependencies first while keeping consecutive units on one
loaded checkpoint; :func:`select` keeps the units ``--only`` names and their inputs;
:func:`describe` is ``interp run --plan``: what would run, what is finished, what a change redoes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import interp.pipeline.stages  # noqa: F401  (registers the stages)
from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Finished, finished, static_key, unit_key
from interp.pipeline.spec import STAGES, Unit


def plan(config: ExperimentConfig) -> list[Unit]:
    """Every unit of ``config``: stage by stage in registration order, each stage's units in its order."""
    units = [u for spec in STAGES.values() for u in spec.plan(config)]
    ids = [u.id for u in units]
    if len(set(ids)) != len(ids):
        raise ValueError(f"two units share an id: {sorted({i for i in ids if ids.count(i) > 1})}")
    known = set(ids)
    for u in units:
        missing = [d for d in u.deps if d not in known]
        if missing:
            raise ValueError(f"unit {u.id} needs {missing}, which no stage plans")
    return units


def model_order(units: Sequence[Unit]) -> list[Unit]:
    """Dependencies first; among the units whose inputs are done, one on the checkpoint loaded last
    (or on none) goes before one that loads another, else plan order. Units that share a checkpoint
    then run back to back, and the runner loads each checkpoint about once."""
    todo, placed, current = list(units), set(), None
    order: list[Unit] = []
    while todo:
        ready = [u for u in todo if all(d in placed for d in u.deps)]
        if not ready:
            raise ValueError(f"the units {[u.id for u in todo]} depend on each other in a cycle")
        pick = next((u for u in ready if u.loads in (None, current)), ready[0])
        current = pick.loads or current
        order.append(pick)
        placed.add(pick.id)
        todo.remove(pick)
    return order


def select(units: list[Unit], prefixes: Sequence[str]) -> list[Unit]:
    """The units whose id starts with a prefix, and everything they depend on (in plan order)."""
    by_id = {u.id: u for u in units}
    keep: set[str] = set()
    stack = [u.id for u in units if any(u.id.startswith(p) for p in prefixes)]
    if not stack:
        stages = ", ".join(dict.fromkeys(u.id.split("/")[0] + "/" for u in units))
        raise ValueError(f"--only {' '.join(prefixes)}: no unit matches. Unit ids start with a stage ({stages}), "
                         f"e.g. {', '.join(u.id for u in units[:4])}; `interp run CONFIG --plan` lists them all.")
    while stack:
        uid = stack.pop()
        if uid not in keep:
            keep.add(uid)
            stack.extend(by_id[uid].deps)
    return [u for u in units if u.id in keep]


def keys(units: Iterable[Unit], ctx: Context) -> dict[str, tuple[str, Finished | None]]:
    """Per unit: its key under ``ctx.config`` and its finished outputs (None: it would run).

    A unit that is not finished produces no fingerprint yet, so its dependants' keys are computed
    as if it had produced none (they are marked as running anyway).
    """
    out: dict[str, tuple[str, Finished | None]] = {}
    for u in model_order(list(units)):
        deps = {d: out[d][1] for d in u.deps}
        if all(v is not None for v in deps.values()):
            key = unit_key(u, ctx, {d: v for d, v in deps.items() if v is not None})
            out[u.id] = (key, finished(u, ctx, key))
        else:
            out[u.id] = ("(after its inputs)", None)
    return out


def describe(config: ExperimentConfig, run_dir: Path, *, only: Sequence[str] = (),
             baseline: ExperimentConfig | None = None) -> str:
    """``interp run --plan``: every unit, the config sections and inputs it reads, whether it is
    finished under its key, and (given the config without the ``--set`` changes as ``baseline``)
    whether those changes would recompute it (its own sections or parameters changed, or an input's)."""
    units = plan(config)
    units = select(units, only) if only else units
    now = keys(units, Context(config, run_dir, progress=False))
    changed: dict[str, str] = {}
    if baseline is not None:
        old = {u.id: u for u in plan(baseline)}
        for u in units:
            if u.id not in old:
                changed[u.id] = "new with --set"
            elif static_key(u, config) != static_key(old[u.id], baseline) or any(d in changed for d in u.deps):
                changed[u.id] = "redone by --set"
    lines = [f"{len(units)} units of {config.name!r} in {run_dir}", ""]
    width = max(len(u.id) for u in units)
    for u in units:
        state = "finished" if now[u.id][1] is not None else "to run"
        if u.id in changed:
            state += f", {changed[u.id]}"
        inputs = f"; inputs {', '.join(u.deps)}" if u.deps else ""
        lines.append(f"  {u.id:<{width}}  {state:<26} reads {', '.join(STAGES[u.stage].sections)}{inputs}")
    n_done = sum(1 for u in units if now[u.id][1] is not None)
    lines += ["", f"{n_done} finished, {len(units) - n_done} to run"]
    if baseline is not None:
        lines.append(f"{len(changed)} units get a new key from --set")
    return "\n".join(lines)


def finished_units(units: Sequence[Unit], ctx: Context) -> Mapping[str, Finished]:
    """The units of ``units`` already finished under their current keys."""
    return {uid: rec for uid, (_, rec) in keys(units, ctx).items() if rec is not None}
