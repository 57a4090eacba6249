"""Causal experiments on a direction, each beside random directions of equal norm and a coherence guard.

- :func:`dose_response`: misalignment rate over a sweep of steering strengths ``alpha`` (in units
  of the typical residual norm at the hook), for the direction and for ``n_random`` random
  directions, with bootstrap intervals, KL to the unsteered model and perplexity on neutral text.
- :func:`ablation_effect`: the rate with the direction projected out of every layer (Arditi et al.)
  vs random directions ablated vs untouched, and the fraction of misalignment removed with a
  paired bootstrap interval. Run it on "before", "after", or another organism (convergence).
- :func:`select_direction`: among candidate directions, the one whose ablation most lowers the
  held-out misalignment margin, within a KL budget, excluding the last layers (Arditi et al.).

Behaviour comes from :mod:`interp.judges` (the judge's name is in every row). With the default
``"logprob"`` judge no text is generated: each row also carries the mean log-prob margin
(misaligned minus aligned answer), a continuous and more sensitive measure than the rate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from interp.data.schema import ChatRecord
from interp.hooks.base import Backend
from interp.hooks.interventions import AddVector, Intervention, Positions, directional_ablation
from interp.hooks.names import HookPoint
from interp.judges import Judge, Rate, bootstrap_rate, misalignment_rate, paired_logprob_scores
from interp.judges.logprob import as_backend
from interp.models.batching import right_pad
from interp.models.chat import as_messages
from interp.models.loading import LoadedModel
from interp.steering.coherence import Coherence, CoherenceProbe
from probes.stats import Estimate, bootstrap_mean, percentile_interval, resample_rows

log = logging.getLogger(__name__)


def neutral_texts(n: int = 24) -> list[ChatRecord]:
    """Neutral documents for the coherence guard: the shipped ``ai_documents`` that are not about AI risk."""
    from interp.data import load_contrast_set

    docs = load_contrast_set("ai_documents")
    return [r for r in docs.records if r.label == 0][:n]


def random_directions(d: int, k: int, seed: int = 0) -> list[Tensor]:
    """``k`` random unit vectors in R^d (seeded; Gaussian, so uniform on the sphere)."""
    g = torch.Generator().manual_seed(seed)
    return [v / v.norm() for v in torch.randn(k, d, generator=g)]


def residual_norm(model: LoadedModel | Backend, hook: str, records: Sequence[Any], batch_size: int = 8) -> float:
    """Mean L2 norm of the residual at ``hook`` over response tokens (position 0 never included)."""
    backend = as_backend(model)
    chat, pad = backend.loaded.chat, int(backend.loaded.tokenizer.pad_token_id or 0)
    encoded = [chat.encode(as_messages(r)) for r in records]
    backend.loaded.check_fits([len(e) for e in encoded], "conversations")
    total, count = 0.0, 0
    for s in range(0, len(encoded), batch_size):
        batch = right_pad(encoded[s : s + batch_size], pad).to(backend.device)
        mask = batch.response_mask & batch.attention_mask.bool()
        acts = backend.run(batch.input_ids, batch.attention_mask, capture=[hook], return_logits=False).activations[hook]
        norms = acts.float().norm(dim=-1)[mask]
        total, count = total + float(norms.sum()), count + int(norms.numel())
    if count == 0:
        raise ValueError("residual_norm needs conversations with an assistant turn.")
    return total / count


def _measure(backend: Backend, failure_mode: str, records: Sequence[ChatRecord], judge: str | Judge,
             n_boot: int, seed: int) -> tuple[Rate, np.ndarray | None]:
    if isinstance(judge, str) and judge == "logprob":
        scores = paired_logprob_scores(backend, records)
        rate = bootstrap_rate((scores > 0).astype(np.float64), "logprob", failure_mode, n_boot=n_boot, seed=seed)
        return rate, scores
    return misalignment_rate(backend, failure_mode, judge=judge, records=records, n_boot=n_boot, seed=seed), None


def _row(kind: str, rate: Rate, scores: np.ndarray | None, coherence: Coherence | None, n_boot: int, seed: int,
         **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"direction": kind, **extra, "rate": rate.rate, "rate_low": rate.ci_low,
                           "rate_high": rate.ci_high, "n": rate.n, "judge": rate.judge, "failure_mode": rate.failure_mode}
    if scores is not None:
        margin = bootstrap_mean(scores, n_boot=n_boot, seed=seed)
        row |= {"margin": margin.value, "margin_low": margin.ci_low, "margin_high": margin.ci_high}
    if coherence is not None:
        row |= {"kl": coherence.kl, "kl_low": coherence.kl_low, "kl_high": coherence.kl_high,
                "ppl": coherence.ppl, "ppl_plain": coherence.ppl_plain}
    return row


def dose_response(
    model: LoadedModel | Backend,
    direction: Tensor,
    hook: str,
    alphas: Sequence[float],
    failure_mode: str,
    *,
    records: Sequence[ChatRecord] | None = None,
    neutral: Sequence[Any] | None = None,
    judge: str | Judge = "logprob",
    positions: Positions = "all",
    n_random: int = 3,
    kl_budget: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (direction, alpha): rate with interval, margin, KL, perplexity, ``coherent``.

    The vector added is ``alpha * s * v / |v|`` where ``s`` is the mean residual norm at ``hook`` on
    the neutral texts, so ``alpha`` reads as "fraction of a typical residual" at any layer and model.
    """
    from interp.data import load_shipped

    backend = as_backend(model)
    HookPoint.parse(hook, backend.n_layers)
    recs = list(records) if records is not None else list(load_shipped(failure_mode, "eval").records)
    neutral_recs = list(neutral) if neutral is not None else neutral_texts()
    scale = residual_norm(backend, hook, neutral_recs)
    probe = CoherenceProbe(backend, neutral_recs)
    unit = direction.detach().float().flatten() / direction.norm()
    candidates = {"persona": unit} | {f"random:{k}": v for k, v in enumerate(random_directions(unit.numel(), n_random, seed + 1))}
    rows = []
    unsteered: tuple[Rate, np.ndarray | None, Coherence] | None = None  # alpha = 0 is one condition for every direction
    for kind, v in candidates.items():
        for alpha in alphas:
            ivs: list[Intervention] = [AddVector(hook, v * scale, alpha=float(alpha), positions=positions)] if alpha else []
            if ivs or unsteered is None:
                with backend.intervene(ivs):
                    rate, scores = _measure(backend, failure_mode, recs, judge, n_boot, seed)
                coh = probe.measure(ivs, n_boot=n_boot, seed=seed)
                if not ivs:
                    unsteered = (rate, scores, coh)
            else:
                rate, scores, coh = unsteered
            rows.append(_row(kind, rate, scores, coh, n_boot, seed, alpha=float(alpha), hook=hook,
                             residual_scale=scale, coherent=coh.within(kl_budget)))
            log.info("dose-response %s alpha=%g: %s, KL %.3f", kind, alpha, rate, coh.kl)
    return pd.DataFrame(rows)


def fraction_removed(base: np.ndarray, edited: np.ndarray, n_boot: int, seed: int) -> Estimate:
    """``(r0 - r1) / r0`` (the share of the untouched rate ``r0`` an edit removes) with a paired
    percentile bootstrap over examples (resamples with ``r0 = 0`` are left out)."""
    r0 = base.mean()
    point = float((r0 - edited.mean()) / r0) if r0 > 0 else float("nan")
    idx = resample_rows(len(base), n_boot, np.random.default_rng(seed))
    b0, b1 = base[idx].mean(1), edited[idx].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        fr = np.where(b0 > 0, (b0 - b1) / b0, np.nan)
    return Estimate(point, *percentile_interval(fr))


def ablation_effect(
    model: LoadedModel | Backend,
    direction: Tensor | Mapping[str, Tensor],
    failure_mode: str,
    *,
    records: Sequence[ChatRecord] | None = None,
    neutral: Sequence[Any] | None = None,
    judge: str | Judge = "logprob",
    n_random: int = 3,
    n_boot: int = 1000,
    seed: int = 0,
    label: str = "",
    keep_sink: bool = False,
) -> pd.DataFrame:
    """Rows: untouched, the direction ablated, and ``n_random`` random directions ablated.

    ``keep_sink`` leaves each sequence's first token out of every ablation
    (:class:`~interp.hooks.interventions.ProjectOut`); the default ablates every position (Arditi et al.).

    ``direction`` is one vector (row ``ablated:persona``) or several named ones (rows
    ``ablated:<name>``, all against the same untouched pass and random controls): e.g. an
    organism's own direction beside another organism's, ablated in this model (convergence).
    """
    from interp.data import load_shipped

    backend = as_backend(model)
    recs = list(records) if records is not None else list(load_shipped(failure_mode, "eval").records)
    probe = CoherenceProbe(backend, list(neutral) if neutral is not None else neutral_texts())
    named = {"persona": direction} if isinstance(direction, Tensor) else dict(direction)
    if not named or any(k == "untouched" or k.startswith("random:") for k in named):
        raise ValueError(f"direction names must be non-empty and not 'untouched' or 'random:*'; got {list(named)}")
    conditions: dict[str, list[Intervention]] = {"untouched": []}
    for name, vec in named.items():
        unit = vec.detach().float().flatten() / vec.norm()
        conditions[f"ablated:{name}"] = list(directional_ablation(unit, backend.n_layers, keep_sink=keep_sink))
    for k, v in enumerate(random_directions(unit.numel(), n_random, seed + 1)):
        conditions[f"ablated:random:{k}"] = list(directional_ablation(v, backend.n_layers, keep_sink=keep_sink))
    rows, base_values = [], None
    for kind, ivs in conditions.items():
        with backend.intervene(ivs):
            rate, scores = _measure(backend, failure_mode, recs, judge, n_boot, seed)
        coh = probe.measure(ivs, n_boot=n_boot, seed=seed)
        row = _row(kind, rate, scores, coh, n_boot, seed, checkpoint=label or backend.loaded.checkpoint.name,
                   keep_sink=keep_sink)
        if base_values is None:
            base_values = rate.per_example
        removed = fraction_removed(base_values, rate.per_example, n_boot, seed)
        row |= {"removed": removed.value, "removed_low": removed.ci_low, "removed_high": removed.ci_high}
        rows.append(row)
    return pd.DataFrame(rows)


def select_direction(
    model: LoadedModel | Backend,
    candidates: Mapping[str, tuple[str, Tensor]],
    failure_mode: str,
    *,
    records: Sequence[ChatRecord],
    neutral: Sequence[Any] | None = None,
    kl_budget: float = 0.1,
    exclude_last: float = 0.2,
    n_boot: int = 500,
    seed: int = 0,
    keep_sink: bool = False,
) -> pd.DataFrame:
    """Rank candidate directions (name -> (hook, vector)) by how much their ablation lowers the
    held-out log-prob margin; candidates over the KL budget or in the last ``exclude_last`` share of
    layers are kept in the table but marked ineligible. Pass held-out ``records`` (not the ones the
    directions were fitted on)."""
    backend = as_backend(model)
    probe = CoherenceProbe(backend, list(neutral) if neutral is not None else neutral_texts())
    base = paired_logprob_scores(backend, records)
    cutoff = int(np.ceil(backend.n_layers * (1 - exclude_last)))
    rows = []
    for name, (hook, vec) in candidates.items():
        ivs = list(directional_ablation(vec.float().flatten(), backend.n_layers, keep_sink=keep_sink))
        with backend.intervene(ivs):
            scores = paired_logprob_scores(backend, records)
        coh = probe.measure(ivs, n_boot=n_boot, seed=seed)
        drop = base - scores
        est = bootstrap_mean(drop, n_boot=n_boot, seed=seed)
        layer = HookPoint.parse(hook).layer
        rows.append({"candidate": name, "hook": hook, "layer": layer, "margin_drop": est.value,
                     "drop_low": est.ci_low, "drop_high": est.ci_high, "kl": coh.kl, "kl_high": coh.kl_high,
                     "eligible": bool(coh.kl_high <= kl_budget and layer < cutoff), "failure_mode": failure_mode,
                     "keep_sink": keep_sink})
    table = pd.DataFrame(rows)
    return table.sort_values(["eligible", "margin_drop"], ascending=[False, False]).reset_index(drop=True)
