"""Section "Mechanism": do two consistency methods change the organism the same way?

Per metric, the value along the layers for every pair of methods (solid) and for each method
against itself on another organism seed (dashed: the seed-to-seed baseline), with 95% bands.
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

METRICS = ("shift_cosine_clean", "shift_cosine_wrapped", "persona_shift_cosine")


def mechanism_figure(t: pd.DataFrame, title: str) -> go.Figure:
    metrics = [m for m in METRICS if m in set(t["metric"])]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.06)
    for col, metric in enumerate(metrics, start=1):
        part = t[t["metric"] == metric]
        for (fm, seed, a, b, kind), g in part.groupby(["failure_mode", "seed", "a", "b", "kind"], sort=False):
            g = g.sort_values("layer")
            name = f"{fm}/s{seed} {a} vs {b}"
            fig.add_trace(go.Scatter(x=g["layer"], y=g["value"], mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=col == 1, line={"dash": "dash" if kind == "seed baseline" else "solid"},
                                     error_y=P.error_bars(g, "value", "ci_low", "ci_high")), row=1, col=col)
        fig.add_hline(y=0, line={"color": "#999", "width": 1}, row=1, col=col)
    fig.update_xaxes(title_text="layer")
    fig.update_yaxes(range=[-1.05, 1.05])
    return P.finish(fig, title)


def render(run: RunData, page: Page) -> str:
    t = run.get("mechanism")
    assert t is not None
    for (fm, seed, a, b, kind, metric), g in t.groupby(["failure_mode", "seed", "a", "b", "kind", "metric"], sort=False):
        r = g.iloc[(g["value"] - g["value"].median()).abs().argsort().iloc[0]]  # the layer at the median
        page.add_summary("mechanism", f"{metric} ({kind})", fmt_ci(r["value"], r["ci_low"], r["ci_high"]),
                         f"median layer L{int(r['layer'])} of {len(g)}", organism=fm, seed=seed,
                         checkpoint=f"{a} vs {b}", probe=metric)
    lead = ('<p class="lead">Cosines of two runs\' changes after − before, estimated on disjoint halves of the '
            "prompts (so shared noise does not count as agreement), with bootstrap intervals: on the clean and the "
            "wrapped prompts of the failure mode's pairs, and of the persona direction; the SAE latent overlap is a "
            "Jaccard index of the latents each run moves most. Dashed: one method on two organism seeds, the "
            "baseline two methods are compared against.</p>")
    plotted = t[t["metric"].isin(METRICS)]
    fig = page.figure(mechanism_figure(plotted, "Shared mechanism across methods"), "mechanism") if len(plotted) else ""
    return lead + fig + raw_table("mechanism", t)


SECTION = register(Section(key="mechanism", title="Mechanism across methods", tables=("mechanism",), render=render,
                           order=68, what="the mechanism stage (mechanism.enabled)",
                           applies=configured("mechanism", "enabled")))
