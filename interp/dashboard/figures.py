"""Plotly figures for the dashboard: pure functions from a tidy table to a ``go.Figure``.

Conventions shared by every figure: intervals are filled bands (or error bars on bars), controls
(shuffled labels, random directions) are grey and dashed, checkpoints keep one colour across the
page (base green, before blue, after red), chance levels and zero are thin reference lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from interp.dashboard.tables import hook_site

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


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    cols = min(max(n, 1), max_cols)
    return math.ceil(max(n, 1) / cols), cols


def _cell(i: int, cols: int) -> tuple[int, int]:
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


def _series_label(parts: Sequence[object]) -> str:
    return " · ".join(str(p) for p in parts if str(p) not in ("", "nan", "None"))


# ---------------------------------------------------------------- probes per layer

def layers_figure(table: pd.DataFrame, title: str, palette: Palette) -> go.Figure:
    """AUROC vs layer, one panel per probe method; checkpoints as colours; controls grey dashed."""
    t = table.copy()
    t["site"] = t["hook"].map(hook_site) if "hook" in t else ""
    multi_site = t["site"].nunique() > 1
    ckpt = "checkpoint" in t and t["checkpoint"].nunique() > 0
    methods = [m for m in dict.fromkeys(t["method"].astype(str)) if not is_control(m)] or ["(controls only)"]
    controls = [m for m in dict.fromkeys(t["method"].astype(str)) if is_control(m)]
    rows, cols = _grid(len(methods))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"probe: {m}" for m in methods], shared_yaxes=True,
                        horizontal_spacing=0.05, vertical_spacing=0.16)
    seen: set[str] = set()
    for i, method in enumerate(methods):
        r, c = _cell(i, cols)
        for keys, part in t.groupby(["checkpoint", "site"] if ckpt else ["site"], sort=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            ck = str(keys[0]) if ckpt else "run"
            site = str(keys[-1]) if multi_site else ""
            label = _series_label([ck if ckpt else "", site])
            for m in [method, *controls]:
                sub = part[part["method"].astype(str) == m]
                if sub.empty:
                    continue
                control = is_control(m)
                name = _series_label([label, m.replace("control:", "control: ")]) if control else (label or m)
                line_with_band(fig, sub, x="layer", y="auroc", low="auroc_low", high="auroc_high", name=name,
                               color=GREY if control else palette(ck if ckpt else m),
                               dash=CONTROL_DASH.get(m, "dash") if control else ("dot" if site and site != "resid_post" else "solid"),
                               row=r, col=c, showlegend=name not in seen)
                seen.add(name)
        fig.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"}, row=r, col=c)
        fig.update_xaxes(title_text="layer", row=r, col=c)
    fig.update_yaxes(title_text="AUROC (95% CI)", col=1)
    integer_layers(fig, t["layer"])
    return finish(fig, title, height=FIG_HEIGHT * rows)


# ---------------------------------------------------------------- sharpening

def metric_panels(table: pd.DataFrame, metrics: Sequence[str], title: str, palette: Palette, *,
                  series: Sequence[str] = ("checkpoint",), zero_line: float | None = None,
                  significance: bool = False, y_titles: dict[str, str] | None = None) -> go.Figure:
    """One panel per metric, ``value`` vs ``layer``, a line (with CI band) per ``series`` combination.

    With ``significance``, markers are filled where ``p_adj < 0.05`` and open elsewhere.
    """
    rows, cols = _grid(len(metrics))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(metrics), horizontal_spacing=0.07,
                        vertical_spacing=0.18)
    seen: set[str] = set()
    keys = [s for s in series if s in table]
    for i, metric in enumerate(metrics):
        r, c = _cell(i, cols)
        sub = table[table["metric"] == metric].dropna(subset=["layer"])
        groups = sub.groupby(keys, sort=False) if keys else [((), sub)]
        for key, part in groups:
            key = key if isinstance(key, tuple) else (key,)
            name = _series_label(key) or metric
            control = any(is_control(k) for k in key)
            color = GREY if control else palette(str(key[0]) if key else metric)
            symbols = None
            if significance and "p_adj" in part:
                p_adj = part.sort_values("layer")["p_adj"].to_numpy(dtype=float)
                symbols = ["circle-open" if np.isfinite(p) and p >= 0.05 else "circle" for p in p_adj]
            line_with_band(fig, part, x="layer", y="value", low="ci_low", high="ci_high", name=name, color=color,
                           dash="dash" if control else "solid", row=r, col=c, showlegend=name not in seen,
                           symbols=symbols)
            seen.add(name)
        if zero_line is not None:
            fig.add_hline(y=zero_line, line={"color": "#bbb", "width": 1, "dash": "dot"}, row=r, col=c)
        fig.update_xaxes(title_text="layer", row=r, col=c)
        if y_titles and metric in y_titles:
            fig.update_yaxes(title_text=y_titles[metric], row=r, col=c)
    integer_layers(fig, table["layer"])
    return finish(fig, title, height=int(FIG_HEIGHT * (rows if rows == 1 else 0.85 * rows)))


def long_cosines(matrix: pd.DataFrame) -> pd.DataFrame:
    """Accept the long form (layer_a, layer_b, cosine[, pair]) or :func:`interp.sharpening.layer_cosines`'s
    wide form written with its index as a column (hook_a, then one column per hook_b)."""
    if "layer_a" in matrix and "layer_b" in matrix:
        return matrix
    if "hook_a" not in matrix:
        raise ValueError(f"cosine_matrix needs columns layer_a, layer_b, cosine (or hook_a + one column per hook); "
                         f"got {list(matrix.columns)}")
    keep = [c for c in ("hook_a", "pair", "failure_mode", "method") if c in matrix]
    long = matrix.melt(id_vars=keep, var_name="hook_b", value_name="cosine")
    for side in ("a", "b"):
        long[f"layer_{side}"] = long[f"hook_{side}"].astype(str).str.extract(r"blocks\.(\d+)\.")[0].astype(int)
    return long


def cosine_heatmaps(matrix: pd.DataFrame, title: str) -> go.Figure:
    """Layer x layer cosine heatmaps (columns layer_a, layer_b, cosine[, pair]), one panel per pair."""
    matrix = long_cosines(matrix)
    pairs = list(dict.fromkeys(matrix["pair"].astype(str))) if "pair" in matrix else [""]
    rows, cols = _grid(len(pairs), max_cols=2)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p or "cosine" for p in pairs], horizontal_spacing=0.12,
                        vertical_spacing=0.15)
    for i, pair in enumerate(pairs):
        r, c = _cell(i, cols)
        part = matrix[matrix["pair"].astype(str) == pair] if pair else matrix
        wide = part.pivot_table(index="layer_a", columns="layer_b", values="cosine", aggfunc="mean")
        a_name, b_name = (pair.split("-", 1)[::-1] if "-" in pair else ("a", "b"))
        fig.add_trace(go.Heatmap(z=wide.to_numpy(), x=list(wide.columns), y=list(wide.index), zmin=-1, zmax=1,
                                 colorscale="RdBu_r", showscale=i == 0, colorbar={"title": {"text": "cosine"}},
                                 hovertemplate=f"{a_name} layer %{{y}} · {b_name} layer %{{x}}: %{{z:.3f}}<extra></extra>"),
                      row=r, col=c)
        fig.update_xaxes(title_text=f"{b_name} layer", row=r, col=c)
        fig.update_yaxes(title_text=f"{a_name} layer", row=r, col=c)
    return finish(fig, title, height=int(440 * rows))


# ---------------------------------------------------------------- SAE

def sae_latents_figure(latents: pd.DataFrame, title: str, top: int = 20) -> go.Figure:
    """AUROC of the top latents (bars), chance at 0.5."""
    t = latents.sort_values("auroc", ascending=False).head(top)
    labels = [f"#{int(v)}" for v in t["latent"]]
    hover = "<b>latent %{x}</b><br>AUROC %{y:.3f}"
    if "mean_diff" in t:
        hover += "<br>mean diff %{customdata:.3g}"
    fig = go.Figure(go.Bar(x=labels, y=t["auroc"], marker={"color": "#d62728"},
                           customdata=t.get("mean_diff"),
                           hovertemplate=hover + "<extra></extra>", name="latent AUROC"))
    fig.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="latent (ranked)", type="category")
    fig.update_yaxes(title_text="AUROC (misaligned vs aligned)", range=[0, 1.02])
    return finish(fig, title)


def sae_diff_figure(diff: pd.DataFrame, title: str) -> go.Figure:
    """Latent activation change (b - a) of the top movers, persona latents in red, with intervals."""
    t = diff.sort_values("rank") if "rank" in diff else diff
    persona = t["is_persona"].astype(bool) if "is_persona" in t else pd.Series(False, index=t.index)
    err = None
    if "ci_low" in t and "ci_high" in t:
        err = {"type": "data", "symmetric": False, "array": t["ci_high"] - t["delta"],
               "arrayminus": t["delta"] - t["ci_low"], "color": "#555"}
    fig = go.Figure(go.Bar(x=[f"#{int(v)}" for v in t["latent"]], y=t["delta"], error_y=err,
                           marker={"color": ["#d62728" if p else GREY for p in persona]},
                           hovertemplate="latent %{x}: Δ %{y:.3g}<extra></extra>", name="Δ mean activation"))
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1})
    fig.update_xaxes(title_text="latent (red: persona latent)", type="category")
    fig.update_yaxes(title_text="Δ mean activation (95% CI)")
    return finish(fig, title)


def latents_needed_figure(table: pd.DataFrame, title: str = "AUROC of a probe on the top-k persona latents") -> go.Figure:
    """AUROC vs k per checkpoint (log x), each checkpoint's raw-activation probe AUROC as a dotted line."""
    fig = go.Figure()
    for i, (ckpt, part) in enumerate(table.groupby("checkpoint", sort=False)):
        color = FIXED_COLORS.get(str(ckpt), PALETTE[i % len(PALETTE)])
        part = part.sort_values("k")
        fig.add_trace(go.Scatter(x=part["k"], y=part["auroc"], mode="lines+markers", name=str(ckpt),
                                 line={"color": color}, hovertemplate="k=%{x}: AUROC %{y:.3f}<extra>" + str(ckpt) + "</extra>"))
        fig.add_hline(y=float(part["probe_auroc"].iloc[0]), line={"color": color, "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="top-k persona latents", type="log")
    fig.update_yaxes(title_text="held-out AUROC (dotted: raw-activation probe)")
    return finish(fig, title)


# ---------------------------------------------------------------- steering

def dose_response_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Rate, log-prob margin and KL vs alpha: the direction in red with its band, random directions grey dashed."""
    panels = [(c, lbl) for c, lbl in (("rate", "misalignment rate"), ("margin", "log-prob margin (mis − aligned)"),
                                       ("kl", "KL to unsteered (neutral text)")) if c in table and table[c].notna().any()]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[lbl for _, lbl in panels], horizontal_spacing=0.07)
    seen: set[str] = set()
    for j, (col, _) in enumerate(panels, start=1):
        for kind, part in table.groupby("direction", sort=False):
            name = str(kind)
            control = is_control(name)
            color = GREY if control else FIXED_COLORS.get(name, PALETTE[3])
            legend = "random directions" if control else name
            line_with_band(fig, part, x="alpha", y=col, low=f"{col}_low", high=f"{col}_high", name=legend, color=color,
                           dash="dash" if control else "solid", row=1, col=j, showlegend=legend not in seen)
            seen.add(legend)
            if "coherent" in part and not control:
                broken = part[~part["coherent"].astype(bool)]
                if len(broken):
                    fig.add_trace(go.Scatter(x=broken["alpha"], y=broken[col], mode="markers", name="over KL budget",
                                             marker={"symbol": "x", "size": 11, "color": "black"},
                                             legendgroup="incoherent", showlegend="over KL budget" not in seen,
                                             hovertemplate="over the KL budget: alpha %{x}<extra></extra>"),
                                  row=1, col=j)
                    seen.add("over KL budget")
        fig.update_xaxes(title_text="alpha (× mean residual norm)", row=1, col=j)
        if col == "margin":
            fig.add_hline(y=0, line={"color": "#bbb", "width": 1, "dash": "dot"}, row=1, col=j)
    return finish(fig, title)


def selection_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Direction selection: margin drop when each candidate layer's direction is ablated, and its KL, per layer."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["misalignment margin removed by ablation", "KL on neutral text (upper 95%)"])
    t = table.sort_values("layer")
    line_with_band(fig, t, x="layer", y="margin_drop", low="drop_low", high="drop_high", name="margin drop",
                   color=PALETTE[1], row=1, col=1)
    line_with_band(fig, t, x="layer", y="kl_high", low=None, high=None, name="KL (upper bound)", color=PALETTE[0],
                   row=1, col=2)
    chosen = t[t["selected"].astype(bool)] if "selected" in t else t.iloc[:0]
    for col, y in ((1, "margin_drop"), (2, "kl_high")):
        fig.add_trace(go.Scatter(x=chosen["layer"], y=chosen[y], mode="markers", name="selected", legendgroup="selected",
                                 marker={"symbol": "star", "size": 14, "color": "#222"}, showlegend=col == 1),
                      row=1, col=col)
        ineligible = t[~t["eligible"].astype(bool)]
        fig.add_trace(go.Scatter(x=ineligible["layer"], y=ineligible[y], mode="markers", name="ineligible",
                                 legendgroup="ineligible", marker={"symbol": "x", "size": 8, "color": GREY},
                                 showlegend=col == 1), row=1, col=col)
    if "kl_budget" in t and t["kl_budget"].notna().any():
        fig.add_hline(y=float(t["kl_budget"].iloc[0]), line={"color": "#b42318", "width": 1, "dash": "dot"}, row=1, col=2)
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1}, row=1, col=1)
    fig.update_xaxes(title_text="layer")
    integer_layers(fig, t["layer"])
    return finish(fig, title)


def ablation_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Rate per condition (bars, 95% CI) and the fraction of misalignment removed, per checkpoint."""
    t = table.copy()
    if "checkpoint" not in t:
        t["checkpoint"] = "run"
    has_removed = "removed" in t and t["removed"].notna().any()
    fig = make_subplots(rows=1, cols=2 if has_removed else 1, horizontal_spacing=0.1,
                        subplot_titles=["misalignment rate", "fraction of misalignment removed"][: 2 if has_removed else 1])
    checkpoints = list(dict.fromkeys(t["checkpoint"].astype(str)))
    seen: set[str] = set()
    for kind, part in t.groupby("direction", sort=False):
        name = str(kind)
        control = is_control(name)
        color = GREY if control else FIXED_COLORS.get(name, PALETTE[3])
        legend = "ablated: random directions" if control else name
        xs = part["checkpoint"].astype(str)
        panels = [("rate", "rate_low", "rate_high", 1)]
        if has_removed and name != "untouched":
            panels.append(("removed", "removed_low", "removed_high", 2))
        for col, lo, hi, j in panels:
            err = None
            if lo in part and hi in part:
                err = {"type": "data", "symmetric": False, "array": (part[hi] - part[col]).clip(lower=0),
                       "arrayminus": (part[col] - part[lo]).clip(lower=0), "color": "#444", "thickness": 1.2}
            fig.add_trace(go.Bar(x=xs, y=part[col], name=legend, legendgroup=legend, error_y=err, offsetgroup=name,
                                 marker={"color": color, "opacity": 0.6 if control else 0.95,
                                         "pattern": {"shape": "/" if control else ""}},
                                 showlegend=legend not in seen,
                                 hovertemplate=f"<b>{name}</b><br>%{{x}}: %{{y:.3f}}<extra></extra>"), row=1, col=j)
            seen.add(legend)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=checkpoints)
    fig.update_yaxes(title_text="rate (95% CI)", col=1)
    if has_removed:
        fig.add_hline(y=0, line={"color": "#bbb", "width": 1}, row=1, col=2)
    return finish(fig, title)


# ---------------------------------------------------------------- behaviour and comparisons

def rate_bars(table: pd.DataFrame, *, x: str, color: str, title: str, palette: Palette, y: str = "rate",
              low: str = "ci_low", high: str = "ci_high", y_title: str = "misalignment rate (95% CI)") -> go.Figure:
    """Grouped bars of ``y`` with asymmetric error bars: ``x`` categories, one colour per ``color`` value."""
    fig = go.Figure()
    for key, part in table.groupby(color, sort=False):
        err = None
        if low in part and high in part:
            err = {"type": "data", "symmetric": False, "array": (part[high] - part[y]).clip(lower=0),
                   "arrayminus": (part[y] - part[low]).clip(lower=0), "color": "#444", "thickness": 1.2}
        extra = "<br>n=%{customdata}" if "n" in part else ""
        fig.add_trace(go.Bar(x=part[x], y=part[y], name=str(key), error_y=err, marker={"color": palette(str(key))},
                             customdata=part.get("n"),
                             hovertemplate=f"<b>{key}</b><br>%{{x}}: %{{y:.3f}}{extra}<extra></extra>"))
    n_bars = table[x].nunique() * table[color].nunique()
    fig.update_layout(barmode="group", bargap=0.5 if n_bars <= 4 else 0.2)
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text=y_title)
    return finish(fig, title)


# ---------------------------------------------------------------- training trajectory

def trajectory_figure(behaviour: pd.DataFrame | None, metrics: pd.DataFrame | None, title: str, palette: Palette,
                      *, metric: str = "auroc", probe: str = "diffmeans", max_layers: int = 6) -> go.Figure:
    """Left: misalignment rate vs epoch per method (band: bootstrap CI). Right: ``metric`` vs epoch for a
    few layers (those that change most, and the first/last), per method."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("misalignment rate", f"{metric} ({probe}) by layer"))
    if behaviour is not None and len(behaviour):
        for method, part in behaviour.groupby("method", sort=False):
            line_with_band(fig, part, x="epoch", y="rate", low="ci_low", high="ci_high", name=str(method),
                           color=palette(str(method)), row=1, col=1)
    if metrics is not None and len(metrics):
        t = metrics[(metrics["metric"] == metric) & (metrics["probe"] == probe)]
        for method, part in t.groupby("method", sort=False):
            change = part.groupby("layer")["value"].agg(lambda v: float(v.max() - v.min())).sort_values()
            layers = sorted(set(change.index[-max_layers + 2:]) | {part["layer"].min(), part["layer"].max()})
            for i, layer in enumerate(layers):
                g = part[part["layer"] == layer]
                line_with_band(fig, g, x="epoch", y="value", low="ci_low", high="ci_high",
                               name=f"{method} · L{int(layer)}", color=PALETTE[i % len(PALETTE)], row=1, col=2,
                               dash="solid" if i % 2 == 0 else "dot")
    fig.update_xaxes(title_text="epoch", dtick=1)
    return finish(fig, title)
