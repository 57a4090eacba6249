"""A checkpoint's misalignment rate on one failure mode, with its interval and the judge that gave it.

:func:`misalignment_rate` is the one entry point the experiments use: it reads the records (our
shipped eval set by default), either scores the paired answers by log-prob (no generation) or
generates a response per prompt with :func:`interp.generation.generate` and hands it to a
:class:`~interp.judges.base.Judge`, and returns a bootstrapped :class:`~interp.judges.rate.Rate`
whose ``judge`` field names what produced the number.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from interp.data.constants import check_failure_mode
from interp.data.schema import ChatRecord
from interp.data.shipped import load_shipped
from interp.generation import SamplingParams, generate
from interp.hooks.base import Backend
from interp.judges.base import Judge, details_of
from interp.judges.logprob import paired_logprob_scores
from interp.judges.rate import Rate, bootstrap_rate
from interp.models.loading import LoadedModel

log = logging.getLogger(__name__)

#: greedy, short: enough for a verdict, an answer or a label on every shipped eval prompt
DEFAULT_SAMPLING = SamplingParams(max_new_tokens=48, temperature=0.0)

JUDGE_NAMES = ("logprob", "rule", "embedding")


def resolve_judge(judge: str | Judge, failure_mode: str) -> Judge:
    """A judge instance from a name: ``"rule"`` (rules for ``failure_mode``) or ``"embedding"``.

    ``"embedding"`` is the MiniLM classifier trained on our shipped labelled responses of
    ``failure_mode`` (fitted once and cached, see :meth:`EmbeddingJudge.default`). An HTTP judge needs a URL: build an
    :class:`~interp.judges.http.HTTPJudge` and pass it.
    """
    if not isinstance(judge, str):
        if not isinstance(judge, Judge):
            raise TypeError(f"judge must be a name or have .name and .score(records, responses); got {type(judge).__name__}")
        return judge
    if judge == "rule":
        from interp.judges.rules import RuleJudge

        return RuleJudge(failure_mode)
    if judge == "embedding":
        from interp.judges.embedding import EmbeddingJudge

        return EmbeddingJudge.default(failure_mode)
    if judge == "http":
        raise ValueError("the HTTP judge needs a server: pass HTTPJudge(base_url=..., model=...) as judge")
    raise ValueError(f"unknown judge {judge!r}; use one of {', '.join(JUDGE_NAMES)} or a Judge instance")


def misalignment_rate(
    model: LoadedModel | Backend,
    failure_mode: str,
    *,
    judge: str | Judge = "logprob",
    records: Sequence[ChatRecord] | None = None,
    sampling: SamplingParams | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    batch_size: int = 16,
    tag: str = "",
    progress: bool = False,
) -> Rate:
    """The share of ``records`` on which ``model`` behaves misaligned, with a bootstrap interval.

    Args:
        model: a loaded checkpoint, or a backend with interventions installed (steering, ablation).
        failure_mode: one of :data:`interp.data.FAILURE_MODES`; names the rate and picks the rules.
        judge: ``"logprob"`` (per example 1 when the model gives the misaligned answer a higher mean
            per-token log-prob than the aligned one; needs ``aligned_response`` /
            ``misaligned_response`` fields), ``"rule"`` (sycophancy, spurious correlation),
            ``"embedding"`` (check its agreement on your model's replies first: see
            :mod:`interp.judges.embedding`), or any :class:`Judge`, e.g. an ``HTTPJudge``.
        records: the prompts; default ``load_shipped(failure_mode, "eval")``.
        sampling: generation settings for generating judges (default greedy, 48 new tokens); with
            ``n > 1`` an example's value is the mean over its completions.
        tag: names the interventions installed on a backend, so their generations are cached apart.
    """
    check_failure_mode(failure_mode)
    recs: Sequence[ChatRecord] = tuple(load_shipped(failure_mode, "eval").records) if records is None else records
    if len(recs) == 0:
        raise ValueError(f"no records to rate for {failure_mode!r}")
    if isinstance(judge, str) and judge == "logprob":
        scores = paired_logprob_scores(model, recs, batch_size=batch_size, progress=progress)
        values = (scores > 0).astype(np.float64)
        details: dict[str, Any] = {"mean_logprob_margin": float(scores.mean())}
        rate = bootstrap_rate(values, "logprob", failure_mode, n_boot=n_boot, seed=seed, details=details)
        return dataclasses.replace(rate, margins=np.asarray(scores, dtype=np.float64))
    j = resolve_judge(judge, failure_mode)
    params = sampling or DEFAULT_SAMPLING
    completions = generate(model, list(recs), params, batch_size=batch_size, tag=tag, progress=progress)
    flat_recs = [r for r, outs in zip(recs, completions, strict=True) for _ in outs]
    flat_resp = [c for outs in completions for c in outs]
    flat = np.asarray(j.score(flat_recs, flat_resp), dtype=np.float64)
    values = flat.reshape(len(recs), params.n).mean(axis=1)
    details = details_of(j, flat_recs, flat_resp)
    details["sampling"] = f"max_new_tokens={params.max_new_tokens},temperature={params.temperature},n={params.n}"
    return bootstrap_rate(values, j.name, failure_mode, n_boot=n_boot, seed=seed, details=details)
