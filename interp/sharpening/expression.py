"""Expression: each checkpoint's own generated responses projected on a fixed reference direction.

The persona-vectors "projection shift" (Chen et al. 2025): :func:`response_projections` averages a
response store over each example's response tokens and projects it; :func:`expression_shift`
reports the projection per checkpoint and its paired change per pair of checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from interp.activations import ActivationStore, StoreError
from interp.sharpening.acts import as_float64
from interp.sharpening.report import DEFAULT_PAIRS, _finish, _row
from probes.stats import Estimate, bootstrap_mean, percentile_interval, permutation_p, resample_rows, unit

FloatArray = NDArray[np.float64]


def _per_example_mean(X: FloatArray, example: NDArray[np.int64]) -> tuple[NDArray[np.int64], FloatArray]:
    ex, inv = np.unique(example, return_inverse=True)
    sums = np.zeros((ex.size, X.shape[1]))
    np.add.at(sums, inv, X)
    counts = np.bincount(inv, minlength=ex.size).astype(np.float64)
    return ex, sums / counts[:, None]


def response_projections(store: ActivationStore, directions: Mapping[str, Any]) -> dict[str, pd.Series]:
    """Mean projection per example (indexed by example id) of a response store on each hook's direction.

    ``response_all`` stores are averaged over each example's response tokens first;
    ``response_mean`` stores are used as they are.
    """
    if store.positions not in ("response_mean", "response_all"):
        raise StoreError(f"{store.path} holds positions={store.positions!r}; expression needs response_mean or "
                         "response_all activations of the checkpoint's own generated responses")
    hooks = list(directions)
    acts = store.load_many(hooks)
    rows = store.rows()
    out = {}
    for h in hooks:
        ex, means = _per_example_mean(as_float64(acts[h]), rows["example"].to_numpy())
        ids = rows.drop_duplicates("example").set_index("example").loc[ex, "id"].astype(str).to_numpy()
        out[h] = pd.Series(means @ unit(as_float64(directions[h])), index=ids)
    return out


def expression_shift(
    response_stores: Mapping[str, ActivationStore],
    directions: Mapping[str, Any],
    *,
    pairs: Sequence[tuple[str, str]] = DEFAULT_PAIRS,
    meta: Mapping[str, tuple[str, str]] | None = None,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The projection shift: each checkpoint's own responses projected on a FIXED reference direction.

    ``directions``: hook -> direction (e.g. the base or "before" model's diffmeans direction).
    Rows: ``metric="projection"`` per checkpoint (bootstrap interval over prompts) and
    ``metric="delta_projection"`` per pair ``b - a`` over the prompts both answered (paired
    bootstrap; permutation p by sign-flipping the per-prompt differences).
    """
    meta = dict(meta or {})
    proj = {name: response_projections(s, directions) for name, s in response_stores.items()}
    rows: list[dict[str, Any]] = []
    for name, by_hook in proj.items():
        for h, s in by_hook.items():
            v = s.to_numpy()
            rows.append(_row(name, meta, h, "reference", "projection", bootstrap_mean(v, n_boot=n_boot, seed=seed),
                             int(v.size)))
    for a_name, b_name in pairs:
        if a_name not in proj or b_name not in proj:
            continue
        label = f"{b_name}-{a_name}"
        meta2 = {label: meta.get(b_name, ("", "")), **meta}
        for h in directions:
            sa, sb = proj[a_name][h], proj[b_name][h]
            common = sa.index.intersection(sb.index)
            if common.size < 2:
                raise ValueError(f"{a_name} and {b_name} share fewer than two prompts; cannot pair their responses")
            diff = sb.loc[common].to_numpy() - sa.loc[common].to_numpy()
            rng = np.random.default_rng(seed)  # one stream: the resamples, then the sign flips
            lo, hi = percentile_interval(diff[resample_rows(diff.size, n_boot, rng)].mean(1))
            null = (rng.choice([-1.0, 1.0], size=(n_permutations, diff.size)) * diff).mean(1)
            rows.append(_row(label, meta2, h, "reference", "delta_projection",
                             Estimate(float(diff.mean()), lo, hi, permutation_p(null, float(diff.mean()))),
                             int(diff.size)))
    return _finish(rows)
