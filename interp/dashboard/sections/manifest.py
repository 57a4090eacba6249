"""Section "Manifest": the command, seeds, every checkpoint (name, model, kind, fingerprint, path), versions and
timings of the run, and the manifest itself; :func:`checkpoints_line` is the page header's checkpoint list."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

import pandas as pd

from interp.dashboard.markup import esc, flatten, html_table, kv_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData


def _model_name(entry: dict[str, Any]) -> str:
    """What the checkpoint is: its id (``interp run``), else its label; an adapter is named by its run folder."""
    if entry.get("id"):
        return str(entry["id"])
    label, path = entry.get("label") or entry.get("name"), entry.get("path")
    if label == "adapter" and path:
        return PurePath(str(path)).parent.name
    return str(label or (PurePath(str(path)).name if path else "–"))


def checkpoint_rows(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """One row per checkpoint of the manifest: ``checkpoints`` (``interp run``: ``path``/``fingerprint``/``id``,
    or a capture's ``label``/``kind``/``base``) or a single ``checkpoint`` (quickstart, capture)."""
    entries: list[tuple[str, Any]] = []
    many = manifest.get("checkpoints")
    if isinstance(many, dict):
        entries = list(many.items())
    elif isinstance(many, list):
        entries = [(str(e.get("name", i)) if isinstance(e, dict) else str(i), e) for i, e in enumerate(many)]
    one = manifest.get("checkpoint")
    if isinstance(one, dict):
        entries.insert(0, ("checkpoint", one))
    rows = []
    for name, entry in entries:
        if not isinstance(entry, dict):
            rows.append({"name": name, "model": str(entry), "kind": "–", "fingerprint": "–", "base": "–", "path": "–"})
            continue
        base = entry.get("base")
        base_text = (f"{_model_name(base)} ({base.get('fingerprint', '–')})" if isinstance(base, dict)
                     else str(base) if base else "–")
        rows.append({"name": name, "model": _model_name(entry), "kind": str(entry.get("kind") or "–"),
                     "fingerprint": str(entry.get("fingerprint") or "–"), "base": base_text,
                     "path": str(entry.get("path") or "–")})
    return rows


def checkpoints_line(manifest: dict[str, Any], limit: int = 8) -> str:
    """``name model (fingerprint)`` of each distinct checkpoint (plain text; the Manifest section has them all)."""
    rows = checkpoint_rows(manifest)
    by_fp: dict[str, dict[str, str]] = {}
    for r in rows:  # the role names (base, .../before, .../after:m) win over the unit names of the same weights
        key = r["fingerprint"] if r["fingerprint"] != "–" else r["name"]
        old = by_fp.get(key)
        if old is None or ("kind" in r and r["kind"] != "–" and old["kind"] == "–"):
            by_fp[key] = r
    shown = list(by_fp.values())
    def one(r: dict[str, str]) -> str:  # the model's name only where the name does not say it (base, a capture)
        named = r["name"] in ("base", "checkpoint") or len(shown) == 1
        return f"{r['name']} {r['model']} ({r['fingerprint'][:8]})" if named else f"{r['name']} ({r['fingerprint'][:8]})"

    text = ", ".join(one(r) for r in shown[:limit])
    return text + (f", … {len(shown) - limit} more (see Manifest)" if len(shown) > limit else "")


def render(run: RunData, page: Page) -> str:
    m = run.manifest
    if not m:
        note = run.errors.get("manifest")
        return (f'<div class="error">manifest.json unreadable: {esc(note)}</div>' if note
                else '<p class="missing">No <code>manifest.json</code>: the manifest is not in this run.</p>')
    key = [("command", str(m.get("command", "–"))), ("created", str(m.get("created", "–")))]
    for k in ("seed", "seeds", "host"):
        if k in m:
            key.append((k, json.dumps(m[k], default=str)))
    parts = [kv_table(key)]
    rows = checkpoint_rows(m)
    if rows:
        parts.append(f"<h3>Checkpoints ({len(rows)})</h3>" + html_table(pd.DataFrame(rows)))
    for k, title in (("versions", "Versions"), ("seconds", "Timings (s)"), ("timings", "Timings (s)"),
                     ("dataset", "Dataset"), ("options", "Options"), ("failed", "Failed units"),
                     ("blocked", "Blocked units")):
        if isinstance(m.get(k), dict) and m[k]:
            parts.append(f"<h3>{title}</h3>" + kv_table(flatten(m[k])))
    parts.append("<details><summary>manifest.json</summary><pre>"
                 f"{esc(json.dumps(m, indent=2, sort_keys=True, default=str))}</pre></details>")
    return "".join(parts)


SECTION = register(Section(key="manifest", title="Manifest", tables=(), render=render, order=100))
