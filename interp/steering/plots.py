"""Plots of causal experiments: dose-response curves with bands, ablation bars with random controls."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _save(fig: object, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp)  # type: ignore[attr-defined]
    plt.close(fig)
    tmp.replace(out)
    return out


def plot_dose_response(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Rate (left) and log-prob margin (right, when present) vs alpha; random directions in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_margin = "margin" in table
    fig, axes = plt.subplots(1, 2 if has_margin else 1, figsize=(11 if has_margin else 6, 4), dpi=120, squeeze=False)
    for ax, (col, label) in zip(axes[0], [("rate", "misalignment rate"), ("margin", "log-prob margin (mis - aligned)")], strict=False):
        for kind, part in table.groupby("direction"):
            part = part.sort_values("alpha")
            persona = kind == "persona"
            color = "C3" if persona else "grey"
            ax.plot(part["alpha"], part[col], "-o", ms=3, color=color, lw=2 if persona else 1,
                    label=str(kind) if persona or kind == "random:0" else None)
            ax.fill_between(part["alpha"], part[f"{col}_low"], part[f"{col}_high"], color=color, alpha=0.2 if persona else 0.08)
            if "coherent" in part and persona:
                broken = part[~part["coherent"].astype(bool)]
                ax.scatter(broken["alpha"], broken[col], marker="x", color="k", zorder=5,
                           label="over KL budget" if len(broken) else None)
        ax.set_xlabel("alpha (x mean residual norm at the hook)")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    judge = table["judge"].iloc[0] if "judge" in table else ""
    fig.suptitle(f"{title} (judge: {judge})")
    fig.tight_layout()
    return _save(fig, path)


def plot_ablation(table: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Bars of the rate per condition (per checkpoint when several), with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    groups = list(table["checkpoint"].unique()) if "checkpoint" in table else [""]
    kinds = list(dict.fromkeys(table["direction"]))
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        part = table[table["direction"] == kind]
        xs = [groups.index(g) + k * width for g in part.get("checkpoint", [""] * len(part))]
        color = "C0" if kind == "untouched" else ("C3" if kind == "ablated:persona" else "grey")
        err = [part["rate"] - part["rate_low"], part["rate_high"] - part["rate"]]
        ax.bar(xs, part["rate"], width, yerr=err, color=color, label=kind if not kind.startswith("ablated:random:") or kind.endswith(":0") else None, capsize=3)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))], groups, fontsize=8)
    ax.set_ylabel("misalignment rate (95% CI)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
