"""Sharpening metrics: pure functions on arrays (scores, activations, directions).

This module owns the definitions; nothing here knows about checkpoints or stores. AUROC, cosine and
the pairing of rows come from :mod:`probes.stats`, the one statistics module.

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

from probes.stats import as_batch, as_labels, auroc, cosine, cosine_matrix, paired_indices, unit

__all__ = ["CONCENTRATION", "SEPARABILITY", "SEPARABILITY_FNS", "auroc", "cohens_d", "concentration",
           "concentration_resampled", "cosine",
           "cosine_matrix", "difference_vectors", "fisher", "mean_difference", "paired_indices", "projection_scores",
           "unit"]

FloatArray = NDArray[np.float64]

SEPARABILITY = ("auroc", "cohens_d", "fisher")
CONCENTRATION = ("top_share", "mean_diff_share", "participation_ratio")


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


def cohens_d(y: Any, scores: Any) -> FloatArray | float:
    """Cohen's d of class 1 vs class 0 scores: ``(m1 - m0) / pooled_sd`` (signed)."""
    s, squeeze = as_batch(scores)
    m1, m0, v1, v0, n1, n0 = _class_moments(s, as_labels(y, s.shape[1]))
    pooled = np.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
    return _out((m1 - m0) / np.maximum(pooled, 1e-300), squeeze)


def fisher(y: Any, scores: Any) -> FloatArray | float:
    """Fisher ratio along the scores: ``(m1 - m0)² / (v1 + v0)`` (class variances, ddof=1)."""
    s, squeeze = as_batch(scores)
    m1, m0, v1, v0, _, _ = _class_moments(s, as_labels(y, s.shape[1]))
    return _out((m1 - m0) ** 2 / np.maximum(v1 + v0, 1e-300), squeeze)


SEPARABILITY_FNS = {"auroc": auroc, "cohens_d": cohens_d, "fisher": fisher}


def mean_difference(X: Any, y: Any) -> FloatArray:
    """``mean(X[y == 1]) - mean(X[y == 0])`` ([d])."""
    Xa = np.asarray(X, dtype=np.float64)
    y1 = np.asarray(y).astype(bool)
    return np.asarray(Xa[y1].mean(0) - Xa[~y1].mean(0))


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


def concentration_resampled(D: Any, counts: Any, max_bytes: int = 1 << 28) -> NDArray[np.float64]:
    """:func:`concentration` of ``D`` [m, d] under each row of ``counts`` [B, m] (a bootstrap resample's
    multiplicity of every row), all at once: ``[B, 3]`` in :data:`CONCENTRATION` order.

    One Gram matrix ``K = D Dᵀ`` serves every resample (resample b's is ``s_b s_bᵀ ∘ K / m_b`` with
    ``s_b = sqrt(counts_b)``), and the eigendecompositions run batched, in chunks of at most
    ``max_bytes``. Equal to calling :func:`concentration` per row to float rounding (tested).
    """
    Da = np.asarray(D, dtype=np.float64)
    W = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if Da.ndim != 2 or W.shape[1:] != (Da.shape[0],) or (W < 0).any() or (W.sum(1) < 2).any():
        raise ValueError(f"counts must be [B, {Da.shape[0]}] non-negative, each row summing to >= 2; got {W.shape}")
    if Da.shape[0] > Da.shape[1]:  # the d x d form is the cheaper one there: one resample at a time
        return np.array([[concentration(Da, w)[k] for k in CONCENTRATION] for w in W])
    K = Da @ Da.T
    out = np.empty((W.shape[0], len(CONCENTRATION)))
    step = max(1, max_bytes // (8 * K.size))
    for start in range(0, W.shape[0], step):
        w = W[start : start + step]
        m, s = w.sum(1), np.sqrt(w)
        lam, vecs = np.linalg.eigh(K[None] * s[:, :, None] * s[:, None, :] / m[:, None, None])
        lam = np.clip(lam, 0.0, None)
        total = lam.sum(1)
        if (total <= 0).any():
            raise ValueError("all difference vectors are zero")
        a = s * vecs[:, :, -1]  # the top direction is Dᵀ a
        top_sq = np.einsum("bi,ij,bj->b", a, K, a)
        top_delta = np.einsum("bi,ij,bj->b", a, K, w) / m
        dn = np.einsum("bi,ij,bj->b", w, K, w) / m**2
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(dn > 0, top_delta**2 / (np.maximum(top_sq, 1e-300) * dn), np.nan)
        out[start : start + step] = np.stack([lam[:, -1] / total, share, total**2 / (lam**2).sum(1)], axis=1)
    return out


def projection_scores(X: Any, direction: Any) -> FloatArray:
    """Projection of every row of ``X`` [n, d] on the unit vector along ``direction``."""
    return np.asarray(np.asarray(X, dtype=np.float64) @ unit(direction))
