"""Diverse-Decoding (``dual_decoding``): greedy + N nucleus samples + one beam candidate, a reranker picks.

The candidate set per prompt is, in order, ``[greedy, *nucleus samples, beam]``; the reranker
scores every candidate against the prompt and the best wins (ties to the first). The paper's
reranker is the reward model Skywork-Reward-V2-Llama-3.1-8B; the offline default is a
:class:`~interp.consistency.scoring.RubricScorer` (see that module for the substitution).
Reads ``n_samples`` (nucleus samples, the paper: 1), ``temperature`` (0.8), ``top_p`` (0.9),
``beam_width`` (4) and ``max_new_tokens`` (256).
"""

from __future__ import annotations

from typing import Any, ClassVar

from interp.consistency.base import (
    LabelMethod,
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
from interp.generation import SamplingParams
from interp.models.loading import LoadedModel


@register
class DualDecoding(LabelMethod):
    name: ClassVar[str] = "dual_decoding"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(n_samples=1, temperature=0.8, top_p=0.9, beam_width=4)
    needs_reference: ClassVar[bool] = True  # the reranker is not the policy: default, the organism's base

    @classmethod
    def default_components(cls, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
        return {"reranker": RubricScorer(model=reference)}

    def __init__(self, reranker: Reranker | None = None) -> None:
        self.reranker: Reranker = reranker or RubricScorer()

    def candidates(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> list[list[str]]:
        """``[greedy, *nucleus samples, beam]`` for each prompt."""
        convs = [prompt_of(r) for r in prompts]
        greedy = generate_for(model, convs, params.greedy(), params)
        nucleus = generate_for(model, convs, params.sampled(), params)
        beam_params = SamplingParams(max_new_tokens=params.max_new_tokens, num_beams=params.beam_width, seed=params.seed)
        beam = generate_for(model, convs, beam_params, params)
        return [[g[0], *n, b[0]] for g, n, b in zip(greedy, nucleus, beam, strict=True)]

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        cands = self.candidates(model, prompts, params)
        scores = self.reranker.rank(model, [prompt_of(r) for r in prompts], cands)
        records = []
        for r, cs, ss in zip(prompts, cands, scores, strict=True):
            best = argmax_first(ss)
            sources = ["greedy", *["nucleus"] * (len(cs) - 2), "beam"]
            records.append(labelled_record(r, self.name, cs[best], candidates=cs, sources=sources,
                                           scores=json_scores(ss), chosen=best, score=self.reranker.name))
        return labelled_dataset(prompts, self.name, records)
