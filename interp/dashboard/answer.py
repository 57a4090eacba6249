"""The numbers of the answer at the top of a run page, read from the run's tables (nothing is computed anew).

Per organism (failure mode, seed) and per consistency method, three effects, each with its interval
and its control:

- behaviour: the paired change of the misalignment rate, ``after:<m> - before`` (``behaviour``);
- sharpening: ΔAUROC of the persona direction, ``after:<m>-before``, with its BH-adjusted p, at
  the layer of the direction that steering uses (``sharpening``); control: the shuffled-label
  AUROC of the same checkpoints at that layer;
- causal effect: the fraction of misalignment removed by ablating that direction in ``after:<m>``
  (``ablation``); control: the range (min..max) of what each random direction removes.

A reference row holds the organism against the base model (``before - base``; the ablation in
``before``). Control methods (greedy self-training, rejection sampling) are marked as controls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from interp.dashboard.tables import RunData
from interp.dashboard.tidy import (
    config_value,
    hook_layer,
    is_control_method,
    methods_of,
    of_organism,
    organisms,
    sharpening_view,
)

NAN = float("nan")
COLUMNS = ("failure_mode", "seed", "row", "role", "method", "checkpoint", "comparison",
           "behaviour", "behaviour_low", "behaviour_high", "judge",
           "probe", "hook", "layer", "delta_auroc", "delta_low", "delta_high", "p_adj", "shuffled_a", "shuffled_b",
           "removed", "removed_low", "removed_high", "random_min", "random_max", "n_random")


@dataclass(frozen=True)
class Layer:
    """The layer the answer's sharpening is read at, and why that one."""

    hook: str | None
    layer: int | None
    reason: str


def _f(row: pd.Series | None, col: str) -> float:
    if row is None or col not in row or pd.isna(row[col]):
        return NAN
    return float(row[col])


def answer_probe(run: RunData, sharpening: pd.DataFrame | None) -> str:
    """The steering direction's probe when the sharpening table has it, else diffmeans, else its first probe."""
    wanted = str(config_value(run.manifest, "steering", "probe", "diffmeans"))
    if sharpening is None or "probe" not in sharpening:
        return wanted
    probes = [p for p in dict.fromkeys(sharpening["probe"].astype(str))
              if not p.startswith("control:") and p not in ("data", "reference")]
    if wanted in probes or not probes:
        return wanted
    return "diffmeans" if "diffmeans" in probes else probes[0]


def answer_layer(run: RunData, failure_mode: str, seed: int, probe: str) -> Layer:
    """The hook of the direction steering used for this organism; without steering, the layer where the
    organism (before) separates best by ``probe`` (chosen without looking at the change)."""
    dr = of_organism(run.get("dose_response"), failure_mode, seed)
    sel = of_organism(run.get("direction_selection"), failure_mode, seed)
    if dr is not None and "hook" in dr and dr["hook"].nunique() == 1:
        hook = str(dr["hook"].iloc[0])
        how = ("selected on held-out prompts (steering.layer: auto)" if sel is not None and "selected" in sel
               and sel["selected"].astype(bool).any()
               else f"steering.layer = {config_value(run.manifest, 'steering', 'layer', '?')}")
        return Layer(hook, hook_layer(hook), f"the layer of the direction steered and ablated ({how})")
    if sel is not None and "selected" in sel and sel["selected"].astype(bool).any():
        hook = str(sel[sel["selected"].astype(bool)]["hook"].iloc[0])
        return Layer(hook, hook_layer(hook), "the layer selected for steering (steering.layer: auto)")
    sharp = of_organism(run.get("sharpening"), failure_mode, seed)
    if sharp is not None:
        own = sharp[(sharp["checkpoint"] == "before") & (sharp["probe"] == probe) & (sharp["metric"] == "auroc")]
        own = own.dropna(subset=["value"])
        if len(own):
            best = own.loc[own["value"].idxmax()]
            return Layer(str(best["hook"]), int(best["layer"]),
                         f"no steering in this run: the layer where before separates best ({probe} AUROC)")
    return Layer(None, None, "no sharpening or steering table for this organism")


def _behaviour(run: RunData, fm: str, seed: int, comparison: str) -> tuple[pd.Series | None, str]:
    t = of_organism(run.get("behaviour"), fm, seed)
    if t is None:
        return None, ""
    hit = t[t["checkpoint"].astype(str) == comparison]
    return (hit.iloc[0], str(hit["judge"].iloc[0]) if "judge" in hit else "") if len(hit) else (None, "")


def _sharpening(view: pd.DataFrame | None, comparison: str, probe: str, hook: str | None,
                a: str, b: str) -> dict[str, float]:
    out = {"delta_auroc": NAN, "delta_low": NAN, "delta_high": NAN, "p_adj": NAN, "shuffled_a": NAN, "shuffled_b": NAN}
    if view is None or hook is None:
        return out
    at = view[view["hook"].astype(str) == hook]
    d = at[(at["checkpoint"] == comparison) & (at["probe"] == probe) & (at["metric"] == "delta_auroc")]
    if len(d):
        r = d.iloc[0]
        out |= {"delta_auroc": _f(r, "value"), "delta_low": _f(r, "ci_low"), "delta_high": _f(r, "ci_high"),
                "p_adj": _f(r, "p_adj")}
    shuffled = at[(at["probe"] == "control:shuffled") & (at["metric"] == "auroc")]
    for side, ck in (("shuffled_a", a), ("shuffled_b", b)):
        s = shuffled[shuffled["checkpoint"] == ck]
        if len(s):
            out[side] = _f(s.iloc[0], "value")
    return out


def _ablation(run: RunData, fm: str, seed: int, checkpoint: str) -> dict[str, float]:
    out = {"removed": NAN, "removed_low": NAN, "removed_high": NAN, "random_min": NAN, "random_max": NAN,
           "n_random": 0.0}
    t = of_organism(run.get("ablation"), fm, seed)
    if t is None or "removed" not in t:
        return out
    t = t[t["checkpoint"].astype(str) == checkpoint]
    per = t[t["direction"] == "ablated:persona"]
    if len(per):
        r = per.iloc[0]
        out |= {"removed": _f(r, "removed"), "removed_low": _f(r, "removed_low"), "removed_high": _f(r, "removed_high")}
    rnd = pd.to_numeric(t[t["direction"].astype(str).str.startswith("ablated:random")]["removed"], errors="coerce")
    rnd = rnd.dropna()
    if len(rnd):
        out |= {"random_min": float(rnd.min()), "random_max": float(rnd.max()), "n_random": float(len(rnd))}
    return out


def answer_rows(run: RunData) -> tuple[pd.DataFrame, dict[tuple[str, int], Layer]]:
    """One row per organism and method (plus the organism-vs-base reference row), and each organism's layer."""
    sharp = run.get("sharpening")
    view = sharpening_view(sharp) if sharp is not None and "probe" in sharp else None
    probe = answer_probe(run, sharp)
    beh, ab = run.get("behaviour"), run.get("ablation")
    found = list(dict.fromkeys(o for t in (beh, sharp, ab) if t is not None for o in organisms(t)))
    methods = methods_of(run.manifest, beh, sharp, ab)
    rows, layers = [], {}
    for fm, seed in found:
        layer = answer_layer(run, fm, seed, probe)
        layers[(fm, seed)] = layer
        sview = of_organism(view, fm, seed)
        plan = [("organism vs base (before − base)", "reference", "", "before", "before - base", "before-base", "base", "before")]
        plan += [(f"{m} (control)" if is_control_method(m) else m, "control" if is_control_method(m) else "method", m,
                  f"after:{m}", f"after:{m} - before", f"after:{m}-before", "before", f"after:{m}") for m in methods]
        for label, role, m, ck, comparison, pair, a, b in plan:
            b_row, judge = _behaviour(run, fm, seed, comparison)
            row = {"failure_mode": fm, "seed": seed, "row": label, "role": role, "method": m, "checkpoint": ck,
                   "comparison": comparison, "behaviour": _f(b_row, "rate"), "behaviour_low": _f(b_row, "ci_low"),
                   "behaviour_high": _f(b_row, "ci_high"), "judge": judge, "probe": probe, "hook": layer.hook or "",
                   "layer": layer.layer if layer.layer is not None else -1}
            row |= _sharpening(sview, pair, probe, layer.hook, a, b)
            row |= _ablation(run, fm, seed, ck)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["n_random"] = frame["n_random"].fillna(0).astype(int)
    return frame, layers


def has_any(frame: pd.DataFrame) -> bool:
    """Whether any row holds a number (an empty answer says so instead of drawing empty panels)."""
    cols = ["behaviour", "delta_auroc", "removed"]
    return bool(len(frame)) and bool(np.isfinite(frame[cols].to_numpy(dtype=float)).any())
