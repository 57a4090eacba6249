"""Before/after comparisons: paired bootstrap, permutation tests, multiple-comparison corrections.

This module owns how two checkpoints captured on the SAME examples (rows aligned by example
index) are compared, and how a p-value family across layers is corrected.

- Resampling unit: the pair when every group holds one example of each class (the aligned and
  the misaligned answer to one prompt); otherwise the example, stratified by class.
- :func:`paired_bootstrap_scores`: percentile interval of ``metric(b) - metric(a)`` with the SAME
  resampled units applied to both checkpoints (vectorised over resamples).
- :func:`permutation_test_scores`: under H0 the checkpoint label of a unit is exchangeable, so
  each unit's ``a``/``b`` scores are swapped with probability 1/2. Scores are z-scored per
  checkpoint first, so swapping never mixes two scales (the separability metrics are invariant
  to that rescaling).
- :func:`bootstrap_stat`: a generic resampling loop for metrics that are not functions of a
  score vector (concentration, cosine).
- :func:`benjamini_hochberg` and :func:`holm`: adjusted p-values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interp.sharpening.metrics import paired_indices

FloatArray = NDArray[np.float64]
ScoreMetric = Callable[[Any, Any], Any]  # (y [B, n] or [n], scores [B, n]) -> [B]


@dataclass(frozen=True)
class Estimate:
    """A value with a percentile interval and (optionally) a p-value."""

    value: float
    ci_low: float
    ci_high: float
    p: float = float("nan")


def resample_units(y: Any, groups: Any, n_boot: int, rng: np.random.Generator) -> NDArray[np.intp]:
    """``[n_boot, n]`` row indices of bootstrap resamples (pairs kept together, else class-stratified)."""
    y1 = np.asarray(y).astype(bool)
    n = y1.shape[0]
    pairs = paired_indices(y1, groups)
    if pairs is not None:
        pos, neg = pairs
        pick = rng.integers(0, pos.size, size=(n_boot, pos.size))
        return np.concatenate([pos[pick], neg[pick]], axis=1)
    out = np.empty((n_boot, n), dtype=np.intp)
    col = 0
    for cls in (True, False):
        idx = np.flatnonzero(y1 == cls)
        out[:, col : col + idx.size] = idx[rng.integers(0, idx.size, size=(n_boot, idx.size))]
        col += idx.size
    return out


def _percentile(stats: FloatArray, alpha: float) -> tuple[float, float]:
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_scores(
    metric: ScoreMetric, scores: Any, y: Any, groups: Any = None, *, n_boot: int = 1000, alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``metric(y, scores)`` for one checkpoint."""
    s = np.asarray(scores, dtype=np.float64)
    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    stats = np.asarray(metric(y1[idx], s[idx]), dtype=np.float64)
    lo, hi = _percentile(stats, alpha)
    return Estimate(float(metric(y1, s)), lo, hi)


def paired_bootstrap_scores(
    metric: ScoreMetric, a: Any, b: Any, y: Any, groups: Any = None, *, n_boot: int = 1000,
    alpha: float = 0.05, seed: int = 0,
) -> Estimate:
    """Interval of ``metric(y, b) - metric(y, a)``; ``a`` and ``b`` are scores of the same examples."""
    sa = np.asarray(a, dtype=np.float64)
    sb = np.asarray(b, dtype=np.float64)
    if sa.shape != sb.shape:
        raise ValueError(f"paired scores must have the same shape; got {sa.shape} and {sb.shape}")
    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    stats = np.asarray(metric(y1[idx], sb[idx]), dtype=np.float64) - np.asarray(
        metric(y1[idx], sa[idx]), dtype=np.float64
    )
    lo, hi = _percentile(stats, alpha)
    return Estimate(float(metric(y1, sb)) - float(metric(y1, sa)), lo, hi)


def _zscore(s: FloatArray) -> FloatArray:
    sd = float(s.std())
    return (s - s.mean()) / (sd if sd > 0 else 1.0)


def permutation_test_scores(
    metric: ScoreMetric, a: Any, b: Any, y: Any, groups: Any = None, *, n_permutations: int = 1000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of ``metric(b) - metric(a)`` by swapping checkpoint labels within units.

    ``p = (1 + #{|null| >= |observed|}) / (1 + n_permutations)``.
    """
    sa = _zscore(np.asarray(a, dtype=np.float64))
    sb = _zscore(np.asarray(b, dtype=np.float64))
    y1 = np.asarray(y).astype(np.int64)
    n = y1.shape[0]
    rng = np.random.default_rng(seed)
    pairs = paired_indices(y1, groups)
    if pairs is not None:
        unit_of = np.empty(n, dtype=np.intp)
        unit_of[pairs[0]] = np.arange(pairs[0].size)
        unit_of[pairs[1]] = np.arange(pairs[1].size)
        swap = rng.random((n_permutations, pairs[0].size)) < 0.5
        swap_rows = swap[:, unit_of]
    else:
        swap_rows = rng.random((n_permutations, n)) < 0.5
    pa = np.where(swap_rows, sb, sa)
    pb = np.where(swap_rows, sa, sb)
    ys = np.broadcast_to(y1, pa.shape)
    null = np.asarray(metric(ys, pb), dtype=np.float64) - np.asarray(metric(ys, pa), dtype=np.float64)
    observed = float(metric(y1, sb)) - float(metric(y1, sa))
    return float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + n_permutations))


def bootstrap_stat(
    stat: Callable[[NDArray[np.intp]], float], y: Any, groups: Any = None, *, n_boot: int = 200,
    alpha: float = 0.05, seed: int = 0,
) -> Estimate:
    """Percentile interval of ``stat(rows)`` (rows: resampled row indices; identity for the point)."""
    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    stats = np.array([stat(r) for r in idx], dtype=np.float64)
    lo, hi = _percentile(stats, alpha)
    return Estimate(float(stat(np.arange(y1.shape[0]))), lo, hi)


def benjamini_hochberg(p: Any) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (NaNs pass through, excluded from the family)."""
    pa = np.asarray(p, dtype=np.float64)
    out = np.full(pa.shape, np.nan)
    ok = np.isfinite(pa)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = pa[ok]
    order = np.argsort(vals)
    ranked = vals[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def holm(p: Any) -> FloatArray:
    """Holm-Bonferroni adjusted p-values (family-wise error; NaNs pass through)."""
    pa = np.asarray(p, dtype=np.float64)
    out = np.full(pa.shape, np.nan)
    ok = np.isfinite(pa)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = pa[ok]
    order = np.argsort(vals)
    ranked = vals[order] * (m - np.arange(m))
    adj = np.maximum.accumulate(ranked)
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def random_unit_vectors(d: int, k: int, seed: int = 0) -> FloatArray:
    """``k`` random unit vectors in R^d (the random-direction control)."""
    v = np.random.default_rng(seed).standard_normal((k, d))
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True))


def shuffle_within_groups(y: Any, groups: Any, seed: int = 0) -> NDArray[np.int64]:
    """Labels permuted within each group (or globally without groups): the shuffled-label control."""
    y1 = np.asarray(y).astype(np.int64)
    rng = np.random.default_rng(seed)
    if groups is None:
        return np.asarray(rng.permutation(y1))
    g = np.asarray(groups)
    out = y1.copy()
    for val in np.unique(g):
        idx = np.flatnonzero(g == val)
        out[idx] = y1[idx[rng.permutation(idx.size)]]
    return out


def paired_bootstrap_refit(
    metric: ScoreMetric, Xa: Any, Xb: Any, y: Any, groups: Any, splits: Any, *, n_boot: int = 1000,
    alpha: float = 0.05, seed: int = 0,
) -> Estimate:
    """Paired bootstrap of ``metric(b) - metric(a)`` with the diffmeans directions REFITTED per resample.

    The point estimate is the difference on the original cross-fitted scores; the interval comes
    from :func:`interp.sharpening.transfer.refit_bootstrap_scores` on the same resampled units
    for both checkpoints.
    """
    from interp.sharpening.transfer import refit_bootstrap_scores

    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    full = np.arange(y1.shape[0])[None, :]
    point = float(np.asarray(metric(y1, refit_bootstrap_scores(Xb, y1, splits, full)[0]))) - float(
        np.asarray(metric(y1, refit_bootstrap_scores(Xa, y1, splits, full)[0]))
    )
    ya = y1[idx]
    stats = np.asarray(metric(ya, refit_bootstrap_scores(Xb, y1, splits, idx)), dtype=np.float64) - np.asarray(
        metric(ya, refit_bootstrap_scores(Xa, y1, splits, idx)), dtype=np.float64
    )
    lo, hi = _percentile(stats, alpha)
    return Estimate(point, lo, hi)


def permutation_test_refit(
    metric: ScoreMetric, Xa: Any, Xb: Any, y: Any, groups: Any, splits: Any, *, n_permutations: int = 500,
    seed: int = 0,
) -> float:
    """Two-sided permutation p-value of ``metric(b) - metric(a)`` with diffmeans REFITTED per permutation.

    Under H0 the two checkpoints' activations of a unit (pair, else example) are exchangeable:
    each permutation swaps them with probability 1/2, then both checkpoints' cross-fitted scores
    are recomputed (:func:`interp.sharpening.transfer.refit_swapped_scores`). Swapping fixed
    scores instead ignores the direction-fitting variance and rejects too often.
    """
    return permutation_test_refit_many({"m": metric}, Xa, Xb, y, groups, splits, n_permutations=n_permutations,
                                       seed=seed)["m"]


def permutation_test_refit_many(
    metrics: dict[str, ScoreMetric], Xa: Any, Xb: Any, y: Any, groups: Any, splits: Any, *,
    n_permutations: int = 500, seed: int = 0, chunk: int = 100,
) -> dict[str, float]:
    """:func:`permutation_test_refit` for several metrics on the same permutations."""
    from interp.sharpening.transfer import refit_swapped_scores

    y1 = np.asarray(y).astype(np.int64)
    n = y1.shape[0]
    rng = np.random.default_rng(seed)
    pairs = paired_indices(y1, groups)
    unit_of = np.arange(n)
    n_units = n
    if pairs is not None:
        unit_of = np.empty(n, dtype=np.intp)
        unit_of[pairs[0]] = np.arange(pairs[0].size)
        unit_of[pairs[1]] = np.arange(pairs[1].size)
        n_units = pairs[0].size
    sa0, sb0 = refit_swapped_scores(Xa, Xb, y1, splits, np.zeros((1, n), dtype=bool))
    observed = {k: float(np.asarray(f(y1, sb0[0]))) - float(np.asarray(f(y1, sa0[0]))) for k, f in metrics.items()}
    exceed = dict.fromkeys(metrics, 0)
    done = 0
    while done < n_permutations:
        p = min(chunk, n_permutations - done)
        swap = (rng.random((p, n_units)) < 0.5)[:, unit_of]
        sa, sb = refit_swapped_scores(Xa, Xb, y1, splits, swap)
        ys = np.broadcast_to(y1, sa.shape)
        for k, f in metrics.items():
            null = np.asarray(f(ys, sb), dtype=np.float64) - np.asarray(f(ys, sa), dtype=np.float64)
            exceed[k] += int(np.sum(np.abs(null) >= abs(observed[k]) - 1e-12))
        done += p
    return {k: float((1 + exceed[k]) / (1 + n_permutations)) for k in metrics}
