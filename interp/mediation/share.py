"""How much of a training effect runs through a direction: the mediation share and its interval.

A method's training changes behaviour by ``change(none) = mean_i (after_i - before_i)`` over eval
prompts ``i``. The same training with the direction ablated in every training forward pass (and
not at evaluation) changes it by ``change(ablate)``. The share of the change that the direction
mediates is::

    share = 1 - change(ablate) / change(none)

~1 when the effect cannot be learnt without the direction, ~0 when the direction plays no part
(a random direction's share is the control). Every change and share has a percentile interval
from one paired bootstrap over eval prompts (the same resampled prompts for every condition, so
their differences are paired too). A share is reported only where ``change(none)``'s interval
excludes zero; with no change to mediate the ratio means nothing, and the row says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from probes.stats import bootstrap_p, percentile_interval, resample_rows

NONE = "none"


@dataclass(frozen=True)
class ShareRow:
    """One condition of one method: the behaviour change, and the share of the plain change it leaves out."""

    condition: str
    change: float
    change_low: float
    change_high: float
    change_p: float
    share: float
    share_low: float
    share_high: float
    vs_random_p: float
    note: str
    n: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _random_names(names: list[str]) -> list[str]:
    return [c for c in names if c.startswith("ablate:random")]


def mediation_shares(before: Any, after: Mapping[str, Any], *, n_boot: int = 2000, seed: int = 0,
                     alpha: float = 0.05) -> list[ShareRow]:
    """One :class:`ShareRow` per condition of ``after`` (condition -> per-prompt scores, ``"none"`` required).

    ``before``: the organism's per-prompt scores on the same prompts. Besides each condition a row
    ``ablate:random (mean)`` pools the random directions (the mean of their changes), and the
    persona rows carry ``vs_random_p``: the bootstrap p-value of "the persona direction's share
    equals the random directions' mean share".
    """
    b = np.asarray(before, dtype=np.float64).reshape(-1)
    if NONE not in after:
        raise ValueError(f"mediation needs the plain run ('{NONE}') beside the conditions; got {sorted(after)}")
    diffs = {}
    for name, scores in after.items():
        a = np.asarray(scores, dtype=np.float64).reshape(-1)
        if a.shape != b.shape:
            raise ValueError(f"condition {name!r} has {a.size} scores for {b.size} prompts; score the same prompts")
        diffs[name] = a - b
    names = list(diffs)
    randoms = _random_names(names)
    if len(randoms) > 1:
        diffs["ablate:random (mean)"] = np.mean([diffs[r] for r in randoms], axis=0)
        names.append("ablate:random (mean)")
    idx = resample_rows(b.size, n_boot, np.random.default_rng(seed))
    boot = {name: d[idx].mean(axis=1) for name, d in diffs.items()}  # [n_boot] change per condition
    plain, plain_boot = float(diffs[NONE].mean()), boot[NONE]
    lo, hi = percentile_interval(plain_boot, alpha)
    detectable = not (lo <= 0.0 <= hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_boot = {name: 1.0 - boot[name] / plain_boot for name in names}
    random_share = (np.mean([share_boot[r] for r in randoms], axis=0) if randoms else None)
    rows = []
    for name in names:
        change = float(diffs[name].mean())
        c_lo, c_hi = percentile_interval(boot[name], alpha)
        share = s_lo = s_hi = vs_p = float("nan")
        if name == NONE:
            note = "" if detectable else "no change to mediate: the plain run's change is not distinguishable from 0"
        elif not detectable:
            note = "no share: the plain run's change is not distinguishable from 0"
        else:
            note = ""
            share = 1.0 - change / plain
            s_lo, s_hi = percentile_interval(share_boot[name], alpha)
            if random_share is not None and not name.startswith("ablate:random"):
                vs_p = bootstrap_p(share_boot[name] - random_share)
        rows.append(ShareRow(name, change, c_lo, c_hi, bootstrap_p(boot[name]), share, s_lo, s_hi, vs_p, note,
                             int(b.size)))
    return rows
