"""The run dashboard: one self-contained static ``index.html`` per run, and a page comparing runs.

Each page embeds plotly.js once (inline, no CDN) and makes no network request, so it can be
mailed, archived or opened from a laptop. A run directory holds whatever its commands wrote:
every section is drawn from its table when the table exists and says "not in this run" when it
does not; a table that cannot be drawn shows its error in the page instead of failing the build.

Sections (anchors): ``section-summary``, ``section-layers``, ``section-sharpening``,
``section-sae``, ``section-steering``, ``section-behaviour``, ``section-manifest``,
``section-files``.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from interp.dashboard import figures as F
from interp.dashboard.tables import RunData, load_run
from interp.io import atomic_write_bytes

log = logging.getLogger(__name__)

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "svg", "scale": 1}, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
SECTIONS = (
    ("summary", "Summary"),
    ("layers", "Probes by layer"),
    ("sharpening", "Sharpening"),
    ("sae", "SAE latents"),
    ("steering", "Steering & ablation"),
    ("behaviour", "Behaviour"),
    ("trajectory", "Training trajectory"),
    ("convergence", "Convergence across organisms"),
    ("manifest", "Manifest"),
    ("files", "Files"),
)
SEPARABILITY = ("auroc", "cohens_d", "fisher")
CONCENTRATION = ("top_share", "mean_diff_share", "participation_ratio")

CSS = """
:root { --fg:#1d1d1f; --muted:#666; --line:#e3e3e3; --accent:#1f77b4; --bad:#b42318; --bg:#fafafa; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--fg);
       background:var(--bg); }
header { background:#fff; border-bottom:1px solid var(--line); padding:16px 32px 8px; }
header h1 { margin:0 0 4px; font-size:22px; }
header .meta { color:var(--muted); font-size:13px; }
nav { position:sticky; top:0; z-index:10; background:#fff; border-bottom:1px solid var(--line); padding:6px 32px; }
nav a { margin-right:16px; color:var(--accent); text-decoration:none; font-size:13px; }
nav a:hover { text-decoration:underline; }
main { padding:8px 32px 48px; max-width:1400px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 20px 16px; margin:18px 0; }
section > h2 { margin:4px 0 8px; font-size:18px; }
h3 { font-size:15px; margin:18px 0 4px; }
p.lead { color:var(--muted); margin:2px 0 10px; }
.missing { color:var(--muted); font-style:italic; background:#f4f4f4; border-left:3px solid #ccc; padding:6px 10px; }
.error { color:var(--bad); background:#fef3f2; border-left:3px solid var(--bad); padding:6px 10px;
         font-family:ui-monospace, monospace; font-size:12px; white-space:pre-wrap; }
table.data { border-collapse:collapse; font-size:12.5px; margin:6px 0 10px; }
table.data th, table.data td { border-bottom:1px solid var(--line); padding:3px 10px 3px 0; text-align:left;
                               vertical-align:top; }
table.data th { color:var(--muted); font-weight:600; }
table.data td.num { font-variant-numeric: tabular-nums; text-align:right; }
details { margin:4px 0 10px; } summary { cursor:pointer; color:var(--accent); font-size:13px; }
.figure { margin:6px 0 14px; min-height:200px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(320px, 1fr)); gap:12px; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; background:#fff; }
.card h4 { margin:0 0 4px; font-size:14px; } .card .stats { color:var(--muted); font-size:12px; margin-bottom:6px; }
.card ol { margin:0; padding-left:18px; font-size:12.5px; } .card li { margin-bottom:4px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size:12px; }
pre { background:#f6f6f6; padding:8px; overflow:auto; max-height:420px; }
.kv th { width:220px; }
"""


# ---------------------------------------------------------------- small HTML helpers

def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 3) -> str:
    """A number for a table cell: 3 significant-looking decimals, '–' for missing."""
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return "–"
        if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e5):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}f}"
    return str(value)


def fmt_ci(value: object, low: object, high: object) -> str:
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def fmt_p(p: Any) -> str:
    try:
        v = float(p)
    except (TypeError, ValueError):
        return "–"
    return "–" if not np.isfinite(v) else f"{v:.2g}"


def html_table(frame: pd.DataFrame, *, max_rows: int = 200, css: str = "data") -> str:
    """A compact HTML table (numbers right-aligned and rounded); long tables are cut with a note."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for _, row in frame.head(max_rows).iterrows():
        cells = []
        for v in row.to_numpy():
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            cells.append(f'<td class="num">{esc(fmt(v))}</td>' if num else f"<td>{esc(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="lead">… {len(frame) - max_rows} more rows in the file.</p>' if len(frame) > max_rows else ""
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def raw_table(name: str, frame: pd.DataFrame) -> str:
    return (f"<details><summary>table <code>{esc(name)}</code> ({len(frame)} rows; "
            f"<code>{esc(name)}.csv</code> / <code>.parquet</code>)</summary>{html_table(frame)}</details>")


def missing(name: str, what: str) -> str:
    return (f'<p class="missing">No <code>{esc(name)}</code> table: {esc(what)} not in this run.</p>')


def slug(*parts: object) -> str:
    s = "-".join(str(p) for p in parts if str(p))
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", s).strip("-").lower() or "x"


def groups(frame: pd.DataFrame, cols: Sequence[str]) -> Iterator[tuple[str, dict[str, str], pd.DataFrame]]:
    """(title, {col: value}, part) for each combination of the ``cols`` present in ``frame``."""
    present = [c for c in cols if c in frame and frame[c].notna().any()]
    if not present:
        yield "", {}, frame
        return
    for key, part in frame.groupby(present, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        values = {c: str(k) for c, k in zip(present, key, strict=True)}
        yield " · ".join(v for v in values.values() if v not in ("", "nan", "-")), values, part


# ---------------------------------------------------------------- a page being built

@dataclass
class Page:
    """Collects figures (ids unique on the page) and summary rows while sections render."""

    title: str
    palette: F.Palette = field(default_factory=F.Palette)
    figure_ids: list[str] = field(default_factory=list)
    summary: list[dict[str, str]] = field(default_factory=list)

    def figure(self, fig: go.Figure, name: str) -> str:
        fig_id = f"fig-{slug(name)}"
        k = 2
        while fig_id in self.figure_ids:
            fig_id = f"fig-{slug(name)}-{k}"
            k += 1
        self.figure_ids.append(fig_id)
        height = int(fig.layout.height or F.FIG_HEIGHT)
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=fig_id, config=PLOT_CONFIG,
                          default_width="100%", default_height=f"{height}px", validate=False)
        return f'<div class="figure">{div}</div>'

    def add_summary(self, area: str, item: str, value: str, detail: str = "") -> None:
        self.summary.append({"area": area, "item": item, "value": value, "detail": detail})


def safely(render: Callable[[], str], what: str) -> str:
    """Run a section renderer; an exception becomes a visible error box (and a log warning)."""
    try:
        return render()
    except Exception as exc:
        log.warning("dashboard: could not render %s: %s", what, exc, exc_info=True)
        return f'<div class="error">Could not draw {esc(what)}: {esc(type(exc).__name__)}: {esc(exc)}</div>'


def section(key: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="section-{key}"><h2>{esc(title)}</h2>{lead_html}{body}</section>'


def page_html(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    links = "".join(f'<a href="#section-{k}">{esc(t)}</a>' for k, t in nav)
    built = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n"
        f"<script type=\"text/javascript\">{get_plotlyjs()}</script>\n</head>\n<body>\n"
        f"<header><h1>{esc(title)}</h1><div class=\"meta\">{subtitle} · page built {esc(built)}</div></header>\n"
        f"<nav>{links}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------- sections of a run page

def _best_rows(layers: pd.DataFrame) -> pd.DataFrame:
    """Per (checkpoint, failure_mode, consistency_method, probe method): the layer with the highest AUROC."""
    keys = [c for c in ("checkpoint", "failure_mode", "consistency_method") if c in layers]
    probe = layers[~layers["method"].astype(str).map(F.is_control)].dropna(subset=["auroc"])
    if probe.empty:
        return probe
    idx = probe.groupby([*keys, "method"], sort=False, dropna=False)["auroc"].idxmax().dropna()
    return probe.loc[idx.astype(int)]


def _control_at(layers: pd.DataFrame, row: pd.Series, control: str) -> float:
    mask = (layers["method"] == control) & (layers["hook"] == row["hook"])
    for c in ("checkpoint", "failure_mode", "consistency_method"):
        if c in layers:
            mask &= layers[c].astype(str) == str(row[c])
    hit = layers.loc[mask, "auroc"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def render_layers(run: RunData, page: Page) -> str:
    t = run.get("layers")
    if t is None:
        return missing("layers", "per-layer probe summary")
    parts = ['<p class="lead">Cross-validated AUROC of each probe at every layer (group-aware folds), bootstrap 95% '
             "band; grey dashed: shuffled-label control, grey dotted: random direction; chance at 0.5.</p>"]
    for title, _, part in groups(t, ("failure_mode", "consistency_method")):
        fig = F.layers_figure(part, f"AUROC vs layer{' — ' + title if title else ''}", page.palette)
        parts.append(page.figure(fig, f"layers-{title}"))
    best = _best_rows(t)
    rows = []
    for _, r in best.iterrows():
        shuffled, random_dir = _control_at(t, r, "control:shuffled"), _control_at(t, r, "control:random_direction")
        values = [str(r[c]) for c in ("checkpoint", "failure_mode", "consistency_method") if c in r]
        label = " · ".join(v for i, v in enumerate(values)  # "-", and a method already in the checkpoint's name, say nothing
                           if v not in ("", "nan", "-") and not (i and values[0].endswith(f":{v}")))
        rows.append({"group": label or run.name, "probe": r["method"], "best layer": int(r["layer"]),
                     "AUROC [95% CI]": fmt_ci(r["auroc"], r.get("auroc_low"), r.get("auroc_high")),
                     "p": fmt_p(r.get("p_value")), "Cohen's d": fmt(r.get("cohens_d")),
                     "shuffled ctl": fmt(shuffled), "random-dir ctl": fmt(random_dir)})
        page.add_summary("probes", f"{label + ' · ' if label else ''}{r['method']}",
                         f"layer {int(r['layer'])}: AUROC {fmt_ci(r['auroc'], r.get('auroc_low'), r.get('auroc_high'))}",
                         f"p = {fmt_p(r.get('p_value'))}; controls at that layer: shuffled {fmt(shuffled)}, "
                         f"random direction {fmt(random_dir)}")
    if rows:
        parts.append("<h3>Best layer per probe</h3>" + html_table(pd.DataFrame(rows)))
    parts.append(raw_table("layers", t))
    return "".join(parts)


def _primary_probe(frame: pd.DataFrame) -> str:
    probes = [p for p in dict.fromkeys(frame["probe"].astype(str)) if not F.is_control(p) and p not in ("data", "reference")]
    return "diffmeans" if "diffmeans" in probes else (probes[0] if probes else "")


def _sharpening_summary(part: pd.DataFrame, title: str, page: Page) -> pd.DataFrame:
    rows, summarised = [], set()
    changes = part[part["metric"].astype(str).str.startswith("delta_") | (part["metric"] == "cosine")]
    for (ck, probe, metric), g in changes.groupby(["checkpoint", "probe", "metric"], sort=False):
        g = g.dropna(subset=["value"])
        if g.empty:
            continue
        top = g.loc[g["value"].abs().idxmax()] if metric != "cosine" else g.loc[g["value"].idxmin()]
        padj = g["p_adj"].astype(float) if "p_adj" in g else pd.Series(np.nan, index=g.index)
        sig = padj < 0.05
        up, down = int((sig & (g["value"] > 0)).sum()), int((sig & (g["value"] < 0)).sum())
        rows.append({"comparison": ck, "probe": probe, "metric": metric, "mean over layers": fmt(g["value"].mean()),
                     "extreme layer": int(top["layer"]) if pd.notna(top["layer"]) else "–",
                     "value [95% CI]": fmt_ci(top["value"], top.get("ci_low"), top.get("ci_high")),
                     "p_adj": fmt_p(top.get("p_adj")),
                     "layers p_adj<0.05": f"{up} ↑ / {down} ↓ of {len(g)}" if metric != "cosine" else "–"})
        a_b = str(ck).split("-")
        mirror = f"{a_b[1]}-{a_b[0]}" if len(a_b) == 2 else None  # b-a beside a-b: the same change, sign flipped
        if metric == "delta_auroc" and probe == _primary_probe(part) and mirror not in summarised:
            summarised.add(str(ck))
            page.add_summary("sharpening", f"{title + ' · ' if title else ''}{ck} ({probe})",
                             f"largest ΔAUROC at layer {rows[-1]['extreme layer']}: {rows[-1]['value [95% CI]']}",
                             f"p_adj = {rows[-1]['p_adj']}; layers with p_adj < 0.05: {rows[-1]['layers p_adj<0.05']}")
    return pd.DataFrame(rows)


def render_sharpening(run: RunData, page: Page) -> str:
    t = run.get("sharpening")
    parts = []
    if t is None:
        parts.append(missing("sharpening", "the before/after sharpening table"))
    else:
        parts.append('<p class="lead">Per checkpoint: separability of the classes along each probe direction '
                     "(cross-fitted, bootstrap bands). Per pair <code>b-a</code>: paired changes (filled markers: "
                     "Benjamini-Hochberg p_adj &lt; 0.05 across layers), the cosine between the two checkpoints' "
                     "directions and the transfer AUROC.</p>")
        if "probe" not in t:
            t = t.assign(probe="")
        for title, _, part in groups(t, ("failure_mode", "method")):
            probe = _primary_probe(part)
            head = f" — {title}" if title else ""
            parts.append(f"<h3>{esc(title or 'all checkpoints')}</h3>")
            sep = part[part["metric"].isin(SEPARABILITY) & ((part["probe"] == probe) | part["probe"].map(F.is_control))]
            if len(sep):
                metrics = [m for m in SEPARABILITY if m in set(sep["metric"])]
                parts.append(page.figure(F.metric_panels(sep, metrics, f"Separability by layer ({probe}){head}",
                                                         page.palette, series=("checkpoint", "probe")),
                                         f"sharp-sep-{title}"))
            delta = part[part["metric"].isin([f"delta_{m}" for m in SEPARABILITY]) & (part["probe"] == probe)]
            if len(delta):
                metrics = [f"delta_{m}" for m in SEPARABILITY if f"delta_{m}" in set(delta["metric"])]
                parts.append(page.figure(F.metric_panels(delta, metrics, f"Change after training ({probe}){head}",
                                                         page.palette, series=("checkpoint",), zero_line=0.0,
                                                         significance=True), f"sharp-delta-{title}"))
            stab = part[part["metric"].isin(["cosine", "transfer_auroc"]) & (part["probe"] == probe)]
            if len(stab):
                metrics = [m for m in ("cosine", "transfer_auroc") if m in set(stab["metric"])]
                parts.append(page.figure(F.metric_panels(stab, metrics, f"Direction stability ({probe}){head}",
                                                         page.palette, series=("checkpoint",)), f"sharp-stab-{title}"))
            conc = part[part["metric"].isin(CONCENTRATION)]
            if len(conc):
                metrics = [m for m in CONCENTRATION if m in set(conc["metric"])]
                parts.append(page.figure(F.metric_panels(conc, metrics, f"Concentration of the difference{head}",
                                                         page.palette, series=("checkpoint",)), f"sharp-conc-{title}"))
            proj = part[part["metric"].isin(["projection", "delta_projection"])]
            if len(proj):
                metrics = [m for m in ("projection", "delta_projection") if m in set(proj["metric"])]
                parts.append(page.figure(F.metric_panels(proj, metrics, f"Expression: own responses on the reference "
                                                         f"direction{head}", page.palette, series=("checkpoint",),
                                                         significance=True), f"sharp-proj-{title}"))
            summary = _sharpening_summary(part, title, page)
            if len(summary):
                main_rows = summary[summary["probe"].isin([probe, "data", "reference"])]
                parts.append(f"<h4>Sharpening summary ({esc(probe)} directions and the data)</h4>"
                             + html_table(main_rows))
                if len(main_rows) < len(summary):
                    parts.append("<details><summary>every probe</summary>" + html_table(summary) + "</details>")
        parts.append(raw_table("sharpening", t))
    cm = run.get("cosine_matrix")
    parts.append("<h3>Cosine between layers' directions</h3>")
    if cm is None:
        parts.append(missing("cosine_matrix", "the layer × layer cosine matrix"))
    else:
        for title, _, part in groups(cm, ("failure_mode", "method")):
            parts.append(page.figure(F.cosine_heatmaps(part, f"Layer × layer cosine of directions"
                                                       f"{' — ' + title if title else ''}"), f"cosine-{title}"))
        parts.append(raw_table("cosine_matrix", cm))
    return "".join(parts)


def _examples_from(value: object) -> list[str]:
    """``top_examples`` cell: a JSON list of strings (or of objects with a text field), or plain text."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return []
    items: Any = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(items, np.ndarray):
        items = items.tolist()
    if not isinstance(items, list):
        return [str(items)]
    out = []
    for it in items:
        if isinstance(it, dict):
            text = next((str(it[k]) for k in ("text", "response", "prompt", "token", "id") if k in it), json.dumps(it))
            act = it.get("activation")
            out.append(f"{text} (act {fmt(act)})" if act is not None else text)
        else:
            out.append(str(it))
    return out


def latent_cards(latents: pd.DataFrame, examples: pd.DataFrame | None, top: int = 8) -> str:
    t = latents.sort_values("auroc", ascending=False).head(top)
    cards = []
    text_col = None
    if examples is not None:
        text_col = next((c for c in ("text", "response", "prompt", "content", "token", "id") if c in examples), None)
    for _, r in t.iterrows():
        stats = [f"AUROC {fmt(r['auroc'])}"]
        for col, label in (("mean_diff", "mean diff"), ("frequency", "freq"), ("freq_pos", "freq misaligned"),
                           ("freq_neg", "freq aligned")):
            if col in r and pd.notna(r[col]):
                stats.append(f"{label} {fmt(r[col])}")
        texts = _examples_from(r["top_examples"]) if "top_examples" in r else []
        if not texts and examples is not None and text_col is not None and "latent" in examples:
            ex = examples[examples["latent"] == r["latent"]]
            ex = ex.sort_values("activation", ascending=False) if "activation" in ex else ex
            texts = [f"{row[text_col]} (act {fmt(row['activation'])})" if "activation" in row else str(row[text_col])
                     for _, row in ex.head(5).iterrows()]
        items = "".join(f"<li>{esc(s[:400] + ('…' if len(s) > 400 else ''))}</li>" for s in texts[:5])
        body = f"<ol>{items}</ol>" if items else '<p class="missing">no top-activating examples recorded</p>'
        cards.append(f'<div class="card"><h4>latent #{esc(int(r["latent"]))}</h4>'
                     f'<div class="stats">{esc(" · ".join(stats))}</div>{body}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def render_sae(run: RunData, page: Page) -> str:
    parts = []
    quality = run.get("sae_quality")
    parts.append("<h3>SAE quality</h3>")
    if quality is None:
        parts.append(missing("sae_quality", "SAE reconstruction quality"))
    else:
        parts.append('<p class="lead">Measured without position 0 (the attention sink).</p>' + html_table(quality))
        if {"metric", "value"} <= set(quality.columns):
            ev = quality[quality["metric"] == "explained_variance"]
            if len(ev):
                page.add_summary("SAE", "explained variance", fmt(ev["value"].iloc[0]))
    latents = run.get("sae_latents")
    parts.append("<h3>Persona latents</h3>")
    if latents is None:
        parts.append(missing("sae_latents", "SAE persona latents"))
    else:
        for title, _, part in groups(latents, ("checkpoint", "hook", "failure_mode")):
            parts.append(page.figure(F.sae_latents_figure(part, f"Latents that separate misaligned from aligned"
                                                          f"{' — ' + title if title else ''}"), f"sae-latents-{title}"))
            parts.append(latent_cards(part, run.get("sae_examples")))
            best = part.sort_values("auroc", ascending=False).iloc[0]
            page.add_summary("SAE", f"best persona latent{' · ' + title if title else ''}",
                             f"#{int(best['latent'])}: AUROC {fmt(best['auroc'])}")
        parts.append(raw_table("sae_latents", latents))
    needed = run.get("sae_latents_needed")
    if needed is not None and {"checkpoint", "k", "auroc", "probe_auroc", "k_needed"} <= set(needed.columns):
        parts.append("<h3>Latents needed to match the probe</h3><p class=\"lead\">Cross-validated AUROC of a "
                     "difference-of-means probe on the top-k persona latents, against the probe on raw activations "
                     "(fewer latents needed = a more concentrated representation).</p>")
        parts.append(page.figure(F.latents_needed_figure(needed), "sae-latents-needed"))
        summary = needed.groupby("checkpoint", sort=False)[["probe_auroc", "k_needed"]].first().reset_index()
        parts.append(html_table(summary))
        parts.append(raw_table("sae_latents_needed", needed))
    diff = run.get("sae_diff")
    if diff is not None:
        parts.append("<h3>Model diffing: latents that moved most</h3>")
        for title, _, part in groups(diff, ("checkpoint", "hook", "failure_mode")):
            parts.append(page.figure(F.sae_diff_figure(part, f"Top movers (b − a){' — ' + title if title else ''}"),
                                     f"sae-diff-{title}"))
        parts.append(raw_table("sae_diff", diff))
    return "".join(parts)


def render_steering(run: RunData, page: Page) -> str:
    parts = ["<h3>Dose-response</h3>"]
    dr = run.get("dose_response")
    if dr is None:
        parts.append(missing("dose_response", "the steering dose-response sweep"))
    else:
        parts.append('<p class="lead">The direction added at one hook with strength alpha (× the mean residual norm '
                     "there) vs random directions of equal norm (grey dashed); bands are bootstrap 95% intervals; "
                     "× marks strengths over the KL budget (incoherent).</p>")
        for title, _, part in groups(dr, ("failure_mode", "hook", "checkpoint", "judge")):
            judge = f" (judge: {part['judge'].iloc[0]})" if "judge" in part else ""
            parts.append(page.figure(F.dose_response_figure(part, f"Steering{' — ' + title if title else ''}{judge}"),
                                     f"dose-{title}"))
            persona = part[~part["direction"].map(F.is_control)].sort_values("alpha")
            rand = part[part["direction"].map(F.is_control)]
            if len(persona) >= 2:
                lo, hi = persona.iloc[0], persona.iloc[-1]
                rl = rand[rand["alpha"] == lo["alpha"]]["rate"].mean()
                rh = rand[rand["alpha"] == hi["alpha"]]["rate"].mean()
                page.add_summary("steering", title or "dose-response",
                                 f"rate {fmt(lo['rate'])} → {fmt(hi['rate'])} (alpha {fmt(lo['alpha'], 2)} → "
                                 f"{fmt(hi['alpha'], 2)})", f"random directions: {fmt(rl)} → {fmt(rh)}")
        parts.append(raw_table("dose_response", dr))
    sel = run.get("direction_selection")
    if sel is not None:
        parts.append('<h3>Direction selection</h3><p class="lead">Each candidate layer\'s direction ablated from every '
                     "layer on held-out eval prompts: the misalignment margin it removes (bootstrap 95% CI) and its KL "
                     "on neutral text; ineligible (×): over the KL budget (dotted) or in the last 20% of layers. The "
                     "star is the direction steered and ablated below (Arditi et al. 2024).</p>")
        for title, _, part in groups(sel, ("failure_mode", "seed")):
            parts.append(page.figure(F.selection_figure(part, f"Direction selection{' — ' + title if title else ''}"),
                                     f"selection-{title}"))
            if "selected" in part and part["selected"].any():
                r = part[part["selected"].astype(bool)].iloc[0]
                page.add_summary("steering", f"selected layer{' · ' + title if title else ''}", f"layer {int(r['layer'])}",
                                 f"margin drop {fmt_ci(r['margin_drop'], r['drop_low'], r['drop_high'])}, KL ≤ {fmt(r['kl_high'])}")
        parts.append(raw_table("direction_selection", sel))
    parts.append("<h3>Directional ablation</h3>")
    ab = run.get("ablation")
    if ab is None:
        parts.append(missing("ablation", "the directional-ablation experiment"))
    else:
        parts.append('<p class="lead">The direction projected out of every layer vs random directions ablated '
                     "(grey, hatched) vs untouched; right: fraction of the untouched misalignment removed "
                     "(paired bootstrap 95% CI).</p>")
        for title, _, part in groups(ab, ("failure_mode", "judge")):
            parts.append(page.figure(F.ablation_figure(part, f"Ablation{' — ' + title if title else ''}"),
                                     f"ablation-{title}"))
            if "removed" in part:
                for ck, g in (part.groupby("checkpoint", sort=False) if "checkpoint" in part else [("", part)]):
                    per = g[g["direction"] == "ablated:persona"]
                    rnd = g[g["direction"].astype(str).str.startswith("ablated:random")]
                    if len(per):
                        r = per.iloc[0]
                        page.add_summary("ablation", " · ".join(x for x in (title, str(ck)) if x) or "ablation",
                                         f"removed {fmt_ci(r['removed'], r.get('removed_low'), r.get('removed_high'))}",
                                         f"random directions remove {fmt(rnd['removed'].mean())} on average")
        parts.append(raw_table("ablation", ab))
    return "".join(parts)


def render_behaviour(run: RunData, page: Page) -> str:
    t = run.get("behaviour")
    if t is None:
        return missing("behaviour", "misalignment rates")
    t = t.copy()
    if "checkpoint" not in t:
        t["checkpoint"] = "run"
    if "failure_mode" not in t:
        t["failure_mode"] = ""
    multi_judge = "judge" in t and t["judge"].nunique() > 1
    t["x"] = t["failure_mode"].astype(str) + (("<br>" + t["judge"].astype(str)) if multi_judge else "")
    judges = ", ".join(map(str, t["judge"].unique())) if "judge" in t else "unknown"
    fig = F.rate_bars(t, x="x", color="checkpoint", title=f"Misalignment rate per checkpoint (judge: {judges})",
                      palette=page.palette)
    for _, r in t.iterrows():
        page.add_summary("behaviour", f"{r['checkpoint']} · {r['failure_mode']}" + (f" ({r['judge']})" if "judge" in r else ""),
                         f"rate {fmt_ci(r['rate'], r.get('ci_low'), r.get('ci_high'))}",
                         f"n = {fmt(r.get('n'))}")
    return page.figure(fig, "behaviour") + raw_table("behaviour", t.drop(columns=["x"]))


def render_trajectory(run: RunData, page: Page) -> str:
    beh, traj = run.get("behaviour_trajectory"), run.get("trajectory")
    if beh is None and traj is None:
        return missing("trajectory", "per-epoch behaviour and sharpening (enable trajectory: in the config)")
    parts = ['<p class="lead">Every saved epoch of each consistency run (epoch 0: the organism it started '
             "from): the misalignment rate with its bootstrap 95% interval, and the probe separability along "
             "epochs for the layers that moved most.</p>"]
    frames = [f for f in (beh, traj) if f is not None]
    modes = sorted(set().union(*(set(f["failure_mode"].astype(str)) for f in frames if "failure_mode" in f))) or [""]
    for fm in modes:
        b = beh[beh["failure_mode"].astype(str) == fm] if beh is not None and fm else beh
        t = traj[traj["failure_mode"].astype(str) == fm] if traj is not None and fm else traj
        parts.append(page.figure(F.trajectory_figure(b, t, f"Trajectory{' — ' + fm if fm else ''}", page.palette),
                                 f"trajectory-{fm}"))
        if b is not None:
            for method, g in b.groupby("method", sort=False):
                first, last = g.sort_values("epoch").iloc[0], g.sort_values("epoch").iloc[-1]
                page.add_summary("trajectory", f"{fm} · {method}",
                                 f"rate epoch {int(first['epoch'])} → {int(last['epoch'])}: "
                                 f"{fmt(first['rate'])} → {fmt_ci(last['rate'], last['ci_low'], last['ci_high'])}")
    for name, frame in (("behaviour_trajectory", beh), ("trajectory", traj)):
        if frame is not None:
            parts.append(raw_table(name, frame))
    return "".join(parts)


def render_convergence(run: RunData, page: Page) -> str:
    conv, ab = run.get("convergence"), run.get("convergence_ablation")
    if conv is None and ab is None:
        return missing("convergence", "convergence between organisms (needs two or more failure modes or seeds)")
    parts = ['<p class="lead">Per pair of organisms, per layer: the cosine between their persona directions, '
             "the cosine between their <em>changes</em> of it relative to the base model (<code>shift_cosine</code>: "
             "inheriting the base's direction makes the plain cosine high by itself), each organism's cosine to the "
             "base, and the transfer AUROC of one organism's direction on the other's activations. Bands: bootstrap "
             "95% intervals; filled markers: BH p_adj &lt; 0.05 against a random direction.</p>"]
    if conv is not None:
        t = conv.assign(pair=[f"{b} ← {a}" if m == "transfer_auroc" else f"{a} ~ {b}"
                              for a, b, m in zip(conv["a"], conv["b"], conv["metric"], strict=True)])
        metrics = [m for m in ("cosine", "shift_cosine", "cosine_to_base", "transfer_auroc") if m in set(t["metric"])]
        parts.append(page.figure(F.metric_panels(t, metrics, "Convergence of the persona direction", page.palette,
                                                 series=("pair",), significance=True), "convergence"))
        shift = t[t["metric"] == "shift_cosine"]
        for pair, g in shift.groupby("pair", sort=False):
            r = g.loc[g["value"].idxmax()]
            page.add_summary("convergence", str(pair), f"shift cosine {fmt_ci(r['value'], r['ci_low'], r['ci_high'])} "
                             f"at layer {int(r['layer'])}", f"{int((g['p_adj'] < 0.05).sum())}/{len(g)} layers p_adj < 0.05")
        parts.append(raw_table("convergence", conv))
    if ab is not None:
        parts.append("<h3>One organism's direction ablated in another</h3><p class=\"lead\">In each organism: its own "
                     "direction (<code>ablated:persona</code>), every other organism's "
                     "(<code>ablated:from:…</code>) and random directions projected out of every layer.</p>")
        for title, _, part in groups(ab, ("judge",)):
            parts.append(page.figure(F.ablation_figure(part, f"Cross-organism ablation{' — ' + title if title else ''}"),
                                     f"convergence-ablation-{title}"))
        parts.append(raw_table("convergence_ablation", ab))
    return "".join(parts)


def _flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for k, v in obj.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        return [(prefix, json.dumps(obj, default=str))]
    return [(prefix, str(obj))]


def kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f'<table class="data kv"><tbody>{rows}</tbody></table>'


def render_manifest(run: RunData, page: Page) -> str:
    m = run.manifest
    if not m:
        note = run.errors.get("manifest")
        return (f'<div class="error">manifest.json unreadable: {esc(note)}</div>' if note
                else '<p class="missing">No <code>manifest.json</code>: the manifest is not in this run.</p>')
    parts = []
    key = [("command", m.get("command", "–")), ("created", m.get("created", "–"))]
    for k in ("seed", "seeds"):
        if k in m:
            key.append((k, json.dumps(m[k], default=str)))
    parts.append(kv_table(key))
    ckpts = [(k, v) for k, v in _flatten({k: v for k, v in m.items() if "checkpoint" in k})
             if k.rsplit(".", 1)[-1] in ("label", "fingerprint", "kind", "path", "base", "name")]
    if ckpts:
        parts.append("<h3>Checkpoints</h3>" + kv_table(ckpts))
    for k, title in (("versions", "Versions"), ("seconds", "Timings (s)"), ("timings", "Timings (s)"),
                     ("dataset", "Dataset"), ("options", "Options")):
        if isinstance(m.get(k), dict):
            parts.append(f"<h3>{title}</h3>" + kv_table(_flatten(m[k])))
    parts.append("<details><summary>manifest.json</summary><pre>"
                 f"{esc(json.dumps(m, indent=2, sort_keys=True, default=str))}</pre></details>")
    return "".join(parts)


def directions_table(run: RunData) -> pd.DataFrame:
    """One row per saved ``probes.Direction`` (its JSON sidecar) anywhere in the run directory."""
    rows = []
    for meta_path in sorted(run.path.rglob("*.json")):
        if meta_path.name == "manifest.json":
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict) or meta.get("format") != "probes.Direction":
            continue
        rows.append({"file": str(meta_path.relative_to(run.path).with_suffix(".safetensors")),
                     "hook": meta.get("hook_point"), "layer": meta.get("layer"), "method": meta.get("method"),
                     "d": meta.get("d"), "n": meta.get("n_examples"),
                     "checkpoint": meta.get("checkpoint_fingerprint"),
                     "trained on": str(meta.get("train_fingerprint", ""))[:16], "created": meta.get("created_at")})
    return pd.DataFrame(rows)


def render_files(run: RunData, page: Page) -> str:
    directions = directions_table(run)
    head = ("<h3>Directions</h3>" + html_table(directions)) if len(directions) else ""
    # stages/ holds every unit's raw outputs under its key (interp run): listed as one line, not file by file
    files = sorted(p for p in run.path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name != "index.html"
                   and p.relative_to(run.path).parts[0] != "stages")
    rows = [(str(p.relative_to(run.path)), f"{p.stat().st_size / 1024:.1f} KiB") for p in files]
    links = "".join(f'<tr><td><a href="{esc(name)}">{esc(name)}</a></td><td class="num">{esc(size)}</td></tr>'
                    for name, size in rows)
    stages = run.path / "stages"
    if stages.is_dir():
        n = sum(1 for _ in stages.rglob("outputs.json"))
        head += (f"<p>Per-unit outputs of <code>interp run</code>: <code>stages/&lt;unit&gt;/&lt;key&gt;/</code> "
                 f"({n} finished units; the tables below gather them).</p>")
    parts = [head, "<h3>All files</h3>",
             f'<table class="data"><thead><tr><th>file</th><th>size</th></tr></thead><tbody>{links}</tbody></table>']
    for name in run.other_tables:
        parts.append(f"<h3>Other table: {esc(name)}</h3>" + raw_table(name, run.tables[name]))
    for name, err in run.errors.items():
        if name != "manifest":
            parts.append(f'<div class="error">table {esc(name)} could not be read: {esc(err)}</div>')
    return "".join(parts)


def render_summary(page: Page) -> str:
    if not page.summary:
        return '<p class="missing">Nothing to summarise: no known table is in this run.</p>'
    return html_table(pd.DataFrame(page.summary))


RENDERERS: dict[str, Callable[[RunData, Page], str]] = {
    "layers": render_layers,
    "sharpening": render_sharpening,
    "sae": render_sae,
    "steering": render_steering,
    "behaviour": render_behaviour,
    "trajectory": render_trajectory,
    "convergence": render_convergence,
    "manifest": render_manifest,
    "files": render_files,
}


def checkpoints_line(manifest: dict[str, Any]) -> str:
    """``label (fingerprint)`` of the manifest's ``checkpoint`` or of each entry of ``checkpoints`` (plain text)."""
    def one(ck: dict[str, Any]) -> str:
        return f"{ck.get('label', ck.get('name', '?'))} ({ck.get('fingerprint', '?')})"

    ck = manifest.get("checkpoint")
    if isinstance(ck, dict):
        return one(ck)
    many = manifest.get("checkpoints")
    if isinstance(many, dict):
        return ", ".join(f"{k}: {one(v)}" if isinstance(v, dict) else f"{k}: {v}" for k, v in many.items())
    return ""


def _subtitle(run: RunData) -> str:
    m = run.manifest
    bits = [f"<code>{esc(run.path)}</code>"]
    if m.get("command"):
        bits.append(f"command <code>{esc(m['command'])}</code>")
    if checkpoints_line(m):
        bits.append(f"checkpoint {esc(checkpoints_line(m))}")
    if m.get("created"):
        bits.append(f"created {esc(m['created'])}")
    return " · ".join(bits)


def render_run(run: RunData) -> tuple[str, Page]:
    """The HTML of a run's dashboard and the page's bookkeeping (figure ids, summary rows)."""
    page = Page(title=f"interp run: {run.name}")
    shown = [(key, title) for key, title in SECTIONS if key not in _not_applicable(run)]
    bodies = {key: safely(functools.partial(RENDERERS[key], run, page), key) for key, _ in shown if key in RENDERERS}
    titles = dict(SECTIONS)
    html_sections = [section("summary", titles["summary"], render_summary(page),
                             "Key numbers from every table in this run; details in the sections below.")]
    html_sections += [section(key, titles[key], bodies[key]) for key, _ in shown if key != "summary"]
    return page_html(page.title, _subtitle(run), shown, "\n".join(html_sections)), page


def _not_applicable(run: RunData) -> set[str]:
    """Sections an ``interp run`` config rules out: convergence with a single organism (nothing to compare)."""
    config = run.manifest.get("config")
    if not isinstance(config, dict) or run.get("convergence") is not None:
        return set()
    organisms = len(config.get("failure_modes") or []) * len(config.get("seeds") or [])
    return {"convergence"} if organisms == 1 else set()


def _write(path: Path, text: str) -> None:
    """Atomic write, then the usual readable-by-all mode (the temp file is created 0600)."""
    atomic_write_bytes(path, text.encode("utf-8"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def build_dashboard(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html`` (atomically) from the run's tables and manifest; return its path."""
    run = load_run(run_dir)
    text, page = render_run(run)
    out = run.path / "index.html"
    _write(out, text)
    log.info("dashboard: %s (%d figures, %.1f MB)", out, len(page.figure_ids), len(text) / 1e6)
    return out


# ---------------------------------------------------------------- comparison across runs

def _run_names(paths: Sequence[Path]) -> list[str]:
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def build_comparison(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write a page comparing runs (best-layer AUROC, AUROC by layer, behaviour, ablation) to ``out``."""
    paths = [Path(p).resolve() for p in run_dirs]
    if not paths:
        raise ValueError("build_comparison needs at least one run directory")
    out_path = Path(out)
    if out_path.suffix != ".html":
        out_path = out_path / "index.html"
    out_path = out_path.resolve()
    runs = [load_run(p, name) for p, name in zip(paths, _run_names(paths), strict=True)]
    page = Page(title=f"interp: comparing {len(runs)} runs")
    nav = [("runs", "Runs"), ("layers", "Probes by layer"), ("steering", "Ablation"), ("behaviour", "Behaviour")]
    body = [section("runs", "Runs", safely(lambda: _compare_runs_table(runs, out_path.parent), "runs")),
            section("layers", "Probes by layer", safely(lambda: _compare_layers(runs, page), "layers")),
            section("steering", "Ablation", safely(lambda: _compare_ablation(runs, page), "ablation")),
            section("behaviour", "Behaviour", safely(lambda: _compare_behaviour(runs, page), "behaviour"))]
    text = page_html(page.title, " · ".join(f"<code>{esc(r.name)}</code>" for r in runs), nav, "\n".join(body))
    _write(out_path, text)
    log.info("comparison page: %s (%d runs, %d figures)", out_path, len(runs), len(page.figure_ids))
    return out_path


def _compare_runs_table(runs: Sequence[RunData], where: Path) -> str:
    rows = []
    for run in runs:
        m = run.manifest
        index = run.path / "index.html"
        link = os.path.relpath(index, where)
        row = {"run": f'<a href="{esc(link)}">{esc(run.name)}</a>' if index.exists() else esc(run.name),
               "command": esc(m.get("command", "–")), "created": esc(m.get("created", "–")),
               "checkpoint": esc(checkpoints_line(m) or "–"),
               "tables": esc(", ".join(sorted(run.tables)) or "none")}
        layers = run.get("layers")
        if layers is not None:
            for _, r in _best_rows(layers).iterrows():
                key = " · ".join([*(str(r[c]) for c in ("checkpoint", "failure_mode") if c in r), str(r["method"])])
                row[esc(f"best AUROC: {key}")] = esc(f"L{int(r['layer'])} {fmt_ci(r['auroc'], r.get('auroc_low'), r.get('auroc_high'))}")
        rows.append(row)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{r.get(c, '–')}</td>" for c in cols) + "</tr>" for r in rows)
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _compare_layers(runs: Sequence[RunData], page: Page) -> str:
    frames = []
    for run in runs:
        t = run.get("layers")
        if t is not None:
            t = t.copy()
            label = run.name + (" · " + t["checkpoint"].astype(str) if "checkpoint" in t else "")
            t["checkpoint"] = label
            frames.append(t)
    if not frames:
        return '<p class="missing">No run has a <code>layers</code> table: per-layer probes not in these runs.</p>'
    allt = pd.concat(frames, ignore_index=True)
    best = _best_rows(allt)
    fig_best = F.rate_bars(best.assign(x=best["method"]), x="x", color="checkpoint", y="auroc", low="auroc_low",
                           high="auroc_high", title="Best-layer AUROC per run (95% CI)", palette=page.palette,
                           y_title="AUROC at the best layer")
    fig_best.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"})
    probes_only = allt[~allt["method"].astype(str).map(F.is_control)]
    lines = F.layers_figure(probes_only if len(probes_only) else allt, "AUROC vs layer, all runs", page.palette)
    missing_runs = [r.name for r in runs if r.get("layers") is None]
    note = (f'<p class="missing">layers table not in: {esc(", ".join(missing_runs))}</p>' if missing_runs else "")
    lead = ('<p class="lead">Controls (shuffled labels, random directions) are drawn in each run\'s own dashboard; '
            "the table above gives each run's best layer.</p>")
    return lead + page.figure(fig_best, "compare-best") + page.figure(lines, "compare-layers") + note


def _compare_ablation(runs: Sequence[RunData], page: Page) -> str:
    frames = []
    for run in runs:
        t = run.get("ablation")
        if t is not None and "removed" in t:
            t = t[t["direction"].astype(str) != "untouched"].copy()
            t["run"] = run.name + (" · " + t["checkpoint"].astype(str) if "checkpoint" in t else "")
            t["condition"] = t["direction"].map(lambda d: "random directions" if F.is_control(d) else str(d))
            frames.append(t)
    if not frames:
        return '<p class="missing">No run has an <code>ablation</code> table: ablation not in these runs.</p>'
    allt = pd.concat(frames, ignore_index=True)
    agg = allt.groupby(["run", "condition"], sort=False).agg(
        removed=("removed", "mean"), removed_low=("removed_low", "mean"), removed_high=("removed_high", "mean")).reset_index()
    fig = F.rate_bars(agg, x="condition", color="run", y="removed", low="removed_low", high="removed_high",
                      title="Fraction of misalignment removed by ablation (random directions averaged)",
                      palette=page.palette, y_title="fraction removed (95% CI)")
    return page.figure(fig, "compare-ablation")


def _compare_behaviour(runs: Sequence[RunData], page: Page) -> str:
    frames = []
    for run in runs:
        t = run.get("behaviour")
        if t is not None:
            t = t.copy()
            t["run"] = run.name
            frames.append(t)
    if not frames:
        return '<p class="missing">No run has a <code>behaviour</code> table: behaviour rates not in these runs.</p>'
    allt = pd.concat(frames, ignore_index=True)
    parts = [allt[c].astype(str) for c in ("failure_mode", "checkpoint", "judge") if c in allt]
    allt["x"] = parts[0].str.cat(parts[1:], sep="<br>") if parts else ""
    fig = F.rate_bars(allt, x="x", color="run", title="Misalignment rates side by side", palette=page.palette)
    return page.figure(fig, "compare-behaviour") + html_table(allt.drop(columns=["x"]))
