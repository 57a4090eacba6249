"""The sharpening tables: every metric, per hook point, per checkpoint, with intervals and p-values.

This module owns the tidy output (one row per checkpoint x probe x hook x metric, columns
:data:`COLUMNS`) and how checkpoints are paired. It reads pooled activation stores (one row per
example) of a labelled contrast set captured on several checkpoints, or :class:`CheckpointActs`
built from arrays, and computes:

- per checkpoint: cross-fitted ``auroc``, ``cohens_d``, ``fisher`` along each probe's direction
  (bootstrap intervals; AUROC p-value by label permutation within folds/groups), the
  concentration metrics (on the data, not a probe: ``probe="data"``), and the controls
  (``control:shuffled`` labels, ``control:random_direction`` of unit norm); concentration
  intervals are bias-shifted percentile intervals (see ``_bootstrap_concentration``);
- per pair ``(a, b)`` (row ``checkpoint="b-a"``): ``delta_<metric>`` with a paired bootstrap
  interval and a permutation p-value (diffmeans: directions refitted in every resample and
  permutation, which the planted-truth tests show is needed for nominal coverage; logistic:
  conditional on the fitted directions, so its intervals are somewhat too narrow), ``cosine`` between the two checkpoints' directions,
  ``transfer_auroc`` of a's direction evaluated on b (cross-fitted);
- ``p_adj``: Benjamini-Hochberg across hooks within each (checkpoint, probe, metric) family,
  and ``p_holm`` (Holm) for family-wise control.

``trajectory_table`` repeats the per-checkpoint metrics along the epochs of a run (plus cosine
and transfer to the first epoch). The expression shift is :mod:`interp.sharpening.expression`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm.auto import tqdm

from interp.activations import ActivationStore
from interp.sharpening import compare
from interp.sharpening.acts import CheckpointActs, as_acts, check_aligned
from interp.sharpening.metrics import (
    CONCENTRATION,
    SEPARABILITY_FNS,
    concentration,
    concentration_resampled,
    difference_vectors,
    mean_difference,
)
from interp.sharpening.transfer import (
    PROBE_METHODS,
    apply_fold_directions,
    default_splits,
    fit_directions,
    fold_directions,
)
from probes import parse_layer, permutation_pvalue
from probes.registry import get_probe
from probes.stats import (
    Estimate,
    benjamini_hochberg,
    cosine,
    cosine_matrix,
    cosine_p,
    holm,
    paired_indices,
    percentile_intervals,
    resample_units,
    shuffle_within_groups,
)

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
COLUMNS = ["checkpoint", "method", "failure_mode", "layer", "hook", "probe", "metric", "value",
           "ci_low", "ci_high", "p", "p_adj", "p_holm", "n"]
DEFAULT_PAIRS: tuple[tuple[str, str], ...] = (("before", "after"), ("base", "before"))


def _row(checkpoint: str, meta: Mapping[str, tuple[str, str]], hook: str, probe: str, metric: str,
         est: Estimate, n: int) -> dict[str, Any]:
    method, failure_mode = meta.get(checkpoint, ("", ""))
    return {"checkpoint": checkpoint, "method": method, "failure_mode": failure_mode, "layer": parse_layer(hook),
            "hook": hook, "probe": probe, "metric": metric, "value": est.value, "ci_low": est.ci_low,
            "ci_high": est.ci_high, "p": est.p, "n": n}


def _finish(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame["p_adj"] = np.nan
    frame["p_holm"] = np.nan
    for _, idx in frame.groupby(["checkpoint", "probe", "metric"], sort=False).groups.items():
        p = frame.loc[idx, "p"].to_numpy(dtype=np.float64)
        frame.loc[idx, "p_adj"] = benjamini_hochberg(p)
        frame.loc[idx, "p_holm"] = holm(p)
    return frame[COLUMNS]


def _bootstrap_concentration(
    Xa: FloatArray, Xb: FloatArray | None, y: NDArray[np.int64], groups: Any, n_boot: int, seed: int,
    alpha: float = 0.05,
) -> dict[str, Estimate]:
    """Concentration metrics of ``Xa`` (or of ``Xb`` minus ``Xa``) with percentile intervals, all keys at once."""

    def values(r: NDArray[np.intp], ids: Any) -> NDArray[np.float64]:
        ca = concentration(difference_vectors(Xa[r], y[r], ids))
        va = np.array([ca[k] for k in CONCENTRATION])
        if Xb is None:
            return va
        cb = concentration(difference_vectors(Xb[r], y[r], ids))
        return np.array([cb[k] for k in CONCENTRATION]) - va

    idx = resample_units(y, groups, n_boot, np.random.default_rng(seed))
    point = values(np.arange(y.shape[0]), groups)
    pairs = paired_indices(y, groups)
    if pairs is not None:  # paired: a resample is a multiset of pairs, evaluated on its distinct pairs
        pos, neg = pairs
        pair_of = np.full(y.shape[0], -1)
        pair_of[pos] = np.arange(pos.size)
        Da = Xa[pos] - Xa[neg]
        Db = None if Xb is None else Xb[pos] - Xb[neg]
        counts = np.stack([np.bincount(pair_of[r[: pos.size]], minlength=pos.size) for r in idx])
        boot = concentration_resampled(Da, counts)
        if Db is not None:
            boot = concentration_resampled(Db, counts) - boot
    else:
        boot = np.stack([values(r, _pair_ids(r, y, groups)) for r in idx])
    # Resampling with replacement duplicates units, which biases spectrum statistics (a duplicated
    # difference vector lowers the participation ratio); shift the percentile interval by the
    # bootstrap estimate of that bias so it is centred like the point estimate.
    bias = np.nanmean(boot, axis=0) - point
    lo, hi = (q - bias for q in percentile_intervals(boot, alpha))
    return {k: Estimate(float(point[i]), float(lo[i]), float(hi[i])) for i, k in enumerate(CONCENTRATION)}


def _cosine_stat(Xa: FloatArray, Xb: FloatArray, y: NDArray[np.int64]) -> Callable[[NDArray[np.intp]], float]:
    def stat(r: NDArray[np.intp]) -> float:
        return cosine(mean_difference(Xa[r], y[r]), mean_difference(Xb[r], y[r]))

    return stat


def _pair_ids(rows: NDArray[np.intp], y: NDArray[np.int64], groups: Any) -> NDArray[np.intp] | None:
    """Group ids for resampled rows: ``resample_units`` lays pairs out as [pos..., neg...] in order."""
    if groups is None:
        return None
    m = rows.shape[0] // 2
    if rows.shape[0] % 2 or not (y[rows[:m]] == 1).all() or not (y[rows[m:]] == 0).all():
        return None
    ids = np.arange(m)
    return np.concatenate([ids, ids]) if np.array_equal(np.asarray(groups)[rows[:m]], np.asarray(groups)[rows[m:]]) else None


def checkpoint_rows(
    name: str, ck: CheckpointActs, *, methods: Sequence[str], splits: Sequence[Any], meta: Mapping[str, tuple[str, str]],
    fold_dirs: Mapping[str, list[dict[str, FloatArray]]], n_boot: int, n_permutations: int, controls: bool,
    seed: int,
) -> list[dict[str, Any]]:
    """Per-checkpoint rows: separability per probe, concentration, controls."""
    rows: list[dict[str, Any]] = []
    n = int(ck.y.shape[0])
    fold_ids = np.empty(n, dtype=np.intp)
    for k, (_, te) in enumerate(splits):
        fold_ids[te] = k
    for method in methods:
        scores = apply_fold_directions(fold_dirs[method], ck.acts, ck.y, splits)
        for h, s in scores.items():
            for metric, fn in SEPARABILITY_FNS.items():
                est = compare.bootstrap_scores(fn, s, ck.y, ck.groups, n_boot=n_boot, seed=seed)
                if metric == "auroc":
                    p = permutation_pvalue(ck.y, s, folds=fold_ids, groups=ck.groups, n_permutations=n_permutations,
                                           random_state=seed)
                    est = est.with_p(p)
                rows.append(_row(name, meta, h, method, metric, est, n))
    for h, X in ck.acts.items():
        for key, est in _bootstrap_concentration(X, None, ck.y, ck.groups, max(50, n_boot // 5), seed).items():
            rows.append(_row(name, meta, h, "data", key, est, n))
    if controls:
        y_shuf = shuffle_within_groups(ck.y, ck.groups, np.random.default_rng(seed))
        shuf_dirs = fold_directions(ck.acts, y_shuf, ck.groups, splits, method="diffmeans", random_state=seed)
        shuf = apply_fold_directions(shuf_dirs, ck.acts, y_shuf, splits)
        for i, (h, X) in enumerate(ck.acts.items()):
            est = compare.bootstrap_scores(SEPARABILITY_FNS["auroc"], shuf[h], y_shuf, ck.groups, n_boot=n_boot, seed=seed)
            rows.append(_row(name, meta, h, "control:shuffled", "auroc", est, n))
            r = compare.random_unit_vectors(X.shape[1], 1, seed=seed + 7919 * (i + 1))[0]
            proj = X @ r
            for metric in ("auroc", "cohens_d"):
                est = compare.bootstrap_scores(SEPARABILITY_FNS[metric], proj, ck.y, ck.groups, n_boot=n_boot, seed=seed)
                rows.append(_row(name, meta, h, "control:random_direction", metric, est, n))
    return rows


def pair_rows(
    a_name: str, b_name: str, a: CheckpointActs, b: CheckpointActs, *, methods: Sequence[str], splits: Sequence[Any],
    meta: Mapping[str, tuple[str, str]], fold_dirs_a: Mapping[str, list[dict[str, FloatArray]]],
    fold_dirs_b: Mapping[str, list[dict[str, FloatArray]]], full_a: Mapping[str, dict[str, FloatArray]],
    full_b: Mapping[str, dict[str, FloatArray]], n_boot: int, n_permutations: int, seed: int,
    label: str | None = None, deltas: bool = True,
) -> list[dict[str, Any]]:
    """Rows comparing checkpoint b with a (same examples): deltas, cosine, transfer AUROC (``deltas=False``:
    the last two only, skipping the refitted bootstraps and permutations of every delta)."""
    check_aligned(a, b, a_name, b_name)
    name = label or f"{b_name}-{a_name}"
    meta2 = {name: meta.get(b_name, ("", "")), **meta}
    rows: list[dict[str, Any]] = []
    n = int(a.y.shape[0])
    y, g = a.y, a.groups
    for method in methods:
        fixed = deltas and method != "diffmeans"  # only deltas on fixed (not refitted) directions read these
        sa = apply_fold_directions(fold_dirs_a[method], a.acts, y, splits) if fixed else {}
        sb = apply_fold_directions(fold_dirs_b[method], b.acts, y, splits) if fixed else {}
        st = apply_fold_directions(fold_dirs_a[method], a.acts, y, splits, eval_acts=b.acts)
        for h in a.acts:
            if method == "diffmeans" and deltas:
                p_refit = compare.permutation_test_refit_many(dict(SEPARABILITY_FNS), a.acts[h], b.acts[h], y, g,
                                                              splits, n_permutations=n_permutations, seed=seed)
            for metric, fn in SEPARABILITY_FNS.items() if deltas else ():
                if method == "diffmeans":  # directions refitted per resample / permutation (valid coverage)
                    est = compare.paired_bootstrap_refit(fn, a.acts[h], b.acts[h], y, g, splits, n_boot=n_boot,
                                                         seed=seed)
                    p = p_refit[metric]
                else:  # conditional on the fitted logistic directions (refitting them is too costly)
                    est = compare.paired_bootstrap_scores(fn, sa[h], sb[h], y, g, n_boot=n_boot, seed=seed)
                    p = compare.permutation_test_scores(fn, sa[h], sb[h], y, g, n_permutations=n_permutations,
                                                        seed=seed)
                rows.append(_row(name, meta2, h, method, f"delta_{metric}",
                                 est.with_p(p), n))
            est = compare.bootstrap_scores(SEPARABILITY_FNS["auroc"], st[h], y, g, n_boot=n_boot, seed=seed)
            rows.append(_row(name, meta2, h, method, "transfer_auroc", est, n))
            c = cosine(full_a[method][h], full_b[method][h])
            if method == "diffmeans":
                Xa, Xb = a.acts[h], b.acts[h]
                est = compare.bootstrap_stat(_cosine_stat(Xa, Xb, y), y, g, n_boot=max(50, n_boot // 5), seed=seed)
                est = Estimate(c, est.ci_low, est.ci_high, cosine_p(c, Xa.shape[1]))
            else:
                est = Estimate(c, float("nan"), float("nan"), cosine_p(c, a.acts[h].shape[1]))
            rows.append(_row(name, meta2, h, method, "cosine", est, n))
    for h in a.acts if deltas else ():
        for key, est in _bootstrap_concentration(a.acts[h], b.acts[h], y, g, max(50, n_boot // 5), seed).items():
            rows.append(_row(name, meta2, h, "data", f"delta_{key}", est, n))
    return rows


class _Fitted:
    """Per-checkpoint fold and full-data directions, computed once and shared by all tables."""

    def __init__(self, cks: Mapping[str, CheckpointActs], methods: Sequence[str], splits: Sequence[Any], seed: int) -> None:
        self.fold: dict[str, dict[str, list[dict[str, FloatArray]]]] = {}
        self.full: dict[str, dict[str, dict[str, FloatArray]]] = {}
        for name, ck in tqdm(cks.items(), desc="fitting directions", leave=False):
            self.fold[name] = {m: fold_directions(ck.acts, ck.y, ck.groups, splits, method=m, random_state=seed)
                               for m in methods}
            self.full[name] = {m: fit_directions(ck.acts, ck.y, ck.groups, method=m, random_state=seed)
                               for m in methods}


def sharpening_table(
    stores: Mapping[str, ActivationStore | CheckpointActs],
    *,
    reference: str = "before",
    pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS,
    meta: Mapping[str, tuple[str, str]] | None = None,
    hooks: Sequence[str] | None = None,
    methods: Sequence[str] = PROBE_METHODS,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    controls: bool = True,
    n_splits: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """The sharpening table of several checkpoints on one contrast set (rows aligned by example).

    Args:
        stores: checkpoint name -> pooled labelled store (or :class:`CheckpointActs`).
        reference: the checkpoint whose direction is transferred to every other checkpoint
            (rows ``checkpoint="<other>-<reference>"`` when that pair is not already listed).
        pairs: ``(a, b)`` comparisons, reported as ``b - a``; pairs naming an absent checkpoint
            are skipped with a log message.
        meta: checkpoint -> (training method, failure mode), copied into the table.
        methods: probe directions (``diffmeans``, ``logistic``).
    """
    meta = dict(meta or {})
    for m in methods:
        get_probe(m)  # an unknown name is an error that lists the registered probes
    cks = {name: as_acts(s, hooks) for name, s in stores.items()}
    first = next(iter(cks.values()))
    for name, ck in cks.items():
        if ck.hooks != first.hooks:
            raise ValueError(f"checkpoint {name!r} holds hooks {ck.hooks}, expected {first.hooks}")
    splits = default_splits(first.y, first.groups, n_splits=n_splits, random_state=seed)
    fitted = _Fitted(cks, methods, splits, seed)
    rows: list[dict[str, Any]] = []
    for name, ck in tqdm(cks.items(), desc="checkpoint metrics", leave=False):
        rows += checkpoint_rows(name, ck, methods=methods, splits=splits, meta=meta, fold_dirs=fitted.fold[name],
                                n_boot=n_boot, n_permutations=n_permutations, controls=controls, seed=seed)
    todo = [p for p in pairs if p[0] in cks and p[1] in cks]
    for p in pairs:
        if p not in todo:
            log.info("skipping pair %s: checkpoint(s) missing among %s", p, list(cks))
    if reference in cks:
        todo += [(reference, c) for c in cks if c != reference and (reference, c) not in todo]
    for a_name, b_name in tqdm(todo, desc="pairs", leave=False):
        rows += pair_rows(a_name, b_name, cks[a_name], cks[b_name], methods=methods, splits=splits, meta=meta,
                          fold_dirs_a=fitted.fold[a_name], fold_dirs_b=fitted.fold[b_name],
                          full_a=fitted.full[a_name], full_b=fitted.full[b_name], n_boot=n_boot,
                          n_permutations=n_permutations, seed=seed)
    return _finish(rows)


def layer_cosines(
    a: ActivationStore | CheckpointActs, b: ActivationStore | CheckpointActs, *, method: str = "diffmeans",
    hooks: Sequence[str] | None = None, seed: int = 0,
) -> pd.DataFrame:
    """Layer x layer cosine between a's and b's full-data directions (rows: a's hooks, columns: b's)."""
    ca, cb = as_acts(a, hooks), as_acts(b, hooks)
    da = fit_directions(ca.acts, ca.y, ca.groups, method=method, random_state=seed)
    db = fit_directions(cb.acts, cb.y, cb.groups, method=method, random_state=seed)
    ha, hb = list(da), list(db)
    mat = cosine_matrix(np.stack([da[h] for h in ha]), np.stack([db[h] for h in hb]))
    return pd.DataFrame(mat, index=pd.Index(ha, name="hook_a"), columns=pd.Index(hb, name="hook_b"))


def trajectory_table(
    stores_by_epoch: Mapping[Any, ActivationStore | CheckpointActs],
    *,
    hooks: Sequence[str] | None = None,
    methods: Sequence[str] = ("diffmeans",),
    meta: Mapping[str, tuple[str, str]] | None = None,
    n_boot: int = 500,
    n_permutations: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Every per-checkpoint metric along the saved epochs of a run, plus cosine/transfer to the first epoch.

    Keys are epochs (sortable; the first is the reference); the table gains an ``epoch`` column.
    """
    epochs = sorted(stores_by_epoch)
    cks = {str(e): as_acts(stores_by_epoch[e], hooks) for e in epochs}
    names = list(cks)
    first = cks[names[0]]
    splits = default_splits(first.y, first.groups, random_state=seed)
    fitted = _Fitted(cks, methods, splits, seed)
    meta = dict(meta or {})
    frames = []
    for e, name in zip(epochs, names, strict=True):
        rows = checkpoint_rows(name, cks[name], methods=methods, splits=splits, meta=meta, fold_dirs=fitted.fold[name],
                               n_boot=n_boot, n_permutations=n_permutations, controls=False, seed=seed)
        if name != names[0]:
            rows += pair_rows(names[0], name, first, cks[name], methods=methods, splits=splits, meta=meta,
                              fold_dirs_a=fitted.fold[names[0]], fold_dirs_b=fitted.fold[name],
                              full_a=fitted.full[names[0]], full_b=fitted.full[name], n_boot=n_boot,
                              n_permutations=n_permutations, seed=seed, label=name, deltas=False)
        frame = _finish(rows)
        frame.insert(0, "epoch", e)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
