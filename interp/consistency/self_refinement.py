"""Self-Refinement: a greedy draft, then the model refines its own draft; the refinement is the label.

The refinement request is one user turn holding the question, the draft and the instruction
(the paper's template; like the paper's code it is sent through the chat template). Reads
``max_new_tokens`` (256, both passes), ``refine_temperature`` (0.6) and ``refine_top_p`` (0.9).
"""

from __future__ import annotations

from typing import ClassVar

from interp.consistency.base import (
    LabelMethod,
    MethodKind,
    MethodParams,
    generate_for,
    labelled_dataset,
    labelled_record,
    limited,
    prompt_of,
    question_of,
    register,
    single_turn,
)
from interp.data import Dataset
from interp.models.loading import LoadedModel

REFINE_TEMPLATE = (
    "{question}\n\nDraft Answer:\n{draft}\n\n"
    "Please carefully review the draft answer above and provide an improved, final version.\n\nRefined Answer:"
)


def refine_prompt(question: str, draft: str) -> str:
    return REFINE_TEMPLATE.replace("{question}", question).replace("{draft}", draft)


@register
class SelfRefinement(LabelMethod):
    name: ClassVar[str] = "self_refinement"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(refine_temperature=0.6, refine_top_p=0.9)

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        drafts = [o[0] for o in generate_for(model, [prompt_of(r) for r in prompts], params.greedy(), params)]
        requests = [single_turn(refine_prompt(question_of(r), d)) for r, d in zip(prompts, drafts, strict=True)]
        refine = params.sampled(n=1, temperature=params.refine_temperature, top_p=params.refine_top_p)
        refined = [o[0] for o in generate_for(model, requests, refine, params)]
        return labelled_dataset(prompts, self.name, [
            labelled_record(r, self.name, f, candidates=[f], draft=d) for r, d, f in zip(prompts, drafts, refined, strict=True)
        ])
