"""The page comparing runs: ``build_comparison(run_dirs, out)`` (best-layer AUROC, AUROC by layer, ablation,
behaviour side by side), self-contained like a run page; each run's own page is linked when it exists."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

import interp.dashboard.plot as P
from interp.dashboard.build import write_page
from interp.dashboard.markup import esc, fmt_ci, html_table, page_html, section_html
from interp.dashboard.page import Page, safely
from interp.dashboard.sections.layers import best_rows, layers_figure
from interp.dashboard.sections.manifest import checkpoints_line
from interp.dashboard.tables import RunData, load_run

log = logging.getLogger(__name__)


def _run_names(paths: Sequence[Path]) -> list[str]:
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def build_comparison(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """Write a page comparing runs to ``out`` (``OUT.html``, or ``OUT/index.html`` for a folder); return its path."""
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
    body = [section_html("runs", "Runs", safely(lambda: _runs_table(runs, out_path.parent), "runs")),
            section_html("layers", "Probes by layer", safely(lambda: _layers(runs, page), "layers")),
            section_html("steering", "Ablation", safely(lambda: _ablation(runs, page), "ablation")),
            section_html("behaviour", "Behaviour", safely(lambda: _behaviour(runs, page), "behaviour"))]
    text = page_html(page.title, " · ".join(f"<code>{esc(r.name)}</code>" for r in runs), nav, "\n".join(body))
    write_page(out_path, text)
    log.info("comparison page: %s (%d runs, %d figures)", out_path, len(runs), len(page.figure_ids))
    return out_path


def _runs_table(runs: Sequence[RunData], where: Path) -> str:
    rows = []
    for run in runs:
        m = run.manifest
        index = run.path / "index.html"
        link = os.path.relpath(index, where)
        row = {"run": f'<a href="{esc(link)}">{esc(run.name)}</a>' if index.exists() else esc(run.name),
               "command": esc(m.get("command", "–")), "created": esc(m.get("created", "–")),
               "checkpoints": esc(checkpoints_line(m) or "–"), "tables": esc(", ".join(sorted(run.tables)) or "none")}
        layers = run.get("layers")
        if layers is not None:
            for _, r in best_rows(layers).iterrows():
                key = " · ".join([*(str(r[c]) for c in ("checkpoint", "failure_mode", "seed") if c in r), str(r["method"])])
                row[esc(f"best AUROC: {key}")] = esc(f"L{int(r['layer'])} "
                                                     f"{fmt_ci(r['auroc'], r.get('auroc_low'), r.get('auroc_high'))}")
        rows.append(row)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{r.get(c, '–')}</td>" for c in cols) + "</tr>" for r in rows)
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _layers(runs: Sequence[RunData], page: Page) -> str:
    frames = []
    for run in runs:
        t = run.get("layers")
        if t is not None:
            bits = [[run.name] * len(t), *(t[c].astype(str) for c in ("checkpoint", "failure_mode") if c in t)]
            t = t.assign(checkpoint=[" · ".join(b for b in vals if b not in ("-", "", "nan")) for vals in zip(*bits, strict=True)])
            frames.append(t)
    if not frames:
        return '<p class="missing">No run has a <code>layers</code> table: per-layer probes not in these runs.</p>'
    allt = pd.concat(frames, ignore_index=True)
    best = best_rows(allt)
    fig_best = P.rate_bars(best.assign(x=best["method"]), x="x", color="checkpoint", y="auroc", low="auroc_low",
                           high="auroc_high", title="Best-layer AUROC per run (95% CI)", palette=page.palette,
                           y_title="AUROC at the best layer")
    fig_best.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"})
    probes_only = allt[~allt["method"].astype(str).map(P.is_control)]
    lines = layers_figure(probes_only if len(probes_only) else allt, "AUROC vs layer, all runs", page.palette)
    missing_runs = [r.name for r in runs if r.get("layers") is None]
    note = f'<p class="missing">layers table not in: {esc(", ".join(missing_runs))}</p>' if missing_runs else ""
    lead = ('<p class="lead">Controls (shuffled labels, random directions) are drawn in each run\'s own page; '
            "the table above gives each run's best layer.</p>")
    return lead + page.figure(fig_best, "compare-best") + page.figure(lines, "compare-layers") + note


def ablation_ranges(runs: Sequence[RunData]) -> pd.DataFrame:
    """Per run, organism and checkpoint: the persona direction's fraction removed (with its interval) and the
    range (min..max) of what each random direction removes (never an average of their intervals)."""
    rows = []
    for run in runs:
        t = run.get("ablation")
        if t is None or "removed" not in t:
            continue
        keys = [c for c in ("failure_mode", "seed", "checkpoint") if c in t]
        for key, g in (t.groupby(keys, sort=False) if keys else [((), t)]):
            key = key if isinstance(key, tuple) else (key,)
            per = g[g["direction"] == "ablated:persona"]
            rnd = pd.to_numeric(g[g["direction"].astype(str).str.startswith("ablated:random")]["removed"],
                                errors="coerce").dropna()
            r = per.iloc[0] if len(per) else None
            rows.append({"run": run.name, **dict(zip(keys, key, strict=True)),
                         "x": " · ".join([run.name, *(str(k) for k in key)]),
                         "removed": float(r["removed"]) if r is not None else float("nan"),
                         "removed_low": float(r.get("removed_low", float("nan"))) if r is not None else float("nan"),
                         "removed_high": float(r.get("removed_high", float("nan"))) if r is not None else float("nan"),
                         "random_min": float(rnd.min()) if len(rnd) else float("nan"),
                         "random_max": float(rnd.max()) if len(rnd) else float("nan"), "n_random": len(rnd)})
    return pd.DataFrame(rows)


def _ablation(runs: Sequence[RunData], page: Page) -> str:
    t = ablation_ranges(runs)
    if t.empty:
        return '<p class="missing">No run has an <code>ablation</code> table: ablation not in these runs.</p>'
    fig = go.Figure()
    rnd = t.dropna(subset=["random_min", "random_max"])
    fig.add_trace(go.Bar(x=rnd["x"], y=rnd["random_max"] - rnd["random_min"], base=rnd["random_min"],
                         name="random directions (range, min..max)", offsetgroup="random",
                         marker={"color": P.GREY, "opacity": 0.5, "pattern": {"shape": "/"}},
                         customdata=rnd[["random_min", "random_max", "n_random"]].to_numpy(),
                         hovertemplate="%{x}<br>random directions remove %{customdata[0]:.3f}..%{customdata[1]:.3f} "
                                       "(n=%{customdata[2]})<extra></extra>"))
    per = t.dropna(subset=["removed"])
    fig.add_trace(go.Bar(x=per["x"], y=per["removed"], name="ablated:persona", offsetgroup="persona",
                         error_y=P.error_bars(per, "removed", "removed_low", "removed_high"),
                         marker={"color": P.FIXED_COLORS["ablated:persona"]},
                         hovertemplate="%{x}<br>removed %{y:.3f}<extra></extra>"))
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1})
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(title_text="fraction of misalignment removed (95% CI)")
    fig = P.finish(fig, "Fraction of misalignment removed by ablating the direction; random directions as their range",
                   height=500)
    fig.update_layout(margin={"b": 170})
    shown = t.drop(columns=["x"])
    return page.figure(fig, "compare-ablation") + html_table(shown)


def _behaviour(runs: Sequence[RunData], page: Page) -> str:
    frames = []
    for run in runs:
        t = run.get("behaviour")
        if t is not None:
            frames.append(t.assign(run=run.name))
    if not frames:
        return '<p class="missing">No run has a <code>behaviour</code> table: behaviour rates not in these runs.</p>'
    allt = pd.concat(frames, ignore_index=True)
    parts = [allt[c].astype(str) for c in ("failure_mode", "seed", "checkpoint", "judge") if c in allt]
    allt["x"] = parts[0].str.cat(parts[1:], sep="<br>") if parts else ""
    fig = P.rate_bars(allt, x="x", color="run", title="Misalignment rates (and paired changes b − a) side by side",
                      palette=page.palette)
    return page.figure(fig, "compare-behaviour") + html_table(allt.drop(columns=["x"]))
