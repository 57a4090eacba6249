"""Control: greedy self-training. One greedy completion per prompt is the label; no selection.

Reads ``params.max_new_tokens`` (the paper: 256).
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
from interp.data import Dataset
from interp.models.loading import LoadedModel


@register
class GreedySelfTraining(LabelMethod):
    name: ClassVar[str] = "greedy_self_training"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams()
    control: ClassVar[bool] = True

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        outs = generate_for(model, [prompt_of(r) for r in prompts], params.greedy(), params)
        return labelled_dataset(prompts, self.name, [
            labelled_record(r, self.name, o[0], candidates=[o[0]]) for r, o in zip(prompts, outs, strict=True)
        ])
