"""The training-time conditions of a mediation experiment, built from an organism's direction.

A condition name is ``ablate:persona``, ``ablate:random<k>`` or ``steer:persona``; its
:class:`~interp.training.during.DuringTraining` edits the residual stream after each given layer
with that layer's direction (``ablate:random<k>``: a random direction per layer, seeded by the
organism's seed, ``k`` and the layer, so every method of one organism is ablated along the same
random directions).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from interp.io import canonical_hash
from interp.training.during import DuringTraining, random_like


def random_seed(seed: int, k: int, layer: int) -> int:
    return int(canonical_hash(["mediation-random", seed, k, layer], 8), 16)


def condition(name: str, directions: Mapping[int, Tensor], *, seed: int, alpha: float = 0.0,
              scales: Mapping[int, float] | None = None) -> DuringTraining:
    """The :class:`DuringTraining` of condition ``name`` from per-layer ``directions``.

    ``steer:persona`` adds ``alpha * scales[layer] * unit(direction)`` (``scales``: the mean residual
    norm at each layer, so ``alpha`` is a fraction of a typical residual, as in the steering stage).
    """
    units = {int(layer): torch.as_tensor(v, dtype=torch.float32).flatten() for layer, v in directions.items()}
    units = {layer: v / v.norm() for layer, v in units.items()}
    if name == "ablate:persona":
        return DuringTraining(name, "ablate", units)
    if name.startswith("ablate:random") and name[len("ablate:random"):].isdigit():
        k = int(name[len("ablate:random"):])
        return DuringTraining(name, "ablate", {layer: random_like(v, random_seed(seed, k, layer))
                                               for layer, v in units.items()})
    if name == "steer:persona":
        if scales is None or any(layer not in scales for layer in units):
            raise ValueError("steer:persona needs the residual norm at every layer it steers (scales=...)")
        return DuringTraining(name, "steer", {layer: v * float(scales[layer]) for layer, v in units.items()},
                              alpha=float(alpha))
    raise ValueError(f"unknown mediation condition {name!r}; expected ablate:persona, ablate:random<k> or "
                     "steer:persona")
