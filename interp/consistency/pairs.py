"""Clean/wrapped pairs for BCT and ACT: one record per pair, matched by id.

The paper ships ``act_bct_clean.jsonl`` and ``act_bct_wrapped.jsonl``: the same conversation
with a clean and a wrapped (biased) user turn, row by row. :func:`pair_records` joins them by
record id into one dataset whose records are the clean ones, with the wrapped conversation kept
in ``fields["wrapped_messages"]``; :func:`unpair` splits it back.
"""

from __future__ import annotations

from interp.data import ChatRecord, Dataset, Message
from interp.data.schema import messages_from_dicts

WRAPPED = "wrapped_messages"


def pair_records(clean: Dataset, wrapped: Dataset) -> Dataset:
    """Clean records carrying their wrapped twin (same id) in ``fields["wrapped_messages"]``."""
    by_id = {r.id: r for r in wrapped}
    missing = [r.id for r in clean if r.id not in by_id]
    if missing or len(clean) != len(wrapped):
        raise ValueError(f"clean ({len(clean)}) and wrapped ({len(wrapped)}) records do not pair up by id "
                         f"(first clean id without a twin: {missing[0] if missing else None!r})")
    out = []
    for r in clean:
        fields = dict(r.fields)
        fields[WRAPPED] = [m.to_dict() for m in by_id[r.id].messages]
        out.append(ChatRecord(r.id, r.messages, r.label, r.group, fields))
    return Dataset(f"{clean.name}+wrapped", tuple(out))


def wrapped_messages(record: ChatRecord) -> tuple[Message, ...]:
    raw = record.fields.get(WRAPPED)
    if raw is None:
        raise ValueError(f"record {record.id!r} has no {WRAPPED!r}; build pairs with pair_records(clean, wrapped)")
    return messages_from_dicts([dict(m) for m in raw])


def wrapped_prompt(record: ChatRecord) -> tuple[Message, ...]:
    """The wrapped conversation without its final assistant turn."""
    msgs = wrapped_messages(record)
    return msgs[:-1] if msgs[-1].role == "assistant" else msgs


def unpair(pairs: Dataset) -> tuple[Dataset, Dataset]:
    """(clean, wrapped) datasets in the same order, ids shared."""
    clean, wrapped = [], []
    for r in pairs:
        fields = {k: v for k, v in r.fields.items() if k != WRAPPED}
        clean.append(ChatRecord(r.id, r.messages, r.label, r.group, fields))
        wrapped.append(ChatRecord(r.id, wrapped_messages(r), r.label, r.group, fields))
    return Dataset(f"{pairs.name}/clean", tuple(clean)), Dataset(f"{pairs.name}/wrapped", tuple(wrapped))

