"""The end-of-run summary the CLI prints: each stage's lines (from its spec), then what ran and what failed.

Every number in it names the organism (failure mode and seed), the checkpoint and the probe it is
about, and comes with its interval or its control (random directions as their range, never an
average of their intervals).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from interp.pipeline.run import RunResult
from interp.pipeline.spec import STAGES


def run_tables(root: Path) -> dict[str, pd.DataFrame]:
    """The gathered tables of a run directory, by name."""
    names = {t.name for s in STAGES.values() for t in s.tables if not t.internal}
    return {n: pd.read_parquet(root / f"{n}.parquet") for n in sorted(names) if (root / f"{n}.parquet").is_file()}


def summary_text(result: RunResult) -> str:
    """Behaviour, probes, sharpening, SAE, steering, trajectory, convergence (as the stages say), then timings."""
    lines = [f"run directory: {result.run_dir}"]
    tables = run_tables(result.run_dir)
    for spec in STAGES.values():
        part = spec.summary(tables, result.config) if spec.summary is not None else []
        if part:
            lines += ["", *part]
    n_skipped = sum(1 for o in result.outputs.values() if o.skipped)
    lines.append(f"\n{len(result.outputs)} units ({n_skipped} already finished), {len(result.failed)} failed, "
                 f"{len(result.blocked)} blocked; {result.seconds:.0f} s")
    for uid, err in result.failed.items():
        lines.append(f"  FAILED {uid}: {err.splitlines()[0]}")
    if (result.run_dir / "index.html").is_file():
        lines.append(f"dashboard: {result.run_dir / 'index.html'}")
    return "\n".join(lines)
