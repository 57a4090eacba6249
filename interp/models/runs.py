"""The paper's runs directory, read as checkpoints.

The consistency-misalignment code writes, under a runs root::

    organisms/<model>__<failure>__seed<S>__<scale>/            phase-1 adapter ("before")
    organisms/<id>/checkpoints/epoch<N>/                      organism trajectory
    runs/<model>__<failure>__<method>__seed<S>__<scale>/adapter    phase-3 adapter ("after")
    runs/<run_id>/checkpoints/epoch<N>/                       consistency-training trajectory

:func:`list_run_checkpoints` lists every one of them with its role, so an analysis can ask for
"before and after of every method on sycophancy, seed 42" without walking folders by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["before", "after", "organism_epoch", "after_epoch"]
_EPOCH = re.compile(r"^epoch(\d+)$")


@dataclass(frozen=True)
class RunCheckpoint:
    """One adapter directory of a runs root, with what it is."""

    role: Role
    path: Path
    model: str
    failure_mode: str
    seed: int
    scale: str
    method: str | None = None
    epoch: int | None = None

    @property
    def label(self) -> str:
        parts = [self.failure_mode, self.method or "organism", f"seed{self.seed}", self.role]
        if self.epoch is not None:
            parts.append(f"epoch{self.epoch}")
        return "/".join(parts)


def _parse_id(run_id: str, with_method: bool) -> tuple[str, str, str | None, int, str] | None:
    parts = run_id.split("__")
    tail = 4 if with_method else 3
    if len(parts) < tail + 1 or not parts[-2].startswith("seed") or not parts[-2][4:].isdigit():
        return None
    scale, seed = parts[-1], int(parts[-2][4:])
    method = parts[-3] if with_method else None
    failure = parts[-tail]
    model = "__".join(parts[:-tail])
    return model, failure, method, seed, scale


def _epochs(folder: Path) -> list[tuple[int, Path]]:
    found = []
    if folder.is_dir():
        for child in folder.iterdir():
            m = _EPOCH.match(child.name)
            if m and (child / "adapter_config.json").is_file():
                found.append((int(m.group(1)), child))
    return sorted(found)


def list_run_checkpoints(root: str | Path) -> list[RunCheckpoint]:
    """Every organism, method run and saved epoch under a runs root, sorted by label."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Runs root {root} does not exist; pass the folder that holds organisms/ and runs/.")
    found: list[RunCheckpoint] = []
    for org in sorted((root / "organisms").glob("*")):
        parsed = _parse_id(org.name, with_method=False)
        if parsed is None:
            continue
        model, failure, _, seed, scale = parsed
        if (org / "adapter_config.json").is_file():
            found.append(RunCheckpoint("before", org, model, failure, seed, scale))
        for epoch, path in _epochs(org / "checkpoints"):
            found.append(RunCheckpoint("organism_epoch", path, model, failure, seed, scale, epoch=epoch))
    for run in sorted((root / "runs").glob("*")):
        parsed = _parse_id(run.name, with_method=True)
        if parsed is None:
            continue
        model, failure, method, seed, scale = parsed
        if (run / "adapter" / "adapter_config.json").is_file():
            found.append(RunCheckpoint("after", run / "adapter", model, failure, seed, scale, method))
        for epoch, path in _epochs(run / "checkpoints"):
            found.append(RunCheckpoint("after_epoch", path, model, failure, seed, scale, method, epoch))
    return found
