"""The validated in-memory form of every dataset in interp: chat records and immutable datasets.

This module owns :class:`Message`, :class:`ChatRecord`, :class:`Dataset` and :class:`DataError`,
the canonical JSON form of a record and the dataset fingerprint. Reading and writing files lives
in :mod:`interp.data.jsonl`; the paper's directory layout in :mod:`interp.data.paper`.

Label convention everywhere in interp: ``1`` = misaligned (the positive class of a probe),
``0`` = aligned, ``None`` = unlabelled. A dataset's own label semantics that differ (the paper's
``label`` field is a task category or a sentiment score) are kept verbatim in ``fields``.
"""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, cast, overload

import numpy as np

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")


class DataError(ValueError):
    """A record or file that does not follow the schema.

    The message names where (file and 1-based line when known), the field, what was found and
    what to do about it. ``path``, ``line`` and ``field`` are kept as attributes for tooling.
    """

    def __init__(
        self,
        problem: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = problem
        self.field = field
        self.fix = fix
        self.path = path
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if self.line is not None:
                where += f", line {self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        what = f"field '{self.field}': " if self.field else ""
        tail = f" Fix: {self.fix}" if self.fix else ""
        return f"{where}{what}{self.problem}.{tail}"

    def located(self, path: str, line: int | None) -> DataError:
        """The same error with the file and line filled in."""
        return DataError(self.problem, field=self.field, fix=self.fix, path=path, line=line)


def _json_ready(value: Any, where: str) -> Any:
    """A deep copy of ``value`` made only of JSON types, or a DataError naming ``where``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise DataError("NaN and infinity cannot be stored as JSON", field=where,
                            fix="store a finite number or null")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise DataError(f"key {k!r} is not a string", field=where, fix="use string keys")
            out[k] = _json_ready(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_json_ready(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise DataError(f"value of type {type(value).__name__} is not JSON-serialisable", field=where,
                    fix="store strings, numbers, booleans, null, lists or objects")


def _freeze(value: Any) -> Any:
    """Read-only view of a JSON-ready value (dicts become mapping proxies, lists tuples)."""
    if isinstance(value, dict):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Plain JSON types from a frozen value."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Message:
    """One chat turn."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise DataError(f"got role {self.role!r}", field="role",
                            fix="use one of 'system', 'user', 'assistant'")
        if not isinstance(self.content, str):
            raise DataError(f"content is {type(self.content).__name__}, not a string", field="content",
                            fix="store the turn's text as a JSON string")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


_KEEP: Any = object()


@dataclass(frozen=True)
class ChatRecord:
    """One example: a conversation plus its label, its prompt group and any extra fields.

    ``group`` is a prompt-level id: records that share a prompt share a group (used by
    group-aware cross-validation so that paired answers never straddle folds). ``fields``
    holds everything else (the paper's ``answer``, ``sycophantic_response``, ``label``...
    and ours: ``aligned_response``, ``misaligned_response``, ``failure_mode``...), read-only.
    """

    id: str
    messages: tuple[Message, ...]
    label: int | None = None
    group: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise DataError(f"got {self.id!r}", field="id", fix="give every record a non-empty string id")
        msgs = self.messages
        if isinstance(msgs, list):
            msgs = tuple(msgs)
            object.__setattr__(self, "messages", msgs)
        if not isinstance(msgs, tuple) or not msgs:
            raise DataError("the conversation is empty", field="messages",
                            fix="give at least one user turn")
        for i, m in enumerate(msgs):
            if not isinstance(m, Message):
                raise DataError(f"item is {type(m).__name__}, not a Message", field=f"messages[{i}]",
                                fix="build turns with Message(role, content)")
            if m.role == "system" and i != 0:
                raise DataError("a system turn after the first position", field=f"messages[{i}].role",
                                fix="put the system prompt first, once")
        if not any(m.role == "user" for m in msgs):
            raise DataError("no user turn", field="messages", fix="add the user's request")
        if self.label is not None and (isinstance(self.label, bool) or self.label not in (0, 1)):
            raise DataError(f"got {self.label!r}", field="label",
                            fix="use 1 (misaligned), 0 (aligned) or null; keep other label "
                                "semantics in 'fields'")
        if self.group is not None and (not isinstance(self.group, str) or not self.group):
            raise DataError(f"got {self.group!r}", field="group", fix="use a non-empty string or null")
        ready = _json_ready(dict(self.fields), "fields")
        object.__setattr__(self, "fields", _freeze(ready))

    # ---- views ---------------------------------------------------------------------------
    @property
    def prompt_messages(self) -> tuple[Message, ...]:
        """Every turn before the final assistant turn (all turns when there is none)."""
        if self.messages[-1].role == "assistant":
            return self.messages[:-1]
        return self.messages

    @property
    def response(self) -> str | None:
        """The final assistant turn's text, or None when the record ends on a user turn."""
        last = self.messages[-1]
        return last.content if last.role == "assistant" else None

    @property
    def group_key(self) -> str:
        """``group``, or the record's own id when it has none (a singleton group)."""
        return self.group if self.group is not None else self.id

    def with_response(self, text: str, *, label: int | None = _KEEP) -> ChatRecord:
        """The same prompt with ``text`` as the final assistant turn (replacing any).

        ``label`` is kept unless given: a new response may change it, so pass it when known.
        """
        msgs = (*self.prompt_messages, Message("assistant", text))
        new_label = self.label if label is _KEEP else label
        return ChatRecord(self.id, msgs, new_label, self.group, _thaw(self.fields))

    def to_dict(self) -> dict[str, Any]:
        """The JSONL form: ``id``, ``group``, ``label``, ``messages`` and ``fields``."""
        return {
            "id": self.id,
            "group": self.group,
            "label": self.label,
            "messages": [m.to_dict() for m in self.messages],
            "fields": _thaw(self.fields),
        }

    def canonical_json(self) -> str:
        """Key-sorted, compact, UTF-8 JSON: the bytes that are fingerprinted and written."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def messages_from_dicts(items: Sequence[Mapping[str, Any]]) -> tuple[Message, ...]:
    """Convenience: ``[{"role": ..., "content": ...}, ...]`` -> validated messages."""
    out = []
    for i, m in enumerate(items):
        try:
            out.append(Message(cast(Role, m["role"]), m["content"]))
        except DataError as e:
            raise DataError(e.problem, field=f"messages[{i}].{e.field}", fix=e.fix) from None
    return tuple(out)


def fingerprint_records(records: Iterable[ChatRecord]) -> str:
    """sha256 hex of the records' canonical JSON lines joined by newlines (order matters)."""
    h = hashlib.sha256()
    for r in records:
        h.update(r.canonical_json().encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Dataset:
    """An immutable, named sequence of records with unique ids."""

    name: str
    records: tuple[ChatRecord, ...]

    def __post_init__(self) -> None:
        if isinstance(self.records, list):
            object.__setattr__(self, "records", tuple(self.records))
        seen: dict[str, int] = {}
        for i, r in enumerate(self.records):
            if not isinstance(r, ChatRecord):
                raise DataError(f"item {i} is {type(r).__name__}, not a ChatRecord", field="records")
            if r.id in seen:
                raise DataError(f"id {r.id!r} appears at positions {seen[r.id]} and {i}", field="id",
                                fix="make record ids unique within a dataset")
            seen[r.id] = i

    @cached_property
    def fingerprint(self) -> str:
        """sha256 hex of the canonical JSON of all records; stable across runs and machines."""
        return fingerprint_records(self.records)

    @property
    def labels(self) -> np.ndarray:
        """Labels as an int64 array; a DataError if any record is unlabelled."""
        missing = [r.id for r in self.records if r.label is None]
        if missing:
            raise DataError(f"{len(missing)} of {len(self)} records of {self.name!r} have no label "
                            f"(first: {missing[0]!r})", field="label",
                            fix="filter to labelled records first, e.g. ds.filter(lambda r: r.label is not None)")
        return np.array([r.label for r in self.records], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        """Group keys as a str array; an ungrouped record is its own group (its id)."""
        return np.array([r.group_key for r in self.records], dtype=str)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ChatRecord]:
        return iter(self.records)

    @overload
    def __getitem__(self, index: int) -> ChatRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Dataset: ...

    def __getitem__(self, index: int | slice) -> ChatRecord | Dataset:
        if isinstance(index, slice):
            return Dataset(self.name, self.records[index])
        return self.records[index]

    def subset(self, indices: Iterable[int] | np.ndarray) -> Dataset:
        """The records at ``indices`` (ints in the given order, or a boolean mask)."""
        arr = np.asarray(indices if isinstance(indices, np.ndarray) else list(indices))
        if arr.dtype == bool:
            if arr.shape != (len(self),):
                raise DataError(f"boolean mask of shape {arr.shape} for {len(self)} records",
                                field="indices", fix="pass one boolean per record")
            arr = np.flatnonzero(arr)
        idx = [int(i) for i in arr.reshape(-1)]
        return Dataset(self.name, tuple(self.records[i] for i in idx))

    def filter(self, pred: Callable[[ChatRecord], bool]) -> Dataset:
        return Dataset(self.name, tuple(r for r in self.records if pred(r)))

    def head(self, n: int) -> Dataset:
        return Dataset(self.name, self.records[: max(0, n)])

    def renamed(self, name: str) -> Dataset:
        return Dataset(name, self.records)

    def __repr__(self) -> str:
        return f"Dataset(name={self.name!r}, n={len(self)}, fingerprint={self.fingerprint[:12]})"
