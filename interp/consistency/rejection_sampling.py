"""Control: rejection sampling. N samples, an external reward model keeps the best.

The paper's reward model is Skywork-Reward-V2-Llama-3.1-8B. Offline, pass any
:class:`~interp.consistency.scoring.Reranker`; the default is a
:class:`~interp.consistency.scoring.RubricScorer` with the generic quality rubric, which
:func:`interp.consistency.run_consistency` backs with the organism's base model (a judge that
does not share the organism's fine-tune). Ties go to the first sample. Reads ``n_samples`` (4),
``temperature`` (0.7), ``top_p`` (1.0) and ``max_new_tokens`` (256).
"""

from __future__ import annotations

from typing import ClassVar

from interp.consistency.base import (
    MethodKind,
    MethodParams,
    argmax_first,
    generate_for,
    json_scores,
    labelled_dataset,
    labelled_record,
    limited,
    prompt_of,
    register,
)
from interp.consistency.scoring import Reranker, RubricScorer
from interp.data import Dataset
from interp.models.loading import LoadedModel


def best_of_n(
    method: str, scorer: Reranker, model: LoadedModel, prompts: Dataset, params: MethodParams
) -> Dataset:
    """Sample ``params.n_samples`` answers per prompt and keep the one ``scorer`` rates highest."""
    prompts = limited(prompts, params)
    convs = [prompt_of(r) for r in prompts]
    samples = generate_for(model, convs, params.sampled(), params)
    scores = scorer.rank(model, convs, samples)
    records = []
    for r, cands, ss in zip(prompts, samples, scores, strict=True):
        best = argmax_first(ss)
        records.append(labelled_record(r, method, cands[best], candidates=cands, scores=json_scores(ss),
                                       chosen=best, score=scorer.name))
    return labelled_dataset(prompts, method, records)


@register
class RejectionSampling:
    name: ClassVar[str] = "rejection_sampling"
    kind: ClassVar[MethodKind] = "label"

    def __init__(self, reward_model: Reranker | None = None) -> None:
        self.reward_model: Reranker = reward_model or RubricScorer()

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        return best_of_n(self.name, self.reward_model, model, prompts, params)
