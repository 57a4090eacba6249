"""Offline behaviour judges and the misalignment rate of a checkpoint.

``interp.judges`` owns how behaviour becomes a number: paired log-prob scoring of fixed
aligned/misaligned answers (:func:`paired_logprob_scores`), judges of generated text that follow
the :class:`Judge` protocol (:class:`RuleJudge`, :class:`EmbeddingJudge`, :class:`HTTPJudge`),
their agreement with held-out labels (:func:`judge_agreement`), and :func:`misalignment_rate`,
which returns a :class:`Rate` (rate, bootstrap interval, n, and the name of the judge that
produced it) for one failure mode.
"""

from interp.judges.agreement import judge_agreement, judges_agreement, labelled_pairs
from interp.judges.base import Judge
from interp.judges.embedding import (
    EmbeddingJudge,
    HeldOut,
    SentenceEncoder,
    encoder_dir,
    shipped_training_records,
)
from interp.judges.http import HTTPJudge, JudgeError, parse_score
from interp.judges.logprob import paired_logprob_scores, response_logprobs
from interp.judges.measure import DEFAULT_SAMPLING, misalignment_rate, resolve_judge
from interp.judges.rate import Rate, bootstrap_rate
from interp.judges.rubrics import default_rubric, fill_rubric, get_rubric
from interp.judges.rules import RULE_MODES, RuleJudge, parse_label, sycophancy_verdict

__all__ = [
    "DEFAULT_SAMPLING",
    "RULE_MODES",
    "EmbeddingJudge",
    "HTTPJudge",
    "HeldOut",
    "Judge",
    "JudgeError",
    "Rate",
    "RuleJudge",
    "SentenceEncoder",
    "bootstrap_rate",
    "default_rubric",
    "encoder_dir",
    "fill_rubric",
    "get_rubric",
    "judge_agreement",
    "judges_agreement",
    "labelled_pairs",
    "misalignment_rate",
    "paired_logprob_scores",
    "parse_label",
    "parse_score",
    "resolve_judge",
    "response_logprobs",
    "shipped_training_records",
    "sycophancy_verdict",
]
