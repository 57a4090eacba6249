"""Layer sweeps: one probe per hook point across a whole activation store, as a tidy table.

This module owns :func:`sweep`, which fits every requested probe method on every hook of an
activation store (a mapping ``hook_name -> [n, d]`` array/tensor, or an ``[L, n, d]`` array)
with shared stratified (group-aware) outer folds, plus the built-in controls
(``control:shuffled`` = the same method trained and tested on shuffled labels,
``control:random_direction`` = a random unit direction, signed on the training fold), and
returns a tidy :class:`pandas.DataFrame` with one row per (hook, method, fold). Methods are
probe names of :mod:`probes.registry`; a probe with a batched fast path (``"logistic"``: the
batched torch solver) is fitted for all hooks of one width at once.
:func:`summarize` turns the per-fold table and the out-of-fold scores into one row per
(hook, method) with bootstrap confidence intervals and permutation p-values.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from sklearn.base import clone

from probes._validation import check_binary_labels, check_finite, check_groups
from probes.evaluation import Split, accuracy, auroc, bootstrap_ci, make_splits, permutation_pvalue
from probes.registry import BatchedFitter, fit_estimator, get_probe, make_probe, probe_names
from probes.stats import shuffle_within_groups
from probes.torch_logistic import DEFAULT_CS, resolve_device

__all__ = ["CONTROL_RANDOM", "CONTROL_SHUFFLED", "parse_layer", "summarize", "sweep"]

logger = logging.getLogger(__name__)

CONTROL_SHUFFLED = "control:shuffled"
CONTROL_RANDOM = "control:random_direction"


_LAYER_RE = re.compile(r"(?:^|[._/])(?:blocks|layers|layer|h|block)[._/](\d+)(?:[._/]|$)")


def parse_layer(hook: str) -> int | None:
    """Layer index from a hook name such as ``blocks.12.hook_resid_post`` or ``model.layers.3.mlp``; else None."""
    m = _LAYER_RE.search(hook)
    return int(m.group(1)) if m else None


def _to_tensor(a: Any, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        t = a.detach()
        t = t.float() if t.dtype != torch.float64 else t
    else:
        arr = np.asarray(a)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"activations[{name!r}] must be numeric; got dtype {arr.dtype}")
        t = torch.as_tensor(arr if arr.dtype.kind == "f" and arr.itemsize >= 4 else arr.astype(np.float32))
    if t.ndim != 2:
        raise ValueError(f"activations[{name!r}] must have shape (n_examples, d); got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"activations[{name!r}] contains NaN or inf; expected only finite values")
    return t.to(torch.float32)


def _store(activations: Mapping[str, Any] | Any) -> dict[str, torch.Tensor]:
    if isinstance(activations, Mapping):
        if not activations:
            raise ValueError("activations is empty; expected a mapping hook_name -> [n, d] array")
        return {str(k): _to_tensor(v, str(k)) for k, v in activations.items()}
    t = activations if isinstance(activations, torch.Tensor) else np.asarray(activations)
    if t.ndim != 3:
        raise ValueError(
            f"activations must be a mapping hook_name -> [n, d] array or an [L, n, d] array; got shape {tuple(t.shape)}"
        )
    return {f"layer.{i}": _to_tensor(t[i], f"layer.{i}") for i in range(t.shape[0])}


@overload
def sweep(
    activations: Mapping[str, Any] | Any,
    y: Any,
    groups: Any = ...,
    *,
    methods: Sequence[str] = ...,
    controls: Sequence[str] = ...,
    control_method: str = ...,
    n_splits: int = ...,
    Cs: Sequence[float] = ...,
    inner_cv: int = ...,
    random_state: int = ...,
    device: str | torch.device | None = ...,
    return_scores: Literal[False] = ...,
) -> pd.DataFrame: ...
@overload
def sweep(
    activations: Mapping[str, Any] | Any,
    y: Any,
    groups: Any = ...,
    *,
    methods: Sequence[str] = ...,
    controls: Sequence[str] = ...,
    control_method: str = ...,
    n_splits: int = ...,
    Cs: Sequence[float] = ...,
    inner_cv: int = ...,
    random_state: int = ...,
    device: str | torch.device | None = ...,
    return_scores: Literal[True],
) -> tuple[pd.DataFrame, pd.DataFrame]: ...
def sweep(
    activations: Mapping[str, Any] | Any,
    y: Any,
    groups: Any = None,
    *,
    methods: Sequence[str] = ("diffmeans", "logistic"),
    controls: Sequence[str] = ("shuffled", "random_direction"),
    control_method: str = "diffmeans",
    n_splits: int = 5,
    Cs: Sequence[float] = DEFAULT_CS,
    inner_cv: int = 3,
    random_state: int = 0,
    device: str | torch.device | None = None,
    return_scores: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Fit and evaluate one probe per hook point and method, with shared cross-validation folds.

    Parameters
    ----------
    activations : mapping ``hook_name -> [n, d]`` (numpy or torch, any float dtype incl. bfloat16),
        or an ``[L, n, d]`` array (hooks are then named ``layer.<i>``). Hooks may differ in ``d``.
    y : labels ``[n]``, two classes (0 = aligned, 1 = misaligned).
    groups : optional prompt ids ``[n]``; folds are then group-aware (a prompt's answers never
        straddle train and test), internal CV too, and the shuffled control permutes within groups.
    methods : probe names of :mod:`probes.registry`; built in: ``"diffmeans"``, ``"logistic"``
        (batched torch, all hooks at once), ``"logistic_sklearn"``, ``"lda"``, ``"paired_pca"``.
    controls : any of ``"shuffled"`` (``control_method`` trained and tested on shuffled labels)
        and ``"random_direction"`` (a seeded random unit direction per hook and fold, signed so that
        class 1 projects higher on the training fold).
    Cs, inner_cv, random_state : given to every probe with a ``Cs``, ``cv`` or ``random_state``
        parameter (the logistic probes: C grid and internal folds), and to batched fast paths.
    device : torch device of batched fast paths (``"logistic"``; ``None``: CUDA when available).
    return_scores : also return the out-of-fold scores as a tidy frame
        (hook, layer, method, fold, example, y, score) for :func:`summarize`.

    Returns
    -------
    A DataFrame with columns hook, layer, method, fold, auroc, accuracy, n_train, n_test, d,
    fit_seconds (one row per hook x method x fold).
    """
    store = _store(activations)
    n_rows = {h: int(t.shape[0]) for h, t in store.items()}
    n = next(iter(n_rows.values()))
    bad = {h: m for h, m in n_rows.items() if m != n}
    if bad:
        raise ValueError(f"all hooks must have the same number of examples; first hook has {n}, but {bad}")
    y_arr, classes = check_binary_labels(y, n)
    y01 = (y_arr == classes[1]).astype(np.float64)
    g = check_groups(groups, n)
    names = probe_names()
    unknown = [m for m in methods if m not in names]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; expected some of {sorted(names)} (probes.registry)")
    unknown = [c for c in controls if c not in ("shuffled", "random_direction")]
    if unknown:
        raise ValueError(f"unknown control(s) {unknown}; expected 'shuffled' and/or 'random_direction'")
    if "shuffled" in controls and control_method not in names:
        raise ValueError(f"control_method must be one of {sorted(names)}; got {control_method!r}")
    splits = make_splits(y01, g, n_splits=n_splits, random_state=random_state)
    rng = np.random.default_rng(random_state)

    rows: list[dict[str, Any]] = []
    scores: list[pd.DataFrame] = []

    def record(
        hook: str,
        method: str,
        labels: NDArray[np.float64],
        fold_scores: list[NDArray[np.float64]],
        secs: float,
    ) -> None:
        for k, (tr, te) in enumerate(splits):
            s = fold_scores[k]
            rows.append(
                {
                    "hook": hook,
                    "layer": parse_layer(hook),
                    "method": method,
                    "fold": k,
                    "auroc": auroc(labels[te], s),
                    "accuracy": accuracy(labels[te], (s > 0).astype(np.float64)),
                    "n_train": int(tr.size),
                    "n_test": int(te.size),
                    "d": int(store[hook].shape[1]),
                    "fit_seconds": secs / len(splits),
                }
            )
            if return_scores:
                scores.append(
                    pd.DataFrame(
                        {
                            "hook": hook,
                            "layer": parse_layer(hook),
                            "method": method,
                            "fold": k,
                            "example": te,
                            "y": labels[te],
                            "score": s,
                        }
                    )
                )

    def run_method(method: str, labels: NDArray[np.float64], name: str) -> None:
        spec = get_probe(method)
        spec.require_groups(g)
        if spec.fit_batched is not None:
            batched = _batched(spec.fit_batched, store, labels, g, splits, Cs, inner_cv, random_state, device)
            for hook, fold_scores, secs in batched:
                record(hook, name, labels, fold_scores, secs)
            return
        proto = make_probe(method, Cs=tuple(Cs), cv=inner_cv, random_state=random_state)
        for hook, X in store.items():
            Xn = X.numpy()
            t0 = time.perf_counter()
            fold_scores = []
            for tr, te in splits:
                est = fit_estimator(clone(proto), Xn[tr], labels[tr], None if g is None else g[tr])
                fold_scores.append(est.decision_function(Xn[te]))
            record(hook, name, labels, fold_scores, time.perf_counter() - t0)

    for method in methods:
        run_method(method, y01, method)
    if "shuffled" in controls:
        run_method(control_method, shuffle_within_groups(y01, g, rng), CONTROL_SHUFFLED)
    if "random_direction" in controls:
        for hook, X in store.items():
            Xn = X.numpy().astype(np.float64)
            fold_scores = []
            for tr, _ in splits:
                u = rng.standard_normal(Xn.shape[1])
                u = u / float(np.linalg.norm(u))
                proj = Xn @ u
                ptr = proj[tr]
                if ptr[y01[tr] == 1].mean() < ptr[y01[tr] == 0].mean():
                    proj = -proj
                    ptr = -ptr
                mid = 0.5 * (ptr[y01[tr] == 1].mean() + ptr[y01[tr] == 0].mean())
                fold_scores.append(proj - mid)
            record(
                hook,
                CONTROL_RANDOM,
                y01,
                [fs[te] for fs, (_, te) in zip(fold_scores, splits, strict=True)],
                0.0,
            )
    table = pd.DataFrame(rows)
    if return_scores:
        return table, pd.concat(scores, ignore_index=True)
    return table


def _batched(
    fit_batched: BatchedFitter,
    store: Mapping[str, torch.Tensor],
    y01: NDArray[np.float64],
    groups: NDArray[Any] | None,
    splits: Sequence[Split],
    Cs: Sequence[float],
    inner_cv: int,
    random_state: int,
    device: str | torch.device | None,
) -> list[tuple[str, list[NDArray[np.float64]], float]]:
    """A probe's batched fast path per width class of hooks: ``[(hook, per-fold test scores, seconds)]``."""
    dev = resolve_device(device)
    by_d: dict[int, list[str]] = {}
    for hook, X in store.items():
        by_d.setdefault(int(X.shape[1]), []).append(hook)
    out: list[tuple[str, list[NDArray[np.float64]], float]] = []
    for hooks in by_d.values():
        t0 = time.perf_counter()
        X_all = torch.stack([store[h] for h in hooks]).to(dev)  # [L, n, d]
        per_fold: list[NDArray[np.float64]] = []
        for tr, te in splits:
            tr_t = torch.as_tensor(tr, device=dev)
            model = fit_batched(X_all.index_select(1, tr_t), y01[tr], None if groups is None else groups[tr],
                                random_state=random_state, device=dev, Cs=tuple(Cs), cv=inner_cv)
            Xte = X_all.index_select(1, torch.as_tensor(te, device=dev)).double()
            coef = torch.as_tensor(model.coef_, device=dev)
            logits = (
                torch.einsum("lmd,ld->lm", Xte, coef) + torch.as_tensor(model.intercept_, device=dev)[:, None]
            )
            per_fold.append(logits.cpu().numpy())
            del Xte
        secs = time.perf_counter() - t0
        for i, hook in enumerate(hooks):
            out.append((hook, [pf[i] for pf in per_fold], secs / len(hooks)))
        del X_all
    return out


def summarize(
    table: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    *,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    groups: Any = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """One row per (hook, layer, method): mean/std over folds of AUROC and accuracy, and — when
    the out-of-fold ``scores`` from ``sweep(..., return_scores=True)`` are given — a stratified
    percentile bootstrap CI of the fold-mean AUROC (``auroc_low``, ``auroc_high``) and accuracy,
    and the permutation p-value of the fold-mean AUROC (``p_value``; labels permuted within
    folds, and within ``groups`` when given — pass the same prompt ids as to :func:`sweep`).
    """
    keys = ["hook", "layer", "method"]
    agg = (
        table.groupby(keys, dropna=False, sort=False)
        .agg(
            auroc=("auroc", "mean"),
            auroc_std=("auroc", "std"),
            accuracy=("accuracy", "mean"),
            n_folds=("fold", "nunique"),
        )
        .reset_index()
    )
    if scores is None:
        return agg
    extra = []
    for (hook, method), part in scores.groupby(["hook", "method"], sort=False):
        part = part.sort_values("example")
        yv = part["y"].to_numpy()
        sv = part["score"].to_numpy(dtype=np.float64)
        check_finite(sv, name="scores")
        fids = part["fold"].to_numpy()
        g = None if groups is None else np.asarray(groups)[part["example"].to_numpy()]
        ci = bootstrap_ci(yv, sv, folds=fids, n_boot=n_boot, alpha=alpha, random_state=random_state)
        ci_acc = bootstrap_ci(
            yv, sv, metric="accuracy", folds=fids, n_boot=n_boot, alpha=alpha, random_state=random_state
        )
        p = permutation_pvalue(
            yv, sv, folds=fids, groups=g, n_permutations=n_permutations, random_state=random_state
        )
        extra.append(
            {
                "hook": hook,
                "method": method,
                "auroc_low": ci.ci_low,
                "auroc_high": ci.ci_high,
                "accuracy_low": ci_acc.ci_low,
                "accuracy_high": ci_acc.ci_high,
                "p_value": p,
            }
        )
    return agg.merge(pd.DataFrame(extra), on=["hook", "method"], how="left")
