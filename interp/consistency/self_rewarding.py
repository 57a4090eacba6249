"""Self-Rewarding: sample N, the same model scores each against the rubric, keep the best.

The rubric is the failure mode's own (the paper's ``rubric.txt``, placeholders
``{original_question_text}`` and ``{generated_answer_text}``; default: the generic
:data:`~interp.consistency.scoring.QUALITY_RUBRIC`). Substitution: the paper lets the model
write a critique and parses ``Final Score: N`` from it; here the score is the expected value of
the digits 1-5 under the model's next-token distribution right after ``Final Score:``
(one forward pass per candidate, no parsing failures). Reads ``n_samples`` (4),
``temperature`` (0.7), ``top_p`` (1.0) and ``max_new_tokens`` (256).
"""

from __future__ import annotations

from typing import Any, ClassVar

from interp.consistency.base import LabelMethod, MethodKind, MethodParams, register
from interp.consistency.scoring import QUALITY_RUBRIC, RubricScorer
from interp.consistency.selection import best_of_n
from interp.data import Dataset
from interp.models.loading import LoadedModel


@register
class SelfRewarding(LabelMethod):
    name: ClassVar[str] = "self_rewarding"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(n_samples=4, temperature=0.7, top_p=1.0)

    @classmethod
    def default_components(cls, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
        return {"rubric": rubric} if rubric is not None else {}  # else QUALITY_RUBRIC

    def __init__(self, rubric: str = QUALITY_RUBRIC) -> None:
        self.scorer = RubricScorer(rubric, model=None)  # None: the policy judges itself

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        return best_of_n(self.name, self.scorer, model, prompts, params)
