"""Interventions as values: what to change at a hook point, independent of the backend that runs it.

:class:`Intervention` is an open protocol: a ``hook`` (canonical name), a pure ``apply(x, masks)``
on a ``[batch, pos, d_model]`` activation, and the ``width`` it was built for (None: any).
Backends only decide *where* to call it and say which positions are response tokens and which
are each sequence's first token (:class:`PositionMasks`), so a new operator is one class (a
small frozen dataclass, like :class:`AddVector` and :class:`ProjectOut`) that every backend
runs unchanged. The operators (:func:`add`, :func:`project_out`) are plain functions, easy to
test one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

from interp.hooks.names import HOOK_KINDS, HookKind, HookPoint

Positions = Literal["all", "response"]


@dataclass(frozen=True)
class PositionMasks:
    """Which positions of one forward pass are what, as ``[batch, pos]`` bool masks (None: none known).

    ``response``: the response tokens (``positions="response"``; in cached generation the generated
    ones). ``sink``: each sequence's first real token, the attention sink whose residual norm is
    ~100x the others' (None in a pass that holds no sequence start, e.g. a decode step).
    """

    response: Tensor | None = None
    sink: Tensor | None = None

    @classmethod
    def of_sequences(cls, attention_mask: Tensor, response: Tensor | None = None) -> PositionMasks:
        """The masks of a pass over whole sequences: each row's first attended token is its sink."""
        return cls(response=response, sink=sink_mask(attention_mask))


@runtime_checkable
class Intervention(Protocol):
    """What a backend runs at a hook point (see the module doc).

    ``hook``: the canonical site (``blocks.<L>.hook_<kind>``). ``width``: the activation width
    the operator was built for (its vector's length), checked against the model's ``d_model``
    when installed; None when it works at any width. ``apply``: the edited activation, a pure
    function of ``x`` and the pass's :class:`PositionMasks` (a bare tensor is a response mask).
    """

    @property
    def hook(self) -> str: ...

    @property
    def width(self) -> int | None: ...

    def apply(self, x: Tensor, masks: PositionMasks | Tensor | None = None) -> Tensor: ...


def sink_mask(attention_mask: Tensor) -> Tensor:
    """``[batch, pos]`` True at each row's first attended position (left or right padding)."""
    m = attention_mask.bool()
    return m & (m.long().cumsum(-1) == 1)


def as_masks(masks: PositionMasks | Tensor | None) -> PositionMasks:
    """A bare tensor is a response mask (the signature before sink masks existed)."""
    return masks if isinstance(masks, PositionMasks) else PositionMasks(response=masks)


def add(x: Tensor, vector: Tensor, alpha: float, mask: Tensor | None = None) -> Tensor:
    """``x + alpha * vector`` at every position, or only where ``mask`` ([batch, pos]) is True."""
    delta = (alpha * vector).to(dtype=x.dtype, device=x.device)
    if mask is None:
        return x + delta
    return x + mask.to(device=x.device, dtype=x.dtype).unsqueeze(-1) * delta


def project_out(x: Tensor, basis: Tensor) -> Tensor:
    """Remove the span of ``basis`` ([k, d], orthonormal rows) from ``x``: ``x - (x Bᵀ) B``."""
    b = basis.to(dtype=x.dtype, device=x.device)
    return x - (x @ b.T) @ b


def orthonormal_basis(directions: Tensor) -> Tensor:
    """Orthonormal rows spanning ``directions`` ([d] or [k, d]); raises on a zero or dependent set."""
    d = directions.detach().to(torch.float32)
    if d.ndim == 1:
        d = d.unsqueeze(0)
    if d.ndim != 2:
        raise ValueError(f"directions must be [d] or [k, d], got shape {tuple(directions.shape)}.")
    q, r = torch.linalg.qr(d.T)
    if torch.any(torch.abs(torch.diagonal(r)) < 1e-6 * max(1.0, float(d.norm()))):
        raise ValueError("directions are zero or linearly dependent; pass independent, non-zero vectors.")
    return q.T.contiguous()


@dataclass(frozen=True)
class AddVector:
    """Activation addition: ``x + alpha * vector`` at ``hook`` (all positions or response positions)."""

    hook: str
    vector: Tensor
    alpha: float = 1.0
    positions: Positions = "all"

    def __post_init__(self) -> None:
        HookPoint.parse(self.hook)
        if self.vector.ndim != 1:
            raise ValueError(f"AddVector.vector must be 1-D [d_model], got shape {tuple(self.vector.shape)}.")
        if self.positions not in ("all", "response"):
            raise ValueError(f"positions must be 'all' or 'response', got {self.positions!r}.")

    @property
    def width(self) -> int:
        return int(self.vector.shape[-1])

    def apply(self, x: Tensor, masks: PositionMasks | Tensor | None = None) -> Tensor:
        if self.positions == "response":
            response = as_masks(masks).response
            if response is None:
                raise ValueError("AddVector(positions='response') needs a response mask; pass response_mask=.")
            return add(x, self.vector, self.alpha, response)
        return add(x, self.vector, self.alpha)


@dataclass(frozen=True)
class ProjectOut:
    """Directional ablation: remove the span of ``directions`` from the activation at ``hook``.

    ``keep_sink`` leaves each sequence's first token untouched (the backends supply
    :attr:`PositionMasks.sink`). That token is the attention sink: it carries no content, its
    residual norm is ~100x the others', and removing even a small component of it perturbs every
    later position through attention, so keeping it lowers an ablation's KL cost on neutral text
    (docs/MEASUREMENTS.md). The default (False) is Arditi et al.'s ablation at every position, the
    one weight orthogonalisation makes permanent.
    """

    hook: str
    directions: Tensor
    keep_sink: bool = False
    basis: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        HookPoint.parse(self.hook)
        object.__setattr__(self, "basis", orthonormal_basis(self.directions))

    @property
    def width(self) -> int:
        return int(self.basis.shape[1])

    def apply(self, x: Tensor, masks: PositionMasks | Tensor | None = None) -> Tensor:
        out = project_out(x, self.basis)
        if not self.keep_sink:
            return out
        sink = as_masks(masks).sink
        if sink is None:
            if x.shape[1] == 1:  # a decode step of cached generation: no sequence starts here
                return out
            raise ValueError("ProjectOut(keep_sink=True) needs to know each sequence's first token: run it through a "
                             "backend (which passes PositionMasks(sink=...)), or pass the masks to apply()")
        if sink.shape != x.shape[:2]:
            raise ValueError(f"sink mask {tuple(sink.shape)} does not match the activation {tuple(x.shape[:2])}")
        return torch.where(sink.to(x.device).unsqueeze(-1), x, out)


ABLATION_SITES: tuple[HookKind, ...] = ("resid_pre", "attn_out", "mlp_out")


def directional_ablation(directions: Tensor, n_layers: int, sites: Sequence[HookKind] = ABLATION_SITES, *,
                         keep_sink: bool = False) -> list[ProjectOut]:
    """Arditi et al. (2024): project the direction(s) out of every block input and every
    attention/MLP output, so the residual stream never carries it at any layer or position
    (``keep_sink``: at any position but each sequence's first, see :class:`ProjectOut`)."""
    for site in sites:
        if site not in HOOK_KINDS:
            raise ValueError(f"Unknown site {site!r}; choose from {HOOK_KINDS}.")
    return [ProjectOut(f"blocks.{layer}.hook_{site}", directions, keep_sink=keep_sink)
            for layer in range(n_layers) for site in sites]
