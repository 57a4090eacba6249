"""HTML of the dashboard pages: the stylesheet, escaping and number formatting, tables, sections, the page shell.

Pure string functions (no plotly, no run data): every section module builds its HTML from these, so
a page looks the same whichever section drew it.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

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
section#section-answer { border:2px solid #1f77b4; }
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
table.data tr.control td { color:#555; background:#f7f7f7; }
table.data tr.reference td { color:#555; font-style:italic; }
.tag { display:inline-block; font-size:11px; padding:0 5px; border-radius:3px; background:#eee; color:#555; }
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 3) -> str:
    """A number for a table cell: 3 decimals (scientific when tiny or huge), '–' for missing."""
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


def html_table(frame: pd.DataFrame, *, max_rows: int = 200, css: str = "data",
               row_classes: Sequence[str] | None = None) -> str:
    """A compact HTML table (numbers right-aligned and rounded); long tables are cut with a note."""
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for i, (_, row) in enumerate(frame.head(max_rows).iterrows()):
        cells = []
        for v in row.to_numpy():
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            cells.append(f'<td class="num">{esc(fmt(v))}</td>' if num else f"<td>{esc(fmt(v))}</td>")
        cls = f' class="{esc(row_classes[i])}"' if row_classes is not None and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    more = f'<p class="lead">… {len(frame) - max_rows} more rows in the file.</p>' if len(frame) > max_rows else ""
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def raw_table(name: str, frame: pd.DataFrame) -> str:
    return (f"<details><summary>table <code>{esc(name)}</code> ({len(frame)} rows; "
            f"<code>{esc(name)}.csv</code> / <code>.parquet</code>)</summary>{html_table(frame)}</details>")


def missing(name: str, what: str) -> str:
    return f'<p class="missing">No <code>{esc(name)}</code> table: {esc(what)} not in this run.</p>'


def error_box(what: str, exc: BaseException | str) -> str:
    detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return f'<div class="error">Could not draw {esc(what)}: {esc(detail)}</div>'


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
        shown = [f"seed {v}" if c == "seed" else f"judge {v}" if c == "judge" else v for c, v in values.items()
                 if v not in ("", "nan", "-", "-1")]
        yield " · ".join(shown), values, part


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as ``a.b.c`` -> value pairs (lists as JSON)."""
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for k, v in obj.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        return [(prefix, json.dumps(obj, default=str))]
    return [(prefix, str(obj))]


def kv_table(pairs: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f'<table class="data kv"><tbody>{rows}</tbody></table>'


def section_html(key: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="section-{key}"><h2>{esc(title)}</h2>{lead_html}{body}</section>'


def page_html(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole page: plotly.js inline once, the header, the section links, the sections."""
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
