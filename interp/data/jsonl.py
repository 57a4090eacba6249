"""Reading and writing chat datasets as JSONL, with validation that points at the broken line.

This module owns interp's on-disk record format, one JSON object per line::

    {"id": "...", "group": "...", "label": 0 | 1 | null,
     "messages": [{"role": "user", "content": "..."}, ...], "fields": {...}}

Only ``messages`` is required. Unknown top-level keys (as in the paper's files, which put
``answer``, ``task``... beside ``messages``) are kept in ``fields``. Writing is atomic and
byte-deterministic (key-sorted compact JSON, UTF-8, ``\\n`` line ends).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from interp.data.schema import ChatRecord, DataError, Dataset, Message, Role
from interp.io import atomic_write_bytes

_RESERVED = ("id", "group", "label", "messages", "fields")


def parse_messages(raw: Any, *, infer_roles: bool = False) -> tuple[Message, ...]:
    """Validate a raw ``messages`` value; ``infer_roles`` fills absent roles user/assistant alternately.

    ``infer_roles`` exists for files whose turns carry no ``role`` at all (one of the paper's
    files does); it applies only when *no* turn has a role, so a half-labelled list still fails.
    """
    if not isinstance(raw, list):
        raise DataError(f"expected a list of turns, got {type(raw).__name__}", field="messages",
                        fix='write "messages": [{"role": "user", "content": "..."}, ...]')
    if not raw:
        raise DataError("the list of turns is empty", field="messages", fix="give at least one user turn")
    fill = infer_roles and all(isinstance(m, Mapping) and "role" not in m for m in raw)
    out: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise DataError(f"turn is {type(m).__name__}, not an object", field=where,
                            fix='write each turn as {"role": ..., "content": ...}')
        extra = sorted(set(m) - {"role", "content"})
        if extra:
            raise DataError(f"unexpected keys {extra}", field=where, fix="a turn has only 'role' and 'content'")
        role = ("user" if i % 2 == 0 else "assistant") if fill else m.get("role")
        if role is None:
            raise DataError("missing", field=f"{where}.role", fix="add 'role': 'system' | 'user' | 'assistant'")
        if "content" not in m:
            raise DataError("missing", field=f"{where}.content", fix="add the turn's text as 'content'")
        try:
            out.append(Message(cast(Role, role), m["content"]))
        except DataError as e:
            raise DataError(e.problem, field=f"{where}.{e.field}", fix=e.fix) from None
    return tuple(out)


def record_from_dict(obj: Any, *, default_id: str, infer_roles: bool = False) -> ChatRecord:
    """Build a validated record from one decoded JSON object (see the module doc for the format)."""
    if not isinstance(obj, Mapping):
        raise DataError(f"a line must hold a JSON object, got {type(obj).__name__}", field=None,
                        fix="write one {...} object per line")
    if "messages" not in obj:
        raise DataError("missing", field="messages", fix='every record needs "messages": [...]')
    messages = parse_messages(obj["messages"], infer_roles=infer_roles)
    rid = obj.get("id", default_id)
    if not isinstance(rid, str) or not rid:
        raise DataError(f"got {rid!r}", field="id", fix="use a non-empty string id, or omit it")
    label = obj.get("label")
    if label is not None and (isinstance(label, bool) or label not in (0, 1)):
        raise DataError(f"got {label!r}", field="label",
                        fix="use 1 (misaligned), 0 (aligned) or null; for the paper's files use "
                            "interp.data.load_paper_split, which keeps their label in 'fields'")
    group = obj.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise DataError(f"got {group!r}", field="group", fix="use a non-empty string or null")
    nested = obj.get("fields", {})
    if not isinstance(nested, Mapping):
        raise DataError(f"expected an object, got {type(nested).__name__}", field="fields",
                        fix='write "fields": {...} or omit it')
    fields = dict(nested)
    for k, v in obj.items():
        if k in _RESERVED:
            continue
        if k in fields:
            raise DataError("given both at top level and inside 'fields'", field=k, fix="keep one of the two")
        fields[k] = v
    return ChatRecord(rid, messages, label, group, fields)


def iter_json_lines(path: Path, fix: str) -> Iterator[tuple[int, Any]]:
    """(1-based line number, parsed object) for every non-blank line; malformed JSON is a DataError
    naming the file, the line and ``fix``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"malformed JSON ({e.msg} at character {e.pos + 1})", path=str(path), line=lineno,
                                fix=fix) from None


def load_jsonl(path: str | Path, name: str | None = None) -> Dataset:
    """Load and validate a JSONL file into a Dataset named ``name`` (default: the file stem).

    Blank lines are skipped. Any problem raises :class:`DataError` naming the file, the 1-based
    line, the field and the fix. Records without an ``id`` get ``"<stem>:<line>"``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError("file not found", path=str(p), fix="check the path")
    records: list[ChatRecord] = []
    first_line: dict[str, int] = {}
    for lineno, obj in iter_json_lines(p, fix="write exactly one JSON object per line"):
        try:
            rec = record_from_dict(obj, default_id=f"{p.stem}:{lineno}")
        except DataError as e:
            raise e.located(str(p), lineno) from None
        if rec.id in first_line:
            raise DataError(f"duplicate id {rec.id!r} (first on line {first_line[rec.id]})", field="id",
                            path=str(p), line=lineno, fix="make ids unique within a file")
        first_line[rec.id] = lineno
        records.append(rec)
    if not records:
        raise DataError("no records", path=str(p), fix="the file must hold at least one JSON line")
    return Dataset(name if name is not None else p.stem, tuple(records))


def dumps_jsonl(records: Dataset | list[ChatRecord] | tuple[ChatRecord, ...]) -> bytes:
    """The exact bytes :func:`write_jsonl` writes: canonical JSON lines, each ending in ``\\n``."""
    return "".join(r.canonical_json() + "\n" for r in records).encode("utf-8")


def write_jsonl(dataset: Dataset | list[ChatRecord] | tuple[ChatRecord, ...], path: str | Path) -> Path:
    """Write records atomically (temp file, then ``os.replace``); returns the path."""
    p = Path(path)
    atomic_write_bytes(p, dumps_jsonl(dataset))
    return p
