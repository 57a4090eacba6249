"""Section "Prediction": did the labels say, before training, what each consistency run would do?

A scatter per layer of each run's predictor (projection difference of its targets over the
organism's own answers, on the persona direction) against the behaviour change the run produced,
both with intervals; the correlation across runs with its shuffled control; and per run the
targets that push hardest toward the persona, with their text.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

import interp.dashboard.plot as P
from interp.dashboard.markup import esc, fmt_ci, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import configured


def prediction_figure(runs: pd.DataFrame, title: str, palette: P.Palette) -> go.Figure:
    fig = go.Figure()
    for (layer, measure, method), part in runs.groupby(["layer", "measure", "method"], sort=False):
        fig.add_trace(go.Scatter(
            x=part["predictor"], y=part["change"], mode="markers", name=f"L{int(layer)} {measure} {method}",
            marker={"size": 10, "color": palette(f"after:{method}")},
            error_x=P.error_bars(part, "predictor", "ci_low", "ci_high"),
            error_y=P.error_bars(part, "change", "change_low", "change_high"),
            text=part["failure_mode"].astype(str) + "/s" + part["seed"].astype(str),
            hovertemplate="<b>%{text}</b><br>predictor %{x:+.3f}<br>change %{y:+.3f}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "#999", "width": 1})
    fig.add_vline(x=0, line={"color": "#999", "width": 1})
    fig.update_xaxes(title_text="predictor: projection of targets − own answers (95% CI)")
    fig.update_yaxes(title_text="behaviour change after − before (95% CI)")
    return P.finish(fig, title)


def render(run: RunData, page: Page) -> str:
    pred, runs, corr = run.get("prediction"), run.get("prediction_runs"), run.get("prediction_correlation")
    examples = run.get("prediction_examples")
    body = ('<p class="lead">Before training: the mean projection of what each run trains on minus the organism\'s '
            "own answers to the same prompts, on its persona direction (positive: the targets push toward the "
            "persona). After: the paired behaviour change. Correlation across runs with bootstrap intervals over "
            "runs and the p-value of shuffled pairings.</p>")
    if corr is not None and len(corr):
        organisms = ", ".join(sorted(map(str, runs["failure_mode"].unique()))) if runs is not None else "all"
        seeds = ", ".join(map(str, sorted(runs["seed"].unique()))) if runs is not None else "all"
        for _, r in corr.iterrows():
            page.add_summary("prediction", f"{r['statistic']} r, predictor vs change in {r['measure']}",
                             fmt_ci(r["value"], r["ci_low"], r["ci_high"]),
                             f"{int(r['n_runs'])} runs, shuffled p = {r['p_shuffled']:.3f}", organism=organisms,
                             seed=seeds, checkpoint="after − before, every run", probe=f"L{int(r['layer'])}")
        body += "<ul>" + "".join(f"<li>L{int(r['layer'])} {esc(r['measure'])} {esc(r['statistic'])}: r = "
                                 f"{fmt_ci(r['value'], r['ci_low'], r['ci_high'])}, {int(r['n_runs'])} runs, "
                                 f"shuffled p = {r['p_shuffled']:.3f}</li>" for _, r in corr.iterrows()) + "</ul>"
    if runs is not None and len(runs):
        body += page.figure(prediction_figure(runs, "Predictor before training vs change after", page.palette),
                            "prediction")
        body += raw_table("prediction_runs", runs)
    else:
        body += "<p>No run's behaviour change is measured yet: the predictors alone.</p>"
    if corr is not None and len(corr):
        body += raw_table("prediction_correlation", corr)
    if pred is not None:
        body += raw_table("prediction", pred)
    if examples is not None and len(examples):
        body += "<h3>The targets that push hardest toward the persona</h3>" + raw_table("prediction_examples", examples)
    return body


SECTION = register(Section(key="prediction", title="Prediction before training", order=67, render=render,
                           tables=("prediction", "prediction_examples", "prediction_runs", "prediction_correlation"),
                           what="the prediction stage (prediction.enabled)",
                           applies=configured("prediction", "enabled")))
