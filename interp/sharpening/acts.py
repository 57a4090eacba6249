"""Pooled activations of checkpoints on one labelled contrast set, as the sharpening tables read them.

:class:`CheckpointActs` is one checkpoint's rows (one per example, in the contrast set's order),
from an activation store or from arrays; :func:`check_aligned` refuses to pair two checkpoints
captured on different examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from interp.activations import ActivationStore, StoreError

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class CheckpointActs:
    """Pooled activations of one checkpoint on a labelled contrast set (rows = examples, in order)."""

    acts: dict[str, FloatArray]
    y: NDArray[np.int64]
    groups: NDArray[Any] | None = None
    ids: tuple[str, ...] = ()

    @classmethod
    def from_arrays(cls, acts: Mapping[str, Any], y: Any, groups: Any = None, ids: Sequence[str] = ()) -> CheckpointActs:
        arr = {h: as_float64(X) for h, X in acts.items()}
        y1 = np.asarray(y).astype(np.int64)
        for h, X in arr.items():
            if X.ndim != 2 or X.shape[0] != y1.shape[0]:
                raise ValueError(f"{h}: activations must be [n={y1.shape[0]}, d]; got {X.shape}")
        g = None if groups is None else np.asarray(groups)
        return cls(arr, y1, g, tuple(str(i) for i in ids) or tuple(str(i) for i in range(y1.shape[0])))

    @classmethod
    def from_store(cls, store: ActivationStore, hooks: Sequence[str] | None = None) -> CheckpointActs:
        """Load a pooled, labelled store (every hook unless ``hooks``)."""
        if not store.pooled:
            raise StoreError(f"{store.path} holds positions={store.positions!r}; sharpening needs one row per "
                             "example (last_prompt, prompt_mean or response_mean).")
        hooks = list(hooks) if hooks is not None else store.hooks
        rows = store.rows()
        groups = rows["group"].to_numpy() if rows["group"].notna().all() else None
        return cls.from_arrays(store.load_many(hooks), store.labels(), groups, rows["id"].astype(str).tolist())

    @property
    def hooks(self) -> list[str]:
        return list(self.acts)


def as_float64(x: Any) -> FloatArray:
    """An array or tensor as float64 numpy."""
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to(torch.float64).cpu().numpy())
    return np.asarray(x, dtype=np.float64)


def as_acts(x: ActivationStore | CheckpointActs, hooks: Sequence[str] | None) -> CheckpointActs:
    """``x`` as :class:`CheckpointActs` (a store is loaded; ``hooks`` keeps only those)."""
    if isinstance(x, CheckpointActs):
        return x if hooks is None else CheckpointActs({h: x.acts[h] for h in hooks}, x.y, x.groups, x.ids)
    return CheckpointActs.from_store(x, hooks)


def check_aligned(a: CheckpointActs, b: CheckpointActs, na: str, nb: str) -> None:
    if a.ids != b.ids or not np.array_equal(a.y, b.y):
        raise ValueError(f"checkpoints {na!r} and {nb!r} were not captured on the same examples in the same order; "
                         "paired comparisons need aligned rows (capture both on one dataset)")
