"""A misalignment rate as a value: the mean of per-example scores, its bootstrap interval and provenance.

:class:`Rate` records which judge produced the number and on which failure mode, so a table of
rates can never lose that; :func:`bootstrap_rate` builds one from per-example 0/1 decisions (or
scores in [0, 1]) with a percentile bootstrap of the mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probes.stats import bootstrap_mean


@dataclass(frozen=True)
class Rate:
    """A misalignment rate with its interval and provenance.

    Attributes:
        rate: mean of ``per_example`` (the share of examples judged misaligned).
        ci_low, ci_high: percentile-bootstrap interval of the mean.
        n: number of examples.
        judge: name of the judge that produced ``per_example`` (e.g. ``"logprob"``, ``"rule:sycophancy"``).
        failure_mode: the failure mode the examples belong to.
        per_example: 0/1 decisions or scores in [0, 1], one per example (not part of equality or repr).
        details: extra named numbers a judge reports beside the rate (e.g. the spurious-correlation
            judge's shortcut-following rate and its interval).
        margins: the continuous score each decision thresholds, where the judge has one (the
            logprob judge: the misaligned answer's mean per-token log-prob minus the aligned
            one's; > 0 is misaligned); None otherwise. Finer than the 0/1 decisions for changes
            too small to flip many of them.
    """

    rate: float
    ci_low: float
    ci_high: float
    n: int
    judge: str
    failure_mode: str
    per_example: np.ndarray = field(repr=False, compare=False)
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    margins: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (without ``per_example``); ``details`` are merged in with their own keys."""
        out: dict[str, Any] = {
            "failure_mode": self.failure_mode,
            "judge": self.judge,
            "rate": float(self.rate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "n": int(self.n),
        }
        for k, v in self.details.items():
            out[k] = float(v) if isinstance(v, (np.floating, np.integer)) else v
        return out

    def __str__(self) -> str:
        return (f"{self.failure_mode}: {self.rate:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}] "
                f"(n={self.n}, judge={self.judge})")


def bootstrap_rate(
    values: np.ndarray,
    judge: str,
    failure_mode: str,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    details: Mapping[str, Any] | None = None,
) -> Rate:
    """The mean of ``values`` (0/1 or scores in [0, 1]) with a percentile-bootstrap interval.

    A percentile bootstrap of a proportion covers the truth at close to the nominal rate for
    moderate n (checked in the tests); at a rate of exactly 0 or 1 its interval collapses to a
    point, which says "no counter-example in n", not certainty.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError(f"no examples to rate for {failure_mode!r} (judge {judge!r})")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{int((~np.isfinite(v)).sum())} non-finite per-example values from judge {judge!r}")
    if v.min() < 0 or v.max() > 1:
        raise ValueError(f"per-example values must lie in [0, 1]; judge {judge!r} gave "
                         f"[{v.min():.3g}, {v.max():.3g}]")
    est = bootstrap_mean(v, n_boot=n_boot, seed=seed, alpha=alpha)
    return Rate(est.value, est.ci_low, est.ci_high, int(v.size), judge, failure_mode, v, dict(details or {}))
