"""The statistics every number of the project is reported with: one module, one interval type.

This module owns:

- :class:`Estimate`: a value with its percentile interval ``[ci_low, ci_high]`` at level
  ``1 - alpha`` and, when a test was run, its p-value. Every interval in ``probes`` and
  ``interp`` is one of these.
- Resampling, as index matrices ``[n_boot, n]`` drawn from a seeded generator:
  :func:`resample_rows` (rows with replacement), :func:`resample_units` (pairs kept together when
  every group holds one example of each class, else class-stratified) and
  :func:`resample_clusters` (whole groups). Statistics evaluated on the rows of each resample
  give a bootstrap distribution; :func:`percentile_interval` turns it into an interval.
- :func:`bootstrap_mean` (plain, cluster or weighted mean) and :func:`bootstrap_p` (two-sided
  bootstrap test of zero).
- :func:`permutation_p`: ``(1 + #{null at least as extreme}) / (1 + n)``, never anti-conservative.
- :func:`benjamini_hochberg` and :func:`holm` adjusted p-values.
- :func:`auroc` (batched over resamples), :func:`unit`, :func:`cosine`, :func:`cosine_matrix`, and
  :func:`cosine_p` (a cosine against a uniformly random direction).

Everything works on plain numpy arrays; nothing here knows about models or stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.intp]

__all__ = [
    "Estimate",
    "as_batch",
    "as_labels",
    "auroc",
    "benjamini_hochberg",
    "bootstrap_mean",
    "bootstrap_p",
    "cosine",
    "cosine_matrix",
    "cosine_p",
    "holm",
    "paired_indices",
    "percentile_interval",
    "percentile_intervals",
    "permutation_p",
    "resample_clusters",
    "resample_rows",
    "resample_units",
    "shuffle_within_groups",
    "unit",
]

_CHUNK_ELEMENTS = 4_000_000  # resample indices held in memory at once by bootstrap_mean


@dataclass(frozen=True)
class Estimate:
    """A value with a percentile interval ``[ci_low, ci_high]`` at level ``1 - alpha`` and a p-value.

    ``ci_low``/``ci_high`` are NaN when no interval was computed (or no resample was finite),
    ``p`` when no test was run.
    """

    value: float
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p: float = float("nan")
    alpha: float = 0.05

    def __contains__(self, x: float) -> bool:
        return bool(self.ci_low <= x <= self.ci_high)

    def with_p(self, p: float) -> Estimate:
        """The same estimate with the p-value ``p``."""
        return replace(self, p=float(p))


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def percentile_interval(stats: Any, alpha: float = 0.05) -> tuple[float, float]:
    """``(lo, hi)``: the ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the finite ``stats`` (NaN if none)."""
    _check_alpha(alpha)
    s = np.asarray(stats, dtype=np.float64).reshape(-1)
    finite = s[np.isfinite(s)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def percentile_intervals(stats: Any, alpha: float = 0.05) -> tuple[FloatArray, FloatArray]:
    """Per-column :func:`percentile_interval` of ``stats`` ``[n_boot, k]`` (NaNs ignored): ``(lo [k], hi [k])``."""
    _check_alpha(alpha)
    lo, hi = np.nanquantile(np.asarray(stats, dtype=np.float64), [alpha / 2, 1 - alpha / 2], axis=0)
    return np.asarray(lo), np.asarray(hi)


# ---- resampling ---------------------------------------------------------------------------------
def resample_rows(n: int, n_boot: int, rng: np.random.Generator) -> IndexArray:
    """``[n_boot, n]`` row indices drawn with replacement."""
    if n < 1 or n_boot < 1:
        raise ValueError(f"cannot resample n={n} rows {n_boot} times; both must be positive")
    return np.asarray(rng.integers(0, n, size=(n_boot, n)))


def paired_indices(y: Any, groups: Any) -> tuple[IndexArray, IndexArray] | None:
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


def resample_units(y: Any, groups: Any, n_boot: int, rng: np.random.Generator) -> IndexArray:
    """``[n_boot, n]`` row indices: pairs resampled together, else each class resampled on its own.

    Paired data (every group holds one class-1 and one class-0 example) is laid out as the
    resampled positives then their partners; otherwise class 1 then class 0 (stratified), so
    each resample keeps the class counts.
    """
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


def resample_clusters(groups: Any, n_boot: int, rng: np.random.Generator) -> list[IndexArray]:
    """One row-index array per resample: whole groups drawn with replacement (lengths vary)."""
    _, inv = np.unique(np.asarray(groups).reshape(-1), return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(int(inv.max()) + 1)]
    picks = resample_rows(len(members), n_boot, rng)
    return [np.concatenate([members[g] for g in pick]) for pick in picks]


def shuffle_within_groups(y: Any, groups: Any, rng: np.random.Generator) -> NDArray[Any]:
    """Labels permuted within each group (globally without groups): the shuffled-label control.

    Within groups the pairing of examples to prompts is kept, so a probe on shuffled labels faces
    the same prompt structure as the real one.
    """
    y_arr = np.asarray(y)
    if groups is None:
        return np.asarray(y_arr[rng.permutation(y_arr.shape[0])])
    g = np.asarray(groups)
    out = y_arr.copy()
    for val in np.unique(g):
        idx = np.flatnonzero(g == val)
        out[idx] = y_arr[idx[rng.permutation(idx.size)]]
    return out


# ---- bootstrap estimates ------------------------------------------------------------------------
def bootstrap_mean(
    values: Any, *, groups: Any = None, weights: Any = None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
) -> Estimate:
    """The (weighted) mean of ``values`` with a percentile-bootstrap interval.

    ``groups``: whole groups are resampled (a cluster bootstrap), so that examples sharing a
    prompt are not counted as independent evidence. ``weights``: each value counts
    ``weights[i]`` times in the mean (e.g. a per-example average over its tokens).
    """
    _check_alpha(alpha)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("cannot bootstrap an empty set of values")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != v.shape:
        raise ValueError(f"weights has {w.size} entries for {v.size} values")
    sums, counts = v * w, w
    if groups is not None:
        g = np.asarray(groups).reshape(-1)
        if g.shape != v.shape:
            raise ValueError(f"groups has {g.size} entries for {v.size} values")
        _, inverse = np.unique(g, return_inverse=True)
        sums = np.asarray(np.bincount(inverse, weights=sums), dtype=np.float64)
        counts = np.asarray(np.bincount(inverse, weights=counts), dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot, dtype=np.float64)
    per_chunk = max(1, _CHUNK_ELEMENTS // sums.size)  # same draws as one [n_boot, n] matrix, less memory
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        idx = resample_rows(sums.size, stop - start, rng)
        means[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = percentile_interval(means, alpha)
    return Estimate(float(v.mean()) if weights is None else float((v * w).sum() / w.sum()), lo, hi, alpha=alpha)


def bootstrap_p(boot: Any) -> float:
    """Two-sided bootstrap p-value of "the statistic is 0": ``2 (1 + #{boot on the far side of 0}) / (1 + B)``."""
    b = np.asarray(boot, dtype=np.float64)
    b = b[np.isfinite(b)]
    if b.size == 0:
        return float("nan")
    return min(1.0, 2 * (1 + min(int((b <= 0).sum()), int((b >= 0).sum()))) / (1 + b.size))


def permutation_p(null: Any, observed: float, *, alternative: Literal["two-sided", "greater"] = "two-sided",
                  center: float = 0.0) -> float:
    """``(1 + #{null at least as extreme as observed}) / (1 + len(null))``.

    ``two-sided``: ``|null - center| >= |observed - center|``; ``greater``: ``null >= observed``
    (a tolerance of 1e-12 counts ties as extreme).
    """
    z = np.asarray(null, dtype=np.float64).reshape(-1)
    if alternative == "two-sided":
        k = int(np.sum(np.abs(z - center) >= abs(observed - center) - 1e-12))
    elif alternative == "greater":
        k = int(np.sum(z >= observed - 1e-12))
    else:
        raise ValueError(f"alternative must be 'greater' or 'two-sided'; got {alternative!r}")
    return float((1 + k) / (1 + z.size))


# ---- multiple comparisons -----------------------------------------------------------------------
def _adjust(p: Any, step: Callable[[FloatArray, int], FloatArray]) -> FloatArray:
    pa = np.asarray(p, dtype=np.float64)
    out = np.full(pa.shape, np.nan)
    ok = np.isfinite(pa)
    m = int(ok.sum())
    if m == 0:
        return out
    vals = pa[ok]
    order = np.argsort(vals)
    res = np.empty(m)
    res[order] = np.minimum(step(vals[order], m), 1.0)
    out[ok] = res
    return out


def benjamini_hochberg(p: Any) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (NaNs pass through, excluded from the family)."""
    return _adjust(p, lambda s, m: np.minimum.accumulate((s * m / np.arange(1, m + 1))[::-1])[::-1])


def holm(p: Any) -> FloatArray:
    """Holm-Bonferroni adjusted p-values (family-wise error; NaNs pass through)."""
    return _adjust(p, lambda s, m: np.maximum.accumulate(s * (m - np.arange(m))))


# ---- AUROC and cosine ---------------------------------------------------------------------------
def as_batch(scores: Any) -> tuple[FloatArray, bool]:
    """``scores`` as ``[B, n]`` float64, and whether it was a single ``[n]`` vector."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        return s[None, :], True
    if s.ndim != 2:
        raise ValueError(f"scores must be [n] or [B, n]; got shape {s.shape}")
    return s, False


def as_labels(y: Any, n: int) -> NDArray[np.bool_]:
    """0/1 labels ``[n]`` or ``[B, n]`` as booleans (raises on other values or a length mismatch)."""
    y_arr = np.asarray(y)
    if y_arr.ndim == 1:
        y_arr = y_arr[None, :]
    if y_arr.shape[-1] != n:
        raise ValueError(f"y has {y_arr.shape[-1]} entries for {n} scores")
    vals = np.unique(y_arr)
    if not set(vals.tolist()) <= {0, 1}:
        raise ValueError(f"y must hold 0/1 labels; got values {vals[:5].tolist()}")
    return y_arr.astype(bool)


def auroc(y: Any, scores: Any) -> Any:
    """AUROC of ``scores`` ([n] -> float, or [B, n] -> [B]) for 0/1 labels ``y`` ([n] or [B, n]); ties count 1/2."""
    s, squeeze = as_batch(scores)
    y1 = np.broadcast_to(as_labels(y, s.shape[1]), s.shape)
    r = rankdata(s, axis=1)
    n1 = y1.sum(1).astype(np.float64)
    n0 = s.shape[1] - n1
    if (n1 == 0).any() or (n0 == 0).any():
        raise ValueError("AUROC needs both classes in every score vector")
    u = np.where(y1, r, 0.0).sum(1) - n1 * (n1 + 1) / 2
    value = u / (n1 * n0)
    return float(value[0]) if squeeze else value


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


def cosine_p(c: float, d: int) -> float:
    """P(|cos| >= |c|) between a fixed and a uniformly random direction in R^d (cos² ~ Beta(1/2, (d-1)/2))."""
    from scipy.stats import beta

    return float(beta.sf(c * c, 0.5, (d - 1) / 2))


def cosine_matrix(A: Any, B: Any) -> FloatArray:
    """``[La, Lb]`` cosines between the rows of ``A`` [La, d] and ``B`` [Lb, d] (e.g. layer x layer)."""
    return np.asarray(unit(A) @ unit(B).T)
