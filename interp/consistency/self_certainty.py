"""Self-Confidence (``self_certainty``): sample N completions, keep the most confident one.

Confidence is the mean per-token log-probability of the completion under the model being
labelled. The paper reads it from vLLM during sampling; here the decoded text is rescored
teacher-forced (:func:`interp.consistency.scoring.mean_logprobs`), the same quantity up to
re-tokenisation. Ties go to the first sample. Reads ``n_samples`` (4), ``temperature`` (0.7),
``top_p`` (0.9) and ``max_new_tokens`` (256).
"""

from __future__ import annotations

from typing import ClassVar

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
from interp.consistency.scoring import mean_logprobs
from interp.data import Dataset
from interp.models.loading import LoadedModel


@register
class SelfCertainty(LabelMethod):
    name: ClassVar[str] = "self_certainty"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(n_samples=4, temperature=0.7, top_p=0.9)

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        convs = [prompt_of(r) for r in prompts]
        samples = generate_for(model, convs, params.sampled(), params)
        flat_prompts = [c for c, cands in zip(convs, samples, strict=True) for _ in cands]
        flat = mean_logprobs(model, flat_prompts, [s for cands in samples for s in cands], batch_size=params.batch_size)
        records, pos = [], 0
        for r, cands in zip(prompts, samples, strict=True):
            scores = flat[pos : pos + len(cands)]
            pos += len(cands)
            best = argmax_first(scores)
            records.append(labelled_record(r, self.name, cands[best], candidates=cands, scores=json_scores(scores), chosen=best,
                                           score="mean_logprob"))
        return labelled_dataset(prompts, self.name, records)
