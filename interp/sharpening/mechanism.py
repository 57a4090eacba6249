"""Do two consistency methods change the model the same way? (Gautam et al. 2026: ACT, MLPCT and AttCT
share a residual-stream mechanism, BCT does not.)

Two methods ``a`` and ``b`` trained from the same organism change its residual stream on the same
prompts by ``Da = X_a - X_0`` and ``Db = X_b - X_0`` (per prompt, after minus before). Compared:

- :func:`shift_cosine_paired`: the cosine of their mean shifts. Estimated on disjoint halves of the
  prompts (``a`` on one, ``b`` on the other, both ways round, averaged over random halvings): on the
  same prompts both shifts would carry those prompts' idiosyncrasies and correlate by
  construction. Interval: bootstrap over prompts (one halving per resample); p: bootstrap test of 0.
- :func:`latent_overlap`: the Jaccard overlap of the ``top`` SAE latents each method moves most
  (by the absolute mean change of their activation), on disjoint halves likewise; its chance level
  is about ``top / n_latents``.

The same numbers for one method on two organism seeds are the seed-to-seed baseline: two
methods are alike when their cosine is near the baseline's, not merely above 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from probes.stats import Estimate, bootstrap_p, cosine, percentile_interval

FloatArray = NDArray[np.float64]


def _split(n: int, rng: np.random.Generator, rows: NDArray[np.intp]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    perm = rng.permutation(rows)
    return perm[: n // 2], perm[n // 2 :]


def _check(Da: Any, Db: Any) -> tuple[FloatArray, FloatArray]:
    a, b = np.asarray(Da, dtype=np.float64), np.asarray(Db, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] < 4:
        raise ValueError(f"two methods' shifts must be [n_prompts >= 4, width] on the same prompts; got {a.shape} "
                         f"and {b.shape}")
    return a, b


def _half_stat(a: FloatArray, b: FloatArray, rows: NDArray[np.intp], rng: np.random.Generator, fn: Any) -> float:
    h1, h2 = _split(rows.size, rng, rows)
    values = [fn(a[x], b[y]) for x, y in ((h1, h2), (h2, h1))]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _estimate(a: FloatArray, b: FloatArray, fn: Any, n_boot: int, n_splits: int, seed: int, alpha: float) -> Estimate:
    rng = np.random.default_rng(seed)
    everyone = np.arange(a.shape[0])
    point = float(np.nanmean([_half_stat(a, b, everyone, rng, fn) for _ in range(n_splits)]))
    boot = np.array([_half_stat(a, b, np.asarray(rng.integers(0, a.shape[0], size=a.shape[0]), dtype=np.intp), rng, fn)
                     for _ in range(n_boot)])
    return Estimate(point, *percentile_interval(boot, alpha), p=bootstrap_p(boot), alpha=alpha)


def _mean_cosine(x: FloatArray, y: FloatArray) -> float:
    mx, my = x.mean(axis=0), y.mean(axis=0)
    if np.linalg.norm(mx) == 0 or np.linalg.norm(my) == 0:
        return float("nan")
    return cosine(mx, my)


def shift_cosine_paired(Da: Any, Db: Any, *, n_boot: int = 200, n_splits: int = 20, seed: int = 0,
                        alpha: float = 0.05) -> Estimate:
    """Cosine of two methods' mean residual shifts ``[n_prompts, d]`` on the same prompts (see the module doc)."""
    a, b = _check(Da, Db)
    return _estimate(a, b, _mean_cosine, n_boot, n_splits, seed, alpha)


def latent_overlap(Fa: Any, Fb: Any, *, top: int = 32, n_boot: int = 200, n_splits: int = 20, seed: int = 0,
                   alpha: float = 0.05) -> Estimate:
    """Jaccard overlap of the ``top`` latents each method moves most; ``Fa``/``Fb`` are per-prompt latent
    changes ``[n_prompts, n_latents]`` (after minus before), on the same prompts."""
    a, b = _check(Fa, Fb)
    if not 1 <= top < a.shape[1]:
        raise ValueError(f"top must be between 1 and the number of latents ({a.shape[1]}), got {top}")

    def jaccard(x: FloatArray, y: FloatArray) -> float:
        sx = set(np.argsort(-np.abs(x.mean(axis=0)))[:top].tolist())
        sy = set(np.argsort(-np.abs(y.mean(axis=0)))[:top].tolist())
        return len(sx & sy) / len(sx | sy)

    return _estimate(a, b, jaccard, n_boot, n_splits, seed, alpha)
