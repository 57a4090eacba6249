"""`interp sweep`: the unit graph on a local Ray cluster (loopback, 2 CPUs) gives the local runner's
numbers, retries a unit that fails once, isolates one that always fails, and resumes without submitting.

One Ray instance serves the whole module (starting it takes ~10 s here). Its workers import this module
(``tests/`` is on their PYTHONPATH) and run :func:`worker_setup` before their first unit: it registers
the tiny scale and installs the planted faults listed in ``<runs_root>/faults.json``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_pipeline import TINY_SCALE, tiny_config

from interp.pipeline import parse_config, plan, run_experiment

ray = pytest.importorskip("ray")

from interp.cli import build_parser  # noqa: E402
from interp.pipeline.sweep import (  # noqa: E402
    exclusive_group,
    gpus_per_gpu_unit,
    require_ray,
    run_sweep,
    task_resources,
)

TESTS = Path(__file__).resolve().parent
SETUP = "test_sweep:worker_setup"
FM, SEED = "sycophancy", 3


# ---- what the Ray workers run before their first unit ----------------------------------------------
def _nonempty(real: Any) -> Any:
    """The random tiny model often answers nothing; consistency labelling needs non-empty replies."""
    def generate(model: Any, convs: Any, params: Any, **kw: Any) -> Any:
        return [[(c or "") + " ok" for c in cands] for cands in real(model, convs, params, **kw)]

    return generate


def _faulty(stage: str, real: Any) -> Any:
    """A stage that first consults ``<runs_root>/faults.json``: {unit id or "*": "once" | "always"}."""
    def run(unit: Any, ctx: Any, deps: Mapping[str, Any], tmp: Path) -> Any:
        faults_file = Path(ctx.config.runs_root) / "faults.json"
        faults = json.loads(faults_file.read_text()) if faults_file.is_file() else {}
        mode = faults.get(unit.id, faults.get("*"))
        if mode == "always":
            raise RuntimeError(f"planted failure in {unit.id}")
        if mode == "once":
            try:  # the first attempt (in any process) creates the marker and fails
                os.close(os.open(faults_file.parent / f"fired-{unit.id.replace('/', '_')}", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                raise RuntimeError(f"planted transient failure in {unit.id}")
        return real(unit, ctx, deps, tmp)

    return run


def worker_setup() -> None:
    from dataclasses import replace

    import interp.consistency.base as cbase
    from interp.pipeline import STAGES

    exec(TINY_SCALE, {})
    cbase.generate = _nonempty(cbase.generate)
    for name, spec in list(STAGES.items()):
        STAGES[name] = replace(spec, run=_faulty(name, spec.run))


# ---- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Ray instance on loopback for this module; yields a scratch root shared by its tests."""
    from interp.organisms.scales import SCALES

    root = tmp_path_factory.mktemp("sweep")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "INTERP_CACHE")}
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), saved["PYTHONPATH"]) if p)
    os.environ["INTERP_CACHE"] = str(root / "cache")  # the workers' default; run_sweep forwards the driver's
    exec(TINY_SCALE, {})
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield root
    finally:
        ray.shutdown()
        SCALES.pop("tiny", None)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _config(model: Path, root: Path, **changes: Any) -> Any:
    """The tiny pipeline test's config, smaller: one method; no SAE, steering, trajectory or expression metric."""
    data = tiny_config(str(model), root / "runs", methods=["bct"], sae={"enabled": False},
                       steering={"enabled": False}, trajectory={"enabled": False}, **changes)
    data["sharpening"] = data["sharpening"] | {"expression_rows": 0}
    return parse_config(data)


def _faults(root: Path, faults: dict[str, str]) -> None:
    (root / "runs").mkdir(parents=True, exist_ok=True)
    (root / "runs" / "faults.json").write_text(json.dumps(faults))


# ---- tests ---------------------------------------------------------------------------------------------
def test_missing_ray_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install ray==\d+\.\d+\.\d+"):
        require_ray()


def test_the_command_rejects_a_bad_setup_or_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from interp.cli import main

    def sweep(*argv: str) -> int:
        return main(["sweep", *argv])

    assert sweep(str(tmp_path / "missing.yaml")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sweep(str(tmp_path / "c.yaml"), "--setup", "interp.io:no_such_function") == 2
    assert "no_such_function" in capsys.readouterr().err


def test_units_that_run_a_model_ask_for_gpus(tmp_path: Path) -> None:
    config = parse_config({"name": "g", "methods": ["bct"], "sharpening": {"expression_rows": 0}})
    units = {u.id: u for u in plan(config)}
    assert gpus_per_gpu_unit(2.0, None) == 1.0 and gpus_per_gpu_unit(0.0, None) == 0.0
    assert gpus_per_gpu_unit(8.0, 4) == 4.0
    with pytest.raises(ValueError, match="gpus_per_unit must be >= 0"):
        gpus_per_gpu_unit(1.0, -1)
    res = {uid: task_resources(u, config, gpus=1.0, cpus=2.0) for uid, u in units.items()}
    assert res["organism/sycophancy/s42"] == {"num_cpus": 2.0, "num_gpus": 1.0}
    assert res["capture/base"]["num_gpus"] == 1.0 and res["behaviour/sycophancy/base"]["num_gpus"] == 1.0
    assert res["steering/sycophancy/s42"]["num_gpus"] == 1.0
    assert res["probes/base"]["num_gpus"] == 0.0 and res["sharpening/sycophancy/s42/bct"]["num_gpus"] == 0.0
    generating = config.model_copy(update={"sharpening": config.sharpening.model_copy(update={"expression_rows": 8})})
    assert task_resources(units["sharpening/sycophancy/s42/bct"], generating, gpus=1.0, cpus=1.0)["num_gpus"] == 1.0


def test_sharpening_units_that_generate_the_same_responses_never_overlap() -> None:
    config = parse_config({"name": "x", "methods": ["bct", "act"], "seeds": [1, 2], "sharpening": {"expression_rows": 8}})
    groups = {u.id: exclusive_group(u, config) for u in plan(config)}
    assert groups["sharpening/sycophancy/s1/bct"] == groups["sharpening/sycophancy/s1/act"] is not None
    assert groups["sharpening/sycophancy/s1/bct"] != groups["sharpening/sycophancy/s2/bct"]
    assert groups["capture/sycophancy/s1/before"] is None
    quiet = config.model_copy(update={"sharpening": config.sharpening.model_copy(update={"expression_rows": 0})})
    assert all(exclusive_group(u, quiet) is None for u in plan(quiet))


def test_sweep_matches_the_local_runner_retries_and_resumes(cluster: Path, tiny_model_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.consistency.base as cbase

    monkeypatch.setattr(cbase, "generate", _nonempty(cbase.generate))
    config = _config(tiny_model_dir, cluster)
    monkeypatch.setenv("INTERP_CACHE", str(cluster / "cache-local"))
    local = run_experiment(config, out=cluster / "local", progress=False)
    assert local.ok, local.failed

    # the sweep: its own activation/generation cache (recomputed in the workers), the same checkpoints
    monkeypatch.setenv("INTERP_CACHE", str(cluster / "cache-sweep"))
    transient = f"capture/{FM}/s{SEED}/before"
    _faults(cluster, {transient: "once"})
    swept = run_sweep(config, out=cluster / "sweep", setup=SETUP, max_retries=1, progress=False)
    assert swept.ok, (swept.failed, swept.blocked)
    assert list(swept.outputs) == list(local.outputs)  # every unit, in the local runner's order
    assert not any(o.skipped for o in swept.outputs.values())
    assert (cluster / "runs" / f"fired-{transient.replace('/', '_')}").exists()  # it failed once, then succeeded
    assert str(cluster / "cache-sweep") in swept.outputs[transient].outputs.store
    for name in ("behaviour", "layers", "sharpening", "cosine_matrix"):
        pd.testing.assert_frame_equal(pd.read_parquet(swept.run_dir / f"{name}.parquet"),
                                      pd.read_parquet(local.run_dir / f"{name}.parquet"), check_exact=False, rtol=1e-6)
    manifest = json.loads((swept.run_dir / "manifest.json").read_text())
    assert set(manifest["units"]) == set(local.outputs) and not manifest["failed"]
    assert (swept.run_dir / "index.html").is_file()

    # a rerun submits nothing: every unit would fail if it ran
    _faults(cluster, {"*": "always"})
    again = run_sweep(config.model_copy(update={"dashboard": False}), out=cluster / "sweep", setup=SETUP,
                      max_retries=0, progress=False)
    assert again.ok, again.failed
    assert set(again.outputs) == set(local.outputs) and all(o.skipped for o in again.outputs.values())

    # the command line does the same (Ray already runs in this process, so it is reused)
    cfg_file = cluster / "tiny.yaml"
    cfg_file.write_text(json.dumps(config.model_dump(mode="json")))
    args = build_parser().parse_args(["sweep", str(cfg_file), "--out", str(cluster / "sweep"), "--max-retries", "0",
                                      "--set", "dashboard=false", "--no-progress"])
    assert args.func(args) == 0


def test_a_failed_unit_blocks_only_its_dependants(cluster: Path, tiny_model_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(tiny_model_dir, cluster)
    monkeypatch.setenv("INTERP_CACHE", str(cluster / "cache-sweep"))
    broken = f"capture/{FM}/s{SEED}/before"
    _faults(cluster, {broken: "always"})
    result = run_sweep(config, out=cluster / "broken", setup=SETUP, max_retries=1, progress=False)
    assert set(result.failed) == {broken}
    assert "planted failure" in result.failed[broken] and "2 attempt(s)" in result.failed[broken]
    assert set(result.blocked) == {f"probes/{FM}/s{SEED}/before", f"sharpening/{FM}/s{SEED}/bct"}
    assert result.blocked[f"probes/{FM}/s{SEED}/before"] == f"needs {broken}"
    assert {f"organism/{FM}/s{SEED}", f"consistency/{FM}/s{SEED}/bct", f"capture/{FM}/s{SEED}/after:bct",
            f"probes/{FM}/s{SEED}/after:bct", f"behaviour/{FM}/s{SEED}/before", "probes/base"} <= set(result.outputs)
    assert len(result.outputs) + 3 == len(plan(config)) and not result.ok
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert set(manifest["failed"]) == {broken} and len(manifest["blocked"]) == 2
