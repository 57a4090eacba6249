"""Reading a run directory for the dashboard: its tables (parquet preferred, CSV otherwise) and manifest.

A run directory holds whatever the commands that wrote it produced, so every table is optional:
:class:`RunData` loads what exists, remembers what could not be read (and why), and never raises
for a missing table. Which tables the dashboard draws is the sections' business
(:func:`interp.dashboard.registry.known_tables`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from interp.io import file_sha256

log = logging.getLogger(__name__)

_HOOK_SITE = re.compile(r"hook_(\w+)$")


def hook_site(hook: object) -> str:
    """``blocks.3.hook_resid_post`` -> ``resid_post`` (empty when the name is not canonical)."""
    m = _HOOK_SITE.search(str(hook))
    return m.group(1) if m else ""


@dataclass
class RunData:
    """One run directory's tables and manifest, as the dashboard sees them."""

    path: Path
    name: str
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> pd.DataFrame | None:
        """The table ``name`` if the run has it and it has rows, else ``None``."""
        frame = self.tables.get(name)
        return frame if frame is not None and len(frame) else None


def read_table(path_without_suffix: Path) -> pd.DataFrame:
    """``<name>.parquet`` if present, else ``<name>.csv``."""
    parquet, csv = path_without_suffix.with_suffix(".parquet"), path_without_suffix.with_suffix(".csv")
    if parquet.exists():
        return pd.read_parquet(parquet)
    if csv.exists():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"neither {parquet.name} nor {csv.name} in {path_without_suffix.parent}")


def load_run(path: str | Path, name: str | None = None) -> RunData:
    """Every table (``*.parquet`` / ``*.csv``) and the manifest of a run directory."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"run directory {root} does not exist")
    manifest: dict[str, Any] = {}
    errors: dict[str, str] = {}
    mpath = root / "manifest.json"
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            errors["manifest"] = f"{type(exc).__name__}: {exc}"
    stems = sorted({p.stem for p in root.iterdir() if p.suffix in (".parquet", ".csv") and not p.name.startswith(".")})
    tables: dict[str, pd.DataFrame] = {}
    expected: dict[str, str] = manifest.get("table_sha256") or {}
    for stem in stems:
        changed = [f"{stem}{s}" for s in (".parquet", ".csv") if f"{stem}{s}" in expected
                   and (root / f"{stem}{s}").is_file() and file_sha256(root / f"{stem}{s}") != expected[f"{stem}{s}"]]
        if changed:  # shown as an error, never as the run's result
            log.warning("%s in %s changed after the run wrote it", ", ".join(changed), root)
            errors[stem] = (f"{', '.join(changed)} changed after the run wrote it (its sha256 differs from "
                            "manifest.json's); run the config again to rewrite it")
            continue
        try:
            tables[stem] = read_table(root / stem)
        except Exception as exc:  # an unreadable table is reported on the page, not fatal
            log.warning("could not read table %s in %s: %s", stem, root, exc)
            errors[stem] = f"{type(exc).__name__}: {exc}"
    return RunData(path=root, name=name or root.name, manifest=manifest, tables=tables, errors=errors)
