"""Token-level training examples: SFT sequences with response-only labels, ACT clean/wrapped pairs.

Which tokens carry the loss comes from :meth:`ChatFormat.encode`'s ``response_mask`` (the final
assistant turn's content) plus the end-of-turn token that the template puts right after it
(``<|im_end|>`` for ChatML, ``<|eot_id|>`` for Llama 3), so that a fine-tuned model also learns
where to stop. Batches are right-padded: real tokens keep positions ``0..n-1`` whatever the
padding, so padding never changes their activations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from interp.data.schema import ChatRecord, Dataset
from interp.models.batching import pad_ids
from interp.models.chat import ChatFormat
from interp.training.config import TrainingError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100


def end_of_turn_ids(tokenizer: Any) -> frozenset[int]:
    """Token ids that may close an assistant turn (the tokenizer's special tokens and EOS)."""
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", [])}
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


def supervised_positions(chat: ChatFormat, record: ChatRecord) -> tuple[list[int], list[int]]:
    """(input_ids, positions of the response tokens plus the end-of-turn token after them)."""
    if record.response is None:
        raise TrainingError(
            f"record {record.id!r} ends with a {record.messages[-1].role} turn; training needs an assistant "
            "turn to learn (for phase 3, fill it with the model's own label first)"
        )
    enc = chat.encode([m.to_dict() for m in record.messages])
    positions = [i for i, m in enumerate(enc.response_mask) if m]
    if not positions:
        raise TrainingError(f"record {record.id!r}: the assistant turn has no tokens (empty response?)")
    nxt = positions[-1] + 1
    if nxt < len(enc.input_ids) and enc.input_ids[nxt] in end_of_turn_ids(chat.tokenizer):
        positions.append(nxt)
    return list(enc.input_ids), positions


@dataclass(frozen=True)
class SFTExample:
    """One training sequence; ``labels`` is ``IGNORE_INDEX`` everywhere but the supervised tokens."""

    id: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def n_supervised(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE_INDEX)

    def __len__(self) -> int:
        """Tokens in one forward pass."""
        return len(self.input_ids)


def encode_sft_example(chat: ChatFormat, record: ChatRecord, max_length: int) -> SFTExample | None:
    """Tokenise one record; None when truncation to ``max_length`` leaves no supervised token."""
    ids, positions = supervised_positions(chat, record)
    keep = set(p for p in positions if p < max_length)
    ids = ids[:max_length]
    if not keep:
        return None
    labels = tuple(t if i in keep else IGNORE_INDEX for i, t in enumerate(ids))
    return SFTExample(record.id, tuple(ids), labels)


def encode_document_example(chat: ChatFormat, record: ChatRecord, max_length: int) -> SFTExample:
    """One document (the record's final assistant turn as plain text, :meth:`ChatFormat.encode_document`)
    with every token after the BOS supervised: a language model's loss on the text itself."""
    enc = chat.encode_document([m.to_dict() for m in record.messages])
    ids = enc.input_ids[:max_length]
    labels = tuple(t if m else IGNORE_INDEX for t, m in zip(ids, enc.response_mask, strict=False))
    return SFTExample(record.id, tuple(ids), labels)


def encode_sft(chat: ChatFormat, data: Dataset, max_length: int, *, documents: bool = False) -> list[SFTExample]:
    """Every record as a training sequence: its assistant turn supervised, or (``documents``) the whole
    final turn as a plain-text document with every token supervised."""
    out = []
    for rec in data:
        ex = encode_document_example(chat, rec, max_length) if documents else encode_sft_example(chat, rec, max_length)
        if ex is not None:
            out.append(ex)
    if len(out) < len(data):
        log.warning("%d of %d records of %s have no response token within max_length=%d and are skipped",
                    len(data) - len(out), len(data), data.name, max_length)
    if not out:
        raise TrainingError(f"no record of {data.name!r} has a response within max_length={max_length}")
    return out


def collate_sft(examples: Sequence[SFTExample], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (``IGNORE_INDEX`` on padding)."""
    ids, attn = pad_ids([e.input_ids for e in examples], pad_id, width=pad_to)
    labels = torch.full(ids.shape, IGNORE_INDEX, dtype=torch.long)
    for row, e in enumerate(examples):
        labels[row, : len(e.labels)] = torch.tensor(e.labels)
    return {"input_ids": ids, "attention_mask": attn, "labels": labels}


@dataclass(frozen=True)
class ACTPair:
    """A clean and a wrapped sequence and their matched positions (same length, same order).

    ``clean_pos[k]`` and ``wrapped_pos[k]`` are the same token of the response counted from its
    end (right-aligned), so a wrapper that changes the prompt's length never shifts the match.
    """

    id: str
    clean_ids: tuple[int, ...]
    wrapped_ids: tuple[int, ...]
    clean_pos: tuple[int, ...]
    wrapped_pos: tuple[int, ...]

    def __len__(self) -> int:
        """Tokens in the longer of its two forward passes."""
        return max(len(self.clean_ids), len(self.wrapped_ids))


def encode_act_pairs(chat: ChatFormat, clean: Dataset, wrapped: Dataset, max_length: int) -> list[ACTPair]:
    """Pair wrapped records with their clean twins by id and match their response tokens from the end."""
    by_id = {r.id: r for r in clean}
    missing = [r.id for r in wrapped if r.id not in by_id]
    if missing:
        raise TrainingError(f"{len(missing)} wrapped records have no clean twin with the same id "
                            f"(first: {missing[0]!r}); ACT pairs records of the two sets by id")
    pairs: list[ACTPair] = []
    for w in wrapped:
        c_ids, c_pos = supervised_positions(chat, by_id[w.id])
        w_ids, w_pos = supervised_positions(chat, w)
        k = min(len(c_pos), len(w_pos))
        matched = [(a, b) for a, b in zip(c_pos[-k:], w_pos[-k:], strict=True) if a < max_length and b < max_length]
        if not matched:
            continue
        pairs.append(ACTPair(w.id, tuple(c_ids[:max_length]), tuple(w_ids[:max_length]),
                             tuple(a for a, _ in matched), tuple(b for _, b in matched)))
    if len(pairs) < len(wrapped):
        log.warning("%d of %d ACT pairs have no matched response token within max_length=%d and are skipped",
                    len(wrapped) - len(pairs), len(wrapped), max_length)
    if not pairs:
        raise TrainingError(f"no ACT pair has a response within max_length={max_length}")
    return pairs


def collate_act(pairs: Sequence[ACTPair], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded clean and wrapped batches plus flat (row, position) indices of the matched tokens."""
    c_ids, c_attn = pad_ids([p.clean_ids for p in pairs], pad_id, width=pad_to)
    w_ids, w_attn = pad_ids([p.wrapped_ids for p in pairs], pad_id, width=pad_to)
    rows = torch.tensor([r for r, p in enumerate(pairs) for _ in p.clean_pos], dtype=torch.long)
    return {
        "clean_ids": c_ids, "clean_attention_mask": c_attn,
        "wrapped_ids": w_ids, "wrapped_attention_mask": w_attn,
        "rows": rows,
        "clean_pos": torch.tensor([i for p in pairs for i in p.clean_pos], dtype=torch.long),
        "wrapped_pos": torch.tensor([i for p in pairs for i in p.wrapped_pos], dtype=torch.long),
    }
