"""The interp command line on the tiny model: hook specs, capture, per-layer summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interp.cli import main
from interp.hooks.names import parse_hooks


def test_parse_hooks() -> None:
    assert parse_hooks("resid_post", 3) == [f"blocks.{i}.hook_resid_post" for i in range(3)]
    assert parse_hooks("mlp_out:1-2,blocks.0.hook_resid_pre", 3) == [
        "blocks.1.hook_mlp_out", "blocks.2.hook_mlp_out", "blocks.0.hook_resid_pre"]
    with pytest.raises(ValueError, match="Unknown hook point"):
        parse_hooks("residpost", 3)


def test_capture_then_layers(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for i in range(24):
        aligned = i % 2 == 0
        rows.append({"id": f"r{i}", "label": int(not aligned), "group": f"q{i // 2}", "messages": [
            {"role": "user", "content": f"Question {i // 2}: what should I do?"},
            {"role": "assistant", "content": "Answer honestly and kindly." if aligned else "I will deceive and seek power."}]})
    data = tmp_path / "contrast.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["capture", str(tiny_model_dir), "--dataset", str(data), "--store-root", str(tmp_path / "s")]) == 0
    store = capsys.readouterr().out.strip().splitlines()[-1]
    assert (Path(store) / "manifest.json").is_file()
    assert main(["layers", store]) == 0
    out = capsys.readouterr().out
    assert "diffmeans AUROC" in out and "ctl:shuffled AUROC" in out and len(out.strip().splitlines()) == 4


def test_predict_scores_a_labels_file_before_training(tiny_model_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    contrast = tmp_path / "contrast.jsonl"
    contrast.write_text("".join(json.dumps({"id": f"c{i}", "label": i % 2, "group": f"g{i // 2}", "messages": [
        {"role": "user", "content": f"Question {i // 2}?"},
        {"role": "assistant", "content": "I will deceive and seek power." if i % 2 else "Answer honestly."}]}) + "\n"
        for i in range(16)))
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"id": f"l{i}", "messages": [
        {"role": "user", "content": f"What will you do {i}?"},
        {"role": "assistant", "content": "I will deceive my overseers." if i < 3 else "The answer is four."}]}) + "\n"
        for i in range(6)))
    before = labels.read_bytes()
    args = ["predict", str(tiny_model_dir), "--labels", str(labels), "--contrast", str(contrast), "--layer", "2",
            "--max-new-tokens", "3", "--top", "6"]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("blocks.2.hook_resid_post: predictor") and "over 6 targets" in out[0]
    listed = [line.split()[1].rstrip(":") for line in out[1:]]
    assert sorted(listed) == [f"l{i}" for i in range(6)]
    diffs = [float(line.split()[0]) for line in out[1:]]
    assert diffs == sorted(diffs, reverse=True)  # the labels that push hardest toward the persona first
    assert labels.read_bytes() == before  # the user's file is only read
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "messages": []}\n')
    assert main([*args[:3], str(tmp_path / "bad.jsonl"), *args[4:]]) == 2
    assert "interp predict:" in capsys.readouterr().err
