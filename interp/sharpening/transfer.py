"""Directions per hook, cross-fitted scores, and transfer between checkpoints.

This module owns how held-out scores are produced from directions; the directions themselves
are fitted by name through :mod:`probes.registry` (any registered probe: ``diffmeans`` is the
normalised class-mean difference, ``logistic`` :class:`probes.BatchedLogisticCV` on all hooks of
one width at once, on CPU). A direction fitted on one checkpoint and evaluated on another is the same
operation as ordinary cross-fitting with two different activation sets:

- rows aligned (both stores hold the same examples): fit on checkpoint A's training folds, score
  checkpoint B's held-out folds (no example is ever scored by a direction that saw it);
- rows not aligned: fit on all of A, score all of B.

Held-out scores of each fold are standardised with the training fold only: the midpoint of the
two class means of the training projections is subtracted and the result divided by their pooled
standard deviation, so folds share one scale (AUROC within a fold is unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from interp.sharpening.metrics import auroc
from probes import make_splits
from probes import registry as probe_registry

FloatArray = NDArray[np.float64]
Split = tuple[NDArray[np.intp], NDArray[np.intp]]
#: The probes the sharpening tables fit by default; every name in ``probes.registry.probe_names()`` works here.
PROBE_METHODS = ("diffmeans", "logistic")


def _np(x: Any) -> FloatArray:
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to(torch.float64).cpu().numpy())
    return np.asarray(x, dtype=np.float64)


def fit_directions(
    acts: Mapping[str, Any], y: Any, groups: Any = None, *, method: str = "diffmeans", rows: Any = None,
    random_state: int = 0,
) -> dict[str, FloatArray]:
    """One unit direction (class 0 -> class 1) per hook, fitted on ``rows`` (default: all).

    ``method`` is a probe name of :mod:`probes.registry`; fast paths run on CPU.
    """
    y1 = np.asarray(y).astype(np.int64)
    return probe_registry.fit_directions(method, acts, y1, groups, rows=rows, random_state=random_state, device="cpu")


def _standardise(proj_train: FloatArray, y_train: NDArray[np.int64], proj_test: FloatArray) -> FloatArray:
    p1, p0 = proj_train[y_train == 1], proj_train[y_train == 0]
    mid = 0.5 * (p1.mean() + p0.mean())
    pooled = np.sqrt(0.5 * (p1.var(ddof=1) + p0.var(ddof=1)))
    return (proj_test - mid) / (pooled if pooled > 0 else 1.0)


def default_splits(y: Any, groups: Any = None, *, n_splits: int = 5, random_state: int = 0) -> list[Split]:
    """Stratified (group-aware when ``groups``) folds, as :func:`probes.make_splits`."""
    return make_splits(np.asarray(y).astype(np.int64), groups, n_splits=n_splits, random_state=random_state)


def cross_fitted_scores(
    fit_acts: Mapping[str, Any], y: Any, groups: Any = None, *, eval_acts: Mapping[str, Any] | None = None,
    method: str = "diffmeans", splits: Sequence[Split] | None = None, random_state: int = 0,
) -> dict[str, FloatArray]:
    """Held-out scores [n] per hook: directions fitted on ``fit_acts`` folds, applied to ``eval_acts``.

    ``eval_acts`` defaults to ``fit_acts`` (ordinary cross-fitting). With ``eval_acts`` from
    another checkpoint on the same examples this is the transfer score.
    """
    y1 = np.asarray(y).astype(np.int64)
    folds = list(splits) if splits is not None else default_splits(y1, groups, random_state=random_state)
    fold_dirs = fold_directions(fit_acts, y1, groups, folds, method=method, random_state=random_state)
    return apply_fold_directions(fold_dirs, fit_acts, y1, folds, eval_acts=eval_acts)


def fold_directions(
    acts: Mapping[str, Any], y: Any, groups: Any, splits: Sequence[Split], *, method: str = "diffmeans",
    random_state: int = 0,
) -> list[dict[str, FloatArray]]:
    """Directions per hook fitted on each training fold (``[fold][hook] -> unit vector``)."""
    y1 = np.asarray(y).astype(np.int64)
    acts_np = {h: _np(X) for h, X in acts.items()}
    return [fit_directions(acts_np, y1, groups, method=method, rows=tr, random_state=random_state) for tr, _ in splits]


def apply_fold_directions(
    fold_dirs: Sequence[Mapping[str, FloatArray]], fit_acts: Mapping[str, Any], y: Any, splits: Sequence[Split],
    *, eval_acts: Mapping[str, Any] | None = None,
) -> dict[str, FloatArray]:
    """Held-out scores [n] per hook from per-fold directions (standardised on the training fold of ``fit_acts``)."""
    y1 = np.asarray(y).astype(np.int64)
    ev = fit_acts if eval_acts is None else eval_acts
    out = {h: np.zeros(y1.shape[0]) for h in fold_dirs[0]}
    for dirs, (tr, te) in zip(fold_dirs, splits, strict=True):
        for h, u in dirs.items():
            Xf = _np(fit_acts[h])
            Xe = Xf if ev is fit_acts else _np(ev[h])
            out[h][te] = _standardise(Xf[tr] @ u, y1[tr], Xe[te] @ u)
    return out


def transfer_auroc(
    fit_acts: Mapping[str, Any], y_fit: Any, eval_acts: Mapping[str, Any], y_eval: Any, *,
    groups: Any = None, aligned: bool = True, method: str = "diffmeans", random_state: int = 0,
) -> dict[str, float]:
    """AUROC per hook of directions fitted on one checkpoint and evaluated on another.

    ``aligned=True`` (both hold the same examples in the same order, ``y_fit == y_eval``):
    cross-fitted. ``aligned=False``: fit on all of ``fit_acts``, score all of ``eval_acts``.
    """
    if aligned:
        if not np.array_equal(np.asarray(y_fit), np.asarray(y_eval)):
            raise ValueError("aligned transfer needs identical labels in both stores (same examples, same order)")
        scores = cross_fitted_scores(fit_acts, y_fit, groups, eval_acts=eval_acts, method=method,
                                     random_state=random_state)
        return {h: float(auroc(y_eval, s)) for h, s in scores.items()}
    dirs = fit_directions(fit_acts, y_fit, groups, method=method, random_state=random_state)
    return {h: float(auroc(y_eval, _np(eval_acts[h]) @ u)) for h, u in dirs.items()}


def refit_bootstrap_scores(X: Any, y: Any, splits: Sequence[Split], idx: NDArray[np.intp]) -> FloatArray:
    """Cross-fitted diffmeans scores recomputed on every bootstrap resample (``[B, n]``, rows ``idx``).

    Each resample ``idx[b]`` (row indices, e.g. from :func:`interp.sharpening.compare.resample_units`)
    keeps every row in its original fold; the fold directions and the training-fold
    standardisation are refitted on the resampled rows, so the interval includes the variance
    of estimating the direction (a bootstrap of fixed scores does not, and under-covers).
    """
    Xn = _np(X)
    y1 = np.asarray(y).astype(np.int64)
    n = y1.shape[0]
    fold_of = np.empty(n, dtype=np.intp)
    for k, (_, te) in enumerate(splits):
        fold_of[te] = k
    W = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(np.float64)  # [B, n] multiplicities
    S = np.zeros_like(W)
    for k in range(len(splits)):
        train = fold_of != k
        w1 = W * (train & (y1 == 1))
        w0 = W * (train & (y1 == 0))
        c1, c0 = w1.sum(1, keepdims=True), w0.sum(1, keepdims=True)
        u = (w1 @ Xn) / c1 - (w0 @ Xn) / c0
        u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
        proj = u @ Xn.T  # [B, n]
        m1, m0 = (w1 * proj).sum(1) / c1[:, 0], (w0 * proj).sum(1) / c0[:, 0]
        v1 = (w1 * (proj - m1[:, None]) ** 2).sum(1) / np.maximum(c1[:, 0] - 1, 1)
        v0 = (w0 * (proj - m0[:, None]) ** 2).sum(1) / np.maximum(c0[:, 0] - 1, 1)
        sd = np.sqrt(0.5 * (v1 + v0))
        test = fold_of == k
        S[:, test] = (proj[:, test] - 0.5 * (m1 + m0)[:, None]) / np.where(sd > 0, sd, 1.0)[:, None]
    return np.asarray(np.take_along_axis(S, idx, axis=1))


def refit_swapped_scores(
    A: Any, B: Any, y: Any, splits: Sequence[Split], swap: NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray]:
    """Cross-fitted diffmeans scores of both checkpoints after swapping rows (``swap`` [P, n]).

    For permutation ``p``, checkpoint a's row i is ``B_i`` where ``swap[p, i]`` else ``A_i`` (and b
    the reverse); directions and standardisation are refitted per permutation, all permutations
    at once (``X' = X + s * (Y - X)`` keeps every sum a matrix product).
    """
    An, Bn = _np(A), _np(B)
    y1 = np.asarray(y).astype(np.int64)
    S = np.asarray(swap, dtype=np.float64)
    fold_of = np.empty(y1.shape[0], dtype=np.intp)
    for k, (_, te) in enumerate(splits):
        fold_of[te] = k
    out = []
    for X0, Dv in ((An, Bn - An), (Bn, An - Bn)):
        scores = np.zeros_like(S)
        for k in range(len(splits)):
            train = fold_of != k
            means = []
            for c in (1, 0):
                m = train & (y1 == c)
                means.append((X0[m].sum(0)[None, :] + S[:, m] @ Dv[m]) / m.sum())
            u = means[0] - means[1]
            u /= np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
            proj = (X0 @ u.T).T + S * (Dv @ u.T).T  # [P, n]
            p1, p0 = proj[:, train & (y1 == 1)], proj[:, train & (y1 == 0)]
            sd = np.sqrt(0.5 * (p1.var(1, ddof=1) + p0.var(1, ddof=1)))
            mid = 0.5 * (p1.mean(1) + p0.mean(1))
            test = fold_of == k
            scores[:, test] = (proj[:, test] - mid[:, None]) / np.where(sd > 0, sd, 1.0)[:, None]
        out.append(scores)
    return out[0], out[1]
