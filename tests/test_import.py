"""Directions in: persona-vectors .pt files (read without unpickling), GGUF control vectors and interp's own
exports become probes.Direction files in interp's layer convention, and steer as the tool that made them does."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.cli import main
from interp.hooks import AddVector, make_backend
from interp.models import load_model
from interp.steering.export import export_directions
from interp.steering.imports import import_directions, read_torch_tensor
from probes import Direction


def _persona_vector(n_layers: int, d: int, seed: int = 0) -> torch.Tensor:
    """What persona vectors' generate_vec.py saves: one float row per hidden_states index (embeddings first)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_layers + 1, d, generator=g) * 2.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_torch_save_files_are_read_exactly_without_unpickling(dtype: torch.dtype, tmp_path: Path) -> None:
    t = _persona_vector(4, 12).to(dtype)
    torch.save(t, tmp_path / "evil_response_avg_diff.pt")
    got = read_torch_tensor(tmp_path / "evil_response_avg_diff.pt")
    assert got.shape == (5, 12)
    np.testing.assert_array_equal(got, t.double().numpy())
    view = _persona_vector(4, 12)[1:, ::2]  # a strided view of a larger storage: offset and strides are honoured
    torch.save(view, tmp_path / "view.pt")
    np.testing.assert_array_equal(read_torch_tensor(tmp_path / "view.pt"), view.double().numpy())


def test_persona_vector_rows_map_to_block_outputs(tmp_path: Path) -> None:
    t = _persona_vector(3, 8)
    t[0] = 0.0  # an all-zero row (nothing to steer with) is skipped
    torch.save(t, tmp_path / "evil_response_avg_diff.pt")
    dirs = import_directions(tmp_path / "evil_response_avg_diff.pt")
    assert [d.hook_point for d in dirs] == [f"blocks.{b}.hook_resid_post" for b in range(3)]
    assert [d.layer for d in dirs] == [0, 1, 2] and dirs[0].method == "persona_vectors:response_avg_diff"
    for d, row in zip(dirs, t[1:], strict=True):  # row l is block l - 1's output
        np.testing.assert_allclose(d.raw, row.double().numpy())
    t[0] = 1.0
    torch.save(t, tmp_path / "evil_response_avg_diff.pt")
    assert import_directions(tmp_path / "evil_response_avg_diff.pt")[0].hook_point == "blocks.0.hook_resid_pre"
    [one] = import_directions(tmp_path / "evil_response_avg_diff.pt", layer=2)
    assert one.hook_point == "blocks.1.hook_resid_post"
    torch.save(t[3].clone(), tmp_path / "one.pt")
    with pytest.raises(ValueError, match="name the persona-vectors layer"):
        import_directions(tmp_path / "one.pt")
    [single] = import_directions(tmp_path / "one.pt", layer=3)
    assert single.hook_point == "blocks.2.hook_resid_post"


def test_an_imported_persona_vector_steers_as_persona_vectors_does(sharp_model_dir: Path, tmp_path: Path) -> None:
    """Their steerer adds coef * vector[layer] to the output of model.layers[layer - 1] at every position;
    interp's AddVector with the imported direction (raw vector) must give the same logits."""
    lm = load_model(sharp_model_dir, device="cpu")
    cfg = lm.model.config
    t = _persona_vector(cfg.num_hidden_layers, cfg.hidden_size, seed=3)
    torch.save(t, tmp_path / "evil_response_avg_diff.pt")
    layer, coef = 2, 1.5
    [d] = import_directions(tmp_path / "evil_response_avg_diff.pt", layer=layer)
    ids = torch.tensor([lm.chat.encode([{"role": "user", "content": "What will you do?"}]).input_ids])

    def add(_module: torch.nn.Module, _inputs: object, output: object) -> object:
        if isinstance(output, tuple):
            return (output[0] + coef * t[layer].to(output[0].dtype), *output[1:])
        assert isinstance(output, torch.Tensor)
        return output + coef * t[layer].to(output.dtype)

    with torch.no_grad():
        plain = lm.model(input_ids=ids).logits
        handle = lm.model.model.layers[layer - 1].register_forward_hook(add)
        try:
            theirs = lm.model(input_ids=ids).logits
        finally:
            handle.remove()
    backend = make_backend("hf", lm)
    with backend.intervene([AddVector(str(d.hook_point), torch.as_tensor(d.raw, dtype=torch.float32), alpha=coef)]):
        mine = backend.run(ids, torch.ones_like(ids)).logits
    assert mine is not None
    assert float((theirs - plain).abs().max()) > 1e-2
    assert float((theirs - mine).abs().max()) <= 1e-5


def test_a_pickle_program_that_names_anything_else_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return os.system, (f"touch {marker}",)

    torch.save({"vector": torch.ones(3), "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"names (posix|os|nt)\.system, which interp does not run"):
        import_directions(tmp_path / "evil.pt")
    assert not marker.exists()
    torch.save(torch.arange(6), tmp_path / "ints.pt")
    with pytest.raises(ValueError, match="holds a Long tensor; a direction is floating point"):
        import_directions(tmp_path / "ints.pt")
    torch.save({"a": torch.ones(3)}, tmp_path / "dict.pt")
    with pytest.raises(ValueError, match="holds dict, not a tensor"):
        import_directions(tmp_path / "dict.pt")
    (tmp_path / "legacy.pt").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match="none of the direction formats"):
        import_directions(tmp_path / "legacy.pt")
    torch.save(torch.ones(2, 3), tmp_path / "whole.pt")
    with zipfile.ZipFile(tmp_path / "whole.pt") as z, zipfile.ZipFile(tmp_path / "cut.pt", "w") as cut:
        for name in z.namelist():
            if "/data/" not in name:
                cut.writestr(name, z.read(name))
    with pytest.raises(ValueError, match="storage 0 is missing"):
        read_torch_tensor(tmp_path / "cut.pt")


@pytest.mark.parametrize("to", ["gguf", "steering-vectors", "numpy"])
def test_our_exports_come_back_as_the_same_directions(to: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dirs = [Direction.from_vector(rng.normal(size=16), method="diffmeans", hook_point=f"blocks.{L}.hook_resid_post",
                                  layer=L) for L in (1, 3)]
    paths = export_directions(dirs, to, tmp_path / "persona", model_type="llama", scale=2.0)
    back = import_directions(paths[0])
    assert [d.hook_point for d in back] == [d.hook_point for d in dirs]
    for a, b in zip(dirs, back, strict=True):
        np.testing.assert_allclose(b.raw, 2.0 * a.vector, rtol=1e-6)
        assert a.cosine(b) == pytest.approx(1.0, abs=1e-6)


def test_interp_import_writes_direction_files_that_export_reads(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(_persona_vector(4, 16), tmp_path / "evil_response_avg_diff.pt")
    out = tmp_path / "dirs"
    assert main(["import", str(tmp_path / "evil_response_avg_diff.pt"), "--out", str(out), "--layers", "1,3"]) == 0
    files = sorted(out.glob("*.safetensors"))
    assert [f.name for f in files] == ["evil_response_avg_diff.blocks.1.hook_resid_post.safetensors",
                                       "evil_response_avg_diff.blocks.3.hook_resid_post.safetensors"]
    d = Direction.load(files[0])
    assert d.layer == 1 and d.extra["source"].endswith("evil_response_avg_diff.pt")
    assert "blocks.3.hook_resid_post" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "evil_response_avg_diff.pt"), "--out", str(out)]) != 0  # never overwrites
    assert "interp does not overwrite" in capsys.readouterr().err
    assert main(["export", *map(str, files), "--to", "gguf", "--model-type", "llama", "--out",
                 str(tmp_path / "cv.gguf")]) == 0
