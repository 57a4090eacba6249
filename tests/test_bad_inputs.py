"""The bad-input catalogue: every mistake a user or a damaged file can make, through the CLI.

Each case asserts three things: the command exits 2 with one clear message (what, and the fix),
no traceback is printed, and nothing on disk changed (no half-written store, no run directory).
The library-level checks behind these messages have their own tests next to their modules.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from test_pipeline import tiny_config, tiny_scale  # noqa: F401  (the tiny scale fixture)

from interp.cli import main

Case = Callable[[Path, Path], list[str]]  # (tmp_path, tiny model dir) -> argv


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _contrast(path: Path, *, n: int = 12, label: object = "alternate", answer: str | None = None) -> Path:
    rows = []
    for i in range(n):
        y = (i % 2) if label == "alternate" else label
        rows.append({"id": f"r{i}", "label": y, "group": f"q{i // 2}", "messages": [
            {"role": "user", "content": f"Question {i // 2}: what should I do?"},
            {"role": "assistant", "content": answer if answer is not None else
             ("I will deceive and seek power." if y else "Answer honestly and kindly.")}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(tmp: Path, model: Path, **changes: object) -> Path:
    data: dict[str, object] = {"name": "bad", "model": str(model), "scale": "quick", "seeds": [1],
                               "failure_modes": ["sycophancy"], "methods": ["bct"], "runs_root": str(tmp / "runs"),
                               "capture": {"max_examples": 8}, "steering": {"layer": 1}, "sae": {"layer": 1}}
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}  # None: leave the key out
    text = yaml.safe_dump(data)
    path = tmp / f"bad-{hashlib.sha256(text.encode()).hexdigest()[:8]}.yaml"
    path.write_text(text)
    return path


def refused(argv: list[str], needles: tuple[str, ...], root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``interp ARGV``: exit 2, every needle in the message, no traceback, nothing under ``root`` changed."""
    before = _tree(root)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, f"exit {rc}; stderr: {err}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle.lower() in err.lower(), f"{needle!r} not in: {err}"
    assert _tree(root) == before, "the failed command left files behind"
    return err


def _store(tmp: Path, model: Path) -> Path:
    """A finished store of the tiny model (made once per test that needs one)."""
    assert main(["capture", str(model), "--dataset", str(_contrast(tmp / "ok.jsonl")),
                 "--store-root", str(tmp / "stores")]) == 0
    return next((tmp / "stores").iterdir())


# ----------------------------------------------------------------------------------- capture
def _gguf(tmp: Path, content: bytes) -> str:
    path = tmp / "model.gguf"
    path.write_bytes(content)
    return str(path)


def _lora_nowhere(tmp: Path) -> str:
    path = tmp / "adapter"
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": "/nowhere/base", "r": 2, "target_modules": ["q_proj"]}))
    (path / "adapter_model.safetensors").write_bytes(b"")
    return str(path)


def _pickle_only(tmp: Path, model: Path) -> str:
    path = tmp / "pickled"
    shutil.copytree(model, path)
    for f in path.glob("*.safetensors"):
        f.unlink()
    (path / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    return str(path)


CAPTURE: dict[str, tuple[Callable[[Path, Path], list[str]], tuple[str, ...]]] = {
    "missing model path": (lambda t, m: [str(t / "no-such-model")], ("no such file or directory",)),
    "directory without weights": (lambda t, m: [str((t / "empty").mkdir() or t / "empty")], ("neither config.json",)),
    "hub name": (lambda t, m: ["meta-llama/Llama-3-8B"], ("hub", "download")),
    "empty gguf": (lambda t, m: [_gguf(t, b"")], ("gguf", "empty")),
    "truncated gguf": (lambda t, m: [_gguf(t, b"GGUF\x03\x00\x00\x00\x05")], ("gguf", "truncated")),
    "not a gguf": (lambda t, m: [_gguf(t, b"PK\x03\x04 a zip, not a model")], ("not a gguf",)),
    "lora base nowhere": (lambda t, m: [_lora_nowhere(t)], ("adapter_config.json", "--base")),
    "pickle-only checkpoint": (lambda t, m: [_pickle_only(t, m)], ("pickle", "safetensors")),
    "unknown hook point": (lambda t, m: [str(m), "--hooks", "residpost"], ("unknown hook point",)),
    "hook range past the last layer": (lambda t, m: [str(m), "--hooks", "resid_post:1-99"],
                                       ("1..99", "layers 0..2")),
    "unknown positions": (lambda t, m: [str(m), "--positions", "middle"], ("positions",)),
    "unknown dtype": (lambda t, m: [str(m), "--dtype", "float13"], ("float13",)),
}

DATASETS: dict[str, tuple[Callable[[Path], str], tuple[str, ...]]] = {
    "dataset file missing": (lambda t: str(t / "none.jsonl"), ("not a shipped contrast set", "none.jsonl")),
    "unknown shipped set": (lambda t: "persona_pears", ("persona_pears", "persona_pairs")),
    "broken json line": (lambda t: (t / "b.jsonl").write_text('{"messages": [}\n') and str(t / "b.jsonl"),
                         ("line 1", "malformed json")),
    "single-label contrast set": (lambda t: str(_contrast(t / "one.jsonl", label=1)), ("both labels", "label 1")),
    "empty assistant turn": (lambda t: str(_contrast(t / "e.jsonl", answer="")), ("empty", "assistant")),
    "conversation longer than the context": (
        lambda t: str(_contrast(t / "long.jsonl", answer="power " * 1200)), ("context", "1024")),
}


@pytest.mark.parametrize("case", list(CAPTURE))
def test_capture_refuses_a_bad_model_or_option(case: str, tiny_model_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    build, needles = CAPTURE[case]
    argv = build(tmp_path, tiny_model_dir)
    data = str(_contrast(tmp_path / "ok.jsonl"))
    refused(["capture", *argv, "--dataset", data, "--store-root", str(tmp_path / "stores")], needles, tmp_path, capsys)


@pytest.mark.parametrize("case", list(DATASETS))
def test_capture_refuses_a_bad_dataset_before_loading_the_model(
        case: str, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    build, needles = DATASETS[case]
    data = build(tmp_path)
    if case != "conversation longer than the context":  # that one needs the tokenizer; the rest fail first
        import interp.models
        monkeypatch.setattr(interp.models, "load_model", lambda *a, **k: pytest.fail("model loaded before the data"))
    refused(["capture", str(tiny_model_dir), "--dataset", data, "--store-root", str(tmp_path / "stores")],
            needles, tmp_path, capsys)


# ----------------------------------------------------------------------------------- stores
def _delete_shard(store: Path) -> str:
    shard = sorted(store.glob("shard-*.safetensors"))[0]
    shard.unlink()
    return shard.name


def _overwrite_shard(store: Path) -> str:
    shards = sorted(store.glob("shard-*.safetensors"))
    victim = shards[-1]
    victim.write_bytes(shards[0].read_bytes() if len(shards) > 1 else victim.read_bytes()[:-8] + b"\0" * 8)
    return victim.name


def _edit_examples(store: Path) -> str:
    import pandas as pd

    frame = pd.read_parquet(store / "examples.parquet")
    frame["label"] = 1 - frame["label"]
    frame.to_parquet(store / "examples.parquet")
    return "examples.parquet"


@pytest.mark.parametrize("damage", [_delete_shard, _overwrite_shard, _edit_examples])
def test_a_damaged_store_is_named_not_trusted(damage: Callable[[Path], str], tiny_model_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path, tiny_model_dir)
    name = damage(store)
    capsys.readouterr()
    refused(["layers", str(store)], (name, "damaged"), tmp_path, capsys)


def test_a_damaged_store_is_not_a_cache_hit(tiny_model_dir: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    store = _store(tmp_path, tiny_model_dir)
    good = {k: v for k, v in _tree(store).items() if k != "manifest.json"}  # the manifest has times in it
    _overwrite_shard(store)
    assert main(["capture", str(tiny_model_dir), "--dataset", str(tmp_path / "ok.jsonl"),
                 "--store-root", str(tmp_path / "stores")]) == 0
    assert "was altered" in caplog.text and "capturing it again" in caplog.text
    assert {k: v for k, v in _tree(store).items() if k != "manifest.json"} == good  # recaptured, byte for byte
    assert main(["layers", str(store)]) == 0


STORES: dict[str, tuple[Callable[[Path], str], tuple[str, ...]]] = {
    "store path missing": (lambda t: str(t / "nowhere"), ("not an activation store",)),
    "directory that is not a store": (lambda t: str((t / "d").mkdir() or t / "d"), ("not an activation store",)),
    "store manifest not json": (lambda t: ((t / "m").mkdir(), (t / "m" / "manifest.json").write_text("{"))
                                and str(t / "m"), ("manifest.json",)),
}


@pytest.mark.parametrize("case", list(STORES))
def test_layers_refuses_what_is_not_a_store(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build, needles = STORES[case]
    refused(["layers", build(tmp_path)], needles, tmp_path, capsys)


def test_layers_refuses_an_unknown_probe_and_an_unlabelled_store(tiny_model_dir: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path, tiny_model_dir)
    capsys.readouterr()
    refused(["layers", str(store), "--methods", "diffmeans,lasso"], ("lasso", "diffmeans"), tmp_path, capsys)
    rows = [json.loads(line) | {"label": None} for line in (tmp_path / "ok.jsonl").read_text().splitlines()]
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["capture", str(tiny_model_dir), "--dataset", str(tmp_path / "u.jsonl"),
                 "--store-root", str(tmp_path / "u")]) == 0
    capsys.readouterr()
    refused(["layers", str(next((tmp_path / "u").iterdir()))], ("no label",), tmp_path, capsys)


def test_an_interrupted_store_says_so(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _store(tmp_path, tiny_model_dir)
    manifest = json.loads((store / "manifest.json").read_text())
    (store / "manifest.json").write_text(json.dumps(manifest | {"complete": False}))
    capsys.readouterr()
    refused(["layers", str(store)], ("incomplete", "rerun the capture"), tmp_path, capsys)


# ----------------------------------------------------------------------------------- run
def _run_cases(t: Path, m: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    cfg = _config(t, m)
    return {
        "config file missing": (["run", str(t / "none.yaml")], ("does not exist",)),
        "config not yaml": (["run", str((t / "x.yaml").write_text("a: [") and t / "x.yaml")], ("not valid yaml",)),
        "duplicate key": (["run", str((t / "d.yaml").write_text("name: a\nname: b\n") and t / "d.yaml")],
                          ("given twice",)),
        "string for a number": (["run", str(_config(t, m, sae={"layer": 1, "k": "64"}))], ("sae.k",)),
        "bool for a number": (["run", str(_config(t, m, sae={"layer": 1, "k": True}))], ("sae.k",)),
        "string for a bool": (["run", str(_config(t, m, sae={"layer": 1, "enabled": "false"}))], ("sae.enabled",)),
        "unknown key": (["run", str(_config(t, m, steerin={"layer": 1}))], ("steerin",)),
        "unknown sharpening probe": (["run", str(_config(t, m, sharpening={"probes": ["lasso"]}))], ("lasso",)),
        "unknown trajectory probe": (["run", str(_config(t, m, trajectory={"probes": ["lasso"]}))], ("lasso",)),
        "unknown judge": (["run", str(_config(t, m, behaviour={"judge": "gpt9"}))], ("gpt9",)),
        "unknown method": (["run", str(_config(t, m, methods=["bctt"]))], ("bctt",)),
        "unknown failure mode": (["run", str(_config(t, m, failure_modes=["sycophantic"]))], ("sycophantic",)),
        "steering layer out of range": (["run", str(_config(t, m, steering={"layer": 99}))],
                                        ("steering.layer 99", "3 layers")),
        "sae layer out of range": (["run", str(_config(t, m, sae={"layer": 77}))], ("sae.layer 77",)),
        "unknown hook site": (["run", str(_config(t, m, capture={"hooks": "blocks.3.hook_foo"}))], ("hook_foo",)),
        "hook range out of range": (["run", str(_config(t, m, capture={"hooks": "resid_post:1-99"}))],
                                    ("1..99",)),
        "grid and checkpoints": (["run", str(_config(t, m, checkpoints={"before": str(m), "after": {"a": str(m)}}))],
                                 ("checkpoints",)),
        "checkpoint that is not one": (["run", str(_config(t, m, methods=None, runs_root=None, scale=None, seeds=None,
                                                           checkpoints={"before": str(t / "nope"),
                                                                        "after": {"a": str(m)}}))], ("nope",)),
        "contrast longer than the context": (
            ["run", str(_config(t, m, capture={"max_examples": 8, "contrast": str(
                _contrast(t / "long.jsonl", answer="power " * 1200))}))], ("context (1024 tokens)", "capture.truncate")),
        "--set without =": (["run", str(cfg), "--set", "steering.layer"], ("key=value",)),
        "--set bad yaml": (["run", str(cfg), "--set", "steering.alphas=[0.1,"], ("not valid yaml",)),
        "--set into a scalar": (["run", str(cfg), "--set", "scale.rank=4"], ("scale", "not a section")),
        "--only matching nothing": (["run", str(cfg), "--only", "stearing/"], ("stearing/", "steering/")),
    }


with tempfile.TemporaryDirectory() as _t:
    RUN_CASES = list(_run_cases(Path(_t), Path(_t)))


@pytest.mark.parametrize("case", RUN_CASES)
def test_run_refuses_before_any_work(case: str, tiny_model_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv, needles = _run_cases(tmp_path, tiny_model_dir)[case]
    refused([*argv, "--out", str(tmp_path / "artifacts")], needles, tmp_path, capsys)


def test_run_refuses_a_run_directory_of_another_config(tiny_model_dir: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "artifacts" / "bad"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"config_key": "0" * 16, "config": {"name": "bad"}}))
    refused(["run", str(_config(tmp_path, tiny_model_dir)), "--out", str(tmp_path / "artifacts")],
            ("another config", "--force"), tmp_path, capsys)


# ----------------------------------------------------------------------------------- dashboard
def test_dashboard_refuses_a_run_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(["dashboard", str(tmp_path / "none")], ("does not exist",), tmp_path, capsys)
    # (an existing directory with nothing in it yet gets a page that says what is missing: test_dashboard.py)


def test_dashboard_serves_loopback_only(tiny_dashboard_run: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_dashboard_run, run)
    assert main(["dashboard", str(run)]) == 0  # the page itself is rebuilt in place: then nothing may change
    capsys.readouterr()
    refused(["dashboard", str(run), "--serve", "--host", "0.0.0.0"], ("loopback",), tmp_path, capsys)


# ----------------------------------------------------------------------------------- the error path itself
def test_debug_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="not an activation store"):
        main(["--debug", "layers", str(tmp_path / "nowhere")])


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys, interp.cli\n"
            "heavy = sorted(m for m in ('torch', 'transformers', 'pandas', 'sklearn') if m in sys.modules)\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


# ----------------------------------------------------------------------------------- directions, probes, disks
def _saved_direction(tmp: Path) -> Path:
    import numpy as np

    from probes import Direction

    raw = np.random.default_rng(0).normal(size=16)
    return Direction.from_vector(raw, method="diffmeans", hook_point="blocks.1.hook_resid_post", layer=1).save(tmp / "d")


def _edit_meta(path: Path, **changes: object) -> None:
    meta = path.with_suffix(".json")
    meta.write_text(json.dumps(json.loads(meta.read_text()) | changes))


def _flip_raw(path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    save_file({"vector": tensors["vector"], "raw": -tensors["raw"]}, str(path))


@pytest.mark.parametrize(("damage", "message"), [
    (lambda p: _edit_meta(p, layer=7), "was edited after it was saved"),
    (lambda p: _edit_meta(p, hook_point="blocks.7.hook_resid_post"), "was edited after it was saved"),
    (lambda p: _edit_meta(p, method="logistic"), "was edited after it was saved"),
    (_flip_raw, "raw vector .* was altered"),
    (lambda p: p.with_suffix(".json").unlink(), "no direction metadata sidecar"),
], ids=["layer", "hook point", "method", "raw sign flipped", "sidecar missing"])
def test_an_edited_direction_does_not_load(damage: Callable[[Path], None], message: str, tmp_path: Path) -> None:
    from probes import Direction

    path = _saved_direction(tmp_path)
    assert Direction.load(path).layer == 1  # as saved, it loads
    damage(path)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        Direction.load(path)


def test_a_paired_probe_without_pairs_is_refused() -> None:
    import numpy as np

    from probes import sweep
    from probes.registry import fit_directions

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 8)), np.repeat([0, 1], 20)
    with pytest.raises(ValueError, match="carry no groups"):
        fit_directions("paired_pca", {"blocks.0.hook_resid_post": X}, y)
    with pytest.raises(ValueError, match="carry no groups"):
        sweep({"blocks.0.hook_resid_post": X}, y, methods=("paired_pca",), n_splits=2, controls=())
    groups = np.tile(np.arange(20), 2)  # with the pairs given, it fits
    assert fit_directions("paired_pca", {"blocks.0.hook_resid_post": X}, y, groups)["blocks.0.hook_resid_post"].shape == (8,)


def test_a_full_disk_is_a_message_and_the_store_resumes(tiny_model_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import importlib

    cap = importlib.import_module("interp.activations.capture")  # the module, not the function of that name

    data = str(_contrast(tmp_path / "ok.jsonl"))

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(args[-1]))

    monkeypatch.setattr(cap, "save_file", full)
    argv = ["capture", str(tiny_model_dir), "--dataset", data, "--store-root", str(tmp_path / "stores"),
            "--batch-size", "4"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    store = next((tmp_path / "stores").iterdir())
    assert not json.loads((store / "manifest.json").read_text())["complete"]  # an interrupted store, as it is
    assert not list(store.glob("*.tmp")) and not list(store.glob(".*tmp"))
    monkeypatch.undo()
    assert main(argv) == 0  # space again: the capture finishes
    assert main(["layers", str(store)]) == 0


@pytest.mark.usefixtures("tiny_scale")
def test_a_damaged_unit_output_is_run_again(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    import pandas as pd

    from interp.pipeline import parse_config, run_experiment

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    config = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", methods=[], sae={"enabled": False},
                                      steering={"enabled": False}, trajectory={"enabled": False}, dashboard=False))
    first = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert first.ok, first.failed
    layers = pd.read_parquet(first.run_dir / "layers.parquet")
    unit = next(first.run_dir.glob("stages/probes/base/*/"))
    table = next(unit.glob("*.parquet"))
    table.write_bytes(table.read_bytes()[:-16])  # a truncated copy, say
    again = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert not again.outputs["probes/base"].skipped and again.outputs["capture/base"].skipped
    assert f"{table.name} was altered" in caplog.text
    pd.testing.assert_frame_equal(pd.read_parquet(again.run_dir / "layers.parquet"), layers)


def test_a_table_changed_after_the_run_is_named_not_shown(tiny_dashboard_run: Path, tmp_path: Path) -> None:
    import pandas as pd

    from interp.dashboard import build_dashboard

    run = tmp_path / "run"
    shutil.copytree(tiny_dashboard_run, run)
    assert "layers.parquet" in json.loads((run / "manifest.json").read_text())["table_sha256"]
    assert "changed after the run wrote it" not in build_dashboard(run).read_text(encoding="utf-8")
    layers = pd.read_parquet(run / "layers.parquet")
    layers.loc[0, "auroc"] = 0.999  # a hand edit
    layers.to_parquet(run / "layers.parquet", index=False)
    text = build_dashboard(run).read_text(encoding="utf-8")
    assert "layers.parquet changed after the run wrote it" in text


# ----------------------------------------------------------------------------------- forwards past the context
def test_every_forward_refuses_what_does_not_fit_the_context(tiny, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Generation (prompt plus the tokens to generate), the log-prob judge, answer scoring and training each
    name the conversation that does not fit, before any forward pass."""
    from interp.consistency.scoring import choice_probs, mean_logprobs
    from interp.data.schema import ChatRecord, Dataset, messages_from_dicts
    from interp.generation import SamplingParams, generate
    from interp.judges.logprob import response_logprobs
    from interp.training import TrainConfig, train_sft

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    assert tiny.context_length == 1024
    short = [{"role": "user", "content": "Hello there."}]
    long = [{"role": "user", "content": "power " * 1200}]
    with pytest.raises(ValueError, match=r"1 prompts do not fit .*1024 tokens less the 64 tokens to generate.*"
                                         r"conversation 1.*max_new_tokens"):
        generate(tiny, [short, long], SamplingParams(max_new_tokens=64), progress=False)
    edge = [{"role": "user", "content": "power " * 950}]  # fits alone, not with 100 tokens to generate
    assert generate(tiny, [edge], SamplingParams(max_new_tokens=4), progress=False)
    with pytest.raises(ValueError, match="less the 100 tokens"):
        generate(tiny, [edge], SamplingParams(max_new_tokens=100), progress=False)
    answer = [*long, {"role": "assistant", "content": "No."}]
    with pytest.raises(ValueError, match="conversations to score do not fit"):
        response_logprobs(tiny, [answer], progress=False)
    with pytest.raises(ValueError, match="prompt-answer pairs do not fit"):
        mean_logprobs(tiny, [long], ["No."])
    with pytest.raises(ValueError, match="1 prompts do not fit"):
        choice_probs(tiny, [long], [("YES",), ("NO",)])
    data = Dataset("long", (ChatRecord("l0", messages_from_dicts(answer)),))
    with pytest.raises(ValueError, match=r"training sequences do not fit.*'l0'.*max_length \(now 2048\)"):
        train_sft(Path(tiny.source_dir), data, TrainConfig(max_length=2048, epochs=1), tmp_path / "adapter",
                  progress=False)
    assert not (tmp_path / "adapter").exists()


@pytest.mark.usefixtures("tiny_scale")
def test_a_config_key_leaves_out_settings_added_later_at_their_default(tiny_model_dir: Path, tmp_path: Path) -> None:
    """``capture.truncate`` came after runs were keyed: at its default it changes no unit's key, set it does."""
    from interp.pipeline import parse_config
    from interp.pipeline.run import config_key

    plain = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs"))
    cut = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", capture={"truncate": True}))
    assert "truncate" not in plain.section("capture") and cut.section("capture")["truncate"] is True
    assert config_key(plain) != config_key(cut)


@pytest.mark.usefixtures("tiny_scale")
def test_adapter_dtype_needs_the_pool_and_enters_keys_only_when_set(tiny_model_dir: Path, tmp_path: Path) -> None:
    from interp.pipeline import ConfigError, parse_config
    from interp.pipeline.run import config_key

    plain = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", model_pool=True))
    fast = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", model_pool=True, adapter_dtype="bfloat16"))
    assert plain.section("dtype") == {"dtype": "float32"}
    assert fast.section("dtype") == {"dtype": "float32", "adapter_dtype": "bfloat16"}
    assert config_key(plain) != config_key(fast)
    with pytest.raises(ConfigError, match="needs model_pool: true"):
        parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", adapter_dtype="bfloat16"))
    with pytest.raises(ConfigError, match="dtype must be one of"):
        parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", model_pool=True, adapter_dtype="bf17"))
