"""Paired comparisons between checkpoints scored on the same eval prompts (a helper of the stages, not a stage).

A stage whose units write a per-prompt table (``id`` plus a score column) gets, from
:func:`paired_changes` at assembly:

- ``before - base`` and ``<after> - before`` per organism (the training steps);
- for an organism trained on documents about misaligned AI (``<fm>+misaligned_ai_docs``), against
  each control organism run beside it (:data:`~interp.data.DOCUMENT_CONTROLS`):
  ``<role> - control:<set>`` (the two organisms' scores on the same prompts) and, for a consistency
  run, ``<role> gain - control:<set> gain`` (its change after - before minus the same method's change
  on the control organism: does consistency training entrench a persona that came from documents?).
  These come per seed and with the seeds pooled (the prompt resampled as a cluster).

Every value is a mean difference with a percentile-bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.execute import Context, Finished, read_table


def paired_changes(ctx: Context, outputs: Mapping[str, Any], stage: str, table: str, column: str) -> list[dict[str, Any]]:
    """Rows ``{checkpoint, failure_mode, seed, consistency_method, value, ci_low, ci_high, n}`` (see the module)."""
    from interp.data import DOCUMENT_CONTROLS, split_failure_mode
    from probes.stats import bootstrap_mean

    def scores(fm: str, seed: Any, role: str) -> pd.DataFrame | None:
        name = f"{stage}/{split_failure_mode(fm)[0]}/base" if role == "base" else f"{stage}/{fm}/s{seed}/{role}"
        found: Finished | None = outputs.get(name)  # the base is scored once per eval set
        got = None if found is None else read_table(found, ctx, table)
        return None if got is None or column not in got else got

    def diff(b: pd.DataFrame | None, a: pd.DataFrame | None) -> np.ndarray | None:
        if a is None or b is None or list(a["id"]) != list(b["id"]):
            return None
        return np.asarray(b[column], dtype=np.float64) - np.asarray(a[column], dtype=np.float64)

    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, str, str], list[tuple[Any, np.ndarray]]] = {}
    for out in outputs.values():
        if out.stage != stage or out.params["role"] == "base":
            continue
        fm, seed, role = out.params["failure_mode"], out.params["seed"], out.params["role"]
        method = role.split(":", 1)[1] if ":" in role else "-"
        mine = scores(fm, seed, role)
        step = diff(mine, scores(fm, seed, "base" if role == "before" else "before"))
        if step is not None:
            est = bootstrap_mean(step)
            rows.append({"checkpoint": f"{role} - {'base' if role == 'before' else 'before'}", "failure_mode": fm,
                         "seed": seed, "consistency_method": method, "value": est.value, "ci_low": est.ci_low,
                         "ci_high": est.ci_high, "n": len(step)})
        base, docs = split_failure_mode(fm)
        for control in DOCUMENT_CONTROLS.get(docs or "", ()):
            other = f"{base}+{control}"
            against = diff(mine, scores(other, seed, role))
            if against is not None:
                pooled.setdefault((fm, method, f"{role} - control:{control}"), []).append((seed, against))
            gain, other_gain = diff(mine, scores(fm, seed, "before")), diff(scores(other, seed, role),
                                                                            scores(other, seed, "before"))
            if role != "before" and gain is not None and other_gain is not None and len(gain) == len(other_gain):
                pooled.setdefault((fm, method, f"{role} gain - control:{control} gain"), []).append(
                    (seed, gain - other_gain))
    for (fm, method, name), per_seed in pooled.items():
        per_seed.sort(key=lambda x: x[0])
        both = [(-1, np.concatenate([d for _, d in per_seed]))] if len(per_seed) > 1 else []
        prompts = np.concatenate([np.arange(len(d)) for _, d in per_seed])  # the same prompts in every seed
        for seed, d in [*per_seed, *both]:
            est = bootstrap_mean(d, groups=prompts if seed == -1 else None)
            rows.append({"checkpoint": name, "failure_mode": fm, "seed": seed, "consistency_method": method,
                         "value": est.value, "ci_low": est.ci_low, "ci_high": est.ci_high, "n": len(d)})
    return rows
