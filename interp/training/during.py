"""Interventions active only while a model trains: the conditions of a mediation experiment.

A :class:`DuringTraining` edits the residual stream after chosen decoder layers in every forward
pass of a training step (the loss's, and ACT's clean-target pass) and in no other: the
per-epoch evaluation callbacks and every later use of the trained adapter run the model as it
is. Two edits:

- ``ablate``: project the direction out of the residual stream at every position (concept-
  ablation fine-tuning, Casademunt et al. 2025): whatever the training effect needs of that
  direction at those layers, the model cannot get it there while it learns;
- ``steer``: add ``alpha`` times the vector at every position (preventative steering, Chen et
  al. 2025): training is given the shift along the direction for free, so it has no gradient to
  produce it itself.

The intervention is part of a training run's key (:meth:`DuringTraining.key`: the edit, its
strength, its layers and the sha256 of its vectors), so a run under a condition is a different
run from the plain one, and the plain run's key does not change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from interp.hooks.architectures import decoder_layers
from interp.io import canonical_hash

Mode = Literal["ablate", "steer"]


def _hf_model(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


@dataclass(frozen=True)
class DuringTraining:
    """One training-time condition: ``mode`` at each layer of ``vectors`` (layer -> ``[d_model]``).

    ``name`` labels it in tables (``ablate:persona``, ``ablate:random0``, ``steer:persona``).
    ``ablate`` removes the span of the vector (its norm is irrelevant); ``steer`` adds
    ``alpha * vector``.
    """

    name: str
    mode: Mode
    vectors: Mapping[int, Tensor]
    alpha: float = 1.0
    _units: dict[int, Tensor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("ablate", "steer"):
            raise ValueError(f"a training-time intervention is 'ablate' or 'steer', got {self.mode!r}")
        if not self.vectors:
            raise ValueError(f"{self.name}: no layer to intervene at; give at least one layer's vector")
        units = {}
        for layer, v in self.vectors.items():
            v = torch.as_tensor(v).detach().to(torch.float32).flatten()
            norm = float(v.norm())
            if not norm > 0 or not torch.isfinite(v).all():
                raise ValueError(f"{self.name}: the vector at layer {layer} is zero or not finite")
            units[int(layer)] = v / norm if self.mode == "ablate" else v
        object.__setattr__(self, "_units", units)

    @property
    def layers(self) -> list[int]:
        return sorted(self._units)

    def key(self) -> dict[str, Any]:
        """What a run's key records of this condition (the vectors by their content, as a hash)."""
        data = [self._units[layer].numpy().astype("<f4").tobytes().hex() for layer in self.layers]
        return {"name": self.name, "mode": self.mode, "alpha": float(self.alpha) if self.mode == "steer" else None,
                "layers": self.layers, "vectors": canonical_hash(data)}

    @property
    def tag(self) -> str:
        """A directory name for runs under this condition: its name and the hash of its key."""
        return f"{self.name.replace(':', '-')}-{canonical_hash(self.key(), 8)}"

    def edit(self, layer: int, h: Tensor) -> Tensor:
        """The residual stream ``h`` ``[..., d]`` after decoder layer ``layer`` under this condition."""
        v = self._units[layer].to(device=h.device, dtype=h.dtype)
        if self.mode == "ablate":
            return h - (h @ v).unsqueeze(-1) * v
        return h + self.alpha * v

    @contextlib.contextmanager
    def applied(self, model: Any) -> Iterator[None]:
        """Forward hooks on ``model``'s decoder layers (a PEFT model or a plain HF one) for the ``with`` block."""
        _, layers = decoder_layers(_hf_model(model))
        missing = [layer for layer in self.layers if not 0 <= layer < len(layers)]
        if missing:
            raise ValueError(f"{self.name}: layers {missing} do not exist (the model has {len(layers)}: 0..{len(layers) - 1})")

        def hook_for(layer: int) -> Any:
            def hook(_mod: nn.Module, _inp: Any, out: Any) -> Any:
                if isinstance(out, tuple):
                    return (self.edit(layer, out[0]), *out[1:])
                return self.edit(layer, out)
            return hook

        handles = [layers[layer].register_forward_hook(hook_for(layer)) for layer in self.layers]
        try:
            yield
        finally:
            for h in handles:
                h.remove()


def random_like(vector: Tensor, seed: int) -> Tensor:
    """A direction drawn uniformly on the sphere, with ``vector``'s norm (the random-direction control)."""
    v = torch.as_tensor(vector, dtype=torch.float32).flatten()
    g = torch.Generator().manual_seed(int(seed))
    r = torch.randn(v.shape, generator=g)
    return r / r.norm() * v.norm()
