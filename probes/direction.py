"""Directions in activation space as values: :class:`Direction` and :class:`Subspace`.

This module owns the representation of a learned direction (unit vector, raw unnormalised
vector and provenance metadata), its persistence (safetensors for the vectors plus a JSON
sidecar for the metadata; never pickle), and the operations researchers apply to directions:
cosine similarity (optionally sign-aligned), projection of activations, the orthogonal
complement projector / ablation, and stacking several directions into an orthonormal
:class:`Subspace`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from numpy.typing import NDArray

from probes import stats
from probes._validation import as_float_array

__all__ = ["Direction", "Subspace", "cosine", "fingerprint", "stack"]

FORMAT_VERSION = 1
ArrayOrTensor = TypeVar("ArrayOrTensor", NDArray[Any], torch.Tensor)


def fingerprint(*arrays: Any, n_chars: int = 16) -> str:
    """Content hash (sha256 hex prefix) of one or more arrays/tensors, shape and dtype included.

    Use it for the training-set fingerprint of a :class:`Direction` (e.g. ``fingerprint(X, y)``).
    """
    h = hashlib.sha256()
    for a in arrays:
        arr = np.ascontiguousarray(as_float_array(a) if isinstance(a, torch.Tensor) else np.asarray(a))
        h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:n_chars]


def _unit(v: NDArray[Any], what: str) -> NDArray[np.float64]:
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{what} must be a 1-D vector of length d; got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{what} must contain only finite values")
    norm = float(np.linalg.norm(v))
    if norm == 0.0:
        raise ValueError(f"{what} has zero norm; a direction needs a non-zero vector")
    return v / norm


def _check_d(X_shape: tuple[int, ...], d: int, what: str) -> None:
    if len(X_shape) == 0 or X_shape[-1] != d:
        got = X_shape[-1] if X_shape else "no"
        raise ValueError(f"activations have {got} features (shape {X_shape}) but {what} has d={d}")


def _apply_matrix(X: ArrayOrTensor, M: NDArray[np.float64]) -> ArrayOrTensor:
    """``X @ M`` keeping ``X``'s type (and, for tensors, dtype and device)."""
    if isinstance(X, torch.Tensor):
        Mt = torch.as_tensor(M, dtype=X.dtype if X.is_floating_point() else torch.float32, device=X.device)
        return X @ Mt
    arr = as_float_array(X)
    return arr @ M.astype(arr.dtype, copy=False)


@dataclasses.dataclass(frozen=True, eq=False)
class Direction:
    """A unit direction in a ``d``-dimensional activation space, with provenance.

    ``vector`` is unit-norm; ``raw`` is the estimator's unnormalised vector (e.g. the difference
    of class means, or the logistic weights in activation units). The sign convention of every
    estimator in :mod:`probes` is that ``vector`` points from class 0 (aligned) towards class 1
    (misaligned): projections are larger for class 1.
    """

    vector: NDArray[np.float64]
    raw: NDArray[np.float64]
    method: str = "unknown"
    hook_point: str | None = None
    layer: int | None = None
    checkpoint_fingerprint: str | None = None
    train_fingerprint: str | None = None
    n_examples: int | None = None
    created_at: str = ""
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = np.asarray(as_float_array(self.raw, name="raw"), dtype=np.float64)
        vec = _unit(np.asarray(as_float_array(self.vector, name="vector")), "vector")
        if raw.shape != vec.shape:
            raise ValueError(f"raw has shape {raw.shape} but vector has shape {vec.shape}; they must match")
        object.__setattr__(self, "vector", vec)
        object.__setattr__(self, "raw", raw)
        if not self.created_at:
            object.__setattr__(self, "created_at", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        object.__setattr__(self, "extra", dict(self.extra))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_vector(cls, raw: Any, **metadata: Any) -> Direction:
        """Build a direction from an unnormalised vector (its unit version becomes ``vector``)."""
        raw_arr = np.asarray(as_float_array(raw, name="raw"), dtype=np.float64)
        return cls(vector=_unit(raw_arr, "raw"), raw=raw_arr, **metadata)

    @classmethod
    def from_estimator(cls, estimator: Any, **metadata: Any) -> Direction:
        """Build a direction from a fitted probe (anything with ``direction_``).

        ``method`` defaults to the estimator's class name, ``n_examples`` to ``n_examples_``
        when present; pass ``hook_point``, ``layer``, fingerprints etc. as keywords.
        """
        if not hasattr(estimator, "direction_"):
            raise ValueError(
                f"{type(estimator).__name__} is not fitted (it has no direction_); call fit first"
            )
        raw = getattr(estimator, "raw_direction_", estimator.direction_)
        metadata.setdefault("method", type(estimator).__name__)
        if getattr(estimator, "n_examples_", None) is not None:
            metadata.setdefault("n_examples", int(estimator.n_examples_))
        return cls(vector=np.asarray(estimator.direction_), raw=np.asarray(raw), **metadata)

    # ------------------------------------------------------------------ basic properties
    @property
    def d(self) -> int:
        """Dimension of the activation space."""
        return int(self.vector.shape[0])

    def __repr__(self) -> str:
        where = self.hook_point if self.hook_point is not None else f"layer={self.layer}"
        return f"Direction(d={self.d}, method={self.method!r}, {where}, n_examples={self.n_examples})"

    def __neg__(self) -> Direction:
        return dataclasses.replace(self, vector=-self.vector, raw=-self.raw)

    def metadata(self) -> dict[str, Any]:
        """Every field except the vectors, as a JSON-serialisable dict."""
        out = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("vector", "raw")
        }
        out["extra"] = dict(self.extra)
        return out

    # ------------------------------------------------------------------ operations
    def cosine(self, other: Direction | Any, *, align_sign: bool = False) -> float:
        """Cosine similarity with another direction or vector (``abs`` of it if ``align_sign``)."""
        return cosine(self, other, align_sign=align_sign)

    def project(self, X: ArrayOrTensor) -> ArrayOrTensor:
        """Scalar projection ``X @ vector`` of activations ``[..., d]``; keeps numpy/torch type."""
        _check_d(tuple(X.shape), self.d, f"direction {self!r}")
        return _apply_matrix(X, self.vector[:, None])[..., 0]

    def complement_projector(self) -> NDArray[np.float64]:
        """The ``d x d`` projector ``I - u u^T`` onto the orthogonal complement of the direction."""
        return np.eye(self.d) - np.outer(self.vector, self.vector)

    def ablate(self, X: ArrayOrTensor) -> ArrayOrTensor:
        """Remove the component along the direction: ``X - (X @ u) u`` (same as the complement projector)."""
        coef = self.project(X)
        if isinstance(X, torch.Tensor):
            u = torch.as_tensor(self.vector, dtype=X.dtype, device=X.device)
            return X - coef[..., None] * u
        arr = as_float_array(X)
        return arr - coef[..., None] * self.vector.astype(arr.dtype, copy=False)

    def aligned_with(self, other: Direction | Any) -> Direction:
        """This direction, sign-flipped if needed so that its cosine with ``other`` is non-negative."""
        return -self if cosine(self, other) < 0 else self

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``<stem>.safetensors`` (vectors) and ``<stem>.json`` (metadata); return the former.

        ``path`` may be given with or without the ``.safetensors`` suffix.
        """
        from safetensors.numpy import save_file

        tensors_path, meta_path = _paths(path)
        tensors_path.parent.mkdir(parents=True, exist_ok=True)
        vec = np.ascontiguousarray(self.vector)
        save_file({"vector": vec, "raw": np.ascontiguousarray(self.raw)}, str(tensors_path))
        meta = {
            "format": "probes.Direction",
            "format_version": FORMAT_VERSION,
            "d": self.d,
            "vector_sha256": _array_sha256(vec),
            "raw_sha256": _array_sha256(self.raw),
            **self.metadata(),
        }
        meta = json.loads(json.dumps(meta, default=str))  # what the file will hold, so the hash is of that
        meta["metadata_sha256"] = _metadata_sha256(meta)
        meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return tensors_path

    @classmethod
    def load(cls, path: str | Path, *, expected_d: int | None = None) -> Direction:
        """Load a direction written by :meth:`save`; raise if ``expected_d`` differs from its d."""
        from safetensors.numpy import load_file

        tensors_path, meta_path = _paths(path)
        if not tensors_path.exists():
            raise FileNotFoundError(f"no direction tensors at {tensors_path}")
        if not meta_path.exists():
            raise FileNotFoundError(f"no direction metadata sidecar at {meta_path}")
        tensors = load_file(str(tensors_path))
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != "probes.Direction":
            raise ValueError(f"{meta_path} is not a probes.Direction sidecar (format={meta.get('format')!r})")
        if int(meta.get("format_version", -1)) > FORMAT_VERSION:
            raise ValueError(
                f"{meta_path} has format_version {meta['format_version']}; this library reads up to {FORMAT_VERSION}"
            )
        vec = np.asarray(tensors["vector"], dtype=np.float64)
        if vec.shape != (int(meta["d"]),):
            raise ValueError(
                f"{tensors_path} holds a vector of shape {vec.shape} but its sidecar says d={meta['d']}"
            )
        if _array_sha256(tensors["vector"]) != meta["vector_sha256"]:
            raise ValueError(
                f"{tensors_path} does not match the checksum in {meta_path}; the pair is inconsistent"
            )
        # files written before the raw and metadata checksums load as they did
        if "raw_sha256" in meta and _array_sha256(tensors["raw"]) != meta["raw_sha256"]:
            raise ValueError(f"the raw vector in {tensors_path} was altered after it was saved (its checksum in "
                             f"{meta_path} differs); save the direction again from its estimator")
        if "metadata_sha256" in meta and _metadata_sha256(meta) != meta["metadata_sha256"]:
            raise ValueError(f"{meta_path} was edited after it was saved (its layer, hook point, method or another "
                             "field no longer matches its checksum); a direction's provenance is not edited by hand: "
                             "save it again from its estimator, or record notes under 'extra' before saving")
        if expected_d is not None and vec.shape[0] != expected_d:
            raise ValueError(
                f"loaded direction from {tensors_path} has d={vec.shape[0]} but expected d={expected_d}"
            )
        names = {f.name for f in dataclasses.fields(cls)} - {"vector", "raw"}
        fields = {k: v for k, v in meta.items() if k in names}
        return cls(vector=vec, raw=np.asarray(tensors["raw"], dtype=np.float64), **fields)


def _array_sha256(a: NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _metadata_sha256(meta: Mapping[str, Any]) -> str:
    fields = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _as_unit(v: Direction | Any, what: str) -> NDArray[np.float64]:
    if isinstance(v, Direction):
        return v.vector
    return _unit(as_float_array(v, name=what), what)


def cosine(a: Direction | Any, b: Direction | Any, *, align_sign: bool = False) -> float:
    """Cosine similarity between two directions or vectors; ``abs`` of it when ``align_sign``.

    Raises ``ValueError`` when the dimensions differ.
    """
    ua, ub = _as_unit(a, "a"), _as_unit(b, "b")
    if ua.shape != ub.shape:
        raise ValueError(
            f"cannot compare directions of different dimension: d={ua.shape[0]} vs d={ub.shape[0]}"
        )
    c = float(np.clip(stats.cosine(ua, ub), -1.0, 1.0))
    return abs(c) if align_sign else c


@dataclasses.dataclass(frozen=True, eq=False)
class Subspace:
    """A k-dimensional subspace of activation space with an orthonormal ``basis`` of shape (k, d)."""

    basis: NDArray[np.float64]
    directions: tuple[Direction, ...] = ()

    def __post_init__(self) -> None:
        B = np.asarray(self.basis, dtype=np.float64)
        if B.ndim != 2:
            raise ValueError(f"basis must have shape (k, d); got {B.shape}")
        if not np.allclose(B @ B.T, np.eye(B.shape[0]), atol=1e-6):
            raise ValueError("basis rows must be orthonormal; build a Subspace with Subspace.from_directions")
        object.__setattr__(self, "basis", B)

    @classmethod
    def from_directions(cls, directions: Sequence[Direction | Any], *, rtol: float = 1e-8) -> Subspace:
        """Orthonormalise directions (QR, in the given order) into a subspace.

        Raises ``ValueError`` if the directions have different dimensions or are linearly dependent.
        """
        if len(directions) == 0:
            raise ValueError("need at least one direction to build a subspace")
        units = [_as_unit(v, f"directions[{i}]") for i, v in enumerate(directions)]
        dims = {u.shape[0] for u in units}
        if len(dims) != 1:
            raise ValueError(f"all directions must have the same dimension; got d in {sorted(dims)}")
        M = np.stack(units, axis=1)  # (d, k)
        if M.shape[1] > M.shape[0]:
            raise ValueError(
                f"cannot stack {M.shape[1]} directions in d={M.shape[0]} into an independent basis"
            )
        Q, R = np.linalg.qr(M)
        diag = np.abs(np.diag(R))
        if diag.min() <= rtol * max(diag.max(), 1.0):
            raise ValueError(
                f"directions are linearly dependent (smallest QR pivot {diag.min():.2e}); drop the redundant ones"
            )
        Q = Q * np.sign(np.diag(R))[None, :]  # keep each basis vector on the side of its direction
        dirs = tuple(v for v in directions if isinstance(v, Direction))
        return cls(basis=Q.T.copy(), directions=dirs if len(dirs) == len(directions) else ())

    @property
    def d(self) -> int:
        return int(self.basis.shape[1])

    @property
    def k(self) -> int:
        return int(self.basis.shape[0])

    def project(self, X: ArrayOrTensor) -> ArrayOrTensor:
        """Coordinates of activations ``[..., d]`` in the orthonormal basis: ``[..., k]``."""
        _check_d(tuple(X.shape), self.d, f"subspace (k={self.k})")
        return _apply_matrix(X, self.basis.T)

    def projector(self) -> NDArray[np.float64]:
        """The ``d x d`` orthogonal projector onto the subspace."""
        return self.basis.T @ self.basis

    def complement_projector(self) -> NDArray[np.float64]:
        """The ``d x d`` orthogonal projector onto the complement of the subspace."""
        return np.eye(self.d) - self.projector()

    def ablate(self, X: ArrayOrTensor) -> ArrayOrTensor:
        """Remove the subspace component from activations: ``X (I - B^T B)``."""
        coords = self.project(X)
        return X - _apply_matrix(coords, self.basis)


def stack(directions: Sequence[Direction | Any]) -> Subspace:
    """Stack several directions into a :class:`Subspace` (orthonormal basis via QR)."""
    return Subspace.from_directions(directions)
