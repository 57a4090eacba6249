"""The backend protocol the rest of interp codes against.

A backend runs a loaded model and (1) captures activations at canonical hook points, each
reduced inside the hook by a caller-supplied function (so only what a study asked for is
kept), and (2) applies :mod:`interp.hooks.interventions` installed with :meth:`Backend.intervene`,
a context manager that always removes them. Backends differ only in the machinery (plain
PyTorch hooks, TransformerLens, nnsight); a parity test diffs them against Hugging Face.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from interp.hooks.interventions import Intervention, PositionMasks, sink_mask
from interp.hooks.names import HOOK_KINDS, HookPoint

if TYPE_CHECKING:  # a Backend wraps a LoadedModel, which loading checks with a backend
    from interp.models.loading import LoadedModel

Reducer = Callable[[Tensor], Tensor]


def identity(x: Tensor) -> Tensor:
    return x


def decode_step_mask(x: Tensor) -> Tensor:
    """The response mask of one forward pass inside cached generation: ``[batch, pos]`` bool.

    With a KV cache the prefill pass sees the whole (left-padded) prompt and every decode step
    exactly one new token, so a pass of one position is a generated token and anything longer
    is the prompt. ``positions="response"`` therefore means "the generated tokens" in every
    backend (the first generated token is steered from the step that feeds it back in).
    """
    return torch.full(x.shape[:2], x.shape[1] == 1, dtype=torch.bool, device=x.device)


@dataclass(frozen=True)
class SharedPrefix:
    """The two forwards of a shared-prefix pass (``run_shared_prefix``), built once so that every
    exact backend runs the same ones: the left-padded prefixes with their KV cache kept, then the
    right-padded continuations reading it (each continuation after prefix ``prefix_of[i]``).

    ``prefix`` / ``continuation`` are the model's keyword arguments (the continuation also gets the
    prefixes' cache, reordered by ``prefix_of``); the masks are what interventions see in each pass.
    """

    prefix: dict[str, Any]
    prefix_masks: PositionMasks
    continuation: dict[str, Any]
    continuation_masks: PositionMasks

    @classmethod
    def plan(cls, prefix_ids: Tensor, prefix_mask: Tensor, input_ids: Tensor, attention_mask: Tensor,
             prefix_of: Tensor, response_mask: Tensor | None = None) -> SharedPrefix:
        positions = (prefix_mask.long().cumsum(-1) - 1).clamp(min=0)
        lengths = prefix_mask.long().sum(-1)
        steps = torch.arange(input_ids.shape[1], device=input_ids.device)
        return cls(
            prefix={"input_ids": prefix_ids, "attention_mask": prefix_mask, "position_ids": positions,
                    "use_cache": True, "logits_to_keep": 1},
            prefix_masks=PositionMasks.of_sequences(prefix_mask, torch.zeros_like(prefix_mask, dtype=torch.bool)),
            continuation={"input_ids": input_ids, "attention_mask": torch.cat([prefix_mask[prefix_of], attention_mask], 1),
                          "position_ids": lengths[prefix_of, None] + steps, "use_cache": True},
            continuation_masks=PositionMasks(response=response_mask,
                                             sink=torch.zeros_like(attention_mask, dtype=torch.bool)),
        )


def generation_masks(attention_mask: Tensor) -> Callable[[Tensor], PositionMasks]:
    """Position masks of each forward pass of cached generation from a (left-padded) prompt batch.

    The prefill pass holds the prompts, so their first tokens (the sinks); each decode step one
    generated token and no sink. Hugging Face expands the batch for beams and several return
    sequences by ``repeat_interleave`` before the prefill; the sink mask is expanded the same way.
    """
    sinks = sink_mask(attention_mask)

    def masks_for(x: Tensor) -> PositionMasks:
        if x.shape[1] == 1:
            return PositionMasks(response=decode_step_mask(x), sink=None)
        s = sinks
        if x.shape[0] != s.shape[0] and x.shape[0] % s.shape[0] == 0:
            s = s.repeat_interleave(x.shape[0] // s.shape[0], dim=0)
        # a pass that is neither the prefill nor a decode step (none in plain generate) has no known sinks
        return PositionMasks(response=decode_step_mask(x), sink=s if s.shape == x.shape[:2] else None)

    return masks_for


@dataclass
class RunResult:
    """What one forward pass returned: logits (unless skipped) and the captured activations."""

    logits: Tensor | None
    activations: dict[str, Tensor] = field(default_factory=dict)


class Backend(ABC):
    """Runs a model with canonical hook points. Subclasses implement :meth:`_run`."""

    name: ClassVar[str]
    #: sites this backend can intervene on (capture is supported at every site in HOOK_KINDS)
    intervention_sites: ClassVar[frozenset[str]] = frozenset(HOOK_KINDS)

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self._interventions: list[Intervention] = []

    @property
    def n_layers(self) -> int:
        return self.loaded.n_layers

    @property
    def d_model(self) -> int:
        return self.loaded.d_model

    @property
    def device(self) -> torch.device:
        return self.loaded.device

    def hook_points(self) -> list[str]:
        """Every canonical hook name this backend can capture, in execution order."""
        return [f"blocks.{layer}.hook_{kind}" for layer in range(self.n_layers) for kind in HOOK_KINDS]

    def _check_hooks(self, names: Sequence[str]) -> list[HookPoint]:
        return [HookPoint.parse(n, self.n_layers) for n in names]

    @contextlib.contextmanager
    def intervene(self, interventions: Sequence[Intervention]) -> Iterator[None]:
        """Apply ``interventions`` to every forward pass (and generation) inside the block."""
        for iv in interventions:
            if not isinstance(iv, Intervention):
                raise TypeError(f"{type(iv).__name__} is not an Intervention: it needs a hook name, a width "
                                "(int or None) and apply(x, masks) (see interp.hooks.interventions).")
            site = HookPoint.parse(iv.hook, self.n_layers)
            if site.kind not in self.intervention_sites:
                raise NotImplementedError(
                    f"The {self.name} backend cannot intervene at {iv.hook}; use one of "
                    f"{sorted(self.intervention_sites)} at that layer."
                )
            if iv.width is not None and iv.width != self.d_model:
                raise ValueError(f"Intervention at {iv.hook} has d={iv.width}, the model has d_model={self.d_model}.")
        previous = self._interventions
        self._interventions = [*previous, *interventions]
        try:
            yield
        finally:
            self._interventions = previous

    def _interventions_by_site(self) -> dict[str, list[Intervention]]:
        """The installed interventions grouped by hook name, sites in execution order."""
        by_site: dict[str, list[Intervention]] = {}
        for iv in self._interventions:
            by_site.setdefault(iv.hook, []).append(iv)
        return {name: by_site[name] for name in sorted(by_site, key=HookPoint.parse)}

    def run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        capture: Mapping[str, Reducer] | Sequence[str] = (),
        return_logits: bool = True,
        response_mask: Tensor | None = None,
    ) -> RunResult:
        """One forward pass under the installed interventions.

        Args:
            input_ids, attention_mask: ``[batch, pos]`` on the model's device.
            capture: hook names, or a mapping hook name -> reducer applied inside the hook to
                the ``[batch, pos, d]`` activation (select positions, pool, move to host).
            return_logits: False lets a backend stop after the deepest captured hook.
            response_mask: ``[batch, pos]`` bool, used by ``positions="response"`` interventions.
        """
        reducers: dict[str, Reducer] = dict(capture) if isinstance(capture, Mapping) else dict.fromkeys(capture, identity)
        self._check_hooks(list(reducers))
        if not return_logits and not reducers:
            raise ValueError("Nothing to compute: pass hook names to capture, or return_logits=True.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        with torch.no_grad():
            return self._run(input_ids, attention_mask, reducers, return_logits, response_mask)

    @abstractmethod
    def _run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        reducers: dict[str, Reducer],
        return_logits: bool,
        response_mask: Tensor | None,
    ) -> RunResult: ...

    def generate(self, input_ids: Tensor, attention_mask: Tensor, **kwargs: Any) -> Tensor:
        """``model.generate`` (greedy, sampling, beams: any Hugging Face generate kwargs) under the
        installed interventions, with a KV cache; returns the full sequences ``[batch * n, pos]``.

        Batched prompts are left-padded (``attention_mask`` marks the padding). Interventions apply
        to the prompt pass and to every decode step; ``positions="response"`` ones only to the
        generated tokens (:func:`decode_step_mask`). Every backend gives the same greedy tokens.
        """
        raise NotImplementedError(f"The {self.name} backend does not generate.")
