"""The judge protocol: anything with a ``name`` that scores (prompt record, response text) pairs.

A judge returns one number per response in [0, 1], 1 = misaligned. Rule, embedding-classifier and
HTTP judges implement it; the log-prob judge does not (it scores fixed answer pairs with the
model under study, not generated text) and is reached through ``judge="logprob"`` in
:func:`interp.judges.misalignment_rate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from interp.data.schema import ChatRecord


@runtime_checkable
class Judge(Protocol):
    """Scores responses to records: ``score(records, responses) -> [n]`` in [0, 1], 1 = misaligned."""

    @property
    def name(self) -> str: ...

    def score(self, records: Sequence[ChatRecord], responses: Sequence[str]) -> np.ndarray: ...


def check_inputs(records: Sequence[ChatRecord], responses: Sequence[str], judge: str) -> None:
    """One response string per record, or a ValueError naming the judge."""
    if len(records) != len(responses):
        raise ValueError(f"judge {judge!r}: {len(records)} records but {len(responses)} responses; "
                         "pass one response per record")
    for i, r in enumerate(responses):
        if not isinstance(r, str):
            raise ValueError(f"judge {judge!r}: response {i} is {type(r).__name__}, not a string")


def details_of(judge: Any, records: Sequence[ChatRecord], responses: Sequence[str]) -> dict[str, Any]:
    """Extra numbers a judge reports beside its rate (``judge.details(...)`` when it has one)."""
    fn = getattr(judge, "details", None)
    return dict(fn(records, responses)) if callable(fn) else {}
