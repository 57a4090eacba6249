"""Per-layer summary of a labelled activation store: how separable are the classes, layer by layer.

For every hook: cross-validated AUROC of each probe method (group-aware folds, so the two
answers to one prompt never straddle train and test) with a bootstrap 95% interval and a
permutation p-value, the shuffled-label and random-direction controls, Cohen's d of the
out-of-fold diff-of-means scores, and the class-mean norms.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import probes
from interp.activations.store import ActivationStore
from interp.hooks.names import HookPoint


def _cohens_d(y: np.ndarray, s: np.ndarray) -> float:
    a, b = s[y == 1], s[y == 0]
    pooled = np.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


def layer_summary(
    store: ActivationStore,
    methods: Sequence[str] = ("diffmeans", "logistic"),
    *,
    n_splits: int = 5,
    n_boot: int = 1000,
    n_permutations: int = 1000,
    random_state: int = 0,
) -> pd.DataFrame:
    """One row per (hook, method) including the controls; sorted by layer."""
    if not store.pooled:
        raise ValueError(f"layer_summary needs one row per example; this store has positions={store.positions!r}.")
    hooks = sorted(store.hooks, key=HookPoint.parse)
    acts = store.load_many(hooks)
    y = store.labels()
    groups = store.groups()
    groups_arg = groups if pd.notna(groups).all() else None
    table, scores = probes.sweep(
        acts, y, groups_arg, methods=methods, n_splits=n_splits, random_state=random_state, return_scores=True
    )
    summary = probes.summarize(
        table, scores, n_boot=n_boot, n_permutations=n_permutations, groups=groups_arg, random_state=random_state
    )
    d = {
        (hook, method): _cohens_d(part.sort_values("example")["y"].to_numpy(), part.sort_values("example")["score"].to_numpy())
        for (hook, method), part in scores.groupby(["hook", "method"])
    }
    summary["cohens_d"] = [d.get((h, m), np.nan) for h, m in zip(summary["hook"], summary["method"], strict=True)]
    norms = {}
    for hook, x in acts.items():
        xn = x.numpy()
        norms[hook] = (
            float(np.linalg.norm(xn[y == 0].mean(0))),
            float(np.linalg.norm(xn[y == 1].mean(0))),
            float(np.linalg.norm(xn[y == 1].mean(0) - xn[y == 0].mean(0))),
        )
    summary["mean_norm_aligned"] = summary["hook"].map(lambda h: norms[h][0])
    summary["mean_norm_misaligned"] = summary["hook"].map(lambda h: norms[h][1])
    summary["mean_diff_norm"] = summary["hook"].map(lambda h: norms[h][2])
    summary["layer"] = summary["hook"].map(lambda h: HookPoint.parse(h).layer)
    summary["n"] = len(y)
    return summary.sort_values(["layer", "method"]).reset_index(drop=True)


def format_summary(summary: pd.DataFrame) -> str:
    """The per-layer summary as a text table, one row per layer (what ``interp layers`` prints)."""
    wide = []
    for layer, part in summary.groupby("layer"):
        row: dict[str, object] = {"layer": layer}
        for _, r in part.iterrows():
            m = str(r["method"]).replace("control:", "ctl:")
            row[f"{m} AUROC [95% CI]"] = f"{r['auroc']:.3f} [{r['auroc_low']:.3f},{r['auroc_high']:.3f}]"
            if not str(r["method"]).startswith("control:"):
                row[f"{m} p"] = f"{r['p_value']:.3g}"
            if r["method"] == "diffmeans":
                row["Cohen d"] = f"{r['cohens_d']:.2f}"
                row["|Δμ|"] = f"{r['mean_diff_norm']:.1f}"
        wide.append(row)
    return pd.DataFrame(wide).to_string(index=False)


def plot_layer_summary(summary: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """AUROC vs layer per method with its 95% interval band, controls dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for method, part in summary.groupby("method"):
        part = part.sort_values("layer")
        style = "--" if str(method).startswith("control:") else "-"
        ax.plot(part["layer"], part["auroc"], style, marker="o", ms=3, label=str(method))
        if "auroc_low" in part:
            ax.fill_between(part["layer"], part["auroc_low"], part["auroc_high"], alpha=0.2)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set_xlabel("layer (resid_post)")
    ax.set_ylabel("cross-validated AUROC (95% CI)")
    ax.set_ylim(0.3, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out
