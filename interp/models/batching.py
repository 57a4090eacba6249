"""Right-padded batches of encoded conversations (the layout every scoring/capture pass uses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from interp.models.chat import Encoded


@dataclass(frozen=True)
class Batch:
    """``[batch, pos]`` tensors: token ids, attention mask, response mask; ``[batch]`` prompt lengths."""

    input_ids: Tensor
    attention_mask: Tensor
    response_mask: Tensor
    prompt_lens: Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            self.input_ids.to(device, non_blocking=True),
            self.attention_mask.to(device, non_blocking=True),
            self.response_mask.to(device, non_blocking=True),
            self.prompt_lens,
        )


def pad_ids(
    rows: Sequence[Sequence[int]], pad_id: int, *, side: Literal["right", "left"] = "right", width: int | None = None
) -> tuple[Tensor, Tensor]:
    """``[batch, width]`` token ids and attention mask from ragged rows.

    ``side="right"``: token i of every row sits at position i (scoring, capture, training);
    ``side="left"``: every row ends at the last column (the next-token logits of a batch, generation).
    ``width`` pads further than the longest row (a fixed training shape).
    """
    if not rows:
        raise ValueError("pad_ids needs at least one row.")
    width = max(width or 0, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        span = slice(0, len(r)) if side == "right" else slice(width - len(r), width)
        ids[i, span] = torch.tensor(list(r), dtype=torch.long)
        attn[i, span] = 1
    return ids, attn


def right_pad(encoded: Sequence[Encoded], pad_id: int) -> Batch:
    """Pack conversations left-aligned (position i is token i of every row), padding on the right."""
    if not encoded:
        raise ValueError("right_pad needs at least one conversation.")
    ids, attn = pad_ids([e.input_ids for e in encoded], pad_id)
    resp = torch.zeros(ids.shape, dtype=torch.bool)
    for row, e in enumerate(encoded):
        resp[row, : len(e)] = torch.tensor(e.response_mask)
    return Batch(ids, attn, resp, torch.tensor([e.prompt_len for e in encoded]))
