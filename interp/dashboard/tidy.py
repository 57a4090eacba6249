"""Reading the run tables' conventions in one place: comparisons ``b-a``, control methods, organisms, the steered layer.

The pipeline names a comparison of checkpoints ``b-a`` (``after-before``, ``before-base`` in the
sharpening table; ``after:bct - before`` in the behaviour table) and may hold both a pair and its
mirror (``base-before`` beside ``before-base``: the same change, sign flipped). The dashboard shows
each comparison once, in the direction of training (later minus earlier).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

_PAIR = re.compile(r"^\s*(?P<b>[^\s-][^-]*?)\s*-\s*(?P<a>[^\s-][^-]*?)\s*$")


def hook_layer(hook: object) -> int | None:
    """``blocks.12.hook_resid_post`` -> 12 (None when the name has no block)."""
    m = re.search(r"blocks\.(\d+)\.", str(hook))
    return int(m.group(1)) if m else None


def is_control_method(method: object) -> bool:
    """Whether a consistency method is a control of the study (its class says so; unknown names are not)."""
    from interp.consistency import REGISTRY

    cls = REGISTRY.get(str(method))
    return bool(cls is not None and cls.control)


def split_pair(name: object) -> tuple[str, str] | None:
    """``"after:bct - before"`` / ``"after-before"`` -> ``("after:bct", "before")``; None for a checkpoint."""
    m = _PAIR.match(str(name))
    return (m.group("b"), m.group("a")) if m else None


def stage_rank(checkpoint: str) -> int:
    """Order of training: base 0, before 1, after (any method) 2, anything else 3."""
    c = checkpoint.split("/")[-1]
    if c == "base":
        return 0
    if c == "before":
        return 1
    return 2 if c.startswith("after") else 3


def drop_mirrored(frame: pd.DataFrame, col: str = "checkpoint") -> pd.DataFrame:
    """Rows of ``frame`` without the mirror of a comparison it already holds.

    Of ``b-a`` and ``a-b`` the one going forward in training (``before-base``, ``after-before``) is
    kept; a pair whose mirror is absent is kept whichever way it points.
    """
    if col not in frame or frame.empty:
        return frame
    names = set(frame[col].astype(str))
    drop = set()
    for name in names:
        pair = split_pair(name)
        if pair is None:
            continue
        b, a = pair
        mirrors = {n for n in names if split_pair(n) == (a, b)}
        if mirrors and stage_rank(b) < stage_rank(a):
            drop.add(name)
    return frame[~frame[col].astype(str).isin(drop)]


def organisms(frame: pd.DataFrame) -> list[tuple[str, int]]:
    """The (failure mode, seed) organisms of a table, in order of appearance (the base model's rows left out:
    failure mode ``-``, or seed -1 beside the same failure mode with a seed)."""
    if "failure_mode" not in frame:
        return []
    seeds = frame["seed"] if "seed" in frame else pd.Series(-1, index=frame.index)
    out: dict[tuple[str, int], None] = {}
    for fm, seed in zip(frame["failure_mode"].astype(str), seeds, strict=True):
        if fm in ("-", "", "nan", "None"):
            continue
        s = int(seed) if pd.notna(seed) else -1
        out[(fm, s)] = None
    seeded = {fm for fm, s in out if s >= 0}  # the base model's rows of a failure mode carry seed -1
    return [(fm, s) for fm, s in out if s >= 0 or fm not in seeded]


def of_organism(frame: pd.DataFrame | None, failure_mode: str, seed: int) -> pd.DataFrame | None:
    """The rows of one organism (its failure mode, and its seed where the table has seeds)."""
    if frame is None or "failure_mode" not in frame:
        return None
    mask = frame["failure_mode"].astype(str) == failure_mode
    if "seed" in frame and seed >= 0:
        mask &= pd.to_numeric(frame["seed"], errors="coerce") == seed
    part = frame[mask]
    return part if len(part) else None


def config_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
    config = manifest.get("config")
    return config if isinstance(config, dict) else {}


def configured(section: str, key: str) -> Any:
    """A section's ``applies``: shown when the config sets ``config[section][key]``, so that a stage the
    config leaves off adds no empty section to the page."""

    def applies(run: Any) -> bool:
        return bool(config_value(run.manifest, section, key))

    return applies


def config_value(manifest: Mapping[str, Any], section: str, key: str, default: Any = None) -> Any:
    """``manifest["config"][section][key]`` of an ``interp run`` manifest, else ``default``."""
    part = config_of(manifest).get(section)
    return part.get(key, default) if isinstance(part, dict) else default


def methods_of(manifest: Mapping[str, Any], *frames: pd.DataFrame | None) -> list[str]:
    """The run's consistency methods: the config's order, else as they appear in the tables; controls last.
    The runs under a mediation condition (``<method>@<condition>``) are not methods: the mediation section
    shows them."""
    found = [str(m) for m in config_of(manifest).get("methods") or []]
    for frame in frames:
        if frame is not None:
            for col in ("consistency_method", "method"):
                if col in frame:
                    found += [str(m) for m in frame[col].dropna().unique() if str(m) not in ("-", "", "nan")]
                    break
    unique = [m for m in dict.fromkeys(found) if "@" not in m]
    return [m for m in unique if not is_control_method(m)] + [m for m in unique if is_control_method(m)]


def seed_number(seed: object) -> int:
    """A table's seed as an int (-1 for the base model's rows and for a missing seed)."""
    try:
        return int(float(str(seed)))
    except ValueError:
        return -1


def organism_label(failure_mode: object, seed: object) -> str:
    s = seed_number(seed)
    return f"{failure_mode} · seed {s}" if s >= 0 else str(failure_mode)


def sharpening_view(table: pd.DataFrame) -> pd.DataFrame:
    """The sharpening table with one name per checkpoint and each comparison once.

    Each sharpening unit (one organism and method) measures ``base``, ``before`` and ``after`` and
    the pairs between them; its ``after`` becomes ``after:<method>`` (and ``after-before``
    ``after:<method>-before``), the base and before rows every unit repeats are kept once (where
    they agree), and mirrored pairs go (:func:`drop_mirrored`).
    """
    t = table.copy()
    if "method" in t:
        method = t["method"].astype(str)
        ck = t["checkpoint"].astype(str)
        t["checkpoint"] = ck.where(~ck.str.startswith("after"), ck.str.replace(r"^after", "", regex=True)
                                   .radd("after:" + method))
    keys = [c for c in ("checkpoint", "failure_mode", "seed", "hook", "layer", "probe", "metric", "value", "ci_low",
                        "ci_high") if c in t]
    t = t.drop_duplicates(subset=keys)
    return drop_mirrored(t).sort_values("checkpoint", key=lambda c: c.map(training_order), kind="stable")


def training_order(checkpoint: object) -> int:
    """Sort key: checkpoints and comparisons in the order of training (a comparison ``b-a`` at ``b``'s place)."""
    pair = split_pair(checkpoint)
    return stage_rank(pair[0] if pair else str(checkpoint))
