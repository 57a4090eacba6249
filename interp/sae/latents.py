"""Persona latents: which SAE latents separate the contrast classes, and what activates them.

- :func:`encode` — latent activations of an activation matrix (batched, no grad).
- :func:`persona_latents` — every latent ranked by how well it separates class 1 (misaligned)
  from class 0: AUROC of its activation, mean difference, firing frequency per class.
- :func:`top_activating_examples` — for chosen latents, the rows (examples or tokens) where
  they fire most, with whatever metadata the caller passes (id, text, token...).
- :func:`latents_to_reach_auroc` — how many top latents a probe needs to match a target AUROC
  (latents ranked within each training fold, cross-validated), a concentration measure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from probes.stats import auroc


def encode(sae: Any, acts: Tensor | np.ndarray, *, batch: int = 4096) -> Tensor:
    """SAE latent activations ``[n, d_sae]`` of ``acts`` ``[n, d_in]``."""
    x = torch.as_tensor(acts).float()
    dtype = next(sae.parameters()).dtype
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out.append(sae.encode(x[i : i + batch].to(dtype)).float().cpu())
    return torch.cat(out)


def latent_stats(feats: Tensor, y: Any) -> pd.DataFrame:
    """Per latent: AUROC (class 1 vs 0), mean activation per class, their difference, firing frequency."""
    f = feats.double().numpy()
    y1 = np.asarray(y).astype(bool)
    pos, neg = f[y1], f[~y1]
    au = np.asarray(auroc(y1.astype(np.int64), f.T), dtype=np.float64)
    return pd.DataFrame({
        "latent": np.arange(f.shape[1]),
        "auroc": au,
        "mean_pos": pos.mean(0),
        "mean_neg": neg.mean(0),
        "mean_diff": pos.mean(0) - neg.mean(0),
        "freq_pos": (pos > 0).mean(0),
        "freq_neg": (neg > 0).mean(0),
    })


def persona_latents(sae: Any, acts: Tensor | np.ndarray, y: Any, *, top: int | None = 20,
                    direction: str = "misaligned") -> pd.DataFrame:
    """Latents ranked by separation of the classes (AUROC, ties broken by mean difference).

    ``direction="misaligned"`` ranks latents that fire MORE on class 1 first; ``"both"`` ranks
    by ``|AUROC - 0.5|``.
    """
    stats = latent_stats(encode(sae, acts), y)
    stats = stats[(stats["freq_pos"] > 0) | (stats["freq_neg"] > 0)]
    if direction == "both":
        key = (stats["auroc"] - 0.5).abs()
    elif direction == "misaligned":
        key = stats["auroc"]
    else:
        raise ValueError(f"direction must be 'misaligned' or 'both'; got {direction!r}")
    order = np.lexsort((-stats["mean_diff"].abs().to_numpy(), -key.to_numpy()))
    ranked = stats.iloc[order].reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(len(ranked)))
    return ranked if top is None else ranked.head(top)


def top_activating_examples(
    sae: Any, acts: Tensor | np.ndarray, latents: Sequence[int], rows: pd.DataFrame, *, k: int = 5,
) -> pd.DataFrame:
    """The ``k`` rows of ``acts`` where each latent fires most, joined with ``rows`` (same order)."""
    if len(rows) != len(acts):
        raise ValueError(f"rows has {len(rows)} entries for {len(acts)} activation rows")
    feats = encode(sae, acts)
    out = []
    for lat in latents:
        vals, idx = torch.topk(feats[:, int(lat)], min(k, feats.shape[0]))
        for r, (v, i) in enumerate(zip(vals.tolist(), idx.tolist(), strict=True)):
            if v <= 0:
                break
            rec = rows.iloc[i].to_dict()
            rec.update({"latent": int(lat), "rank": r, "activation": v, "row": i})
            out.append(rec)
    return pd.DataFrame(out)


def latents_to_reach_auroc(
    sae: Any, acts: Tensor | np.ndarray, y: Any, target_auroc: float, *, groups: Any = None,
    ks: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128), tolerance: float = 0.01, random_state: int = 0,
) -> tuple[int | None, pd.DataFrame]:
    """Smallest k (of ``ks``) whose top-k latents reach ``target_auroc - tolerance`` (cross-validated).

    In each training fold latents are ranked by ``|AUROC - 0.5|`` and a difference-of-means probe
    is fitted on the top k latent activations; the held-out AUROC is averaged over folds.
    Returns ``(k or None, table of k -> auroc)``.
    """
    from probes import make_splits

    f = encode(sae, acts).double().numpy()
    y1 = np.asarray(y).astype(np.int64)
    splits = make_splits(y1, groups, n_splits=5, random_state=random_state)
    rows = []
    reached: int | None = None
    for k in ks:
        if k > f.shape[1]:
            break
        fold_auc = []
        for tr, te in splits:
            au = np.asarray(auroc(y1[tr], f[tr].T), dtype=np.float64)
            au = np.where(np.isfinite(au), au, 0.5)
            top = np.argsort(-np.abs(au - 0.5), kind="stable")[:k]
            ftr, fte = f[tr][:, top], f[te][:, top]
            w = ftr[y1[tr] == 1].mean(0) - ftr[y1[tr] == 0].mean(0)
            fold_auc.append(float(auroc(y1[te], fte @ w)))
        mean_auc = float(np.mean(fold_auc))
        rows.append({"k": k, "auroc": mean_auc})
        if reached is None and mean_auc >= target_auroc - tolerance:
            reached = k
    return reached, pd.DataFrame(rows)
