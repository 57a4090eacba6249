"""Section "Training trajectory": misalignment rate and probe separability along the saved epochs of every
consistency run, all methods of an organism on one axis."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import fmt, fmt_ci, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import is_control_method, of_organism, organism_label, organisms


def trajectory_figure(behaviour: pd.DataFrame | None, metrics: pd.DataFrame | None, title: str, palette: P.Palette,
                      *, metric: str = "auroc", probe: str = "diffmeans", max_layers: int = 6) -> go.Figure:
    """Left: misalignment rate vs epoch per method (band: bootstrap CI; controls grey dashed). Right: ``metric``
    vs epoch for a few layers (those that change most, and the first/last), per method."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("misalignment rate", f"{metric} ({probe}) by layer"))
    if behaviour is not None and len(behaviour):
        judges = list(dict.fromkeys(behaviour["judge"].astype(str))) if "judge" in behaviour else [""]
        for (method, judge), part in behaviour.assign(judge=behaviour.get("judge", "")).groupby(
                ["method", "judge"], sort=False):  # each judge its own line: ours and the paper's side by side
            control = is_control_method(method)
            name = f"{method} (control)" if control else str(method)
            P.line_with_band(fig, part, x="epoch", y="rate", low="ci_low", high="ci_high",
                             name=f"{name} · {judge}" if len(judges) > 1 else name,
                             color=P.GREY if control else palette(f"after:{method}"),
                             dash="dash" if control else ("solid" if judge == judges[0] else "dot"), row=1, col=1)
    if metrics is not None and len(metrics):
        t = metrics[(metrics["metric"] == metric) & (metrics["probe"] == probe)]
        for method, part in t.groupby("method", sort=False):
            change = part.groupby("layer")["value"].agg(lambda v: float(v.max() - v.min())).sort_values()
            layers = sorted(set(change.index[-max_layers + 2:]) | {part["layer"].min(), part["layer"].max()})
            for i, layer in enumerate(layers):
                g = part[part["layer"] == layer]
                P.line_with_band(fig, g, x="epoch", y="value", low="ci_low", high="ci_high",
                                 name=f"{method} · L{int(layer)}", color=P.PALETTE[i % len(P.PALETTE)], row=1, col=2,
                                 dash="dash" if is_control_method(method) else ("solid" if i % 2 == 0 else "dot"))
    fig.update_xaxes(title_text="epoch", dtick=1)
    return P.finish(fig, title)


def render(run: RunData, page: Page) -> str:
    beh, traj = run.get("behaviour_trajectory"), run.get("trajectory")
    parts = ['<p class="lead">Every saved epoch of each consistency run (epoch 0: the organism it started '
             "from): the misalignment rate with its bootstrap 95% interval, and the probe separability along "
             "epochs for the layers that moved most; control methods grey dashed.</p>"]
    found = list(dict.fromkeys([*organisms(beh if beh is not None else pd.DataFrame()),
                                *organisms(traj if traj is not None else pd.DataFrame())])) or [("", -1)]
    for fm, seed in found:
        b = of_organism(beh, fm, seed) if fm else beh
        t = of_organism(traj, fm, seed) if fm else traj
        probe = "diffmeans"
        if t is not None and "probe" in t and "diffmeans" not in set(t["probe"]):
            probe = str(t["probe"].iloc[0])
        title = organism_label(fm, seed) if fm else ""
        parts.append(page.figure(trajectory_figure(b, t, f"Trajectory{' — ' + title if title else ''}", page.palette,
                                                   probe=probe), f"trajectory-{title}"))
        if b is not None:
            for (method, judge), g in b.assign(judge=b.get("judge", "?")).groupby(["method", "judge"], sort=False):
                g = g.sort_values("epoch")
                first, last = g.iloc[0], g.iloc[-1]
                page.add_summary("trajectory", f"rate along training ({method})",
                                 f"epoch {int(first['epoch'])} → {int(last['epoch'])}: {fmt(first['rate'])} → "
                                 f"{fmt_ci(last['rate'], last['ci_low'], last['ci_high'])}",
                                 organism=fm or "–", seed=seed, checkpoint=f"after:{method} epochs",
                                 probe=f"judge: {judge}")
    for name, frame in (("behaviour_trajectory", beh), ("trajectory", traj)):
        if frame is not None:
            parts.append(raw_table(name, frame))
    return "".join(parts)


SECTION = register(Section(key="trajectory", title="Training trajectory", order=80, render=render,
                           tables=("behaviour_trajectory", "trajectory"),
                           what="per-epoch behaviour and sharpening (enable trajectory: in the config)"))
