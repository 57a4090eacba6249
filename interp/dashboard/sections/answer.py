"""Section "The answer" (top of every run page): per organism, for every consistency method side by side, the
behaviour change, the sharpening of the persona direction and its causal effect, each with its interval and its
control; then the same numbers as a short table. The numbers come from :mod:`interp.dashboard.answer`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.answer import Layer, answer_rows, has_any
from interp.dashboard.markup import esc, fmt, fmt_ci, fmt_p, html_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import organism_label

PANELS = (("behaviour", "behaviour_low", "behaviour_high", "behaviour change<br>(misalignment rate, paired)"),
          ("delta_auroc", "delta_low", "delta_high", "sharpening of the direction<br>(ΔAUROC)"),
          ("removed", "removed_low", "removed_high", "causal effect<br>(fraction removed by ablation)"))
REFERENCE = "#555555"
NEEDS = {"behaviour": "behaviour", "delta_auroc": "sharpening", "removed": "ablation"}


def _color(row: pd.Series, palette: P.Palette) -> str:
    if row["role"] == "reference":
        return REFERENCE
    return P.GREY if row["role"] == "control" else palette(f"after:{row['method']}")


def _values(part: pd.DataFrame, col: str) -> list[float | None]:
    """Plain lists (JSON numbers, no typed arrays) so the page's data reads back exactly; NaN as a gap."""
    return [None if not math.isfinite(v) else float(v) for v in part[col].astype(float)]


def answer_figure(rows: pd.DataFrame, title: str, palette: P.Palette) -> go.Figure:
    """One failure mode: three panels sharing the rows (reference on top, methods, controls last, each seed's
    rows together); zero lines; in the causal
    panel each row's random directions as a grey range (min..max) behind the direction's point."""
    fig = make_subplots(rows=1, cols=3, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[p[3] for p in PANELS])
    labels = list(rows["row"])
    for j, (col, lo, hi, _) in enumerate(PANELS, start=1):
        if j == 3 and rows["random_min"].notna().any():
            rnd = rows.dropna(subset=["random_min", "random_max"])
            xs: list[float | None] = []
            ys: list[str | None] = []
            for _, r in rnd.iterrows():
                xs += [float(r["random_min"]), float(r["random_max"]), None]
                ys += [str(r["row"]), str(r["row"]), None]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="random directions (range, min..max)",
                                     line={"color": "rgba(140,140,140,0.45)", "width": 10},
                                     marker={"symbol": "line-ns", "size": 12, "color": P.GREY,
                                             "line": {"width": 2, "color": P.GREY}},
                                     legendgroup="random", hoverinfo="skip"), row=1, col=3)
        for _, r in rows.iterrows():
            if not np.isfinite(float(r[col])):
                continue
            part = rows.loc[[r.name]]
            filled = j != 2 or (np.isfinite(r["p_adj"]) and r["p_adj"] < 0.05)
            color = _color(r, palette)
            detail = f"p_adj (BH) {fmt_p(r['p_adj'])}" if j == 2 else ""
            fig.add_trace(go.Scatter(
                x=_values(part, col), y=[str(r["row"])], mode="markers", name=str(r["row"]), legendgroup=str(r["row"]),
                showlegend=False, error_x={"type": "data", "symmetric": False, "color": color, "thickness": 2,
                                           "array": [max(float(r[hi]) - float(r[col]), 0) if np.isfinite(r[hi]) else 0],
                                           "arrayminus": [max(float(r[col]) - float(r[lo]), 0)
                                                          if np.isfinite(r[lo]) else 0]},
                marker={"color": color if filled else "white", "size": 11,
                        "symbol": "diamond" if r["role"] == "reference" else "circle", "line": {"color": color, "width": 2}},
                customdata=[[_values(part, lo)[0], _values(part, hi)[0]]],
                hovertemplate=f"<b>{esc(r['row'])}</b><br>%{{x:.3f}} [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]"
                              f"<br>{detail}<extra></extra>"), row=1, col=j)
        if not np.isfinite(rows[col].astype(float)).any():  # an empty panel keeps its axes (and says why)
            fig.add_trace(go.Scatter(x=[0.0], y=[labels[0]], mode="markers", marker={"opacity": 0}, showlegend=False,
                                     hoverinfo="skip", name="(empty)"), row=1, col=j)
        fig.add_vline(x=0, line={"color": "#999", "width": 1}, row=1, col=j)
        if not np.isfinite(rows[col].astype(float)).any():
            fig.add_annotation(text=f"not in this run<br>(no {NEEDS[col]} table rows)", showarrow=False,
                               x=0.5, y=0.5, xref="x domain", yref="y domain", row=1, col=j,
                               font={"color": P.GREY, "size": 12})
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=labels[::-1], col=1)
    fig.update_xaxes(zeroline=False)
    fig = P.finish(fig, title, height=int(190 + 46 * max(len(labels), 2)))
    fig.update_layout(margin={"l": 230, "r": 20, "t": 96, "b": 80},
                      legend={"orientation": "h", "x": 1, "xanchor": "right", "y": -0.22, "yanchor": "top"})
    return fig


def _table(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    out = []
    for _, r in rows.iterrows():
        rnd = (f"{fmt(r['random_min'])}..{fmt(r['random_max'])} (n={int(r['n_random'])})" if r["n_random"] else "–")
        out.append({"organism": r["failure_mode"], "seed": int(r["seed"]), "row": r["row"], "comparison": r["comparison"],
                    "behaviour change [95% CI]": fmt_ci(r["behaviour"], r["behaviour_low"], r["behaviour_high"]),
                    "judge": r["judge"] or "–",
                    "ΔAUROC [95% CI]": fmt_ci(r["delta_auroc"], r["delta_low"], r["delta_high"]),
                    "p_adj (BH)": fmt_p(r["p_adj"]), "probe @ layer": f"{r['probe']} @ L{int(r['layer'])}"
                    if r["layer"] >= 0 else r["probe"],
                    "shuffled-label AUROC a → b": f"{fmt(r['shuffled_a'])} → {fmt(r['shuffled_b'])}",
                    "removed by ablation [95% CI]": fmt_ci(r["removed"], r["removed_low"], r["removed_high"]),
                    "random directions remove (min..max)": rnd})
    return pd.DataFrame(out), [str(role) if role != "method" else "" for role in rows["role"]]


def _layer_note(layers: dict[tuple[str, int], Layer]) -> str:
    notes = [f"{esc(organism_label(fm, seed))}: layer {lay.layer} (<code>{esc(lay.hook)}</code>), {esc(lay.reason)}"
             if lay.hook else f"{esc(organism_label(fm, seed))}: {esc(lay.reason)}" for (fm, seed), lay in layers.items()]
    return "<ul>" + "".join(f"<li>{n}</li>" for n in notes) + "</ul>"


def render(run: RunData, page: Page) -> str:
    rows, layers = answer_rows(run)
    if not has_any(rows):
        return ('<p class="missing">No answer to draw: the run has no behaviour change, sharpening or ablation of '
                "an organism after consistency training (its sections below show what it has).</p>")
    parts = ['<p class="lead">For each organism, every consistency method side by side: (a) the paired change of '
             "the misalignment rate after − before; (b) the change of the persona direction's cross-validated AUROC "
             "after − before (filled: Benjamini-Hochberg p_adj &lt; 0.05 over layers; open: not significant); (c) the "
             "fraction of the misalignment that ablating that direction removes in the trained checkpoint. Bars: 95% "
             "intervals. Controls: the control methods (grey), zero lines, the random directions' range (grey band, "
             "min..max over directions); the top row (diamond) is the organism against the base model "
             "(before − base; ablation in before). The table below also gives the shuffled-label control's AUROC in both "
             "checkpoints at the layer read.</p>", "<p>Sharpening is read at:</p>" + _layer_note(layers)]
    for fm, part in rows.groupby("failure_mode", sort=False):  # one figure per failure mode, its seeds as rows
        seeds = list(dict.fromkeys(part["seed"]))
        if len(seeds) > 1:
            part = part.assign(row=[f"{r} · seed {s}" for r, s in zip(part["row"], part["seed"], strict=True)])
        who = organism_label(fm, seeds[0]) if len(seeds) == 1 else f"{fm} · seeds {', '.join(map(str, seeds))}"
        title = f"{who}: what consistency training did"
        parts.append(page.figure(answer_figure(part.reset_index(drop=True), title, page.palette), f"answer-{fm}"))
    table, classes = _table(rows)
    parts.append("<h3>The same numbers</h3>" + html_table(table, row_classes=classes))
    return "".join(parts)


SECTION = register(Section(key="answer", title="Answer", tables=("behaviour", "sharpening", "ablation"), render=render,
                           order=10, what="behaviour change, sharpening and ablation after consistency training"))
