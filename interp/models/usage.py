"""What the models of this process computed: forward positions, forward calls, loads and their seconds.

Every model :func:`~interp.models.load_model` returns is watched: a forward pre-hook on its input
embedding counts the positions each forward pass computes (batch x sequence, padding included,
one per row and generated token under a KV cache), whoever calls it (capture, generation, a
judge, training through peft, a TransformerLens bridge or an nnsight trace of it). A forward
that starts from ``inputs_embeds`` is not seen. ``interp run --profile`` reads the difference
of two :func:`snapshot` calls around each unit.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any, ParamSpec, TypeVar

from torch import nn

_LOCK = threading.Lock()
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Usage:
    #: positions computed by forward passes (batch x sequence, padding included)
    positions: int = 0
    #: forward passes of a watched model
    forwards: int = 0
    #: models loaded (``load_model`` calls) and the seconds they took
    loads: int = 0
    load_seconds: float = 0.0

    def __sub__(self, other: Usage) -> Usage:
        return Usage(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"load_seconds": round(self.load_seconds, 2)}


_TOTAL = {"positions": 0, "forwards": 0, "loads": 0, "load_seconds": 0.0}


def snapshot() -> Usage:
    """The totals of this process so far."""
    with _LOCK:
        return Usage(**_TOTAL)  # type: ignore[arg-type]


def _count(module: nn.Module, args: tuple[Any, ...]) -> None:
    n = int(args[0].numel()) if args and hasattr(args[0], "numel") else 0
    with _LOCK:
        _TOTAL["positions"] += n
        _TOTAL["forwards"] += 1


def watch(model: nn.Module) -> None:
    """Count the forward passes of ``model`` (once per model; a model without input embeddings is not seen)."""
    get = getattr(model, "get_input_embeddings", None)
    embedding = get() if callable(get) else None
    if isinstance(embedding, nn.Module) and not getattr(embedding, "_interp_watched", False):
        embedding.register_forward_pre_hook(_count)
        embedding._interp_watched = True  # type: ignore[assignment]


@contextmanager
def loading() -> Iterator[None]:
    """Count one model load and its seconds."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        with _LOCK:
            _TOTAL["loads"] += 1
            _TOTAL["load_seconds"] += time.perf_counter() - t0


def counted_load(load: Callable[P, R]) -> Callable[P, R]:
    """Decorate a loader that returns a ``LoadedModel``: count the load and watch its model."""

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with loading():
            loaded = load(*args, **kwargs)
        watch(loaded.model)  # type: ignore[attr-defined]
        return loaded

    return wrapper
