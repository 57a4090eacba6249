"""The stage registry, followed once as CONTRIBUTING.md says: a toy stage defined here runs through ``interp run``.

Also: the plan, the run order and ``interp run --plan`` read the registry only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_pipeline import tiny_config, tiny_scale  # noqa: F401  (the tiny scale fixture)

from interp.pipeline import (
    STAGES,
    Outputs,
    StageSpec,
    TableSpec,
    Unit,
    parse_config,
    plan,
    register_stage,
    run_experiment,
)
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.graph import describe, model_order
from interp.pipeline.spec import never_loads_model, unregister_stage
from interp.pipeline.stages.common import checkpoints, store
from interp.pipeline.summary import summary_text


# ---- the toy stage: the norm of the class-mean difference at every layer of every capture ---------------------
def _plan(config: Any) -> Iterator[Unit]:
    cids = ["base"] + [c.id for c in checkpoints(config)]
    for cid in cids:
        yield Unit(f"norms/{cid}", "norms", {"checkpoint": cid}, (f"capture/{cid}",))


def _run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    s = store(inputs, unit.deps[0])
    y = s.labels()
    rows = []
    for hook in s.hooks:
        x = s.load(hook).double().numpy()
        rows.append({"checkpoint": unit.params["checkpoint"], "hook": hook,
                     "norm": float(np.linalg.norm(x[y == 1].mean(0) - x[y == 0].mean(0)))})
    return Outputs(write_tables(tmp, norms=pd.DataFrame(rows)))


def _summary(tables: Mapping[str, pd.DataFrame], config: Any) -> list[str]:
    t = tables.get("norms")
    return [] if t is None else [f"norms: {len(t)} rows, largest {t['norm'].max():.3f}"]


@pytest.fixture
def toy_stage() -> Iterator[StageSpec]:
    spec = register_stage(StageSpec("norms", sections=("capture",), plan=_plan, run=_run, loads_model=never_loads_model,
                                    tables=(TableSpec("norms", ("checkpoint", "hook", "norm"), "a mean-difference norm"),),
                                    summary=_summary))
    try:
        yield spec
    finally:
        unregister_stage("norms")
    assert "norms" not in STAGES


@pytest.mark.usefixtures("tiny_scale")
def test_a_registered_stage_runs_like_a_built_in(toy_stage: StageSpec, tiny_model_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    config = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[], sae={"enabled": False},
                                      steering={"enabled": False}, trajectory={"enabled": False}, dashboard=False))
    units = plan(config)
    assert [u.id for u in units if u.stage == "norms"] == ["norms/base", "norms/sycophancy/s3/before"]
    text = describe(config, tmp_path / "artifacts" / config.name)
    assert "norms/base" in text and "to run" in text and "reads capture; inputs capture/base" in text

    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    norms = pd.read_parquet(result.run_dir / "norms.parquet")  # gathered into the run directory like any table
    assert set(norms["checkpoint"]) == {"base", "sycophancy/s3/before"} and len(norms) == 2 * 3
    assert (norms["norm"] > 0).all()
    assert f"norms: 6 rows, largest {norms['norm'].max():.3f}" in summary_text(result)
    again = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert again.outputs["norms/base"].skipped and "norms/base" in describe(config, again.run_dir)
    assert "finished" in describe(config, again.run_dir).split("norms/base", 1)[1].splitlines()[0]

    # a table that lacks a declared column is refused when the unit writes it
    monkeypatch.setitem(STAGES, "norms", replace(toy_stage, sections=("capture", "probes"),
                                                 tables=(TableSpec("norms", ("checkpoint", "missing")),)))
    broken = run_experiment(config, out=tmp_path / "artifacts", only=["norms/base"], progress=False)
    assert "lacks the declared columns ['missing']" in broken.failed["norms/base"]


def test_registering_checks_names_and_tables(toy_stage: StageSpec) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_stage(toy_stage)
    clash = StageSpec("other", sections=(), plan=_plan, run=_run, tables=(TableSpec("layers", ()),))
    with pytest.raises(ValueError, match=r"table\(s\) \['layers'\] are already written by \['probes'\]"):
        register_stage(clash)
    assert "other" not in STAGES


def test_the_plan_is_every_stages_units_run_inputs_first() -> None:
    config = parse_config({"name": "p", "methods": ["bct", "greedy_self_training"], "seeds": [1, 2],
                           "trajectory": {"enabled": True}, "mediation": {"conditions": ["ablate:persona"]},
                           "prediction": {"enabled": True}, "mechanism": {"enabled": True},
                           "expression": {"enabled": True}})
    units = plan(config)
    assert {u.stage for u in units} == set(STAGES) - {"checkpoint", "paper_results"}  # no given checkpoints, no file
    order = model_order(units)
    seen: set[str] = set()
    for u in order:
        assert set(u.deps) <= seen, u.id
        seen.add(u.id)
    # consecutive units on one checkpoint: its behaviour and capture units back to back (plan order has them apart)
    ids = [u.id for u in order]
    for u in units:
        if u.stage == "behaviour" and u.loads != "base":
            assert ids.index(u.id.replace("behaviour/", "capture/", 1)) == ids.index(u.id) + 1
    loads = [u.loads for u in order if u.loads]
    assert sum(1 for a, b in itertools.pairwise(loads) if a != b) < sum(
        1 for a, b in itertools.pairwise([u.loads for u in units if u.loads]) if a != b)


def test_the_dry_run_says_what_a_set_would_redo(tmp_path: Path) -> None:
    config = parse_config({"name": "d", "methods": ["bct"]})
    changed = config.model_copy(update={"steering": config.steering.model_copy(update={"alphas": (0.0, 0.2)})})
    text = describe(changed, tmp_path / "d", baseline=config)
    redone = [line.split()[0] for line in text.splitlines() if "redone by --set" in line]
    assert redone == ["steering/sycophancy/s42"] and "1 units get a new key from --set" in text
    more = config.model_copy(update={"methods": ("bct", "act")})
    new = [line.split()[0] for line in describe(more, tmp_path / "d", baseline=config).splitlines() if "new with" in line]
    assert "consistency/sycophancy/s42/act" in new and "sharpening/sycophancy/s42/act" in new
