"""Section "Behaviour": the misalignment rate of every checkpoint on one axis per organism, and the paired changes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import fmt, fmt_ci, html_table, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import drop_mirrored, is_control_method, organism_label, split_pair


def behaviour_figure(rates: pd.DataFrame, changes: pd.DataFrame, title: str, palette: P.Palette) -> go.Figure:
    """Left: rate per organism, every checkpoint side by side. Right: paired changes b − a (0 = no change)."""
    has_changes = len(changes) > 0
    fig = make_subplots(rows=1, cols=2 if has_changes else 1, horizontal_spacing=0.1, column_widths=[0.55, 0.45]
                        if has_changes else None, subplot_titles=["misalignment rate", "paired change b − a"]
                        [: 2 if has_changes else 1])
    for ck, part in rates.groupby("checkpoint", sort=False):
        fig.add_trace(go.Bar(x=part["organism"], y=part["rate"], name=str(ck), marker={"color": palette(str(ck))},
                             error_y=P.error_bars(part, "rate", "ci_low", "ci_high"), customdata=part.get("n"),
                             hovertemplate=f"<b>{ck}</b><br>%{{x}}: %{{y:.3f}}<br>n=%{{customdata}}<extra></extra>"),
                      row=1, col=1)
    if has_changes:
        for ck, part in changes.groupby("checkpoint", sort=False):
            method = str(part["consistency_method"].iloc[0]) if "consistency_method" in part else ""
            control = is_control_method(method)
            name = f"{ck} (control)" if control else str(ck)
            fig.add_trace(go.Bar(x=part["organism"], y=part["rate"], name=name,
                                 marker={"color": P.GREY if control else palette((split_pair(ck) or (str(ck),))[0]),
                                         "pattern": {"shape": "/" if control else ""}},
                                 error_y=P.error_bars(part, "rate", "ci_low", "ci_high"),
                                 hovertemplate=f"<b>{ck}</b><br>%{{x}}: %{{y:+.3f}}<extra></extra>"), row=1, col=2)
        fig.add_hline(y=0, line={"color": "#999", "width": 1}, row=1, col=2)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text="rate (95% CI)", col=1)
    return P.finish(fig, title)


def render(run: RunData, page: Page) -> str:
    t = run.get("behaviour")
    assert t is not None
    t = t.copy()
    for col, default in (("checkpoint", "run"), ("failure_mode", ""), ("seed", -1)):
        if col not in t:
            t[col] = default
    is_change = t["checkpoint"].map(lambda c: split_pair(c) is not None)
    seeds = t.groupby("failure_mode")["seed"].transform(lambda s: s[s >= 0].nunique() if len(s) else 0)
    t["organism"] = [organism_label(fm, s) if n > 1 else str(fm)
                     for fm, s, n in zip(t["failure_mode"], t["seed"], seeds, strict=True)]
    if "judge" in t and t["judge"].nunique() > 1:  # ours and another judge's (the paper's): one group per judge
        t["organism"] = t["organism"].astype(str) + "<br>" + t["judge"].astype(str)
    rates, changes = t[~is_change], drop_mirrored(t[is_change])
    judges = ", ".join(map(str, t["judge"].unique())) if "judge" in t else "unknown"
    fig = behaviour_figure(rates, changes, f"Misalignment rate per checkpoint (judge: {judges})", page.palette)
    for _, r in pd.concat([rates, changes]).iterrows():
        judge = r.get("judge", "?")
        page.add_summary("behaviour", "paired change" if split_pair(r["checkpoint"]) else "misalignment rate",
                         f"{'Δ ' if split_pair(r['checkpoint']) else ''}rate {fmt_ci(r['rate'], r.get('ci_low'), r.get('ci_high'))}",
                         f"n = {fmt(r.get('n'))}", organism=r["failure_mode"], seed=r["seed"],
                         checkpoint=r["checkpoint"], probe=f"judge: {judge}")
    lead = ('<p class="lead">Rates with bootstrap 95% intervals; the changes are paired over the same eval prompts '
            "(after − before, before − base), controls hatched grey.</p>")
    paper = run.get("paper_results")
    extra = "" if paper is None else (
        "<h3>The paper's results</h3><p class=\"lead\">Every metric of the matched rows of the results file "
        "(<code>results:</code>), as the paper's judge reported them (no intervals: the file holds no per-example "
        "scores).</p>" + raw_table("paper_results", paper))
    agree = run.get("judge_agreement")
    if agree is not None and not agree.empty:
        extra += _agreement(agree, page)
    return lead + page.figure(fig, "behaviour") + raw_table("behaviour", t.drop(columns=["organism"])) + extra


def _agreement(agree: pd.DataFrame, page: Page) -> str:
    """Two judges on the same generations: each one's rate and their Cohen's kappa, per checkpoint."""
    rows = []
    for _, r in agree.iterrows():
        kappa = fmt_ci(r["kappa"], r["kappa_ci_low"], r["kappa_ci_high"])
        rows.append({"failure mode": r["failure_mode"], "seed": r["seed"], "checkpoint": r["checkpoint"],
                     f"rate ({r['judge_a']})": fmt(r["rate_a"]), f"rate ({r['judge_b']})": fmt(r["rate_b"]),
                     "agreement": fmt(r["agreement"]), "Cohen's kappa": kappa, "n": int(r["n"])})
        page.add_summary("behaviour", "judge agreement", f"kappa {kappa}", f"n = {int(r['n'])}",
                         organism=r["failure_mode"], seed=r["seed"], checkpoint=r["checkpoint"],
                         probe=f"{r['judge_a']} vs {r['judge_b']}")
    return ("<h3>Two judges on the same generations</h3><p class=\"lead\">Each judge's misalignment rate on the same "
            "generated answers, the share of answers they call alike, and Cohen's kappa with a bootstrap 95% interval "
            "over prompts (kappa is near 0 when agreement is no better than two independent judges with those rates)."
            "</p>" + html_table(pd.DataFrame(rows)) + raw_table("judge_agreement", agree))


SECTION = register(Section(key="behaviour", title="Behaviour", tables=("behaviour", "paper_results", "judge_agreement"),
                           render=render,
                           order=70,
                           what="misalignment rates"))
