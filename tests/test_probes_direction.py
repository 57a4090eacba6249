"""Direction / Subspace values: persistence (safetensors + JSON, no pickle) and geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from probes import Direction, Subspace, cosine, fingerprint, stack


def _dir(d: int = 8, seed: int = 0, **meta: object) -> Direction:
    rng = np.random.default_rng(seed)
    return Direction.from_vector(rng.normal(size=d) * 3.0, **meta)


def test_save_load_round_trip(tmp_path: Path) -> None:
    X = np.ones((4, 8))
    d = _dir(
        method="diffmeans",
        hook_point="blocks.5.hook_resid_post",
        layer=5,
        checkpoint_fingerprint="abc123",
        train_fingerprint=fingerprint(X),
        n_examples=4,
        extra={"note": "x"},
    )
    path = d.save(tmp_path / "dirs" / "layer5")
    assert path.name == "layer5.safetensors" and (tmp_path / "dirs" / "layer5.json").exists()
    meta = json.loads((tmp_path / "dirs" / "layer5.json").read_text())
    assert meta["d"] == 8 and meta["layer"] == 5 and meta["format"] == "probes.Direction"
    back = Direction.load(path, expected_d=8)
    assert np.array_equal(back.vector, d.vector) and np.array_equal(back.raw, d.raw)
    assert back.metadata() == d.metadata()
    assert np.isclose(np.linalg.norm(back.vector), 1.0) and not np.isclose(np.linalg.norm(back.raw), 1.0)
    assert not list((tmp_path / "dirs").glob("*.pkl"))


def test_load_dimension_mismatch_and_corruption(tmp_path: Path) -> None:
    path = _dir(d=8).save(tmp_path / "d")
    with pytest.raises(ValueError, match="d=8 but expected d=16"):
        Direction.load(path, expected_d=16)
    loaded = Direction.load(tmp_path / "d")
    with pytest.raises(ValueError, match="16 features .* has d=8"):
        loaded.project(np.zeros((3, 16)))
    meta = json.loads((tmp_path / "d.json").read_text())
    meta["vector_sha256"] = "0" * 64
    (tmp_path / "d.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="checksum"):
        Direction.load(path)
    with pytest.raises(FileNotFoundError):
        Direction.load(tmp_path / "missing")


def test_cosine_sign_alignment() -> None:
    a = _dir(seed=1)
    assert cosine(a, -a) == pytest.approx(-1.0)
    assert a.cosine(-a, align_sign=True) == pytest.approx(1.0)
    assert (-a).aligned_with(a).cosine(a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="different dimension"):
        cosine(a, np.ones(9))


def test_project_and_complement_numpy_and_torch() -> None:
    a = _dir(d=8, seed=2)
    X = np.random.default_rng(3).normal(size=(5, 8))
    assert np.allclose(a.project(X), X @ a.vector)
    P = a.complement_projector()
    assert np.allclose(P @ a.vector, 0.0) and np.allclose(P @ P, P)
    assert np.allclose(a.ablate(X), X @ P)
    assert np.allclose(a.project(a.ablate(X)), 0.0)
    Xt = torch.tensor(X, dtype=torch.float32)
    pt = a.project(Xt)
    assert isinstance(pt, torch.Tensor) and pt.dtype == torch.float32
    assert np.allclose(pt.numpy(), X @ a.vector, atol=1e-5)
    assert torch.allclose(a.project(a.ablate(Xt)), torch.zeros(5), atol=1e-5)


def test_subspace_orthonormal_and_projectors() -> None:
    dirs = [_dir(d=10, seed=s) for s in range(3)]
    sub = stack(dirs)
    assert sub.k == 3 and sub.d == 10
    assert np.allclose(sub.basis @ sub.basis.T, np.eye(3))
    for d in dirs:  # every direction lies inside the subspace
        assert np.allclose(sub.projector() @ d.vector, d.vector)
        assert np.allclose(sub.complement_projector() @ d.vector, 0.0, atol=1e-12)
    X = np.random.default_rng(0).normal(size=(4, 10))
    assert sub.project(X).shape == (4, 3)
    assert np.allclose(sub.project(sub.ablate(X)), 0.0, atol=1e-12)
    assert cosine(sub.basis[0], dirs[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="linearly dependent"):
        Subspace.from_directions([dirs[0], dirs[0].raw * 2.0])
    with pytest.raises(ValueError, match="same dimension"):
        Subspace.from_directions([dirs[0], np.ones(5)])


def test_direction_rejects_bad_vectors() -> None:
    with pytest.raises(ValueError, match="zero norm"):
        Direction.from_vector(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        Direction.from_vector(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="1-D"):
        Direction.from_vector(np.ones((2, 2)))
