"""Section "Probes by layer": cross-validated AUROC of every probe at every layer, checkpoints overlaid, with controls."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import fmt, fmt_ci, fmt_p, html_table, raw_table
from interp.dashboard.page import Page, organism_name, seed_name
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData, hook_site
from interp.dashboard.tidy import organism_label, organisms, training_order

_KEYS = ("checkpoint", "failure_mode", "consistency_method", "seed")


def _control_range(fig: go.Figure, t: pd.DataFrame, control: str, n_checkpoints: int, row: int, col: int,
                   showlegend: bool) -> None:
    """A control's AUROC over the checkpoints as one grey range per layer (min..max of their estimates)."""
    by_layer = t[t["method"].astype(str) == control].groupby("layer")["auroc"].agg(["min", "max"]).reset_index()
    if by_layer.empty:
        return
    plural = "s" if n_checkpoints != 1 else ""
    name = f"{control.replace('control:', 'control: ')} (range over {n_checkpoints} checkpoint{plural})"
    P.add_band(fig, by_layer["layer"], by_layer["min"], by_layer["max"], P.GREY, row=row, col=col, alpha=0.25,
               group=name)
    dash = P.CONTROL_DASH.get(control, "dash")
    for edge in ("min", "max"):
        fig.add_trace(go.Scatter(x=by_layer["layer"], y=by_layer[edge], mode="lines", name=name, legendgroup=name,
                                 line={"color": P.GREY, "dash": dash, "width": 1},
                                 showlegend=showlegend and edge == "min",
                                 hovertemplate=f"<b>{name}</b><br>layer %{{x}}: {edge} %{{y:.3f}}<extra></extra>"),
                      row=row, col=col)


def layers_figure(table: pd.DataFrame, title: str, palette: P.Palette) -> go.Figure:
    """AUROC vs layer, one panel per probe method; checkpoints as colours on the same axis; each control
    (shuffled labels, random direction) as one grey range over the checkpoints."""
    t = table.copy()
    t["site"] = t["hook"].map(hook_site) if "hook" in t else ""
    multi_site = t["site"].nunique() > 1
    ckpt = "checkpoint" in t and t["checkpoint"].nunique() > 0
    n_ckpt = int(t["checkpoint"].nunique()) if ckpt else 1
    methods = [m for m in dict.fromkeys(t["method"].astype(str)) if not P.is_control(m)] or ["(controls only)"]
    controls = [m for m in dict.fromkeys(t["method"].astype(str)) if P.is_control(m)]
    rows, cols = P.grid(len(methods))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"probe: {m}" for m in methods], shared_yaxes=True,
                        horizontal_spacing=0.05, vertical_spacing=0.16)
    seen: set[str] = set()
    for i, method in enumerate(methods):
        r, c = P.cell(i, cols)
        for control in controls:
            _control_range(fig, t, control, n_ckpt, r, c, showlegend=i == 0)
        for keys, part in t.groupby(["checkpoint", "site"] if ckpt else ["site"], sort=False):
            keys = keys if isinstance(keys, tuple) else (keys,)
            ck = str(keys[0]) if ckpt else "run"
            site = str(keys[-1]) if multi_site else ""
            sub = part[part["method"].astype(str) == method]
            if sub.empty:
                continue
            name = P.series_label([ck if ckpt else "", site]) or method
            P.line_with_band(fig, sub, x="layer", y="auroc", low="auroc_low", high="auroc_high", name=name,
                             color=palette(ck if ckpt else method),
                             dash="dot" if site and site != "resid_post" else "solid",
                             row=r, col=c, showlegend=name not in seen)
            seen.add(name)
        fig.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"}, row=r, col=c)
        fig.update_xaxes(title_text="layer", row=r, col=c)
    fig.update_yaxes(title_text="AUROC (95% CI)", col=1)
    P.integer_layers(fig, t["layer"])
    return P.finish(fig, title, height=P.FIG_HEIGHT * rows)


def best_rows(layers: pd.DataFrame) -> pd.DataFrame:
    """Per (checkpoint, failure mode, method, seed, probe): the layer with the highest AUROC."""
    keys = [c for c in _KEYS if c in layers]
    probe = layers[~layers["method"].astype(str).map(P.is_control)].dropna(subset=["auroc"])
    if probe.empty:
        return probe
    idx = probe.groupby([*keys, "method"], sort=False, dropna=False)["auroc"].idxmax().dropna()
    return probe.loc[idx.astype(int)]


def _control_at(layers: pd.DataFrame, row: pd.Series, control: str) -> float:
    mask = (layers["method"] == control) & (layers["hook"] == row["hook"])
    for c in _KEYS:
        if c in layers:
            mask &= layers[c].astype(str) == str(row[c])
    hit = layers.loc[mask, "auroc"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def _by_organism(t: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One frame per organism with the base model's rows beside it (all checkpoints on one axis)."""
    found = organisms(t)
    if not found:
        return [("", t)]
    is_base = t["failure_mode"].astype(str).isin(["-", "", "nan"])
    out = []
    for fm, seed in found:
        mine = t["failure_mode"].astype(str) == fm
        if "seed" in t:
            mine &= t["seed"] == seed
        out.append((organism_label(fm, seed), t[mine | is_base]))
    return out


def render(run: RunData, page: Page) -> str:
    t = run.get("layers")
    assert t is not None
    parts = ['<p class="lead">Cross-validated AUROC of each probe at every layer (group-aware folds), bootstrap 95% '
             "band; every checkpoint of an organism on one axis (base green, before blue, after red and others); "
             "grey dashed: the shuffled-label control, grey dotted: a random direction, each as its range over the "
             "checkpoints (min..max of their AUROCs); chance at 0.5.</p>"]
    for title, part in _by_organism(t):
        fig = layers_figure(part, f"AUROC vs layer{' — ' + title if title else ''}", page.palette)
        parts.append(page.figure(fig, f"layers-{title}"))
    rows = []
    best = best_rows(t)
    if "checkpoint" in best:
        best = best.sort_values("checkpoint", key=lambda c: c.map(training_order), kind="stable")
    for _, r in best.iterrows():
        shuffled, random_dir = _control_at(t, r, "control:shuffled"), _control_at(t, r, "control:random_direction")
        fm, seed, ck = r.get("failure_mode", "–"), r.get("seed", "–"), r.get("checkpoint", run.name)
        rows.append({"organism": organism_name(fm), "seed": seed_name(seed), "checkpoint": ck, "probe": r["method"],
                     "best layer": int(r["layer"]),
                     "AUROC [95% CI]": fmt_ci(r["auroc"], r.get("auroc_low"), r.get("auroc_high")),
                     "p": fmt_p(r.get("p_value")), "Cohen's d": fmt(r.get("cohens_d")),
                     "shuffled ctl": fmt(shuffled), "random-dir ctl": fmt(random_dir)})
        page.add_summary("probes", "best layer", f"layer {int(r['layer'])}: AUROC "
                         f"{fmt_ci(r['auroc'], r.get('auroc_low'), r.get('auroc_high'))}",
                         f"p = {fmt_p(r.get('p_value'))}; controls at that layer: shuffled {fmt(shuffled)}, "
                         f"random direction {fmt(random_dir)}", organism=fm, seed=seed, checkpoint=ck,
                         probe=r["method"])
    if rows:
        parts.append("<h3>Best layer per probe</h3>" + html_table(pd.DataFrame(rows)))
    parts.append(raw_table("layers", t))
    return "".join(parts)


SECTION = register(Section(key="layers", title="Probes by layer", tables=("layers",), render=render, order=30,
                           what="the per-layer probe summary"))
