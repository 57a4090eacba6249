"""Studying checkpoints interp did not make: adapters written by a plain peft script, given by path.

The analysis runs end to end on them (no training), nothing is written where they live, a changed
checkpoint is noticed, and bad input is an error before any work starts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from test_pipeline import tiny_config

from interp.pipeline import ConfigError, parse_config, plan, run_experiment

GRID_KEYS = ("scale", "seeds", "methods", "runs_root")


def peft_adapter(model_dir: Path, out: Path, seed: int, *, base_name: str | None = None) -> Path:
    """A LoRA adapter made the way a researcher would, with peft alone (random, non-zero B)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(out)
    if base_name is not None:  # as if trained on a hub copy of the base: the name is not a local path
        cfg = json.loads((out / "adapter_config.json").read_text())
        (out / "adapter_config.json").write_text(json.dumps(cfg | {"base_model_name_or_path": base_name}))
    return out


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def own_config(model_dir: Path, **checkpoints: Any) -> dict[str, Any]:
    data = tiny_config(str(model_dir), Path("/nonexistent"))
    for k in GRID_KEYS:
        data.pop(k, None)
    data["name"] = "own"
    data["checkpoints"] = checkpoints
    return data


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("peft-adapters")
    return {"organism": peft_adapter(tiny_model_dir, root / "organism", 1),
            "mine": peft_adapter(tiny_model_dir, root / "mine", 2, base_name="SomeOrg/tiny-llama"),
            "mine_epoch1": peft_adapter(tiny_model_dir, root / "mine-epoch1", 3)}


def test_given_checkpoints_run_end_to_end_and_are_never_written(adapters: dict[str, Path], tiny_model_dir: Path,
                                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    org, mine, mid = (str(adapters[k]) for k in ("organism", "mine", "mine_epoch1"))
    config = parse_config(own_config(tiny_model_dir, before=org, after={"mine": mine},
                                     epochs={"mine": {0: org, 1: mid, 2: mine}}))
    units = [u.id for u in plan(config)]
    assert not [u for u in units if u.startswith(("organism/", "consistency/"))]  # nothing is trained
    assert {"checkpoint/sycophancy/s0/before", "checkpoint/sycophancy/s0/after:mine",
            "trajectory/sycophancy/s0/mine", "steering/sycophancy/s0"} <= set(units)
    before = {k: tree_hash(p) for k, p in adapters.items()}
    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    assert {k: tree_hash(p) for k, p in adapters.items()} == before  # read-only: nothing written inside them
    run = result.run_dir
    for name in ("behaviour", "layers", "sharpening", "cosine_matrix", "sae_quality", "sae_latents", "sae_diff",
                 "dose_response", "ablation", "behaviour_trajectory", "trajectory"):
        assert (run / f"{name}.parquet").is_file(), name
    beh = pd.read_parquet(run / "behaviour.parquet")
    assert {"base", "before", "after:mine", "before - base", "after:mine - before"} == set(beh["checkpoint"])
    assert set(pd.read_parquet(run / "sharpening.parquet")["method"]) == {"mine"}
    traj = pd.read_parquet(run / "behaviour_trajectory.parquet")
    assert list(traj["epoch"]) == [0, 1, 2]
    rates = beh.set_index("checkpoint")["rate"]  # the ends are the before and after checkpoints, measured once
    assert list(traj["rate"].iloc[[0, 2]]) == [rates["before"], rates["after:mine"]]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["organisms"][0]["given"]["after:mine"] == mine and manifest["seeds"] == [0]
    assert manifest["checkpoints"]["sycophancy/s0/after:mine"]["fingerprint"]
    page = (run / "index.html").read_text()
    assert 'id="section-answer"' in page and "mine" in page

    # a rerun finds every unit finished (the checkpoint units re-read their files, with the same fingerprints)
    again = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert {u for u, o in again.outputs.items() if not o.skipped} == {u for u in units if u.startswith("checkpoint/")}
    # a checkpoint replaced at the same path is noticed: its dependants are recomputed
    peft_adapter(tiny_model_dir, Path(mine), 4, base_name="SomeOrg/tiny-llama")
    third = run_experiment(config.model_copy(update={"dashboard": False}), out=tmp_path / "artifacts", progress=False)
    redone = {u for u, o in third.outputs.items() if not o.skipped}
    assert "behaviour/sycophancy/s0/after:mine" in redone and "behaviour/sycophancy/s0/before" not in redone


def test_given_checkpoints_are_checked_before_any_work(adapters: dict[str, Path], tiny_model_dir: Path,
                                                       tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    org, mine = str(adapters["organism"]), str(adapters["mine"])
    with pytest.raises(ConfigError, match="checkpoints and methods are exclusive"):
        parse_config(own_config(tiny_model_dir, before=org) | {"methods": ["bct"]})
    with pytest.raises(ConfigError, match=r"checkpoints\.group\.before: Field required"):
        parse_config(own_config(tiny_model_dir, after={"mine": mine}))
    with pytest.raises(ConfigError, match=r"epochs given for \['other'\]"):
        parse_config(own_config(tiny_model_dir, before=org, after={"mine": mine}, epochs={"other": {0: org}}))
    with pytest.raises(ConfigError, match="several bases"):
        parse_config(own_config(tiny_model_dir) | {"checkpoints": [{"before": org, "base": "a"},
                                                                   {"before": mine, "base": "b", "seed": 1}]})
    from interp.pipeline.spec import check_config

    not_a_checkpoint = tmp_path / "empty"
    not_a_checkpoint.mkdir()
    bad = parse_config(own_config(tiny_model_dir, before=str(not_a_checkpoint), after={"mine": mine},
                                  epochs={"mine": {1: mine}}))
    with pytest.raises(ConfigError) as e:
        check_config(bad)
    assert "neither config.json" in str(e.value) and "must be epoch 0" in str(e.value)
    out = tmp_path / "artifacts"
    with pytest.raises(ConfigError):
        run_experiment(bad, out=out, progress=False)
    assert not out.exists()  # refused before anything was written
    twice = parse_config(own_config(tiny_model_dir, before=org, after={"same": org}))
    with caplog.at_level("WARNING"):
        check_config(twice)  # allowed, but said: their numbers will be the same
    assert "sycophancy/s0/before and sycophancy/s0/after:same are one model" in caplog.text


def test_a_paper_runs_root_is_read_as_it_is_with_the_papers_judge(adapters: dict[str, Path], tiny_model_dir: Path,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper's layout, made here in its naming (organisms/<slug>__<fm>__seed<S>__<scale>, runs/..., per-epoch
    checkpoints) with a results JSONL in its format: read as is, its trajectory with both judges."""
    import shutil

    from tiny_run import paper_results_file

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "paper-runs"
    slug = "SomeOrg_tiny-llama"
    organism = root / "organisms" / f"{slug}__sycophancy__seed42__smoke"
    run = root / "runs" / f"{slug}__sycophancy__bct__seed42__smoke"
    shutil.copytree(adapters["organism"], organism)
    shutil.copytree(adapters["mine_epoch1"], run / "checkpoints" / "epoch1")
    shutil.copytree(adapters["mine_epoch1"], run / "adapter")  # the final adapter is the last epoch's
    shutil.copytree(adapters["organism"], root / "runs" / f"{slug}__sycophancy__act__seed42__smoke" / "adapter")
    results = paper_results_file(tmp_path / "results.jsonl", [("sycophancy", "bct", 42), ("sycophancy", "act", 42)],
                                 epochs=1)
    data = own_config(tiny_model_dir) | {"checkpoints": {"runs_root": str(root), "methods": ["bct"]},
                                         "results": str(results), "sae": {"enabled": False},
                                         "steering": {"enabled": False}}
    config = parse_config(data)
    [o] = config.organisms()
    assert (o.failure_mode, o.seed, o.methods) == ("sycophancy", 42, ("bct",))  # act filtered out
    assert o.epochs["bct"] == {0: str(organism), 1: str(run / "checkpoints" / "epoch1")}
    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    traj = pd.read_parquet(result.run_dir / "behaviour_trajectory.parquet")
    assert set(traj["judge"]) == {"logprob", "paper:sycophancy_rate_mean"}
    paper = traj[traj["judge"] == "paper:sycophancy_rate_mean"].sort_values("epoch")
    assert list(paper["epoch"]) == [0, 1] and list(paper["rate"]) == pytest.approx([0.4, 0.35])
    beh = pd.read_parquet(result.run_dir / "behaviour.parquet")
    ours = beh[(beh["judge"] == "logprob")].set_index("checkpoint")
    theirs = beh[(beh["judge"] == "paper:sycophancy_rate_mean")].set_index("checkpoint")["rate"]
    assert theirs.to_dict() == pytest.approx({"base": 0.2, "before": 0.3, "after:bct": 0.35})
    assert {"base", "before", "after:bct", "after:bct - before"} <= set(ours.index)
    kept = pd.read_parquet(result.run_dir / "paper_results.parquet")
    assert {"sycophancy/sycophancy_rate_mean", "mmlu/accuracy_mean", "some_new_benchmark/score"} <= set(kept["metric"])
    assert set(kept["method"]) == {"bct"}  # only the cells of this experiment's organisms
    page = (result.run_dir / "index.html").read_text()
    for judge in ("paper:sycophancy_rate_mean", "logprob"):  # both judges' lines on the trajectory (JSON-escaped ·)
        assert f'"name":"bct \\u00b7 {judge}"' in page, judge

    with pytest.raises(ConfigError, match="holds nothing that matches"):
        parse_config(data | {"checkpoints": {"runs_root": str(root), "failure_modes": ["reward_hacking"]}})
    broken = tmp_path / "broken.jsonl"
    broken.write_text(results.read_text() + "{not json\n")
    from interp.pipeline.spec import check_config

    with pytest.raises(Exception, match=r"broken\.jsonl:\d+: not a JSON line"):
        check_config(parse_config(data | {"results": str(broken)}))


@pytest.mark.real_model
@pytest.mark.slow
def test_adapters_of_the_embedded_model_made_by_peft(tmp_path: Path) -> None:
    """The same on the embedded SmolLM2-135M: two peft adapters of it, studied as given checkpoints."""
    from peft import LoraConfig, get_peft_model

    from interp.models import load_model

    paths = {}
    for name, seed in (("organism", 1), ("mine", 2)):
        torch.manual_seed(seed)
        base = load_model("smollm2-135m-instruct", device="cpu").model
        peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                     init_lora_weights=False))
        peft_model.save_pretrained(tmp_path / name)
        paths[name] = str(tmp_path / name)
    data = {"name": "own-real", "model": "smollm2-135m-instruct", "failure_modes": ["sycophancy"],
            "checkpoints": {"before": paths["organism"], "after": {"mine": paths["mine"]}},
            "behaviour": {"eval_rows": 8, "n_boot": 200}, "capture": {"max_examples": 24, "hooks": "resid_post:10-14"},
            "probes": {"methods": ["diffmeans"], "n_permutations": 20, "n_boot": 100},
            "sharpening": {"n_boot": 50, "n_permutations": 20}, "sae": {"enabled": False},
            "steering": {"layer": 12, "alphas": [0.0, 0.05], "n_random": 1, "eval_rows": 6, "neutral_rows": 4,
                         "n_boot": 100}}
    result = run_experiment(parse_config(data), out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    layers = pd.read_parquet(result.run_dir / "layers.parquet")
    assert set(layers["checkpoint"]) == {"base", "before", "after:mine"} and layers["layer"].nunique() == 5
    assert (result.run_dir / "ablation.parquet").is_file() and (result.run_dir / "index.html").is_file()


def test_several_given_organisms_converge_and_a_wrong_base_is_refused(adapters: dict[str, Path], tiny_model_dir: Path,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    org, mine = str(adapters["organism"]), str(adapters["mine_epoch1"])
    data = own_config(tiny_model_dir) | {
        "checkpoints": [{"failure_mode": "sycophancy", "seed": 1, "before": org},
                        {"failure_mode": "emergent_misalignment", "seed": 1, "before": mine}],
        "sae": {"enabled": False}, "steering": {"enabled": False}, "convergence": {"n_boot": 50, "ablate": False}}
    config = parse_config(data)
    assert [o.label for o in config.organisms()] == ["sycophancy/s1", "emergent_misalignment/s1"]
    result = run_experiment(config, out=tmp_path / "artifacts", only=["convergence"], progress=False)
    assert result.ok, result.failed
    conv = pd.read_parquet(result.run_dir / "convergence.parquet")
    assert {"sycophancy/s1/before", "emergent_misalignment/s1/before"} <= set(conv["a"]) | set(conv["b"])

    # an adapter given with a base of another shape: named before any work, with the adapter and the base
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from interp.pipeline.spec import check_config

    other = tmp_path / "wider-llama"
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(other)
    LlamaForCausalLM(LlamaConfig(vocab_size=400, hidden_size=96, intermediate_size=128, num_hidden_layers=3,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    hub_named = str(adapters["mine"])  # its config names a base that is not on this machine
    wrong = parse_config(own_config(other, before=hub_named))
    with pytest.raises(ConfigError, match="mine"):
        check_config(wrong)
