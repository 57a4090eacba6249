"""Where a run's time went: per unit, seconds, share of the run, forward positions, their rate, model loads.

Written by every ``interp run`` as ``profile.csv`` in the run directory; ``interp run --profile``
also prints it, slowest unit first. A unit already finished (a cache hit) costs this run nothing
and is listed with the seconds it took when it ran. ``positions`` are what the run's models
computed (batch x sequence, padding included; see :mod:`interp.models.usage`): a unit slow for
few positions spends its time elsewhere (training's backward pass, the probes, the SAE, loads).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from interp.pipeline.execute import Finished

COLUMNS = ("unit", "stage", "cached", "seconds", "share", "positions", "positions_per_s", "forwards", "loads",
           "load_seconds")


def profile(outputs: Mapping[str, Finished], total_seconds: float) -> pd.DataFrame:
    """One row per unit and a last row ``(rest)`` for the run's time outside its units (the checks before
    the first, planning, cache look-ups; not the tables and the dashboard written after the last)."""
    rows: list[dict[str, Any]] = []
    for o in outputs.values():
        u = o.usage
        seconds = 0.0 if o.skipped else o.seconds
        rows.append({"unit": o.unit, "stage": o.stage, "cached": o.skipped, "seconds": o.seconds,
                     "share": seconds / total_seconds if total_seconds > 0 else float("nan"),
                     "positions": int(u.get("positions", 0)),
                     "positions_per_s": u.get("positions", 0) / o.seconds if o.seconds > 0 and u else float("nan"),
                     "forwards": int(u.get("forwards", 0)), "loads": int(u.get("loads", 0)),
                     "load_seconds": float(u.get("load_seconds", 0.0))})
    spent = sum(r["seconds"] for r in rows if not r["cached"])
    rest = max(0.0, total_seconds - spent)
    rows.append({"unit": "(rest)", "stage": "-", "cached": False, "seconds": round(rest, 2),
                 "share": rest / total_seconds if total_seconds > 0 else float("nan"), "positions": 0,
                 "positions_per_s": float("nan"), "forwards": 0, "loads": 0, "load_seconds": 0.0})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def profile_lines(frame: pd.DataFrame) -> list[str]:
    """The profile as text, slowest first (cached units last)."""
    width = max(len("unit"), *(len(u) for u in frame["unit"]))
    lines = [f"{'unit':<{width}}  {'seconds':>8} {'share':>6} {'positions':>10} {'pos/s':>8} {'loads':>5} "
             f"{'load s':>7}"]
    ordered = frame.assign(_now=~frame["cached"]).sort_values(["_now", "seconds"], ascending=[False, False])
    for r in ordered.itertuples():
        rate = "-" if pd.isna(r.positions_per_s) else f"{r.positions_per_s:.0f}"
        share = "cached" if r.cached else f"{r.share:6.1%}"
        lines.append(f"{r.unit:<{width}}  {r.seconds:8.1f} {share:>6} {r.positions:>10} {rate:>8} {r.loads:>5} "
                     f"{r.load_seconds:7.1f}")
    now = frame[~frame["cached"]]
    lines.append(f"{'total':<{width}}  {now['seconds'].sum():8.1f} {'':>6} {now['positions'].sum():>10} {'':>8} "
                 f"{now['loads'].sum():>5} {now['load_seconds'].sum():7.1f}")
    return lines
