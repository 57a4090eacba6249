"""Section "Steering & ablation": dose-response of the persona direction, the direction selection of
``steering.layer: auto``, and its ablation in every checkpoint, random directions as controls."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import fmt, fmt_ci, groups, missing, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import config_value


def steering_probe(run: RunData) -> str:
    """The probe whose direction steering used (the config's ``steering.probe``; ``diffmeans`` by default)."""
    return str(config_value(run.manifest, "steering", "probe", "diffmeans"))


def dose_response_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Rate, log-prob margin and KL vs alpha: the direction in red with its band, random directions grey dashed."""
    panels = [(c, lbl) for c, lbl in (("rate", "misalignment rate"), ("margin", "log-prob margin (mis − aligned)"),
                                       ("kl", "KL to unsteered (neutral text)")) if c in table and table[c].notna().any()]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[lbl for _, lbl in panels], horizontal_spacing=0.07)
    seen: set[str] = set()
    for j, (col, _) in enumerate(panels, start=1):
        for kind, part in table.groupby("direction", sort=False):
            name = str(kind)
            control = P.is_control(name)
            color = P.GREY if control else P.FIXED_COLORS.get(name, P.PALETTE[3])
            legend = "random directions" if control else name
            P.line_with_band(fig, part, x="alpha", y=col, low=f"{col}_low", high=f"{col}_high", name=legend,
                             color=color, dash="dash" if control else "solid", row=1, col=j,
                             showlegend=legend not in seen)
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
    return P.finish(fig, title)


def selection_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Direction selection: margin drop when each candidate layer's direction is ablated, and its KL, per layer."""
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=["misalignment margin removed by ablation", "KL on neutral text (upper 95%)"])
    t = table.sort_values("layer")
    P.line_with_band(fig, t, x="layer", y="margin_drop", low="drop_low", high="drop_high", name="margin drop",
                     color=P.PALETTE[1], row=1, col=1)
    P.line_with_band(fig, t, x="layer", y="kl_high", low=None, high=None, name="KL (upper bound)", color=P.PALETTE[0],
                     row=1, col=2)
    chosen = t[t["selected"].astype(bool)] if "selected" in t else t.iloc[:0]
    for col, y in ((1, "margin_drop"), (2, "kl_high")):
        fig.add_trace(go.Scatter(x=chosen["layer"], y=chosen[y], mode="markers", name="selected", legendgroup="selected",
                                 marker={"symbol": "star", "size": 14, "color": "#222"}, showlegend=col == 1),
                      row=1, col=col)
        ineligible = t[~t["eligible"].astype(bool)]
        fig.add_trace(go.Scatter(x=ineligible["layer"], y=ineligible[y], mode="markers", name="ineligible",
                                 legendgroup="ineligible", marker={"symbol": "x", "size": 8, "color": P.GREY},
                                 showlegend=col == 1), row=1, col=col)
    if "kl_budget" in t and t["kl_budget"].notna().any():
        fig.add_hline(y=float(t["kl_budget"].iloc[0]), line={"color": "#b42318", "width": 1, "dash": "dot"}, row=1, col=2)
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1}, row=1, col=1)
    fig.update_xaxes(title_text="layer")
    P.integer_layers(fig, t["layer"])
    return P.finish(fig, title)


def ablation_figure(table: pd.DataFrame, title: str) -> go.Figure:
    """Rate per condition (bars, 95% CI) and the fraction of misalignment removed, per checkpoint on one axis;
    every random direction is its own grey hatched bar (never averaged)."""
    t = table.copy()
    if "checkpoint" not in t:
        t["checkpoint"] = "run"
    has_removed = "removed" in t and t["removed"].notna().any()
    fig = make_subplots(rows=1, cols=2 if has_removed else 1, horizontal_spacing=0.1,
                        subplot_titles=["misalignment rate", "fraction of misalignment removed"][: 2 if has_removed else 1])
    checkpoints = list(dict.fromkeys(t["checkpoint"].astype(str)))
    colors = P.Palette()  # each other organism's direction its own colour
    seen: set[str] = set()
    for kind, part in t.groupby("direction", sort=False):
        name = str(kind)
        control = P.is_control(name)
        color = P.GREY if control else colors(name)
        legend = "ablated: random directions" if control else name
        xs = part["checkpoint"].astype(str)
        panels = [("rate", "rate_low", "rate_high", 1)]
        if has_removed and name != "untouched":
            panels.append(("removed", "removed_low", "removed_high", 2))
        for col, lo, hi, j in panels:
            fig.add_trace(go.Bar(x=xs, y=part[col], name=legend, legendgroup=legend, error_y=P.error_bars(part, col, lo, hi),
                                 offsetgroup=name, marker={"color": color, "opacity": 0.6 if control else 0.95,
                                                           "pattern": {"shape": "/" if control else ""}},
                                 showlegend=legend not in seen,
                                 hovertemplate=f"<b>{name}</b><br>%{{x}}: %{{y:.3f}}<extra></extra>"), row=1, col=j)
            seen.add(legend)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=checkpoints)
    fig.update_yaxes(title_text="rate (95% CI)", col=1)
    if has_removed:
        fig.add_hline(y=0, line={"color": "#bbb", "width": 1}, row=1, col=2)
    return P.finish(fig, title)


def random_range(values: pd.Series) -> str:
    """``min..max over n random directions`` (a range, never an average of intervals)."""
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return "no random directions"
    return f"{fmt(v.min())}..{fmt(v.max())} over {len(v)} random direction{'s' if len(v) != 1 else ''}"


def _dose(dr: pd.DataFrame, page: Page, probe: str) -> list[str]:
    parts = ['<p class="lead">The direction added at one hook with strength alpha (× the mean residual norm '
             "there) vs random directions of equal norm (grey dashed); bands are bootstrap 95% intervals; "
             "× marks strengths over the KL budget (incoherent).</p>"]
    for title, values, part in groups(dr, ("failure_mode", "seed", "hook", "checkpoint", "judge")):
        parts.append(page.figure(dose_response_figure(part, f"Steering{' — ' + title if title else ''}"),
                                 f"dose-{title}"))
        persona = part[~part["direction"].map(P.is_control)].sort_values("alpha")
        rand = part[part["direction"].map(P.is_control)]
        if len(persona) >= 2:
            lo, hi = persona.iloc[0], persona.iloc[-1]
            rl, rh = rand[rand["alpha"] == lo["alpha"]]["rate"], rand[rand["alpha"] == hi["alpha"]]["rate"]
            page.add_summary("steering", f"dose-response at {values.get('hook', 'the steered hook')}",
                             f"rate {fmt(lo['rate'])} → {fmt(hi['rate'])} (alpha {fmt(lo['alpha'], 2)} → "
                             f"{fmt(hi['alpha'], 2)})",
                             f"random directions: {random_range(rl)} at alpha {fmt(lo['alpha'], 2)}, "
                             f"{random_range(rh)} at alpha {fmt(hi['alpha'], 2)}",
                             organism=values.get("failure_mode", "–"), seed=values.get("seed", "–"),
                             checkpoint=values.get("checkpoint", "–"), probe=probe)
    return [*parts, raw_table("dose_response", dr)]


def render(run: RunData, page: Page) -> str:
    probe = steering_probe(run)
    parts = ["<h3>Dose-response</h3>"]
    dr = run.get("dose_response")
    parts += _dose(dr, page, probe) if dr is not None else [missing("dose_response", "the steering dose-response sweep")]
    sel = run.get("direction_selection")
    if sel is not None:
        parts.append('<h3>Direction selection</h3><p class="lead">Each candidate layer\'s direction ablated from every '
                     "layer on held-out eval prompts: the misalignment margin it removes (bootstrap 95% CI) and its KL "
                     "on neutral text; ineligible (×): over the KL budget (dotted) or in the last 20% of layers. The "
                     "star is the direction steered and ablated (Arditi et al. 2024).</p>")
        for title, values, part in groups(sel, ("failure_mode", "seed")):
            parts.append(page.figure(selection_figure(part, f"Direction selection{' — ' + title if title else ''}"),
                                     f"selection-{title}"))
            if "selected" in part and part["selected"].any():
                r = part[part["selected"].astype(bool)].iloc[0]
                page.add_summary("steering", "selected layer", f"layer {int(r['layer'])}",
                                 f"margin drop {fmt_ci(r['margin_drop'], r['drop_low'], r['drop_high'])}, "
                                 f"KL ≤ {fmt(r['kl_high'])}", organism=values.get("failure_mode", "–"),
                                 seed=values.get("seed", "–"), checkpoint="before", probe=probe)
        parts.append(raw_table("direction_selection", sel))
    parts.append("<h3>Directional ablation</h3>")
    ab = run.get("ablation")
    if ab is None:
        parts.append(missing("ablation", "the directional-ablation experiment"))
        return "".join(parts)
    parts.append('<p class="lead">The direction projected out of every layer vs each random direction ablated '
                 "(grey, hatched) vs untouched, every checkpoint on one axis; right: fraction of the untouched "
                 "misalignment removed (paired bootstrap 95% CI).</p>")
    for title, values, part in groups(ab, ("failure_mode", "seed", "judge")):
        parts.append(page.figure(ablation_figure(part, f"Ablation{' — ' + title if title else ''}"), f"ablation-{title}"))
        if "removed" not in part:
            continue
        for ck, g in (part.groupby("checkpoint", sort=False) if "checkpoint" in part else [("", part)]):
            per = g[g["direction"] == "ablated:persona"]
            rnd = g[g["direction"].astype(str).str.startswith("ablated:random")]
            if len(per):
                r = per.iloc[0]
                page.add_summary("ablation", "fraction of misalignment removed",
                                 f"removed {fmt_ci(r['removed'], r.get('removed_low'), r.get('removed_high'))}",
                                 f"random directions remove {random_range(rnd['removed'])}",
                                 organism=values.get("failure_mode", "–"), seed=values.get("seed", "–"),
                                 checkpoint=ck, probe=probe)
    parts.append(raw_table("ablation", ab))
    return "".join(parts)


SECTION = register(Section(key="steering", title="Steering & ablation", order=60, render=render,
                           tables=("dose_response", "direction_selection", "ablation"),
                           what="steering and directional ablation"))
