"""Control: rejection sampling. N samples, an external reward model keeps the best.

The paper's reward model is Skywork-Reward-V2-Llama-3.1-8B. Offline, pass any
:class:`~interp.consistency.scoring.Reranker`; the default is a
:class:`~interp.consistency.scoring.RubricScorer` with the generic quality rubric, which
:func:`interp.consistency.run_consistency` backs with the organism's base model (a judge that
does not share the organism's fine-tune). Ties go to the first sample. Reads ``n_samples`` (4),
``temperature`` (0.7), ``top_p`` (1.0) and ``max_new_tokens`` (256).
"""

from __future__ import annotations

from typing import Any, ClassVar

from interp.consistency.base import LabelMethod, MethodKind, MethodParams, register
from interp.consistency.scoring import Reranker, RubricScorer
from interp.consistency.selection import best_of_n
from interp.data import Dataset
from interp.models.loading import LoadedModel

__all__ = ["RejectionSampling", "best_of_n"]


@register
class RejectionSampling(LabelMethod):
    name: ClassVar[str] = "rejection_sampling"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(n_samples=4, temperature=0.7, top_p=1.0)
    control: ClassVar[bool] = True
    needs_reference: ClassVar[bool] = True  # the reward model is not the policy: default, the organism's base

    @classmethod
    def default_components(cls, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
        return {"reward_model": RubricScorer(model=reference)}

    def __init__(self, reward_model: Reranker | None = None) -> None:
        self.reward_model: Reranker = reward_model or RubricScorer()

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        return best_of_n(self.name, self.reward_model, model, prompts, params)
