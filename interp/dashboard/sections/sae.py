"""Section "SAE latents": reconstruction quality, persona latents with their top examples, latents needed to match
the probe, model diffing (latents that moved) and the sharpening of the persona latents, per organism."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

import interp.dashboard.plot as P
from interp.dashboard.markup import esc, fmt, groups, html_table, missing, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData

_ORGANISM = ("failure_mode", "seed")


def sae_latents_figure(latents: pd.DataFrame, title: str, top: int = 20) -> go.Figure:
    """AUROC of the top latents (bars), chance at 0.5."""
    t = latents.sort_values("auroc", ascending=False).head(top)
    hover = "<b>latent %{x}</b><br>AUROC %{y:.3f}" + ("<br>mean diff %{customdata:.3g}" if "mean_diff" in t else "")
    fig = go.Figure(go.Bar(x=[f"#{int(v)}" for v in t["latent"]], y=t["auroc"], marker={"color": "#d62728"},
                           customdata=t.get("mean_diff"), hovertemplate=hover + "<extra></extra>", name="latent AUROC"))
    fig.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="latent (ranked)", type="category")
    fig.update_yaxes(title_text="AUROC (misaligned vs aligned)", range=[0, 1.02])
    return P.finish(fig, title)


def sae_diff_figure(diff: pd.DataFrame, title: str) -> go.Figure:
    """Latent activation change (b - a) of the top movers, persona latents in red, with intervals."""
    t = diff.sort_values("rank") if "rank" in diff else diff
    persona = t["is_persona"].astype(bool) if "is_persona" in t else pd.Series(False, index=t.index)
    err = None
    if "ci_low" in t and "ci_high" in t:
        err = {"type": "data", "symmetric": False, "array": t["ci_high"] - t["delta"],
               "arrayminus": t["delta"] - t["ci_low"], "color": "#555"}
    fig = go.Figure(go.Bar(x=[f"#{int(v)}" for v in t["latent"]], y=t["delta"], error_y=err,
                           marker={"color": ["#d62728" if p else P.GREY for p in persona]},
                           hovertemplate="latent %{x}: Δ %{y:.3g}<extra></extra>", name="Δ mean activation"))
    fig.add_hline(y=0, line={"color": "#bbb", "width": 1})
    fig.update_xaxes(title_text="latent (red: persona latent)", type="category")
    fig.update_yaxes(title_text="Δ mean activation (95% CI)")
    return P.finish(fig, title)


def latents_needed_figure(table: pd.DataFrame, title: str, palette: P.Palette) -> go.Figure:
    """AUROC vs k per checkpoint (log x) on one axis, each checkpoint's raw-activation probe AUROC dotted."""
    fig = go.Figure()
    for ckpt, part in table.groupby("checkpoint", sort=False):
        color = palette(str(ckpt))
        part = part.sort_values("k")
        fig.add_trace(go.Scatter(x=part["k"], y=part["auroc"], mode="lines+markers", name=str(ckpt),
                                 line={"color": color}, hovertemplate="k=%{x}: AUROC %{y:.3f}<extra>" + str(ckpt) + "</extra>"))
        fig.add_hline(y=float(part["probe_auroc"].iloc[0]), line={"color": color, "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="top-k persona latents", type="log")
    fig.update_yaxes(title_text="held-out AUROC (dotted: raw-activation probe)")
    return P.finish(fig, title)


def latent_sharpening_figure(table: pd.DataFrame, title: str, palette: P.Palette, metric: str = "auroc") -> go.Figure:
    """Each persona latent's ``metric`` before (``_a``) and after every method (``_b``) on one axis."""
    fig = go.Figure()
    t = table.copy()
    t["x"] = [f"#{int(v)}" for v in t["latent"]]
    order = list(dict.fromkeys(t["x"]))
    before = t.drop_duplicates(subset=["latent", f"{metric}_a"])
    fig.add_trace(go.Scatter(x=before["x"], y=before[f"{metric}_a"], mode="markers", name="before",
                             marker={"color": palette("before"), "size": 9, "symbol": "circle"},
                             hovertemplate=f"latent %{{x}} before: {metric} %{{y:.3f}}<extra></extra>"))
    for ck, part in t.groupby("checkpoint", sort=False):
        label = str(ck).rsplit("-", 1)[0] if "-" in str(ck) else str(ck)
        fig.add_trace(go.Scatter(x=part["x"], y=part[f"{metric}_b"], mode="markers", name=label,
                                 marker={"color": palette(label), "size": 9, "symbol": "diamond"},
                                 hovertemplate=f"latent %{{x}} {label}: {metric} %{{y:.3f}}<extra></extra>"))
    if metric == "auroc":
        fig.add_hline(y=0.5, line={"color": "#bbb", "width": 1, "dash": "dot"})
    fig.update_xaxes(title_text="persona latent (ranked in before)", type="category", categoryorder="array",
                     categoryarray=order)
    fig.update_yaxes(title_text=f"{metric} (misaligned vs aligned)")
    return P.finish(fig, title)


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


def _quality(quality: pd.DataFrame, page: Page) -> str:
    if not {"metric", "value"} <= set(quality.columns):
        return html_table(quality)
    keys = [c for c in (*_ORGANISM, "hook") if c in quality]
    if not keys:
        return html_table(quality)
    label = quality[keys].astype(str).agg(" · ".join, axis=1)
    wide = quality.assign(sae=label).pivot_table(index="metric", columns="sae", values="value", aggfunc="first",
                                                 sort=False)
    for _, values, part in groups(quality, keys):
        ev = part[part["metric"] == "explained_variance"]
        if len(ev):
            page.add_summary("SAE", "explained variance (held out)", fmt(ev["value"].iloc[0]),
                             organism=values.get("failure_mode", "–"), seed=values.get("seed", "–"),
                             checkpoint=part["checkpoint"].iloc[0] if "checkpoint" in part else "before",
                             probe=f"SAE @ {values.get('hook', '?')}")
    return html_table(wide.reset_index())


def render(run: RunData, page: Page) -> str:
    parts = ["<h3>SAE quality</h3>"]
    quality = run.get("sae_quality")
    if quality is None:
        parts.append(missing("sae_quality", "SAE reconstruction quality"))
    else:
        parts.append('<p class="lead">One column per SAE (organism · seed · hook); measured on held-out tokens '
                     "without position 0 (the attention sink).</p>" + _quality(quality, page)
                     + raw_table("sae_quality", quality))
    latents = run.get("sae_latents")
    parts.append("<h3>Persona latents</h3>")
    if latents is None:
        parts.append(missing("sae_latents", "SAE persona latents"))
    else:
        examples = run.get("sae_examples")
        for title, values, part in groups(latents, (*_ORGANISM, "checkpoint", "hook")):
            parts.append(page.figure(sae_latents_figure(part, f"Latents that separate misaligned from aligned"
                                                        f"{' — ' + title if title else ''}"), f"sae-latents-{title}"))
            ex = examples
            if ex is not None and {"failure_mode", "seed"} <= set(ex.columns) and "failure_mode" in values:
                ex = ex[(ex["failure_mode"].astype(str) == values["failure_mode"])
                        & (ex["seed"].astype(str) == values.get("seed", ""))]
            parts.append(latent_cards(part, ex))
            best = part.sort_values("auroc", ascending=False).iloc[0]
            page.add_summary("SAE", "best persona latent", f"#{int(best['latent'])}: AUROC {fmt(best['auroc'])}",
                             organism=values.get("failure_mode", "–"), seed=values.get("seed", "–"),
                             checkpoint=values.get("checkpoint", "–"), probe=f"SAE @ {values.get('hook', '?')}")
        parts.append(raw_table("sae_latents", latents))
        if examples is not None:
            parts.append(raw_table("sae_examples", examples))
    needed = run.get("sae_latents_needed")
    if needed is not None and {"checkpoint", "k", "auroc", "probe_auroc", "k_needed"} <= set(needed.columns):
        parts.append("<h3>Latents needed to match the probe</h3><p class=\"lead\">Cross-validated AUROC of a "
                     "difference-of-means probe on the top-k persona latents, against the probe on raw activations "
                     "(fewer latents needed = a more concentrated representation); every checkpoint on one axis.</p>")
        for title, _, part in groups(needed, (*_ORGANISM, "hook")):
            parts.append(page.figure(latents_needed_figure(part, f"AUROC on the top-k persona latents"
                                                           f"{' — ' + title if title else ''}", page.palette),
                                     f"sae-needed-{title}"))
        keys = [c for c in (*_ORGANISM, "checkpoint") if c in needed]
        parts.append(html_table(needed.groupby(keys, sort=False)[["probe_auroc", "k_needed"]].first().reset_index()))
        parts.append(raw_table("sae_latents_needed", needed))
    diff = run.get("sae_diff")
    if diff is not None:
        parts.append("<h3>Model diffing: latents that moved most</h3>")
        for title, _, part in groups(diff, (*_ORGANISM, "checkpoint", "hook")):
            parts.append(page.figure(sae_diff_figure(part, f"Top movers (b − a){' — ' + title if title else ''}"),
                                     f"sae-diff-{title}"))
        parts.append(raw_table("sae_diff", diff))
    sharp = run.get("sae_latent_sharpening")
    if sharp is not None and {"latent", "auroc_a", "auroc_b", "checkpoint"} <= set(sharp.columns):
        parts.append('<h3>Sharpening of the persona latents</h3><p class="lead">Each persona latent (ranked in the '
                     "before checkpoint) as a classifier of misaligned vs aligned text: its AUROC in before and after "
                     "every method, on one axis (the same SAE, trained on before).</p>")
        for title, _, part in groups(sharp, (*_ORGANISM, "hook")):
            parts.append(page.figure(latent_sharpening_figure(part, f"Persona latents before and after"
                                                              f"{' — ' + title if title else ''}", page.palette),
                                     f"sae-latent-sharpening-{title}"))
        parts.append(raw_table("sae_latent_sharpening", sharp))
    return "".join(parts)


SECTION = register(Section(
    key="sae", title="SAE latents", order=50, render=render, what="the SAE stage",
    tables=("sae_quality", "sae_latents", "sae_examples", "sae_latents_needed", "sae_diff", "sae_latent_sharpening")))
