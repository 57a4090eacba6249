"""BCT (bias-augmented consistency training): the clean prompt's answer becomes the wrapped prompt's target.

The model answers each clean prompt greedily; that answer is placed on the paired wrapped
prompt, and phase 3 is SFT on those records. This follows the method as the paper describes it
(and Chua et al.'s BCT). Note: the paper's code trains BCT as a distillation loss instead (KL
from the clean pass's token distribution to the wrapped pass's over the matched suffix of the
shipped pair conversations, temperature 1); the two agree in spirit (the clean behaviour is the
target for the wrapped input) but not in the loss. Input: pairs from
:func:`interp.consistency.pairs.pair_records`. Reads ``max_new_tokens`` (256).
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
    register,
)
from interp.consistency.pairs import WRAPPED, wrapped_prompt
from interp.data import ChatRecord, Dataset
from interp.models.loading import LoadedModel


@register
class BCT(LabelMethod):
    """Phase 3 is SFT on the labels (the default :meth:`LabelMethod.train`), with the consistency-loss settings."""

    name: ClassVar[str] = "bct"
    kind: ClassVar[MethodKind] = "pairs"
    epochs: ClassVar[int] = 3
    phase3_consistency: ClassVar[bool] = True
    paper_params: ClassVar[MethodParams] = MethodParams()

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        pairs = limited(prompts, params)
        answers = [o[0] for o in generate_for(model, [prompt_of(r) for r in pairs], params.greedy(), params)]
        records = []
        for r, a in zip(pairs, answers, strict=True):
            plain = ChatRecord(r.id, r.messages, r.label, r.group, {k: v for k, v in r.fields.items() if k != WRAPPED})
            clean_prompt = [m.to_dict() for m in r.prompt_messages]
            records.append(labelled_record(plain, self.name, a, prompt=wrapped_prompt(r), candidates=[a],
                                           clean_prompt=clean_prompt))
        return labelled_dataset(pairs, self.name, records)
