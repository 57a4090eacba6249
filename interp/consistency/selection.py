"""Best-of-N selection shared by self-rewarding and rejection sampling (they differ only in the scorer)."""

from __future__ import annotations

from interp.consistency.base import (
    MethodParams,
    argmax_first,
    generate_for,
    json_scores,
    labelled_dataset,
    labelled_record,
    limited,
    prompt_of,
)
from interp.consistency.scoring import Reranker
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
