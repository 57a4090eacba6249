"""Before/after comparisons: paired bootstrap and permutation tests of two checkpoints, and controls.

This module owns how two checkpoints captured on the SAME examples (rows aligned by example
index) are compared. The resampling, intervals, p-value formula and BH/Holm corrections are
:mod:`probes.stats`'s; what is specific here is what gets resampled and swapped.

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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from probes.stats import Estimate, paired_indices, percentile_interval, permutation_p, resample_units

FloatArray = NDArray[np.float64]
ScoreMetric = Callable[[Any, Any], Any]  # (y [B, n] or [n], scores [B, n]) -> [B]


def bootstrap_scores(
    metric: ScoreMetric, scores: Any, y: Any, groups: Any = None, *, n_boot: int = 1000, alpha: float = 0.05,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``metric(y, scores)`` for one checkpoint."""
    s = np.asarray(scores, dtype=np.float64)
    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    stats = np.asarray(metric(y1[idx], s[idx]), dtype=np.float64)
    lo, hi = percentile_interval(stats, alpha)
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
    lo, hi = percentile_interval(stats, alpha)
    return Estimate(float(metric(y1, sb)) - float(metric(y1, sa)), lo, hi)


def _zscore(s: FloatArray) -> FloatArray:
    sd = float(s.std())
    return (s - s.mean()) / (sd if sd > 0 else 1.0)


def _exchangeable_units(y1: NDArray[np.int64], groups: Any) -> tuple[NDArray[np.intp], int]:
    """The unit each row belongs to under H0 (its pair, else itself), and the number of units."""
    pairs = paired_indices(y1, groups)
    if pairs is None:
        return np.arange(y1.shape[0]), int(y1.shape[0])
    unit_of = np.empty(y1.shape[0], dtype=np.intp)
    unit_of[pairs[0]] = np.arange(pairs[0].size)
    unit_of[pairs[1]] = np.arange(pairs[1].size)
    return unit_of, int(pairs[0].size)


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
    unit_of, n_units = _exchangeable_units(y1, groups)
    swap_rows = (np.random.default_rng(seed).random((n_permutations, n_units)) < 0.5)[:, unit_of]
    pa = np.where(swap_rows, sb, sa)
    pb = np.where(swap_rows, sa, sb)
    ys = np.broadcast_to(y1, pa.shape)
    null = np.asarray(metric(ys, pb), dtype=np.float64) - np.asarray(metric(ys, pa), dtype=np.float64)
    observed = float(metric(y1, sb)) - float(metric(y1, sa))
    return permutation_p(null, observed)


def bootstrap_stat(
    stat: Callable[[NDArray[np.intp]], float], y: Any, groups: Any = None, *, n_boot: int = 200,
    alpha: float = 0.05, seed: int = 0,
) -> Estimate:
    """Percentile interval of ``stat(rows)`` (rows: resampled row indices; identity for the point)."""
    y1 = np.asarray(y).astype(np.int64)
    idx = resample_units(y1, groups, n_boot, np.random.default_rng(seed))
    stats = np.array([stat(r) for r in idx], dtype=np.float64)
    lo, hi = percentile_interval(stats, alpha)
    return Estimate(float(stat(np.arange(y1.shape[0]))), lo, hi)


def random_unit_vectors(d: int, k: int, seed: int = 0) -> FloatArray:
    """``k`` random unit vectors in R^d (the random-direction control)."""
    v = np.random.default_rng(seed).standard_normal((k, d))
    return np.asarray(v / np.linalg.norm(v, axis=1, keepdims=True))


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
    lo, hi = percentile_interval(stats, alpha)
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
    rng = np.random.default_rng(seed)
    unit_of, n_units = _exchangeable_units(y1, groups)
    sa0, sb0 = refit_swapped_scores(Xa, Xb, y1, splits, np.zeros((1, y1.shape[0]), dtype=bool))
    observed = {k: float(np.asarray(f(y1, sb0[0]))) - float(np.asarray(f(y1, sa0[0]))) for k, f in metrics.items()}
    nulls: dict[str, list[FloatArray]] = {k: [] for k in metrics}
    for done in range(0, n_permutations, chunk):  # refitting every permutation at once would not fit in memory
        swap = (rng.random((min(chunk, n_permutations - done), n_units)) < 0.5)[:, unit_of]
        sa, sb = refit_swapped_scores(Xa, Xb, y1, splits, swap)
        ys = np.broadcast_to(y1, sa.shape)
        for k, f in metrics.items():
            nulls[k].append(np.asarray(f(ys, sb), dtype=np.float64) - np.asarray(f(ys, sa), dtype=np.float64))
    return {k: permutation_p(np.concatenate(nulls[k]) if nulls[k] else [], observed[k]) for k in metrics}
