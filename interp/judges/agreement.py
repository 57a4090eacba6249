"""How far a judge agrees with held-out labels, or with another judge: accuracy and Cohen's kappa with bootstrap intervals.

Also builds the labelled check sets we have for free: every shipped record that carries an
``aligned_response`` and a ``misaligned_response`` gives one response of each label
(:func:`labelled_pairs`), so any judge can be scored against texts whose label is known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from interp.data.schema import ChatRecord
from interp.judges.base import Judge
from probes.stats import percentile_interval, resample_clusters


def labelled_pairs(records: Iterable[ChatRecord]) -> list[ChatRecord]:
    """Two records per input that carries both shipped answers: label 0 (aligned) and 1 (misaligned).

    The pair keeps the prompt's group (so that group-aware splits and bootstraps keep them
    together) and the original fields; ids get a ``/0`` or ``/1`` suffix.
    """
    out: list[ChatRecord] = []
    for rec in records:
        a, m = rec.fields.get("aligned_response"), rec.fields.get("misaligned_response")
        if not isinstance(a, str) or not isinstance(m, str):
            continue
        for label, text in ((0, a), (1, m)):
            r = rec.with_response(text, label=label)
            out.append(ChatRecord(f"{rec.id}/{label}", r.messages, label, rec.group_key, dict(r.fields)))
    return out


def _kappa(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Cohen's kappa for binary arrays along the last axis (1 when both are constant and equal)."""
    po = (y == p).mean(axis=-1)
    py, pp = y.mean(axis=-1), p.mean(axis=-1)
    pe = py * pp + (1 - py) * (1 - pp)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(pe < 1, (po - pe) / np.where(pe < 1, 1 - pe, 1.0), 1.0)
    return np.asarray(k)


def judge_agreement(
    judge: Judge,
    records: Sequence[ChatRecord],
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    responses: Sequence[str] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Accuracy and Cohen's kappa of ``judge`` against ``labels``, with group-bootstrap intervals.

    ``responses`` default to each record's final assistant turn and ``labels`` to its ``label``.
    The judge's scores are thresholded at 0.5. Resampling is over prompt groups
    (``record.group_key``), so a pair of answers to one prompt counts as one unit.
    """
    resp = [r.response for r in records] if responses is None else list(responses)
    if any(t is None for t in resp):
        raise ValueError("records without a final assistant turn: pass responses=... explicitly")
    y = np.array([r.label for r in records] if labels is None else labels)
    if y.shape != (len(records),) or y.dtype == object or not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1, one per record")
    y = y.astype(np.float64)
    p = (np.asarray(judge.score(records, [str(t) for t in resp]), dtype=np.float64) >= 0.5).astype(np.float64)
    # the labels as a judge that is always right: agreement with it is accuracy
    both = judges_agreement(y, p, [r.group_key for r in records], n_boot=n_boot, seed=seed, alpha=alpha)

    def recall(label: int) -> float | None:
        m = y == label
        return float((p[m] == label).mean()) if m.any() else None

    return {
        "judge": judge.name, "n": both["n"], "n_groups": both["n_groups"],
        "accuracy": both["agreement"], "accuracy_ci_low": both["agreement_ci_low"],
        "accuracy_ci_high": both["agreement_ci_high"],
        "kappa": both["kappa"], "kappa_ci_low": both["kappa_ci_low"], "kappa_ci_high": both["kappa_ci_high"],
        "misaligned_recall": recall(1), "aligned_recall": recall(0),
    }


def judges_agreement(
    scores_a: Sequence[float] | np.ndarray,
    scores_b: Sequence[float] | np.ndarray,
    groups: Sequence[Any] | None = None,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """How far two judges agree on the same responses: raw agreement and Cohen's kappa, with
    bootstrap intervals over ``groups`` (prompts by default: one unit per response).

    Scores are thresholded at 0.5 (a response counts as misaligned at or above it); the share each
    judge calls misaligned is returned beside them, since kappa is low when one judge calls almost
    everything one way.
    """
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"two judges' scores must be equal-length 1-d arrays over the same responses, got "
                         f"{a.shape} and {b.shape}")
    g = np.arange(len(a)) if groups is None else np.asarray(list(groups))
    if len(g) != len(a):
        raise ValueError(f"groups has {len(g)} entries for {len(a)} responses")
    pa, pb = (a >= 0.5).astype(np.float64), (b >= 0.5).astype(np.float64)
    resamples = resample_clusters(g, n_boot, np.random.default_rng(seed))
    agree_lo, agree_hi = percentile_interval([(pa[idx] == pb[idx]).mean() for idx in resamples], alpha)
    k_lo, k_hi = percentile_interval([_kappa(pa[idx], pb[idx]) for idx in resamples], alpha)
    return {
        "n": len(a), "n_groups": len(np.unique(g)), "rate_a": float(pa.mean()), "rate_b": float(pb.mean()),
        "agreement": float((pa == pb).mean()), "agreement_ci_low": float(agree_lo), "agreement_ci_high": float(agree_hi),
        "kappa": float(_kappa(pa, pb)), "kappa_ci_low": float(k_lo), "kappa_ci_high": float(k_hi),
    }
