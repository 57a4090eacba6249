"""`interp run`: config validation, the unit graph and its keys, an end-to-end run on the tiny model, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from interp.pipeline import ConfigError, load_config, parse_config, plan, run_experiment, summary_text
from interp.pipeline.config import parse_overrides
from interp.pipeline.execute import Context, unit_key
from interp.pipeline.stages.steering import _span

REPO = Path(__file__).resolve().parents[1]


def tiny_config(model: str, runs_root: Path, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "tiny-e2e", "model": model, "scale": "tiny", "seeds": [3], "failure_modes": ["sycophancy"],
        "methods": ["greedy_self_training", "bct"], "runs_root": str(runs_root), "threads": 1,
        "behaviour": {"eval_rows": 8, "n_boot": 200},
        "capture": {"max_examples": 24, "batch_size": 8},
        "probes": {"methods": ["diffmeans"], "n_permutations": 20, "n_boot": 100},
        "sharpening": {"n_boot": 50, "n_permutations": 20, "expression_rows": 4, "max_new_tokens": 3},
        "sae": {"layer": 1, "d_sae": 32, "k": 4, "total_tokens": 2000, "batch_size": 64, "text_examples": 24,
                "quality_examples": 4},
        "steering": {"layer": 1, "alphas": [0.0, 0.1], "n_random": 1, "eval_rows": 6, "n_boot": 100,
                     "induce_in_base": True},
        "trajectory": {"enabled": True, "n_boot": 50},
    }
    for k, v in changes.items():
        data[k] = v
    return data


TINY_SCALE = """
from interp.organisms.scales import SCALES, ScaleConfig
from interp.training.config import LoraSpec, TrainConfig
_cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=4, max_length=512, max_rows=8, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
SCALES["tiny"] = ScaleConfig("tiny", _cfg, _cfg, _cfg, 4, 8, max_new_tokens=4)
"""


@pytest.fixture
def tiny_scale() -> Any:
    from interp.organisms.scales import SCALES

    exec(TINY_SCALE, {})
    yield
    SCALES.pop("tiny", None)


# ---- the schema ----------------------------------------------------------------------------------
def test_shipped_configs_validate() -> None:
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        config = load_config(path)
        assert config.name == path.stem
        assert plan(config)


def test_unknown_keys_and_bad_values_are_named(tmp_path: Path) -> None:
    base = {"name": "x"}
    with pytest.raises(ConfigError, match=r"steering\.alpha: unknown key"):
        parse_config(base | {"steering": {"alpha": [0.1]}})
    with pytest.raises(ConfigError, match="unknown failure mode 'sycophantic'"):
        parse_config(base | {"failure_modes": ["sycophantic"]})
    with pytest.raises(ConfigError, match="unknown consistency methods.*'bctt'"):
        parse_config(base | {"methods": ["bctt"]})
    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        parse_config(base | {"scale": "huge"})
    with pytest.raises(ConfigError, match=r"probes\.methods.*unknown probe methods"):
        parse_config(base | {"probes": {"methods": ["svm"]}})
    with pytest.raises(ConfigError, match="data_root .* is not a directory"):
        parse_config(base | {"data_root": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match=r"capture\.positions"):
        parse_config(base | {"capture": {"positions": "everything"}})
    with pytest.raises(ConfigError, match=r"sae\.k: .*greater than or equal to 1"):
        parse_config(base | {"sae": {"k": 0}})
    with pytest.raises(ConfigError, match="convergence.ablate ablates the directions the steering stage found"):
        parse_config(base | {"seeds": [1, 2], "steering": {"enabled": False}})
    parse_config(base | {"steering": {"enabled": False}})  # one organism: no convergence unit, nothing to ablate
    with pytest.raises(ConfigError, match=r"steering\.layer"):
        parse_config(base | {"steering": {"layer": "best"}})
    with pytest.raises(ConfigError, match="steering.probe 'logistic' is not among probes.methods"):
        parse_config(base | {"probes": {"methods": ["diffmeans"]}, "steering": {"probe": "logistic"}})
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_config(["name"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_the_schema_is_strict(tmp_path: Path) -> None:
    base = {"name": "x"}
    for bad, where in (({"behaviour": {"eval_rows": "64"}}, r"behaviour\.eval_rows: Input should be a valid integer"),
                       ({"sae": {"enabled": "false"}}, r"sae\.enabled: Input should be a valid boolean"),
                       ({"steering": {"keep_sink": 1}}, r"steering\.keep_sink: Input should be a valid boolean"),
                       ({"sharpening": {"probes": ["svm"]}}, r"sharpening\.probes: .*unknown probes \['svm'\]"),
                       ({"trajectory": {"probes": []}}, r"trajectory\.probes: .*name at least one probe"),
                       ({"behaviour": {"judge": "gpt"}}, r"behaviour\.judge: .*unknown judge \['gpt'\]"),
                       ({"capture": {"contrast": str(tmp_path / "nope.jsonl")}}, r"capture\.contrast: .*neither a shipped")):
        with pytest.raises(ConfigError, match=where):
            parse_config(base | bad)
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nsae:\n  lr: 3e-4\n  d_sae: 64\n")  # YAML 1.1 reads 3e-4 as text; we read a number
    assert load_config(path).sae.lr == pytest.approx(3e-4)
    path.write_text("name: c\nsteering:\n  layer: 3\n  layer: 4\n")
    with pytest.raises(ConfigError, match="the key 'layer' is given twice"):
        load_config(path)
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["steering.layer"])


def test_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "c", "steering": {"layer": 3}}))
    config = load_config(path, {"steering.layer": 5, "sae.enabled": False})
    assert config.steering.layer == 5 and config.sae.enabled is False


def test_a_changed_section_rekeys_exactly_its_dependants(tmp_path: Path) -> None:
    def keys(config: Any) -> dict[str, str]:
        ctx = Context(config, tmp_path)
        out: dict[str, str] = {}
        for u in plan(config):  # plan order: dependencies first; stand-in outputs carry the key
            out[u.id] = unit_key(u, ctx, {d: SimpleNamespace(key=out[d], fingerprint=None) for d in u.deps})  # type: ignore[misc]
        return out

    base = parse_config({"name": "k", "methods": ["greedy_self_training", "bct"]})
    k0 = keys(base)
    steer = keys(base.model_copy(update={"steering": base.steering.model_copy(update={"alphas": (0.0, 0.2)})}))
    assert {u for u in k0 if k0[u] != steer[u]} == {"steering/sycophancy/s42"}
    cap = keys(base.model_copy(update={"capture": base.capture.model_copy(update={"max_examples": 40})}))
    changed = {u.split("/")[0] for u in k0 if k0[u] != cap[u]}
    assert changed == {"capture", "probes", "sharpening", "sae", "steering"}  # steering fits its direction on capture
    beh = keys(base.model_copy(update={"behaviour": base.behaviour.model_copy(update={"eval_rows": 10})}))
    assert {u.split("/")[0] for u in k0 if k0[u] != beh[u]} == {"behaviour", "steering"}


# ---- end to end on the tiny model ----------------------------------------------------------------
def _nonempty_generate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The random tiny model often answers nothing; phase 2 needs non-empty labels."""
    import interp.consistency.base as cbase

    real = cbase.generate

    def fake(model: Any, convs: Any, params: Any, **kw: Any) -> Any:
        out = real(model, convs, params, **kw)
        return [[(c or "") + " ok" for c in cands] for cands in out]

    monkeypatch.setattr(cbase, "generate", fake)


@pytest.mark.usefixtures("tiny_scale")
def test_run_end_to_end_then_resume(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    _nonempty_generate(monkeypatch)
    config = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=["bct"]))
    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    run = result.run_dir
    for name in ("behaviour", "layers", "sharpening", "cosine_matrix", "sae_quality", "sae_latents", "sae_diff",
                 "sae_latents_needed", "dose_response", "ablation", "behaviour_trajectory", "trajectory"):
        assert (run / f"{name}.parquet").is_file(), name
    beh = pd.read_parquet(run / "behaviour.parquet")
    assert {"base", "before", "after:bct", "before - base", "after:bct - before"} == set(beh["checkpoint"])
    assert ((beh["ci_low"] <= beh["rate"]) & (beh["rate"] <= beh["ci_high"])).all()
    layers = pd.read_parquet(run / "layers.parquet")
    assert set(layers["checkpoint"]) == {"base", "before", "after:bct"}
    assert layers["layer"].nunique() == 3
    sharp = pd.read_parquet(run / "sharpening.parquet")
    assert {"delta_auroc", "cosine", "delta_projection"} <= set(sharp["metric"])
    assert set(sharp["method"]) == {"bct"}
    q = pd.read_parquet(run / "sae_quality.parquet").set_index("metric")["value"]
    assert q["l0"] <= 4 + 1e-6 and "explained_variance" in q
    needed = pd.read_parquet(run / "sae_latents_needed.parquet")
    assert set(needed["checkpoint"]) == {"before", "after:bct"} and needed["auroc"].between(0, 1).all()
    assert needed["probe_auroc"].between(0, 1).all()
    # alpha = 0 is one measurement shared by every direction
    dr0 = pd.read_parquet(run / "dose_response.parquet").query("alpha == 0 and checkpoint == 'before'")
    assert dr0["margin"].nunique() == 1 and (dr0["kl"] == 0).all()
    dr = pd.read_parquet(run / "dose_response.parquet")
    assert set(dr["checkpoint"]) == {"before", "base"}  # steering the organism, and induction in the base model
    assert set(dr["direction"]) == {"persona", "random:0"} and set(dr["alpha"]) == {0.0, 0.1}
    ab = pd.read_parquet(run / "ablation.parquet")
    assert set(ab["checkpoint"]) == {"before", "after:bct"}
    traj = pd.read_parquet(run / "behaviour_trajectory.parquet")
    assert list(traj["epoch"]) == [0, 1] and set(traj["method"]) == {"bct"}  # tiny scale: 1 epoch, plus epoch 0
    # epoch 0 is the organism and the last epoch the run's adapter, byte for byte: measured once, reused
    rates = beh.set_index("checkpoint")["rate"]
    assert list(traj["rate"]) == [rates["before"], rates["after:bct"]]
    assert list(traj["checkpoint_fingerprint"]) == list(beh.set_index("checkpoint").loc[["before", "after:bct"],
                                                                                       "checkpoint_fingerprint"])
    assert set(pd.read_parquet(run / "trajectory.parquet")["epoch"]) == {0, 1}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["config"]["name"] == "tiny-e2e" and manifest["seeds"] == [3]
    assert manifest["checkpoints"]["sycophancy/s3"]["fingerprint"]
    assert (run / "index.html").is_file()
    text = summary_text(result)  # the random control's value beside the persona's, from the tables above
    rnd = ab[ab["direction"] == "ablated:random:0"]["removed"]
    assert "steering: rate by alpha" in text and f"vs random {rnd.iloc[0]:+.3f}" in text

    prof = pd.read_csv(run / "profile.csv").set_index("unit")  # where the time went, per unit
    assert set(prof.index) == {*result.outputs, "(rest)"} and not prof["cached"].any()
    assert prof.loc["capture/base", "positions"] > 0 and prof.loc["capture/base", "forwards"] > 0
    assert prof["loads"].sum() >= 1 and 0.5 < prof["share"].sum() <= 1.0 + 1e-9
    again = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert all(o.skipped for o in again.outputs.values())
    assert pd.read_csv(run / "profile.csv").set_index("unit").drop("(rest)")["cached"].all()
    import yaml

    from interp.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=["bct"])))
    assert main(["run", str(path), "--out", str(tmp_path / "artifacts"), "--profile", "--no-progress"]) == 0
    printed = capsys.readouterr().out.split("profile (")[1].splitlines()
    assert printed[1].split()[:2] == ["unit", "seconds"] and printed[-1].startswith("total")
    assert any(line.startswith("capture/base") and "cached" in line for line in printed)
    pd.testing.assert_frame_equal(pd.read_parquet(run / "sharpening.parquet"), sharp)

    # a changed steering section recomputes the steering unit only
    steer = config.model_copy(update={"steering": config.steering.model_copy(update={"alphas": (0.0, 0.2)})})
    from interp.pipeline.run import RunDirError

    with pytest.raises(RunDirError, match="holds the run of another config"):
        run_experiment(steer, out=tmp_path / "artifacts", progress=False)  # a run directory shows one config
    third = run_experiment(steer, out=tmp_path / "artifacts", progress=False, force=True)
    assert {u for u, o in third.outputs.items() if not o.skipped} == {"steering/sycophancy/s3"}
    aside = list((run / "previous").iterdir())
    assert len(aside) == 1 and (aside[0] / "layers.parquet").is_file()  # the old run's tables, moved aside
    pd.testing.assert_frame_equal(pd.read_parquet(run / "sharpening.parquet"), sharp)  # shared units reused

    # --only into the directory of the same config re-gathers every finished unit: no table shrinks
    layers = pd.read_parquet(run / "layers.parquet")
    only = run_experiment(steer, out=tmp_path / "artifacts", only=["probes/base"], progress=False)
    assert set(only.outputs) == {"capture/base", "probes/base"}
    pd.testing.assert_frame_equal(pd.read_parquet(run / "layers.parquet"), layers)
    assert (run / "dose_response.parquet").is_file() and (run / "sae_quality.parquet").is_file()


def test_span_of_random_controls() -> None:
    assert _span(pd.Series([0.2, -0.1, float("nan")]), "+.2f") == "-0.10..+0.20"
    assert _span(pd.Series([0.5]), ".1f") == "0.5" and _span(pd.Series([], dtype=float), ".1f") == "-"


@pytest.mark.usefixtures("tiny_scale")
def test_a_failed_unit_blocks_only_its_dependants(tiny_model_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from interp.pipeline import STAGES

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))

    def boom(*a: Any) -> Any:
        raise RuntimeError("planted failure")

    monkeypatch.setitem(STAGES, "organism", replace(STAGES["organism"], run=boom))
    config = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[],
                                      sae={"enabled": False}, steering={"enabled": False}))
    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert set(result.failed) == {"organism/sycophancy/s3"} and "planted failure" in result.failed["organism/sycophancy/s3"]
    assert set(result.blocked) == {"behaviour/sycophancy/s3/before", "capture/sycophancy/s3/before",
                                   "probes/sycophancy/s3/before"}
    assert {"capture/base", "probes/base", "behaviour/sycophancy/base"} <= set(result.outputs)
    assert not result.ok


@pytest.mark.usefixtures("tiny_scale")
def test_two_organisms_get_a_convergence_unit(tiny_model_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    one = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[]))
    assert not [u for u in plan(one) if u.stage == "convergence"]  # one organism: nothing to converge
    config = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[],
                                      failure_modes=["sycophancy", "emergent_misalignment"],
                                      sae={"enabled": False},
                                      steering={"layer": "auto", "select_rows": 4, "select_kl_budget": 50.0,
                                                "alphas": [0.0], "n_random": 1, "eval_rows": 6, "n_boot": 100,
                                                "ablate_in": []},
                                      trajectory={"enabled": False}, convergence={"n_boot": 50}))
    result = run_experiment(config, out=tmp_path / "artifacts", only=["convergence"], progress=False)
    assert result.ok, result.failed
    # steering.layer: auto chose a layer per organism on held-out prompts; that direction is the one steered
    sel = pd.read_parquet(result.run_dir / "direction_selection.parquet")
    assert set(sel["candidate"]) == {"L0", "L1", "L2"} and sel.groupby("failure_mode")["selected"].sum().eq(1).all()
    dr = pd.read_parquet(result.run_dir / "dose_response.parquet")
    for fm, part in sel[sel["selected"]].groupby("failure_mode"):
        assert set(dr[dr["failure_mode"] == fm]["hook"]) == {part["hook"].iloc[0]}
    conv = pd.read_parquet(result.run_dir / "convergence.parquet")
    organisms = {"sycophancy/s3/before", "emergent_misalignment/s3/before"}
    assert set(conv["metric"]) == {"cosine", "shift_cosine", "transfer_auroc", "cosine_to_base"}
    assert set(conv["a"]) | set(conv["b"]) == organisms | {"base"} and conv["layer"].nunique() == 3
    cos = conv[conv["metric"] == "cosine"]
    assert cos["value"].between(-1, 1).all() and (cos["ci_low"] <= cos["ci_high"]).all()
    ab = pd.read_parquet(result.run_dir / "convergence_ablation.parquet")
    assert set(ab["checkpoint"]) == organisms
    for ck, other in (("sycophancy/s3/before", "emergent_misalignment/s3/before"),
                      ("emergent_misalignment/s3/before", "sycophancy/s3/before")):
        got = list(ab[ab["checkpoint"] == ck]["direction"])
        assert got == ["untouched", "ablated:persona", f"ablated:from:{other}", "ablated:random:0"]
    html = (result.run_dir / "index.html").read_text()
    assert 'id="section-convergence"' in html and "shift_cosine" in html

    # when the steering units ablated in the organisms, their own-direction and random rows are reused, not rerun
    import interp.steering

    calls: list[tuple[str, int]] = []
    real_ablation = interp.steering.ablation_effect

    def spy(*args: Any, **kw: Any) -> Any:
        calls.append((kw["label"], kw["n_random"]))
        return real_ablation(*args, **kw)

    monkeypatch.setattr(interp.steering, "ablation_effect", spy)
    reuse = config.model_copy(update={"steering": config.steering.model_copy(update={"ablate_in": ("before",)})})
    again = run_experiment(reuse, out=tmp_path / "artifacts", only=["convergence"], progress=False, force=True)
    assert again.ok, again.failed
    assert sorted(calls) == sorted([("before", 1), ("before", 1), *((o, 0) for o in organisms)])  # no random reruns
    ab2 = pd.read_parquet(again.run_dir / "convergence_ablation.parquet")
    steer = pd.read_parquet(again.run_dir / "ablation.parquet")
    cols = ["direction", "rate", "margin", "kl", "removed"]
    for fm, ck in (("sycophancy", "sycophancy/s3/before"), ("emergent_misalignment", "emergent_misalignment/s3/before")):
        mine = ab2[ab2["checkpoint"] == ck].reset_index(drop=True)
        other = next(o for o in organisms if o != ck)
        assert list(mine["direction"]) == ["untouched", "ablated:persona", f"ablated:from:{other}", "ablated:random:0"]
        theirs = steer[(steer["failure_mode"] == fm) & (steer["checkpoint"] == "before")].set_index("direction")
        pd.testing.assert_frame_equal(mine.set_index("direction").loc[list(theirs.index), cols[1:]],
                                      theirs[cols[1:]], check_exact=False, rtol=1e-6)  # the untouched pass agrees too
        before = ab[ab["checkpoint"] == ck].set_index("direction")  # ... and with the run that measured everything
        pd.testing.assert_frame_equal(mine.set_index("direction")[cols[1:]], before.loc[list(mine["direction"]), cols[1:]],
                                      check_exact=False, rtol=1e-6)


def test_sigkill_then_rerun_resumes(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kill a run with SIGKILL after some units finished; the rerun skips them and gives the same numbers
    as an uninterrupted run."""
    cfg = tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[], sae={"enabled": False},
                      steering={"enabled": False})
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    script = tmp_path / "run.py"
    script.write_text(TINY_SCALE + textwrap.dedent(f"""
        import sys
        from interp.cli import main
        sys.exit(main(["run", {str(cfg_path)!r}, "--out", {str(tmp_path / 'killed')!r}, "--no-progress"]))
    """))
    env = os.environ | {"INTERP_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    stages = tmp_path / "killed" / "tiny-e2e" / "stages"
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if stages.exists() and len(list(stages.glob("**/outputs.json"))) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p.parent.parent.relative_to(stages).as_posix() for p in stages.glob("**/outputs.json")}
    assert len(finished_before) >= 2
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "already finished" in out.stdout
    manifest = json.loads((tmp_path / "killed" / "tiny-e2e" / "manifest.json").read_text())
    skipped = {u.replace(":", "=") for u, v in manifest["units"].items() if v["skipped"]}
    assert finished_before <= skipped
    assert not list(stages.glob("**/.*.tmp"))  # the killed attempt's scratch directory was cleared
    # the same numbers as a run that was never interrupted (fresh cache and runs root)
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache2"))
    exec(TINY_SCALE, {})
    clean = run_experiment(parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs2", methods=[],
                                                    sae={"enabled": False}, steering={"enabled": False})),
                           out=tmp_path / "clean", progress=False)
    assert clean.ok
    for name in ("behaviour", "layers"):
        resumed = pd.read_parquet(tmp_path / "killed" / "tiny-e2e" / f"{name}.parquet")
        fresh = pd.read_parquet(clean.run_dir / f"{name}.parquet")
        drop = [c for c in ("checkpoint_fingerprint",) if c in fresh]
        pd.testing.assert_frame_equal(resumed.drop(columns=drop), fresh.drop(columns=drop), check_exact=False, rtol=1e-6)


@pytest.mark.usefixtures("tiny_scale")
def test_model_dependent_settings_are_checked_before_any_work(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Layers and hooks against the model's config (3 layers; no weights loaded), before the first unit runs."""
    from interp.pipeline.spec import check_config

    base = tiny_config(str(tiny_model_dir), tmp_path / "runs")
    check_config(parse_config(base))  # the tiny config itself is fine
    for change, message in (({"steering": base["steering"] | {"layer": 99}},
                             r"steering\.layer 99 is out of range: the model has 3 layers \(0\.\.2\)"),
                            ({"sae": base["sae"] | {"layer": 77}}, r"sae\.layer 77 is out of range"),
                            ({"capture": base["capture"] | {"hooks": "resid_post:1-99"}},
                             r"'resid_post:1-99' names layers 1\.\.99, but the model has layers 0\.\.2"),
                            ({"capture": base["capture"] | {"hooks": "resid_post:0-0"}},
                             r"blocks\.1\.hook_resid_post is not captured")):
        config = parse_config(base | change)
        with pytest.raises(ConfigError, match=message):
            check_config(config)
        out = tmp_path / "artifacts"
        with pytest.raises(ConfigError):
            run_experiment(config, out=out, progress=False)
        assert not out.exists()  # nothing started
    with pytest.raises(ConfigError, match=r"capture\.hooks: .*Unknown hook point 'blocks\.3\.hook_foo'"):
        parse_config(base | {"capture": base["capture"] | {"hooks": "blocks.3.hook_foo"}})
