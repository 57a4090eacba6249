"""Run directories under ``artifacts/``: a manifest, tidy tables, directions and plots, written atomically."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from interp.io import atomic_write_json, file_sha256, read_json


class RunDir:
    """One run's output folder. Tables are written as CSV and parquet; every write is atomic.

    The manifest's ``table_sha256`` holds the checksum of every table file this object wrote (the
    dashboard names a table changed since, instead of showing it).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._manifest: dict[str, Any] = read_json(self.manifest_path) if self.manifest_path.exists() else {}
        self.written: dict[str, str] = {}

    @classmethod
    def create(cls, root: str | Path, name: str) -> RunDir:
        return cls(Path(root) / name)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def update_manifest(self, **fields: Any) -> None:
        """Merge ``fields`` into manifest.json (versions and host recorded on first write)."""
        if not self._manifest:
            import torch
            import transformers

            import interp

            self._manifest = {
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "versions": {"interp": interp.__version__, "torch": torch.__version__,
                             "transformers": transformers.__version__, "python": platform.python_version()},
                "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
            }
        if self.written:
            fields.setdefault("table_sha256", dict(sorted(self.written.items())))
        self._manifest.update(fields)
        atomic_write_json(self.manifest_path, self._manifest)

    def write_table(self, name: str, frame: pd.DataFrame) -> Path:
        """``<name>.csv`` and ``<name>.parquet`` (the CSV for eyes, the parquet for code)."""
        for suffix in (".csv", ".parquet"):
            target = self.path / f"{name}{suffix}"
            tmp = target.with_name(f".{target.name}.tmp")
            if suffix == ".csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
            os.replace(tmp, target)
            self.written[target.name] = file_sha256(target)
        return self.path / f"{name}.csv"
