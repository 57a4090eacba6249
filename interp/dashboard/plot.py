"""Plotly primitives shared by every dashboard figure: the template, colours, interval bands and bars.

Conventions: intervals are filled bands (or error bars on bars), controls (shuffled labels, random
directions, control methods) are grey and dashed, checkpoints keep one colour across the page (base
green, before blue, after red), chance levels and zero are thin reference lines. The figures of
each section live in that section's module and are built from these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from interp.dashboard.tidy import split_pair

GREY = "#8c8c8c"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22")
FIXED_COLORS = {"base": "#2ca02c", "before": "#1f77b4", "after": "#d62728", "run": "#1f77b4", "persona": "#d62728",
                "ablated:persona": "#d62728", "untouched": "#1f77b4"}
CONTROL_DASH = {"control:shuffled": "dash", "control:random_direction": "dot"}
FIG_HEIGHT = 380

TEMPLATE = go.layout.Template(layout={
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": list(PALETTE),
    "font": {"family": "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif", "size": 12, "color": "#222"},
    "xaxis": {"showgrid": True, "gridcolor": "#ececec", "zeroline": False, "showline": True, "linecolor": "#aaa",
              "ticks": "outside", "tickcolor": "#aaa"},
    "yaxis": {"showgrid": True, "gridcolor": "#ececec", "zeroline": False, "showline": True, "linecolor": "#aaa",
              "ticks": "outside", "tickcolor": "#aaa"},
    "hoverlabel": {"align": "left"},
    "legend": {"bgcolor": "rgba(255,255,255,0.8)"},
})


class Palette:
    """A stable name -> colour map: fixed colours for the usual names, the palette for the rest."""

    def __init__(self) -> None:
        self._colors: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        pair = split_pair(name)
        if pair is not None:  # a comparison b - a is drawn in b's colour
            name = pair[0]
        if name in FIXED_COLORS:
            return FIXED_COLORS[name]
        if name.startswith(("random:", "ablated:random:", "control:")):
            return GREY
        if name not in self._colors:
            free = [c for c in PALETTE if c not in self._colors.values() and c not in FIXED_COLORS.values()]
            self._colors[name] = free[0] if free else PALETTE[len(self._colors) % len(PALETTE)]
        return self._colors[name]


def rgba(color: str, alpha: float) -> str:
    h = color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def is_control(name: object) -> bool:
    s = str(name)
    return s.startswith(("control:", "random:", "ablated:random:"))


def finish(fig: go.Figure, title: str, height: int = FIG_HEIGHT) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title={"text": title, "x": 0.01, "font": {"size": 14}}, height=height,
                      margin={"l": 60, "r": 20, "t": 72, "b": 50}, hovermode="closest",
                      legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top",
                              "font": {"size": 11}, "tracegroupgap": 2})
    return fig


def integer_layers(fig: go.Figure, layers: pd.Series) -> None:
    """Whole-number layer ticks (one per layer when there are few of them)."""
    n = pd.Series(layers).nunique()
    fig.update_xaxes(tickformat="d", **({"dtick": 1} if n <= 16 else {}))


def grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max(n, 1), max_cols)
    return math.ceil(max(n, 1) / cols), cols


def cell(i: int, cols: int) -> tuple[int, int]:
    return i // cols + 1, i % cols + 1


def add_band(fig: go.Figure, x: Sequence[Any], low: Sequence[Any], high: Sequence[Any], color: str, *,
             row: int | None = None, col: int | None = None, alpha: float = 0.18, group: str = "") -> None:
    """A filled interval band (no legend entry, no hover) between ``low`` and ``high``."""
    lo, hi = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    xs = list(x)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return
    xs_ok = [v for v, k in zip(xs, ok, strict=True) if k]
    trace = go.Scatter(x=xs_ok + xs_ok[::-1], y=list(hi[ok]) + list(lo[ok][::-1]), fill="toself",
                       fillcolor=rgba(color, alpha), line={"width": 0}, hoverinfo="skip", showlegend=False,
                       legendgroup=group or None, mode="lines")
    fig.add_trace(trace, row=row, col=col)


def line_with_band(fig: go.Figure, part: pd.DataFrame, *, x: str, y: str, low: str | None, high: str | None, name: str,
                   color: str, dash: str = "solid", row: int | None = None, col: int | None = None,
                   showlegend: bool = True, width: float = 2.0, symbols: Sequence[str] | None = None) -> None:
    """A line of ``y`` vs ``x`` with its interval band when ``low``/``high`` columns exist."""
    part = part.sort_values(x)
    has_ci = low is not None and high is not None and low in part and high in part
    if has_ci:
        add_band(fig, part[x], part[low], part[high], color, row=row, col=col, group=name,
                 alpha=0.08 if color == GREY else 0.18)
    custom = np.stack([part[low], part[high]], axis=1) if has_ci else None
    hover = (f"<b>{name}</b><br>{x} %{{x}}: %{{y:.3f}} [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]<extra></extra>"
             if has_ci else f"<b>{name}</b><br>{x} %{{x}}: %{{y:.3f}}<extra></extra>")
    marker: dict[str, Any] = {"size": 5, "color": color}
    if symbols is not None:
        marker |= {"symbol": list(symbols), "size": 7, "line": {"color": color, "width": 1.5}}
    fig.add_trace(go.Scatter(x=part[x], y=part[y], mode="lines+markers", name=name, legendgroup=name,
                             line={"color": color, "dash": dash, "width": width if color != GREY else 1.2},
                             marker=marker, customdata=custom, hovertemplate=hover, showlegend=showlegend),
                  row=row, col=col)


def error_bars(part: pd.DataFrame, y: str, low: str, high: str) -> dict[str, Any] | None:
    """Asymmetric plotly error bars from interval columns (None when the table has none)."""
    if low not in part or high not in part:
        return None
    return {"type": "data", "symmetric": False, "array": (part[high] - part[y]).clip(lower=0),
            "arrayminus": (part[y] - part[low]).clip(lower=0), "color": "#444", "thickness": 1.2}


def series_label(parts: Sequence[object]) -> str:
    return " · ".join(str(p) for p in parts if str(p) not in ("", "nan", "None"))


def rate_bars(table: pd.DataFrame, *, x: str, color: str, title: str, palette: Palette, y: str = "rate",
              low: str = "ci_low", high: str = "ci_high", y_title: str = "misalignment rate (95% CI)") -> go.Figure:
    """Grouped bars of ``y`` with asymmetric error bars: ``x`` categories, one colour per ``color`` value."""
    fig = go.Figure()
    for key, part in table.groupby(color, sort=False):
        err = error_bars(part, y, low, high)
        extra = "<br>n=%{customdata}" if "n" in part else ""
        fig.add_trace(go.Bar(x=part[x], y=part[y], name=str(key), error_y=err, marker={"color": palette(str(key))},
                             customdata=part.get("n"),
                             hovertemplate=f"<b>{key}</b><br>%{{x}}: %{{y:.3f}}{extra}<extra></extra>"))
    n_bars = table[x].nunique() * table[color].nunique()
    fig.update_layout(barmode="group", bargap=0.5 if n_bars <= 4 else 0.2)
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text=y_title)
    return finish(fig, title)
