"""Model diffing with one SAE (Wang et al. 2025): which latents move between two checkpoints.

The same SAE encodes the activations of checkpoint A ("before") and B ("after") on the same
prompt set; latents are ranked by the change in mean activation. :func:`diff_latents` reports the
top movers and whether given persona latents are among them (with a bootstrap interval of each
top mover's change over prompts, paired when rows are aligned). :func:`latent_sharpening`
compares, for chosen latents, their selectivity (AUROC between the contrast classes and
``mean_pos / (mean_pos + mean_neg)``) and firing frequency before vs after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from torch import Tensor

from interp.sae.latents import encode, latent_stats
from probes.stats import percentile_intervals, resample_rows


def diff_latents(
    sae: Any, acts_a: Tensor | np.ndarray, acts_b: Tensor | np.ndarray, *, persona: Sequence[int] = (),
    top: int = 20, paired: bool | None = None, n_boot: int = 1000, seed: int = 0,
) -> pd.DataFrame:
    """Latents ranked by ``|mean_b - mean_a|`` of their activation, with persona membership.

    ``paired`` (default: same number of rows) treats row i of A and B as the same prompt.
    Columns: rank, latent, mean_a, mean_b, delta, ci_low, ci_high, freq_a, freq_b, is_persona.
    """
    fa, fb = encode(sae, acts_a).double().numpy(), encode(sae, acts_b).double().numpy()
    paired = fa.shape[0] == fb.shape[0] if paired is None else paired
    delta = fb.mean(0) - fa.mean(0)
    order = np.argsort(-np.abs(delta), kind="stable")[:top]
    rng = np.random.default_rng(seed)
    if paired:
        if fa.shape[0] != fb.shape[0]:
            raise ValueError("paired diffing needs the same rows in A and B")
        idx = resample_rows(fa.shape[0], n_boot, rng)
        boot = (fb[:, order][idx] - fa[:, order][idx]).mean(1)
    else:  # two independent samples
        ia, ib = resample_rows(fa.shape[0], n_boot, rng), resample_rows(fb.shape[0], n_boot, rng)
        boot = fb[:, order][ib].mean(1) - fa[:, order][ia].mean(1)
    lo, hi = percentile_intervals(boot)
    persona_set = {int(p) for p in persona}
    return pd.DataFrame({
        "rank": np.arange(order.size),
        "latent": order,
        "mean_a": fa.mean(0)[order],
        "mean_b": fb.mean(0)[order],
        "delta": delta[order],
        "ci_low": lo,
        "ci_high": hi,
        "freq_a": (fa > 0).mean(0)[order],
        "freq_b": (fb > 0).mean(0)[order],
        "is_persona": [int(i) in persona_set for i in order],
    })


def persona_rank_among_movers(sae: Any, acts_a: Tensor | np.ndarray, acts_b: Tensor | np.ndarray,
                              persona: Sequence[int]) -> pd.DataFrame:
    """Rank (0 = largest |change|) of each persona latent among all latents, and its change."""
    full = diff_latents(sae, acts_a, acts_b, top=int(sae.cfg.d_sae), n_boot=10)
    full = full.set_index("latent")
    return pd.DataFrame([{"latent": int(p), "mover_rank": int(full.loc[int(p), "rank"]),
                          "delta": float(full.loc[int(p), "delta"])} for p in persona])


def latent_sharpening(
    sae: Any, acts_a: Tensor | np.ndarray, y_a: Any, acts_b: Tensor | np.ndarray, y_b: Any, latents: Sequence[int],
) -> pd.DataFrame:
    """Selectivity and firing frequency of ``latents`` on the contrast set, A vs B (one row per latent)."""
    sa = latent_stats(encode(sae, acts_a), y_a).set_index("latent")
    sb = latent_stats(encode(sae, acts_b), y_b).set_index("latent")
    rows = []
    for lat in latents:
        ra, rb = sa.loc[int(lat)], sb.loc[int(lat)]
        sel_a = ra["mean_pos"] / (ra["mean_pos"] + ra["mean_neg"]) if ra["mean_pos"] + ra["mean_neg"] > 0 else np.nan
        sel_b = rb["mean_pos"] / (rb["mean_pos"] + rb["mean_neg"]) if rb["mean_pos"] + rb["mean_neg"] > 0 else np.nan
        rows.append({
            "latent": int(lat), "auroc_a": ra["auroc"], "auroc_b": rb["auroc"],
            "selectivity_a": sel_a, "selectivity_b": sel_b,
            "freq_a": 0.5 * (ra["freq_pos"] + ra["freq_neg"]), "freq_b": 0.5 * (rb["freq_pos"] + rb["freq_neg"]),
            "mean_diff_a": ra["mean_diff"], "mean_diff_b": rb["mean_diff"],
        })
    return pd.DataFrame(rows)

