"""Plots of the sharpening tables (matplotlib Agg, written atomically as PNG).

- :func:`plot_metric_vs_layer`: one metric against layer, one line per checkpoint, CI bands.
- :func:`plot_cosine_heatmap`: the layer x layer cosine between two checkpoints' directions.
- :func:`plot_trajectory`: one metric along the epochs of a run, one line per layer.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from interp.io import atomic_write_bytes


def _save(fig: Any, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def plot_metric_vs_layer(
    table: pd.DataFrame, metric: str, path: str | Path, *, probe: str = "diffmeans",
    checkpoints: Sequence[str] | None = None, title: str | None = None,
) -> Path:
    """``metric`` against layer for each checkpoint (``probe`` rows), with ``[ci_low, ci_high]`` bands."""
    sub = table[(table["metric"] == metric) & (table["probe"] == probe)].dropna(subset=["layer"])
    if sub.empty:
        raise ValueError(f"no rows with metric={metric!r} and probe={probe!r} in the table")
    names = list(checkpoints) if checkpoints is not None else list(dict.fromkeys(sub["checkpoint"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in names:
        s = sub[sub["checkpoint"] == name].sort_values("layer")
        if s.empty:
            continue
        (line,) = ax.plot(s["layer"], s["value"], marker="o", ms=3, label=name)
        ax.fill_between(s["layer"].astype(float), s["ci_low"].astype(float), s["ci_high"].astype(float),
                        color=line.get_color(), alpha=0.2)
    if metric.startswith("delta_"):
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("layer")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} ({probe})")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_cosine_heatmap(cosines: pd.DataFrame, path: str | Path, *, title: str = "cosine of directions",
                        xlabel: str = "b", ylabel: str = "a") -> Path:
    """Heatmap of a layer x layer cosine matrix (from :func:`interp.sharpening.layer_cosines`)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cosines.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, origin="lower")
    fig.colorbar(im, ax=ax, label="cosine")
    ax.set_xlabel(f"{xlabel} layer")
    ax.set_ylabel(f"{ylabel} layer")
    ax.set_title(title)
    return _save(fig, path)


def plot_trajectory(
    table: pd.DataFrame, metric: str, path: str | Path, *, probe: str = "diffmeans",
    layers: Sequence[int] | None = None,
) -> Path:
    """``metric`` along ``epoch`` (from :func:`interp.sharpening.trajectory_table`), one line per layer."""
    sub = table[(table["metric"] == metric) & (table["probe"] == probe)]
    if sub.empty:
        raise ValueError(f"no rows with metric={metric!r} and probe={probe!r} in the trajectory table")
    chosen = list(layers) if layers is not None else sorted(sub["layer"].dropna().unique())
    fig, ax = plt.subplots(figsize=(7, 4))
    for layer in chosen:
        s = sub[sub["layer"] == layer].sort_values("epoch")
        (line,) = ax.plot(s["epoch"], s["value"], marker="o", ms=3, label=f"L{int(layer)}")
        ax.fill_between(s["epoch"].astype(float), s["ci_low"].astype(float), s["ci_high"].astype(float),
                        color=line.get_color(), alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} along training ({probe})")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)
