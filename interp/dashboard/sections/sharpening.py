"""Section "Sharpening": per organism, separability along the probe directions of every checkpoint on one axis,
the paired changes (each comparison once), direction stability, concentration, and the layer x layer cosines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

import interp.dashboard.plot as P
from interp.dashboard.markup import esc, fmt, fmt_ci, fmt_p, groups, html_table, missing, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import organism_label, sharpening_view, split_pair

SEPARABILITY = ("auroc", "cohens_d", "fisher")
CONCENTRATION = ("top_share", "mean_diff_share", "participation_ratio")


def metric_panels(table: pd.DataFrame, metrics: Sequence[str], title: str, palette: P.Palette, *,
                  series: Sequence[str] = ("checkpoint",), zero_line: float | None = None,
                  significance: bool = False, y_titles: dict[str, str] | None = None,
                  control_ranges: bool = False) -> go.Figure:
    """One panel per metric, ``value`` vs ``layer``, a line (with CI band) per ``series`` combination.

    With ``significance``, markers are filled where ``p_adj < 0.05`` and open elsewhere. With
    ``control_ranges``, the rows of a control probe are one grey range (min..max over the series)
    per control instead of a line per series.
    """
    rows, cols = P.grid(len(metrics))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(metrics), horizontal_spacing=0.07,
                        vertical_spacing=0.18)
    seen: set[str] = set()
    keys = [s for s in series if s in table]
    for i, metric in enumerate(metrics):
        r, c = P.cell(i, cols)
        sub = table[table["metric"] == metric].dropna(subset=["layer"])
        if control_ranges and "probe" in sub:
            ctl = sub["probe"].map(P.is_control)
            for probe, part in sub[ctl].groupby("probe", sort=False):
                by_layer = part.groupby("layer")["value"].agg(["min", "max"]).reset_index()
                name = f"{probe} (range over checkpoints)"
                P.add_band(fig, by_layer["layer"], by_layer["min"], by_layer["max"], P.GREY, row=r, col=c, alpha=0.25)
                for edge in ("min", "max"):
                    fig.add_trace(go.Scatter(x=by_layer["layer"], y=by_layer[edge], mode="lines", name=name,
                                             legendgroup=name, showlegend=name not in seen and edge == "min",
                                             line={"color": P.GREY, "width": 1, "dash": P.CONTROL_DASH.get(probe, "dash")},
                                             hovertemplate=f"{name}: {edge} %{{y:.3f}}<extra></extra>"), row=r, col=c)
                seen.add(name)
            sub = sub[~ctl]
        parts = sub.groupby(keys, sort=False) if keys else [((), sub)]
        for key, part in parts:
            key = key if isinstance(key, tuple) else (key,)
            name = P.series_label(key) or metric
            control = any(P.is_control(k) for k in key)
            color = P.GREY if control else palette(str(key[0]) if key else metric)
            symbols = None
            if significance and "p_adj" in part:
                p_adj = part.sort_values("layer")["p_adj"].to_numpy(dtype=float)
                symbols = ["circle-open" if np.isfinite(p) and p >= 0.05 else "circle" for p in p_adj]
            P.line_with_band(fig, part, x="layer", y="value", low="ci_low", high="ci_high", name=name, color=color,
                             dash="dash" if control else "solid", row=r, col=c, showlegend=name not in seen,
                             symbols=symbols)
            seen.add(name)
        if zero_line is not None:
            fig.add_hline(y=zero_line, line={"color": "#bbb", "width": 1, "dash": "dot"}, row=r, col=c)
        fig.update_xaxes(title_text="layer", row=r, col=c)
        if y_titles and metric in y_titles:
            fig.update_yaxes(title_text=y_titles[metric], row=r, col=c)
    P.integer_layers(fig, table["layer"])
    return P.finish(fig, title, height=int(P.FIG_HEIGHT * (rows if rows == 1 else 0.85 * rows)))


def long_cosines(matrix: pd.DataFrame) -> pd.DataFrame:
    """Accept the long form (layer_a, layer_b, cosine[, pair]) or :func:`interp.sharpening.layer_cosines`'s
    wide form written with its index as a column (hook_a, then one column per hook_b)."""
    if "layer_a" in matrix and "layer_b" in matrix:
        return matrix
    if "hook_a" not in matrix:
        raise ValueError(f"cosine_matrix needs columns layer_a, layer_b, cosine (or hook_a + one column per hook); "
                         f"got {list(matrix.columns)}")
    keep = [c for c in ("hook_a", "pair", "failure_mode", "method", "seed") if c in matrix]
    long = matrix.melt(id_vars=keep, var_name="hook_b", value_name="cosine")
    for side in ("a", "b"):
        long[f"layer_{side}"] = long[f"hook_{side}"].astype(str).str.extract(r"blocks\.(\d+)\.")[0].astype(int)
    return long


def cosine_heatmaps(matrix: pd.DataFrame, title: str) -> go.Figure:
    """Layer x layer cosine heatmaps (columns layer_a, layer_b, cosine[, pair]), one panel per pair."""
    matrix = long_cosines(matrix)
    pairs = list(dict.fromkeys(matrix["pair"].astype(str))) if "pair" in matrix else [""]
    rows, cols = P.grid(len(pairs), max_cols=2)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[p or "cosine" for p in pairs], horizontal_spacing=0.12,
                        vertical_spacing=0.15)
    for i, pair in enumerate(pairs):
        r, c = P.cell(i, cols)
        part = matrix[matrix["pair"].astype(str) == pair] if pair else matrix
        wide = part.pivot_table(index="layer_a", columns="layer_b", values="cosine", aggfunc="mean")
        a_name, b_name = (pair.split("-", 1)[::-1] if "-" in pair else ("a", "b"))
        fig.add_trace(go.Heatmap(z=wide.to_numpy(), x=list(wide.columns), y=list(wide.index), zmin=-1, zmax=1,
                                 colorscale="RdBu_r", showscale=i == 0, colorbar={"title": {"text": "cosine"}},
                                 hovertemplate=f"{a_name} layer %{{y}} · {b_name} layer %{{x}}: %{{z:.3f}}<extra></extra>"),
                      row=r, col=c)
        fig.update_xaxes(title_text=f"{b_name} layer", row=r, col=c)
        fig.update_yaxes(title_text=f"{a_name} layer", row=r, col=c)
    return P.finish(fig, title, height=int(440 * rows))


def primary_probe(frame: pd.DataFrame) -> str:
    probes = [p for p in dict.fromkeys(frame["probe"].astype(str)) if not P.is_control(p) and p not in ("data", "reference")]
    return "diffmeans" if "diffmeans" in probes else (probes[0] if probes else "")


def _changes_summary(part: pd.DataFrame, fm: str, seed: object, page: Page) -> pd.DataFrame:
    """One row per comparison, probe and change metric: its mean over layers and its most extreme layer."""
    rows = []
    changes = part[part["metric"].astype(str).str.startswith("delta_") | (part["metric"] == "cosine")]
    probe0 = primary_probe(part)
    for (ck, probe, metric), g in changes.groupby(["checkpoint", "probe", "metric"], sort=False):
        g = g.dropna(subset=["value"])
        if g.empty:
            continue
        top = g.loc[g["value"].abs().idxmax()] if metric != "cosine" else g.loc[g["value"].idxmin()]
        padj = g["p_adj"].astype(float) if "p_adj" in g else pd.Series(np.nan, index=g.index)
        sig = padj < 0.05
        up, down = int((sig & (g["value"] > 0)).sum()), int((sig & (g["value"] < 0)).sum())
        row = {"comparison": ck, "probe": probe, "metric": metric, "mean over layers": fmt(g["value"].mean()),
               "extreme layer": int(top["layer"]) if pd.notna(top["layer"]) else "–",
               "value [95% CI]": fmt_ci(top["value"], top.get("ci_low"), top.get("ci_high")),
               "p_adj": fmt_p(top.get("p_adj")),
               "layers p_adj<0.05": f"{up} ↑ / {down} ↓ of {len(g)}" if metric != "cosine" else "–"}
        rows.append(row)
        if metric == "delta_auroc" and probe == probe0 and split_pair(ck) is not None:
            page.add_summary("sharpening", "largest |ΔAUROC| over layers",
                             f"layer {row['extreme layer']}: {row['value [95% CI]']}",
                             f"p_adj = {row['p_adj']}; layers with p_adj < 0.05: {row['layers p_adj<0.05']}",
                             organism=fm, seed=seed, checkpoint=ck, probe=probe)
    return pd.DataFrame(rows)


def _organism(part: pd.DataFrame, fm: str, seed: object, page: Page) -> list[str]:
    probe = primary_probe(part)
    title = organism_label(fm, seed) if fm else ""
    head = f" — {title}" if title else ""
    parts = [f"<h3>{esc(title or 'all checkpoints')}</h3>"]
    is_pair = part["checkpoint"].map(lambda c: split_pair(c) is not None)
    single, pairs = part[~is_pair], part[is_pair]
    sep = single[single["metric"].isin(SEPARABILITY) & ((single["probe"] == probe) | single["probe"].map(P.is_control))]
    if len(sep):
        metrics = [m for m in SEPARABILITY if m in set(sep["metric"])]
        parts.append(page.figure(metric_panels(sep, metrics, f"Separability by layer, every checkpoint ({probe}){head}",
                                               page.palette, series=("checkpoint",), control_ranges=True),
                                 f"sharp-sep-{title}"))
    delta = pairs[pairs["metric"].isin([f"delta_{m}" for m in SEPARABILITY]) & (pairs["probe"] == probe)]
    if len(delta):
        metrics = [f"delta_{m}" for m in SEPARABILITY if f"delta_{m}" in set(delta["metric"])]
        parts.append(page.figure(metric_panels(delta, metrics, f"Paired change b − a ({probe}){head}", page.palette,
                                               series=("checkpoint",), zero_line=0.0, significance=True),
                                 f"sharp-delta-{title}"))
    stab = pairs[pairs["metric"].isin(["cosine", "transfer_auroc"]) & (pairs["probe"] == probe)]
    if len(stab):
        metrics = [m for m in ("cosine", "transfer_auroc") if m in set(stab["metric"])]
        parts.append(page.figure(metric_panels(stab, metrics, f"Direction stability ({probe}){head}", page.palette,
                                               series=("checkpoint",)), f"sharp-stab-{title}"))
    conc = single[single["metric"].isin(CONCENTRATION)]
    if len(conc):
        metrics = [m for m in CONCENTRATION if m in set(conc["metric"])]
        parts.append(page.figure(metric_panels(conc, metrics, f"Concentration of the difference{head}", page.palette,
                                               series=("checkpoint",)), f"sharp-conc-{title}"))
    proj = part[part["metric"].isin(["projection", "delta_projection"])]
    if len(proj):
        metrics = [m for m in ("projection", "delta_projection") if m in set(proj["metric"])]
        parts.append(page.figure(metric_panels(proj, metrics, f"Expression: own responses on the reference "
                                               f"direction{head}", page.palette, series=("checkpoint",),
                                               significance=True), f"sharp-proj-{title}"))
    summary = _changes_summary(part, fm, seed, page)
    if len(summary):
        main_rows = summary[summary["probe"].isin([probe, "data", "reference"])]
        parts.append(f"<h4>Changes ({esc(probe)} directions and the data)</h4>" + html_table(main_rows))
        if len(main_rows) < len(summary):
            parts.append("<details><summary>every probe</summary>" + html_table(summary) + "</details>")
    return parts


def render(run: RunData, page: Page) -> str:
    t, parts = run.get("sharpening"), []
    if t is None:
        parts.append(missing("sharpening", "the before/after sharpening table"))
    else:
        parts.append('<p class="lead">Per organism, every checkpoint on one axis: separability of the classes along '
                     "each probe direction (cross-fitted, bootstrap bands); then each comparison <code>b-a</code> "
                     "once, in the direction of training (its mirror <code>a-b</code> is only in the raw table): "
                     "paired changes (filled markers: Benjamini-Hochberg p_adj &lt; 0.05 across layers), the cosine "
                     "between the two checkpoints' directions and the transfer AUROC.</p>")
        if "probe" not in t:
            t = t.assign(probe="")
        view = sharpening_view(t)
        for _, values, part in groups(view, ("failure_mode", "seed")):
            parts += _organism(part, values.get("failure_mode", ""), values.get("seed", "–"), page)
        parts.append(raw_table("sharpening", t))
    cm = run.get("cosine_matrix")
    parts.append("<h3>Cosine between layers' directions</h3>")
    if cm is None:
        parts.append(missing("cosine_matrix", "the layer × layer cosine matrix"))
    else:
        shown = cm
        if "method" in cm and "pair" in cm:  # one panel per method's after-before, all of an organism's in one figure
            after = cm["pair"].astype(str).str.startswith("after")
            shown = cm.assign(pair=cm["pair"].astype(str).where(
                ~after, "after:" + cm["method"].astype(str) + cm["pair"].astype(str).str.slice(5)))
        for title, _, part in groups(shown, ("failure_mode", "seed")):
            parts.append(page.figure(cosine_heatmaps(part, f"Layer × layer cosine of directions"
                                                     f"{' — ' + title if title else ''}"), f"cosine-{title}"))
        parts.append(raw_table("cosine_matrix", cm))
    return "".join(parts)


SECTION = register(Section(key="sharpening", title="Sharpening", tables=("sharpening", "cosine_matrix"), render=render,
                           order=40, what="the before/after sharpening tables"))
