"""Do different organisms converge on one direction? (Soligo et al. 2025, "Convergent linear representations".)

Given one contrast set captured on several organisms (different failure modes or seeds) and on
the base model they were fine-tuned from, per hook and per pair of organisms ``(a, b)``:

- ``cosine``: between a's and b's class-mean-difference directions, with a bootstrap interval
  over contrast pairs (both directions refitted in each resample) and the p-value of ``|cos|``
  under a uniformly random direction;
- ``shift_cosine``: between the two fine-tunings' *changes* of that direction, ``Δa − Δbase`` vs
  ``Δb − Δbase``. Every organism inherits the base model's direction, so a high ``cosine`` can be
  pure inheritance; ``shift_cosine`` asks whether the two fine-tunes moved it the same way. The
  two changes are estimated on disjoint halves of the contrast pairs (averaged over random
  halvings): on the same examples both would carry the same sampling error of ``Δbase`` (and of
  the examples themselves) and correlate by construction. Its interval is a bootstrap over pairs
  (one random halving per resample) and its p-value the bootstrap test of 0;
- ``transfer_auroc``: a's direction (fitted on a's training folds) scoring b's held-out examples
  (row ``a -> b``), and the reverse;
- ``cosine_to_base`` (``b = "base"``): each organism's cosine with the base model's direction,
  the inheritance baseline the pairwise cosines should be read against.

The table is tidy: ``a, b, layer, hook, probe, metric, value, ci_low, ci_high, p, p_adj, n``,
with ``p_adj`` Benjamini-Hochberg across hooks within each ``(a, b, metric)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from interp.activations import ActivationStore
from interp.sharpening import compare
from interp.sharpening.acts import CheckpointActs, as_acts, check_aligned
from interp.sharpening.metrics import mean_difference
from interp.sharpening.report import _cosine_stat
from interp.sharpening.transfer import apply_fold_directions, default_splits, fold_directions
from probes import parse_layer
from probes.stats import (
    Estimate,
    auroc,
    benjamini_hochberg,
    bootstrap_p,
    cosine,
    cosine_p,
    paired_indices,
    percentile_interval,
    resample_units,
)

CONVERGENCE_COLUMNS = ["a", "b", "layer", "hook", "probe", "metric", "value", "ci_low", "ci_high", "p", "p_adj", "n"]


def _halves(rows: NDArray[np.intp], y: NDArray[np.int64], paired: bool,
            rng: np.random.Generator) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Two disjoint halves of ``rows`` laid out as :func:`resample_units` lays them out
    (paired: ``[pos..., neg...]`` with pair i at i and m + i, kept together; else split per class)."""
    if paired:
        m = rows.shape[0] // 2
        perm = rng.permutation(m)
        a, b = perm[: m // 2], perm[m // 2 :]
        return np.concatenate([rows[a], rows[m + a]]), np.concatenate([rows[b], rows[m + b]])
    parts: tuple[list[NDArray[np.intp]], list[NDArray[np.intp]]] = ([], [])
    for cls in (1, 0):
        own = rng.permutation(rows[y[rows] == cls])
        parts[0].append(own[: own.size // 2])
        parts[1].append(own[own.size // 2 :])
    return np.concatenate(parts[0]), np.concatenate(parts[1])


def _split_shift_cosine(Xa: NDArray[np.float64], Xb: NDArray[np.float64], X0: NDArray[np.float64],
                        y: NDArray[np.int64], rows: NDArray[np.intp], paired: bool, rng: np.random.Generator) -> float:
    """cos(Δa − Δbase on one half, Δb − Δbase on the other), both ways round, averaged."""
    h1, h2 = _halves(rows, y, paired, rng)
    values = []
    for ra, rb in ((h1, h2), (h2, h1)):
        sa = mean_difference(Xa[ra], y[ra]) - mean_difference(X0[ra], y[ra])
        sb = mean_difference(Xb[rb], y[rb]) - mean_difference(X0[rb], y[rb])
        if np.linalg.norm(sa) > 0 and np.linalg.norm(sb) > 0:
            values.append(cosine(sa, sb))
    return float(np.mean(values)) if values else float("nan")


def shift_cosine(
    Xa: Any, Xb: Any, X0: Any, y: Any, groups: Any = None, *, n_boot: int = 200, n_splits: int = 20, seed: int = 0,
    alpha: float = 0.05,
) -> Estimate:
    """Cosine between two checkpoints' shifts of the class-mean difference from a third's (see the module doc)."""
    Xa, Xb, X0 = (np.asarray(v, dtype=np.float64) for v in (Xa, Xb, X0))
    y1 = np.asarray(y).astype(np.int64)
    pairs = paired_indices(y1, groups)
    full = (np.concatenate(pairs) if pairs is not None
            else np.concatenate([np.flatnonzero(y1 == 1), np.flatnonzero(y1 == 0)])).astype(np.intp)
    rng = np.random.default_rng(seed)
    point = float(np.nanmean([_split_shift_cosine(Xa, Xb, X0, y1, full, pairs is not None, rng)
                              for _ in range(n_splits)]))
    idx = resample_units(y1, groups, n_boot, rng)
    boot = np.array([_split_shift_cosine(Xa, Xb, X0, y1, r, pairs is not None, rng) for r in idx])
    return Estimate(point, *percentile_interval(boot, alpha), p=bootstrap_p(boot), alpha=alpha)


def convergence_table(
    stores: Mapping[str, ActivationStore | CheckpointActs],
    *,
    base: str | None = "base",
    hooks: Sequence[str] | None = None,
    method: str = "diffmeans",
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Pairwise convergence of the organisms in ``stores`` (name -> pooled labelled store, rows aligned).

    Args:
        stores: every organism, plus the base model under the name ``base`` (optional: without it
            the ``shift_cosine`` and ``cosine_to_base`` rows are left out).
        method: the probe whose fold directions give the transfer AUROC (cosines are always of
            the class-mean differences, which a bootstrap can refit cheaply).
    """
    cks = {name: as_acts(s, hooks) for name, s in stores.items()}
    organisms = [n for n in cks if n != base]
    if len(organisms) < 2:
        raise ValueError(f"convergence needs at least two organisms besides the base; got {organisms}")
    first_name = organisms[0]
    first = cks[first_name]
    for name, ck in cks.items():
        check_aligned(first, ck, first_name, name)
        if ck.hooks != first.hooks:
            raise ValueError(f"checkpoint {name!r} holds hooks {ck.hooks}, expected {first.hooks}")
    y, groups, n = first.y, first.groups, int(first.y.shape[0])
    splits = default_splits(y, groups, random_state=seed)
    fold = {name: fold_directions(cks[name].acts, y, groups, splits, method=method, random_state=seed)
            for name in organisms}
    boot = max(50, n_boot)
    rows: list[dict[str, Any]] = []

    def add(a: str, b: str, hook: str, probe: str, metric: str, est: Estimate) -> None:
        rows.append({"a": a, "b": b, "layer": parse_layer(hook), "hook": hook, "probe": probe, "metric": metric,
                     "value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high, "p": est.p, "n": n})

    def cosine_estimate(stat: Callable[[NDArray[np.intp]], float], d: int) -> Estimate:
        est = compare.bootstrap_stat(stat, y, groups, n_boot=boot, seed=seed)
        return est.with_p(cosine_p(est.value, d))

    transfer: dict[tuple[str, str], dict[str, NDArray[np.float64]]] = {}
    for a, b in (p for pair in combinations(organisms, 2) for p in (pair, pair[::-1])):
        transfer[a, b] = apply_fold_directions(fold[a], cks[a].acts, y, splits, eval_acts=cks[b].acts)
    for hook in first.hooks:
        d = int(first.acts[hook].shape[1])
        if base in cks:
            X0 = cks[base].acts[hook]
            for name in organisms:
                add(name, base, hook, "diffmeans", "cosine_to_base",
                    cosine_estimate(_cosine_stat(cks[name].acts[hook], X0, y), d))
        for a, b in combinations(organisms, 2):
            Xa, Xb = cks[a].acts[hook], cks[b].acts[hook]
            add(a, b, hook, "diffmeans", "cosine", cosine_estimate(_cosine_stat(Xa, Xb, y), d))
            if base in cks:
                add(a, b, hook, "diffmeans", "shift_cosine",
                    shift_cosine(Xa, Xb, cks[base].acts[hook], y, groups, n_boot=boot, seed=seed))
            for src, dst in ((a, b), (b, a)):
                est = compare.bootstrap_scores(auroc, transfer[src, dst][hook], y, groups, n_boot=boot, seed=seed)
                add(src, dst, hook, method, "transfer_auroc", est)
    frame = pd.DataFrame(rows)
    frame["p_adj"] = np.nan
    for _, idx in frame.groupby(["a", "b", "metric"], sort=False).groups.items():
        frame.loc[idx, "p_adj"] = benjamini_hochberg(frame.loc[idx, "p"].to_numpy(dtype=np.float64))
    return frame[CONVERGENCE_COLUMNS]
