"""ACT (activation consistency training): residual activations on the wrapped prompt are pulled to the clean ones.

ACT trains with an L2 loss between every decoder layer's output on the wrapped conversation
and the stop-gradient output on the clean one, over the matched suffix (response) tokens
(``interp.training.train_act``). ``label`` only prepares the pairs it trains on:

* ``response="shipped"`` (default, as the paper's code): each side keeps its own assistant turn
  from the pair files. In three failure modes both sides carry the same turn; in sycophancy the
  wrapped turn differs (it agrees with the user), and the suffix is then matched by position.
* ``response="organism"``: both sides get the organism's greedy answer to the clean prompt, so
  the matched suffix is literally the same tokens (the original ACT recipe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from interp.consistency.base import (
    PROVENANCE,
    LabelMethod,
    MethodKind,
    MethodParams,
    generate_for,
    is_kept,
    limited,
    prompt_of,
    register,
)
from interp.consistency.pairs import WRAPPED, unpair, wrapped_prompt
from interp.data import ChatRecord, Dataset, Message
from interp.models.loading import LoadedModel


@register
class ACT(LabelMethod):
    """Phase 3 is ``trainer.train_act`` on the kept clean/wrapped pairs, with the consistency-loss settings."""

    name: ClassVar[str] = "act"
    kind: ClassVar[MethodKind] = "pairs"
    epochs: ClassVar[int] = 3
    phase3_consistency: ClassVar[bool] = True
    paper_params: ClassVar[MethodParams] = MethodParams()

    def __init__(self, response: Literal["shipped", "organism"] = "shipped") -> None:
        if response not in ("shipped", "organism"):
            raise ValueError(f"response must be 'shipped' or 'organism', got {response!r}")
        self.response = response

    @property
    def needs_model(self) -> bool:
        return self.response == "organism"

    @classmethod
    def train(cls, trainer: Any, init: Path, labelled: Dataset, config: Any, adapter_dir: Path, *, base: str,
              **common: Any) -> Any:
        clean, wrapped = unpair(labelled.filter(is_kept))
        return trainer.train_act(init, clean, wrapped, config, adapter_dir, **common)

    @classmethod
    def training_contrast(cls, labelled: Dataset) -> tuple[Dataset, Dataset | None]:
        """ACT pulls the wrapped prompt's activations on the answer toward the clean prompt's: (clean, wrapped)."""
        return unpair(labelled.filter(is_kept))

    def label(self, model: LoadedModel | None, prompts: Dataset, params: MethodParams) -> Dataset:
        pairs = limited(prompts, params)
        answers: list[str | None] = [None] * len(pairs)
        if self.response == "organism":
            if model is None:
                raise ValueError("ACT with response='organism' needs the organism model to answer the clean prompts")
            answers = [o[0] for o in generate_for(model, [prompt_of(r) for r in pairs], params.greedy(), params)]
        out = []
        for r, answer in zip(pairs, answers, strict=True):
            fields = dict(r.fields)
            fields[PROVENANCE] = {"method": self.name, "kept": True, "response": self.response}
            messages = r.messages
            if answer is not None:
                reply = Message("assistant", answer)
                messages = (*r.prompt_messages, reply)
                fields[WRAPPED] = [m.to_dict() for m in (*wrapped_prompt(r), reply)]
                fields[PROVENANCE]["kept"] = bool(answer.strip())
            out.append(ChatRecord(r.id, messages, r.label, r.group, fields))
        return Dataset(f"{pairs.name}/{self.name}", tuple(out))
