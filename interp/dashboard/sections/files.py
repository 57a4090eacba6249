"""Section "Files": the saved directions, every file of the run directory, tables no section draws, unreadable tables."""

from __future__ import annotations

import json

import pandas as pd

from interp.dashboard.markup import esc, html_table, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, known_tables, register
from interp.dashboard.tables import RunData


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


def render(run: RunData, page: Page) -> str:
    directions = directions_table(run)
    head = ("<h3>Directions</h3>" + html_table(directions)) if len(directions) else ""
    # stages/ holds every unit's raw outputs under its key (interp run): listed as one line, not file by file
    files = sorted(p for p in run.path.rglob("*") if p.is_file() and not p.name.startswith(".") and p.name != "index.html"
                   and p.relative_to(run.path).parts[0] != "stages")
    links = "".join(f'<tr><td><a href="{esc(p.relative_to(run.path))}">{esc(p.relative_to(run.path))}</a></td>'
                    f'<td class="num">{p.stat().st_size / 1024:.1f} KiB</td></tr>' for p in files)
    stages = run.path / "stages"
    if stages.is_dir():
        n = sum(1 for _ in stages.rglob("outputs.json"))
        head += (f"<p>Per-unit outputs of <code>interp run</code>: <code>stages/&lt;unit&gt;/&lt;key&gt;/</code> "
                 f"({n} finished units; the tables below gather them).</p>")
    parts = [head, "<h3>All files</h3>",
             f'<table class="data"><thead><tr><th>file</th><th>size</th></tr></thead><tbody>{links}</tbody></table>']
    known = known_tables()
    for name in sorted(t for t in run.tables if t not in known):
        parts.append(f"<h3>Other table: {esc(name)}</h3>" + raw_table(name, run.tables[name]))
    for name, err in run.errors.items():
        if name != "manifest":
            parts.append(f'<div class="error">table {esc(name)} could not be read: {esc(err)}</div>')
    return "".join(parts)


SECTION = register(Section(key="files", title="Files", tables=(), render=render, order=110))
