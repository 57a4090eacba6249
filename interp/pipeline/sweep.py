"""Run an experiment's units as Ray tasks, on one machine or a cluster: ``interp sweep CONFIG``.

The same units as the local runner (:func:`interp.pipeline.graph.plan`), executed by the same
:func:`interp.pipeline.execute.execute`, so a sweep and ``interp run`` write the same run directory
and dashboard. What the sweep adds:

- DAG scheduling: a unit is submitted as soon as its inputs are done (``ray.wait``), not stage by
  stage, so independent organisms, methods and seeds run side by side.
- Resources: a unit whose stage runs a model (its spec's ``loads_model``) asks for one GPU when
  the cluster has GPUs (else CPU only) and runs in a fresh worker process; ``gpus_per_unit`` /
  ``cpus_per_unit`` override the amounts.
- Failures stay local: a failed task is resubmitted up to ``max_retries`` times (exceptions,
  crashed workers and lost nodes alike); a unit that still fails blocks only its dependants.
- Resume: finished units (same key, see :mod:`interp.pipeline.execute`) are read from the run
  directory and never submitted.

Workers receive JSON data only: the config as ``model_dump(mode="json")`` (re-validated in the
worker), the unit id, the run directory and the inputs' outputs. The run directory,
``runs_root`` and ``$INTERP_CACHE`` must therefore be one shared filesystem, at the same paths
on every node (``docs/CLUSTER.md``). Ray is optional: it is imported only when a sweep runs.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from interp.pipeline.config import ExperimentConfig, parse_config
from interp.pipeline.execute import Context, Finished, execute
from interp.pipeline.graph import finished_units, plan, select
from interp.pipeline.run import RunResult, assemble, run_directory
from interp.pipeline.spec import STAGES, Unit, check_config

log = logging.getLogger(__name__)

RAY_REQUIREMENT = "ray==2.60.0"  # the version this module was tested with
FORWARD_ENV = ("INTERP_CACHE", "HF_HOME")  # set in every worker as in the driver (when set there)


def require_ray() -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise ImportError(f"`interp sweep` runs units on Ray, which is not installed: pip install {RAY_REQUIREMENT} "
                          "(or run the same config on this machine with `interp run`)") from e
    return ray


# ---- in the worker -------------------------------------------------------------------------------
_SETUP_DONE: set[str] = set()


def import_object(path: str) -> Any:
    """``package.module:attribute`` (or ``package.module.attribute``) -> the object."""
    module, sep, attr = path.partition(":")
    if not sep:
        module, _, attr = path.rpartition(".")
    if not module or not attr:
        raise ValueError(f"setup {path!r}: expected MODULE:FUNCTION, e.g. mypackage.scales:register")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def run_setup(setup: str | None) -> None:
    """Call the setup function once per process (it registers scales, patches stages, ...)."""
    if setup and setup not in _SETUP_DONE:
        import_object(setup)()
        _SETUP_DONE.add(setup)


def run_unit(config: Mapping[str, Any], unit_id: str, run_dir: str, dep_outputs: Mapping[str, Mapping[str, Any]],
             env: Mapping[str, str], setup: str | None, cwd: str) -> dict[str, Any]:
    """The Ray task: one unit, executed as the local runner would (idempotent, keyed, atomic).

    A module-level function, so that Ray's workers import it by name rather than receive its code.
    """
    os.environ.update(env)
    if os.path.isdir(cwd):  # relative paths in the config mean what they mean to the driver
        os.chdir(cwd)
    run_setup(setup)
    cfg = parse_config(dict(config), source=f"sweep config for {unit_id}")
    from interp.pipeline.precision import set_threads

    set_threads(cfg.threads)
    units = {u.id: u for u in plan(cfg)}
    deps = {d: Finished.from_json(o, skipped=bool(o.get("skipped"))) for d, o in dep_outputs.items()}
    done = execute(units[unit_id], Context(cfg, Path(run_dir), progress=False), deps)
    return done.to_json() | {"skipped": done.skipped}


# ---- in the driver -------------------------------------------------------------------------------
def run_sweep(config: ExperimentConfig, *, out: str | Path = "artifacts", address: str | None = None,
              max_retries: int = 2, gpus_per_unit: float | None = None, cpus_per_unit: float = 1.0,
              progress: bool = True, setup: str | None = None, env: Mapping[str, str] | None = None,
              only: Iterable[str] | None = None) -> RunResult:
    """Run every unit of ``config`` as a Ray task, then :func:`~interp.pipeline.run.assemble` the run directory.

    ``address``: None uses the Ray instance this process is connected to, else ``$RAY_ADDRESS``,
    else starts a local one; ``"auto"`` joins the cluster of this node (``ray start``);
    ``ray://host:10001`` connects a Ray client (the client must see the same filesystem). A
    connection made here is closed at the end (the cluster keeps running).
    ``gpus_per_unit``: GPUs for a unit that runs a model (:func:`needs_gpu`; None: 1 if the
    cluster has GPUs, else 0); the other units never hold one. ``setup``: ``MODULE:FUNCTION`` called once in
    every worker process before its first unit (register a scale, patch a stage). ``env``:
    variables set in the workers, on top of ``$INTERP_CACHE`` and ``$HF_HOME`` forwarded from here.
    ``only``: unit id prefixes, as ``interp run --only``.
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    ray = require_ray()
    t0 = time.perf_counter()
    check_config(config)  # what cannot work fails here, before anything is submitted
    ctx = Context(config, run_directory(config, out), progress=progress)
    units = plan(config)
    if only:
        units = select(units, list(only))
    started = not ray.is_initialized()
    if started:  # with address None, Ray still honours $RAY_ADDRESS
        ray.init(address=address, **({"include_dashboard": False} if address is None else {}))
    elif address is not None:
        log.warning("Ray is already initialised in this process; using that connection, not %s", address)
    try:
        gpus = gpus_per_gpu_unit(float(ray.cluster_resources().get("GPU", 0.0)), gpus_per_unit)
        result = _schedule(ray, ctx, units, max_retries=max_retries, gpus=gpus, cpus=cpus_per_unit, setup=setup,
                           env={k: os.environ[k] for k in FORWARD_ENV if k in os.environ} | dict(env or {}),
                           progress=progress)
    finally:
        if started:
            ray.shutdown()
    result.seconds = time.perf_counter() - t0
    assemble(ctx, result, command="interp sweep")
    return result


def gpus_per_gpu_unit(cluster_gpus: float, requested: float | None) -> float:
    """GPUs a model-running unit asks for: ``requested``, or 1 when the cluster has GPUs (else 0)."""
    if requested is None:
        return 1.0 if cluster_gpus > 0 else 0.0
    if requested < 0:
        raise ValueError(f"gpus_per_unit must be >= 0, got {requested}")
    if requested > cluster_gpus:
        log.warning("gpus_per_unit=%s but the cluster has %s GPU(s) now: GPU units wait until nodes with "
                    "enough GPUs join", requested, cluster_gpus)
    return float(requested)


def needs_gpu(unit: Unit, config: ExperimentConfig) -> bool:
    """Whether a unit runs a model (its stage's ``loads_model``), and so should hold a GPU when there are some.

    Ray leaves CUDA_VISIBLE_DEVICES alone in a task that reserved no GPU, so a unit that runs a
    model without asking for one would use a GPU the scheduler may have given to another unit.
    """
    return STAGES[unit.stage].loads_model(config)


def exclusive_group(unit: Unit, config: ExperimentConfig) -> str | None:
    """Units of one group never run at the same time, because they would write the same cache entries
    (the stage's ``exclusive``; e.g. sharpening units generating one organism's replies)."""
    exclusive = STAGES[unit.stage].exclusive
    return exclusive(unit, config) if exclusive is not None else None


def task_resources(unit: Unit, config: ExperimentConfig, *, gpus: float, cpus: float) -> dict[str, float]:
    """The Ray resources of one unit's task (units that run no model never hold a GPU)."""
    return {"num_cpus": cpus, "num_gpus": gpus if needs_gpu(unit, config) else 0.0}


def _schedule(ray: Any, ctx: Context, units: list[Unit], *, max_retries: int, gpus: float, cpus: float,
              setup: str | None, env: Mapping[str, str], progress: bool) -> RunResult:
    """Submit every unit once its inputs are done; retry failures; block the dependants of what failed."""
    result = RunResult(ctx.run_dir, ctx.config)
    result.outputs.update(finished_units(units, ctx))  # finished by an earlier run: never submitted
    counts = {"done": 0, "skipped": len(result.outputs), "failed": 0, "blocked": 0}
    # A GPU unit gets a fresh worker process (max_calls=1), as Ray does for functions declared with GPUs:
    # a reused process would keep its CUDA context, and its cached model, on the GPU it had before.
    cpu_task, gpu_task = ray.remote(run_unit), ray.remote(max_calls=1)(run_unit)
    config = ctx.config.model_dump(mode="json")
    run_dir, cwd = str(ctx.run_dir.resolve()), os.getcwd()
    running: dict[Any, tuple[Unit, int]] = {}
    busy: set[str] = set()  # exclusive groups with a unit running

    def submit(unit: Unit, attempt: int) -> None:
        if (group := exclusive_group(unit, ctx.config)) is not None:
            busy.add(group)
        options = task_resources(unit, ctx.config, gpus=gpus, cpus=cpus)
        task = gpu_task if options["num_gpus"] > 0 else cpu_task
        deps = {d: result.outputs[d].to_json() | {"skipped": result.outputs[d].skipped} for d in unit.deps}
        ref = task.options(**options, max_retries=0, name=unit.id).remote(config, unit.id, run_dir, deps, dict(env),
                                                                           setup, cwd)
        running[ref] = (unit, attempt)

    pending = [u for u in units if u.id not in result.outputs]
    bar = tqdm(total=len(units), initial=counts["skipped"], desc=f"{ctx.config.name} (ray)", unit="unit",
               disable=not progress)
    try:
        while True:
            waiting = []
            for u in pending:  # plan order is topological: a blocked unit blocks its dependants in one pass
                if all(d in result.outputs for d in u.deps):
                    if exclusive_group(u, ctx.config) in busy:
                        waiting.append(u)
                    else:
                        submit(u, 0)
                elif all(d in result.outputs or d in result.failed or d in result.blocked for d in u.deps):
                    result.blocked[u.id] = f"needs {', '.join(d for d in u.deps if d not in result.outputs)}"
                    counts["blocked"] += 1
                    bar.update(1)
                else:
                    waiting.append(u)
            pending = waiting
            bar.set_postfix(counts | {"running": len(running)}, refresh=True)
            if not running:
                break
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                unit, attempt = running.pop(ref)
                busy.discard(exclusive_group(unit, ctx.config) or "")
                try:
                    out = ray.get(ref)
                except Exception as e:  # the unit's exception (as RayTaskError), a crashed worker, a lost node
                    cause = getattr(e, "cause", None) or e
                    if attempt < max_retries:
                        log.warning("unit %s failed (attempt %d of %d), retrying: %s: %s", unit.id, attempt + 1,
                                    max_retries + 1, type(cause).__name__, str(cause).splitlines()[0] if str(cause) else "")
                        submit(unit, attempt + 1)
                        continue
                    log.error("unit %s failed after %d attempt(s): %s", unit.id, attempt + 1, cause)
                    result.failed[unit.id] = f"{type(cause).__name__}: {cause} ({attempt + 1} attempt(s))\n{e}"
                    counts["failed"] += 1
                else:
                    result.outputs[unit.id] = Finished.from_json(out, skipped=bool(out.get("skipped")))
                    counts["skipped" if out.get("skipped") else "done"] += 1
                bar.update(1)
    except BaseException:  # interrupted: stop what runs (units are atomic, a rerun resumes)
        for ref in running:
            ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
    # the local runner's order, so the manifest and tables list units the same way
    result.outputs = {u.id: result.outputs[u.id] for u in units if u.id in result.outputs}
    return result


__all__ = ["RAY_REQUIREMENT", "exclusive_group", "gpus_per_gpu_unit", "needs_gpu", "require_ray", "run_setup", "run_sweep",
           "run_unit", "task_resources"]
