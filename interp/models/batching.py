"""Right-padded batches of encoded conversations (the layout every scoring/capture pass uses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def right_pad(encoded: Sequence[Encoded], pad_id: int) -> Batch:
    """Pack conversations left-aligned (position i is token i of every row), padding on the right."""
    if not encoded:
        raise ValueError("right_pad needs at least one conversation.")
    width = max(len(e) for e in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(encoded), width), dtype=torch.long)
    resp = torch.zeros((len(encoded), width), dtype=torch.bool)
    for row, e in enumerate(encoded):
        ids[row, : len(e)] = torch.tensor(e.input_ids)
        attn[row, : len(e)] = 1
        resp[row, : len(e)] = torch.tensor(e.response_mask)
    return Batch(ids, attn, resp, torch.tensor([e.prompt_len for e in encoded]))
