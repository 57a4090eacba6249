"""Section "Mediation": how much of each method's behaviour change runs through the persona direction.

Left: the behaviour change after - before of the plain run and of each training-time condition;
right: the share of the plain change each condition removes (1 = all of it runs through the
direction, 0 = none; random directions are the control). Seeds pooled where the run has several.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import fmt_ci, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import configured


def _who(t: pd.DataFrame) -> pd.Series:
    return t["failure_mode"].astype(str) + "/s" + t["seeds"].astype(str) + "<br>" + t["method"].astype(str)


def mediation_figure(t: pd.DataFrame, title: str) -> go.Figure:
    """One row per behaviour measure: its changes (left) and the shares they give (right)."""
    measures = list(dict.fromkeys(t["measure"])) if "measure" in t else ["rate"]
    titles = [f"{m}: {what}" for m in measures
              for what in ("change after − before", "share mediated = 1 − change / change(none)")]
    fig = make_subplots(rows=len(measures), cols=2, horizontal_spacing=0.12, vertical_spacing=0.18,
                        subplot_titles=titles)
    t = t.assign(who=_who(t))
    for row, measure in enumerate(measures, start=1):
        part_m = t[t["measure"] == measure] if "measure" in t else t
        for cond, part in part_m.groupby("condition", sort=False):
            marker = {"color": P.GREY} if str(cond).startswith("ablate:random") else {}
            fig.add_trace(go.Bar(x=part["who"], y=part["change"], name=str(cond), marker=marker, legendgroup=str(cond),
                                 showlegend=row == 1, error_y=P.error_bars(part, "change", "change_low", "change_high")),
                          row=row, col=1)
            shares = part[part["share"].notna()]
            if len(shares):
                fig.add_trace(go.Bar(x=shares["who"], y=shares["share"], name=str(cond), marker=marker,
                                     showlegend=False, legendgroup=str(cond),
                                     error_y=P.error_bars(shares, "share", "share_low", "share_high")), row=row, col=2)
        fig.add_hline(y=1, line={"color": "#999", "width": 1, "dash": "dot"}, row=row, col=2)
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    return P.finish(fig, title, height=380 * len(measures))


def render(run: RunData, page: Page) -> str:
    t = run.get("mediation")
    assert t is not None
    per_seed, pooled = t[t["seed"] != -1], t[t["seed"] == -1]
    shown = pooled if len(pooled) else per_seed
    for _, r in shown.iterrows():
        if pd.notna(r["share"]):
            page.add_summary("mediation", f"share mediated ({r['condition']}, {r.get('measure', 'rate')})",
                             fmt_ci(r["share"], r["share_low"], r["share_high"]),
                             f"change {fmt_ci(r['change'], r['change_low'], r['change_high'])}",
                             organism=r["failure_mode"], seed=r["seeds"],
                             checkpoint=f"after:{r['method']}", probe="training-time ablation")
    lead = ('<p class="lead">Each consistency run trained again with the organism\'s persona direction ablated '
            "(or a random direction, grey; or steered in) in every training forward pass, and measured without it. "
            "A share near 1: the behaviour change cannot be learnt without the direction; near the random "
            "directions' share: it does not run through it. No share where the plain run's change is not "
            "distinguishable from 0. Intervals: paired bootstrap over eval prompts"
            + (" (x seeds)" if len(pooled) else "") + ".</p>")
    body = lead + page.figure(mediation_figure(shown, "Mediation by the persona direction"), "mediation")
    return body + raw_table("mediation", t)


SECTION = register(Section(key="mediation", title="Mediation", tables=("mediation",), render=render,
                           order=65, what="the mediation stage (mediation.conditions)",
                           applies=configured("mediation", "conditions")))
