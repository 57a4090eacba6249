"""What a capture reads: examples with their metadata, checked before any work.

``as_examples`` accepts an interp ``Dataset`` or plain conversations; ``check_contrast`` refuses,
before a model is loaded, what no capture can use; ``fit_context`` refuses (or cuts, when asked)
conversations longer than the model's context.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from interp.models.chat import Encoded, as_messages

if TYPE_CHECKING:
    from interp.models.loading import LoadedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One conversation to capture, with the metadata that travels with its rows."""

    messages: tuple[dict[str, str], ...]
    id: str = ""
    label: int | None = None
    group: str | None = None


def as_examples(dataset: Any) -> tuple[str, str, list[Example]]:
    """Accept an interp ``Dataset`` (records with messages/id/label/group) or a list of conversations."""
    examples: list[Example] = []
    for i, rec in enumerate(dataset):
        if isinstance(rec, Example):
            examples.append(rec)
            continue
        msgs = tuple(as_messages(rec))
        examples.append(
            Example(msgs, str(getattr(rec, "id", i)), getattr(rec, "label", None), getattr(rec, "group", None))
        )
    if not examples:
        raise ValueError("The dataset is empty; nothing to capture.")
    name = str(getattr(dataset, "name", "dataset"))
    fingerprint = getattr(dataset, "fingerprint", None)
    if not fingerprint:
        blob = json.dumps([asdict(e) for e in examples], sort_keys=True).encode()
        fingerprint = hashlib.sha256(blob).hexdigest()
    return name, str(fingerprint), examples


def check_contrast(dataset: Iterable[Any]) -> None:
    """Refuse, before any model is loaded, what no capture can use: a set with one label only, or a
    conversation whose final assistant turn is empty (it has no response tokens to read)."""
    _, _, examples = as_examples(dataset)
    empty = [e.id for e in examples if e.messages[-1]["role"] == "assistant" and not e.messages[-1]["content"].strip()]
    if empty:
        raise ValueError(f"{len(empty)} conversations end with an empty assistant turn (first: {empty[:3]}); it has no "
                         "response tokens. Give the response, or drop the empty turn to capture the prompt alone.")
    labels = {e.label for e in examples}
    if None not in labels and len(labels) == 1:
        raise ValueError(f"every example has label {labels.pop()}: a contrast set needs both labels (1 misaligned, "
                         "0 aligned) for its probes. Add the other class, or set the labels to null to capture "
                         "unlabelled text.")


def fit_context(encoded: list[Encoded], examples: Sequence[Example], loaded: LoadedModel,
                 config: Any) -> tuple[list[Encoded], int]:
    """Refuse (or, with ``truncate``, cut) conversations longer than the limit; return them and the count cut."""
    limit = config.max_tokens or loaded.context_length
    long = [i for i, e in enumerate(encoded) if limit and len(e) > limit]
    if not long:
        return encoded, 0
    if not config.truncate:
        first = long[0]
        what = f"max_tokens={limit}" if config.max_tokens else f"the model's context ({limit} tokens)"
        raise ValueError(f"{len(long)} conversations are longer than {what}: the first, {examples[first].id!r}, has "
                         f"{len(encoded[first])} tokens. Shorten them, or ask for truncation (CaptureConfig("
                         "truncate=True), `interp capture --truncate`) to keep their first tokens.")
    assert limit is not None
    out = list(encoded)
    for i in long:
        e = encoded[i]
        out[i] = Encoded(e.input_ids[:limit], min(e.prompt_len, limit), e.response_mask[:limit])
    log.warning("%d conversations cut to %d tokens (truncate=True)", len(long), limit)
    return out, len(long)
