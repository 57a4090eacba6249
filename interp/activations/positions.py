"""Which token positions a capture keeps, as reducers applied inside the hook.

``last_prompt``    the last token of the generation prompt (one row per example)
``prompt_mean``    mean over prompt tokens (one row per example)
``response_mean``  mean over the final assistant turn's tokens (one row per example)
``response_all``   every response token (one row per token)
``all``            every non-padding token (one row per token)

Position 0 is an attention sink whose residual norm is ~100x the rest; it is excluded from
``prompt_mean`` and ``all`` unless ``include_first=True`` (responses never contain it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

PositionKind = Literal["last_prompt", "prompt_mean", "response_mean", "response_all", "all"]
POSITION_KINDS: tuple[PositionKind, ...] = ("last_prompt", "prompt_mean", "response_mean", "response_all", "all")
POOLED: frozenset[str] = frozenset({"last_prompt", "prompt_mean", "response_mean"})


@dataclass(frozen=True)
class BatchLayout:
    """Device-side index tensors for one right-padded batch, built once and shared by every hook."""

    kind: PositionKind
    #: pooled kinds: [batch, pos] float weights (rows sum to 1); per-token kinds: flat indices into batch*pos
    weights: Tensor | None
    flat_index: Tensor | None
    #: host-side (example, position) of each output row
    rows_example: Tensor
    rows_position: Tensor

    def reduce(self, x: Tensor) -> Tensor:
        """``[batch, pos, d]`` -> ``[rows, d]`` for this layout."""
        if self.weights is not None:
            return torch.einsum("bp,bpd->bd", self.weights.to(x.dtype), x)
        assert self.flat_index is not None
        return x.reshape(-1, x.shape[-1]).index_select(0, self.flat_index)


def batch_layout(
    kind: PositionKind,
    attention_mask: Tensor,
    response_mask: Tensor,
    prompt_lens: Tensor,
    example_ids: Tensor,
    include_first: bool = False,
) -> BatchLayout:
    """Index tensors for ``kind`` on a right-padded batch (all inputs ``[batch, pos]`` or ``[batch]``)."""
    if kind not in POSITION_KINDS:
        raise ValueError(f"Unknown positions {kind!r}; choose from {POSITION_KINDS}.")
    device = attention_mask.device
    b, p = attention_mask.shape
    pos = torch.arange(p, device=device).expand(b, p)
    valid = attention_mask.bool()
    if not include_first:
        valid = valid & (pos > 0)
    if kind == "last_prompt":
        sel = pos == (prompt_lens.to(device) - 1).unsqueeze(1)
    elif kind == "prompt_mean":
        sel = valid & (pos < prompt_lens.to(device).unsqueeze(1))
    elif kind in ("response_mean", "response_all"):
        sel = response_mask.to(device).bool() & attention_mask.bool()
    else:
        sel = valid
    if kind in POOLED:
        counts = sel.sum(dim=1, keepdim=True)
        if bool((counts == 0).any()):
            bad = example_ids[(counts.squeeze(1) == 0).cpu()].tolist()
            raise ValueError(f"positions={kind!r} selects no token for examples {bad} (no response turn?).")
        weights = sel.float() / counts
        last = torch.where(sel, pos, -1).amax(dim=1).cpu()
        return BatchLayout(kind, weights, None, example_ids.clone(), last if kind == "last_prompt" else torch.full((b,), -1))
    flat = sel.reshape(-1).nonzero().squeeze(1)
    flat_cpu = flat.cpu()
    return BatchLayout(kind, None, flat, example_ids[flat_cpu // p], flat_cpu % p)
