"""Directions out: the exported files steer the field's tools as interp's AddVector does, and read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.cli import main
from interp.hooks import AddVector, make_backend
from interp.models import load_model
from interp.steering.export import export_directions, load_steering_vector
from probes import Direction


def _directions(d: int, layers: tuple[int, ...] = (1, 2)) -> list[Direction]:
    rng = np.random.default_rng(0)
    return [Direction.from_vector(rng.normal(size=d) * 3, method="diffmeans", hook_point=f"blocks.{layer}.hook_resid_post",
                                  layer=layer) for layer in layers]


def test_steering_vectors_steers_exactly_as_add_vector(sharp_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("steering_vectors")
    lm = load_model(sharp_model_dir, device="cpu")
    dirs = _directions(lm.model.config.hidden_size)
    [path] = export_directions(dirs, "steering-vectors", tmp_path / "persona", scale=4.0)
    sv = load_steering_vector(path)
    assert sorted(sv.layer_activations) == [1, 2] and sv.layer_type == "decoder_block"
    ids = torch.tensor([lm.chat.encode([{"role": "user", "content": "What will you do?"}]).input_ids])
    with torch.no_grad():
        plain = lm.model(input_ids=ids).logits
        with sv.apply(lm.model, multiplier=1.0):
            theirs = lm.model(input_ids=ids).logits
        after = lm.model(input_ids=ids).logits
    backend = make_backend("hf", lm)
    ours = [AddVector(d.hook_point, torch.as_tensor(d.vector, dtype=torch.float32), alpha=4.0) for d in dirs]
    with backend.intervene(ours):
        mine = backend.run(ids, torch.ones_like(ids)).logits
    assert mine is not None
    assert float((theirs - plain).abs().max()) > 1e-2  # the vector does something
    assert float((theirs - mine).abs().max()) <= 1e-5
    assert torch.equal(after, plain)  # and nothing once the block ends


def test_gguf_control_vector_reads_back_in_gguf_and_repeng(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf

    dirs = _directions(16)
    [path] = export_directions(dirs, "gguf", tmp_path / "cv.gguf", model_type="llama", scale=2.0)
    reader = gguf.GGUFReader(str(path))
    assert str(bytes(reader.get_field("general.architecture").parts[-1]), "utf-8") == "controlvector"
    assert str(bytes(reader.get_field("controlvector.model_hint").parts[-1]), "utf-8") == "llama"
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert sorted(tensors) == ["direction.1", "direction.2"]
    for d in dirs:
        got = tensors[f"direction.{d.layer}"]
        assert got.dtype == np.float32 and got.ndim == 1
        np.testing.assert_allclose(got, 2.0 * d.vector, rtol=1e-6)
    monkeypatch.setattr(np, "float_", np.float64, raising=False)  # repeng 0.4.0 (PyPI's newest) predates NumPy 2
    repeng = pytest.importorskip("repeng")
    cv = repeng.ControlVector.import_gguf(str(path))
    assert cv.model_type == "llama" and sorted(cv.directions) == [1, 2]
    np.testing.assert_allclose(np.asarray(cv.directions[2]), 2.0 * dirs[1].vector, rtol=1e-6)


def test_numpy_export_and_refusals(tmp_path: Path) -> None:
    dirs = _directions(8)
    npy, meta = export_directions(dirs, "numpy", tmp_path / "dirs", raw=True)
    rows = np.load(npy)
    info = json.loads(meta.read_text())
    assert rows.shape == (2, 8) and info["layers"] == [1, 2] and info["hooks"][0] == "blocks.1.hook_resid_post"
    np.testing.assert_allclose(rows[1], dirs[1].raw, rtol=1e-6)
    with pytest.raises(FileExistsError, match="does not overwrite"):
        export_directions(dirs, "numpy", tmp_path / "dirs")
    with pytest.raises(ValueError, match="direction.0"):
        export_directions(_directions(8, (0, 1)), "gguf", tmp_path / "zero", model_type="llama")
    with pytest.raises(ValueError, match="model_type"):
        export_directions(dirs, "repeng", tmp_path / "r")
    pre = Direction.from_vector(np.ones(8), hook_point="blocks.1.hook_resid_pre", layer=1)
    with pytest.raises(ValueError, match="resid_post"):
        export_directions([pre], "numpy", tmp_path / "pre")
    with pytest.raises(ValueError, match="two directions at layer 1"):
        export_directions([dirs[0], dirs[0]], "numpy", tmp_path / "dup")
    with pytest.raises(ValueError, match="unknown export format"):
        export_directions(dirs, "onnx", tmp_path / "x")


def test_interp_export_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = [str(d.save(tmp_path / f"L{d.layer}")) for d in _directions(8)]
    assert main(["export", *saved, "--to", "gguf", "--model-type", "llama", "--out", str(tmp_path / "cv")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cv.gguf")
    assert main(["export", *saved, "--to", "gguf", "--model-type", "llama", "--out", str(tmp_path / "cv")]) == 2
    assert "does not overwrite" in capsys.readouterr().err
