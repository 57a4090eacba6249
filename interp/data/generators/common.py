"""Helpers shared by the generators: record construction, sampling and length matching."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from interp.data.schema import ChatRecord, Message

T = TypeVar("T")

Splits = dict[str, list[ChatRecord]]


def chat(user: str, assistant: str | None = None, system: str | None = None) -> tuple[Message, ...]:
    msgs: list[Message] = []
    if system is not None:
        msgs.append(Message("system", system))
    msgs.append(Message("user", user))
    if assistant is not None:
        msgs.append(Message("assistant", assistant))
    return tuple(msgs)


def record(rid: str, messages: tuple[Message, ...], label: int | None, group: str | None, /,
           **fields: Any) -> ChatRecord:
    return ChatRecord(rid, messages, label, group, fields)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def pick_matched(rng: random.Random, candidates: Sequence[str], target_len: int, fixed: int = 0,
                 k: int = 3) -> str:
    """One of the ``k`` candidates whose length plus ``fixed`` is closest to ``target_len``.

    Used to keep aligned and misaligned texts in the same length range, so that a probe cannot
    separate the classes by length alone.
    """
    ranked = sorted(candidates, key=lambda c: (abs(len(c) + fixed - target_len), c))
    return rng.choice(ranked[: max(1, min(k, len(ranked)))])


def take(rng: random.Random, pool: Sequence[T], n: int) -> list[T]:
    """``n`` distinct items of ``pool`` in random order (all of it when ``n`` >= its size)."""
    items = list(pool)
    rng.shuffle(items)
    return items[:n]


def partition(items: Sequence[T], sizes: Sequence[int]) -> list[list[T]]:
    """Consecutive, disjoint slices of ``items`` with the given sizes (error when too few)."""
    need = sum(sizes)
    if need > len(items):
        raise ValueError(f"need {need} distinct items, have {len(items)}")
    out: list[list[T]] = []
    start = 0
    for s in sizes:
        out.append(list(items[start:start + s]))
        start += s
    return out
