"""Sharpening metrics: pure functions on arrays (scores, activations, directions).

This module owns the definitions; nothing here knows about checkpoints or stores.

Separability (of a 1-D score ``s`` = projection of the activations on a direction, ideally
out-of-fold): ``auroc`` (probability that a class-1 example scores above a class-0 example),
``cohens_d`` (difference of class means over the pooled standard deviation) and ``fisher``
(squared difference of class means over the sum of class variances). All three accept a batch
``[B, n]`` of score vectors (one per bootstrap resample) and are invariant to a positive affine
rescaling of the scores.

Concentration of the class difference (see :func:`difference_vectors`):

- ``top_share``: fraction of the difference vectors' energy (uncentred second moment) carried by
  their top singular direction, ``λ1 / Σλ``, in [1/rank, 1]; 1 means all pairs differ along one
  direction.
- ``mean_diff_share``: fraction of the squared class-mean difference ``Δ`` that lies along that
  top direction, ``(u1·Δ)² / ‖Δ‖²``, in [0, 1].
- ``participation_ratio``: effective rank ``(Σλ)² / Σλ²`` of the same spectrum, in
  [1, min(m, d)]; lower means more concentrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

FloatArray = NDArray[np.float64]

SEPARABILITY = ("auroc", "cohens_d", "fisher")
CONCENTRATION = ("top_share", "mean_diff_share", "participation_ratio")


def _as_2d(scores: Any) -> tuple[FloatArray, bool]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        return s[None, :], True
    if s.ndim != 2:
        raise ValueError(f"scores must be [n] or [B, n]; got shape {s.shape}")
    return s, False


def _as_y(y: Any, n: int) -> NDArray[np.bool_]:
    y_arr = np.asarray(y)
    if y_arr.ndim == 1:
        y_arr = y_arr[None, :]
    if y_arr.shape[-1] != n:
        raise ValueError(f"y has {y_arr.shape[-1]} entries for {n} scores")
    vals = np.unique(y_arr)
    if not set(vals.tolist()) <= {0, 1}:
        raise ValueError(f"y must hold 0/1 labels; got values {vals[:5].tolist()}")
    return y_arr.astype(bool)


def _out(v: FloatArray, squeeze: bool) -> FloatArray | float:
    return float(v[0]) if squeeze else v


def _class_moments(s: FloatArray, y1: NDArray[np.bool_]) -> tuple[FloatArray, ...]:
    y1 = np.broadcast_to(y1, s.shape)
    n1 = y1.sum(1).astype(np.float64)
    n0 = (~y1).sum(1).astype(np.float64)
    if (n1 < 2).any() or (n0 < 2).any():
        raise ValueError("every score vector needs at least two examples of each class")
    m1 = np.where(y1, s, 0.0).sum(1) / n1
    m0 = np.where(~y1, s, 0.0).sum(1) / n0
    v1 = np.where(y1, (s - m1[:, None]) ** 2, 0.0).sum(1) / (n1 - 1)
    v0 = np.where(~y1, (s - m0[:, None]) ** 2, 0.0).sum(1) / (n0 - 1)
    return m1, m0, v1, v0, n1, n0


def auroc(y: Any, scores: Any) -> FloatArray | float:
    """AUROC of ``scores`` ([n] or [B, n]) for labels ``y`` (0/1; [n] or [B, n]); ties count 1/2."""
    s, squeeze = _as_2d(scores)
    y1 = np.broadcast_to(_as_y(y, s.shape[1]), s.shape)
    r = rankdata(s, axis=1)
    n1 = y1.sum(1).astype(np.float64)
    n0 = s.shape[1] - n1
    if (n1 == 0).any() or (n0 == 0).any():
        raise ValueError("AUROC needs both classes in every score vector")
    u = np.where(y1, r, 0.0).sum(1) - n1 * (n1 + 1) / 2
    return _out(u / (n1 * n0), squeeze)


def cohens_d(y: Any, scores: Any) -> FloatArray | float:
    """Cohen's d of class 1 vs class 0 scores: ``(m1 - m0) / pooled_sd`` (signed)."""
    s, squeeze = _as_2d(scores)
    m1, m0, v1, v0, n1, n0 = _class_moments(s, _as_y(y, s.shape[1]))
    pooled = np.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
    return _out((m1 - m0) / np.maximum(pooled, 1e-300), squeeze)


def fisher(y: Any, scores: Any) -> FloatArray | float:
    """Fisher ratio along the scores: ``(m1 - m0)² / (v1 + v0)`` (class variances, ddof=1)."""
    s, squeeze = _as_2d(scores)
    m1, m0, v1, v0, _, _ = _class_moments(s, _as_y(y, s.shape[1]))
    return _out((m1 - m0) ** 2 / np.maximum(v1 + v0, 1e-300), squeeze)


SEPARABILITY_FNS = {"auroc": auroc, "cohens_d": cohens_d, "fisher": fisher}


def unit(v: Any) -> FloatArray:
    """``v / ‖v‖`` along the last axis (raises on a zero vector)."""
    a = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    if (n == 0).any():
        raise ValueError("cannot normalise a zero vector")
    return np.asarray(a / n)


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two vectors (signed)."""
    return float(unit(a) @ unit(b))


def cosine_matrix(A: Any, B: Any) -> FloatArray:
    """``[La, Lb]`` cosines between the rows of ``A`` [La, d] and ``B`` [Lb, d] (e.g. layer x layer)."""
    return np.asarray(unit(A) @ unit(B).T)


def mean_difference(X: Any, y: Any) -> FloatArray:
    """``mean(X[y == 1]) - mean(X[y == 0])`` ([d])."""
    Xa = np.asarray(X, dtype=np.float64)
    y1 = np.asarray(y).astype(bool)
    return np.asarray(Xa[y1].mean(0) - Xa[~y1].mean(0))


def paired_indices(y: Any, groups: Any) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
    """Row indices ``(pos, neg)`` of pairs when every group holds exactly one example of each class."""
    if groups is None:
        return None
    g = np.asarray(groups)
    y1 = np.asarray(y).astype(bool)
    _, inv, counts = np.unique(g, return_inverse=True, return_counts=True)
    if not (counts == 2).all():
        return None
    order = np.lexsort((y1, inv))  # within each group: class 0 then class 1
    neg, pos = order[0::2], order[1::2]
    if not (y1[pos].all() and not y1[neg].any()):
        return None
    return pos.astype(np.intp), neg.astype(np.intp)


def difference_vectors(X: Any, y: Any, groups: Any = None) -> FloatArray:
    """The per-unit class-difference vectors ``D`` [m, d] the concentration metrics are computed on.

    Paired data (every group holds one class-1 and one class-0 example, e.g. the misaligned and
    aligned answer to one prompt): ``D_g = x_g,1 - x_g,0``, one row per pair. Otherwise each
    class-1 example minus the class-0 mean: ``D_i = x_i - mean(X[y == 0])``. In both cases
    ``mean(D) = Δ``, the class-mean difference.
    """
    Xa = np.asarray(X, dtype=np.float64)
    y1 = np.asarray(y).astype(bool)
    pairs = paired_indices(y1, groups)
    if pairs is not None:
        pos, neg = pairs
        return np.asarray(Xa[pos] - Xa[neg])
    return np.asarray(Xa[y1] - Xa[~y1].mean(0))


def concentration(D: Any, weights: Any = None) -> dict[str, float]:
    """``top_share``, ``mean_diff_share`` and ``participation_ratio`` of difference vectors ``D`` [m, d].

    Computed from the eigenvalues of the uncentred Gram matrix ``D Dᵀ / m`` (same non-zero
    spectrum as ``Dᵀ D / m``, cheaper when m < d). ``weights`` (non-negative counts per row) give
    the metrics of ``D`` with row ``i`` repeated ``weights[i]`` times, without repeating it: how a
    bootstrap resample is evaluated on its distinct rows only.
    """
    Da = np.asarray(D, dtype=np.float64)
    if Da.ndim != 2 or Da.shape[0] < 2:
        raise ValueError(f"D must be [m >= 2, d]; got shape {Da.shape}")
    w = np.ones(Da.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (Da.shape[0],) or (w < 0).any() or w.sum() < 2:
        raise ValueError(f"weights must be {Da.shape[0]} non-negative counts summing to >= 2")
    keep = w > 0
    Da, w = Da[keep], w[keep]
    m = float(w.sum())
    Dw = Da * np.sqrt(w)[:, None]
    if Dw.shape[0] <= Dw.shape[1]:
        lam, vecs = np.linalg.eigh(Dw @ Dw.T / m)
        lam = np.clip(lam, 0.0, None)
        top = Dw.T @ vecs[:, -1]
    else:
        lam, vecs = np.linalg.eigh(Dw.T @ Dw / m)
        lam = np.clip(lam, 0.0, None)
        top = vecs[:, -1]
    total = float(lam.sum())
    if total <= 0:
        raise ValueError("all difference vectors are zero")
    delta = w @ Da / m
    u1 = top / max(float(np.linalg.norm(top)), 1e-300)
    dn = float(delta @ delta)
    return {
        "top_share": float(lam[-1] / total),
        "mean_diff_share": float((u1 @ delta) ** 2 / dn) if dn > 0 else float("nan"),
        "participation_ratio": float(total**2 / float((lam**2).sum())),
    }


def projection_scores(X: Any, direction: Any) -> FloatArray:
    """Projection of every row of ``X`` [n, d] on the unit vector along ``direction``."""
    return np.asarray(np.asarray(X, dtype=np.float64) @ unit(direction))
