"""Plain PyTorch forward hooks on a Hugging Face model: the fastest backend, and the reference.

Canonical sites map onto the modules every decoder-only HF architecture has (Llama, Qwen,
Mistral, Gemma...), found through the family's declared
:class:`~interp.hooks.architectures.ArchitectureMap`: ``resid_pre`` = input of decoder layer L,
``resid_post`` = its output, ``attn_out`` / ``mlp_out`` = what its attention and MLP add to the
stream (their modules' outputs, or the outputs of the norms after them in a post-norm family such
as Gemma 2/3 and OLMo 2), ``resid_mid`` = input of the norm in front of the MLP. When no logits are wanted, the forward pass stops right after
the deepest captured hook (the final norm and the unembedding are never computed).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from interp.hooks.architectures import block_part, decoder_layers, post_norm
from interp.hooks.base import Backend, Reducer, RunResult, SharedPrefix, generation_masks
from interp.hooks.interventions import Intervention, PositionMasks
from interp.hooks.names import HookPoint

__all__ = ["HFBackend", "SiteModule", "decoder_layers", "site_module"]


class _StopForward(Exception):
    """Raised inside a hook to end a forward pass once everything asked for is captured."""


@dataclass(frozen=True)
class SiteModule:
    """Where a canonical site lives in an HF model: the module, and whether it is its input."""

    path: str
    module: nn.Module
    is_input: bool
    output_is_tuple_head: bool = False


def site_module(model: Any, point: HookPoint) -> SiteModule:
    """The module a canonical site reads, from the family's :class:`~interp.hooks.architectures.ArchitectureMap`."""
    path, layers = decoder_layers(model)
    layer = layers[point.layer]
    prefix = f"{path}.{point.layer}"
    if point.kind == "resid_pre":
        return SiteModule(prefix, layer, is_input=True)
    if point.kind == "resid_post":
        return SiteModule(prefix, layer, is_input=False)
    if point.kind in ("attn_out", "mlp_out"):
        part: Literal["attn", "mlp"] = "attn" if point.kind == "attn_out" else "mlp"
        after = post_norm(model, layer, part)  # a post-norm family: what is added is the norm's output
        if after is not None:
            return SiteModule(f"{prefix}.{after[0]}", after[1], is_input=False)
        name, mod = block_part(model, layer, part)
        return SiteModule(f"{prefix}.{name}", mod, is_input=False, output_is_tuple_head=part == "attn")
    name, mod = block_part(model, layer, "mid")
    return SiteModule(f"{prefix}.{name}", mod, is_input=True)


def _split(output: Any) -> tuple[Tensor, Callable[[Tensor], Any]]:
    """The hidden-state tensor of a module output, and how to rebuild the output around a new one."""
    if isinstance(output, Tensor):
        return output, lambda t: t
    if isinstance(output, tuple):
        return output[0], lambda t: (t, *output[1:])
    raise TypeError(f"Unexpected module output type {type(output).__name__}.")


class HFBackend(Backend):
    """Forward hooks on the Hugging Face modules themselves."""

    name: ClassVar[str] = "hf"
    # Editing resid_mid would change only the MLP's input, not the residual stream, in HF's code.
    intervention_sites: ClassVar[frozenset[str]] = frozenset({"resid_pre", "attn_out", "mlp_out", "resid_post"})

    def __init__(self, loaded: Any) -> None:
        super().__init__(loaded)
        self.model: nn.Module = loaded.model
        self._masks = PositionMasks()  # of the forward pass running now
        self._generation_masks: Callable[[Tensor], PositionMasks] | None = None

    def _mask_for(self, x: Tensor) -> PositionMasks:
        if self._generation_masks is not None:  # with a KV cache, decode steps see one new (generated) token each
            return self._generation_masks(x)
        return self._masks

    def _edit(self, ivs: list[Intervention]) -> Callable[[Tensor], Tensor]:
        def edit(x: Tensor) -> Tensor:
            mask = self._mask_for(x)
            for iv in ivs:
                x = iv.apply(x, mask)
            return x

        return edit

    @contextlib.contextmanager
    def _hooks(self, reducers: dict[str, Reducer], captured: dict[str, Tensor], stop_after: str | None) -> Iterator[None]:
        by_site: dict[str, list[Intervention]] = {}
        for iv in self._interventions:
            by_site.setdefault(iv.hook, []).append(iv)
        handles: list[RemovableHandle] = []
        try:
            for name in sorted(set(reducers) | set(by_site), key=HookPoint.parse):
                site = site_module(self.model, HookPoint.parse(name))
                edit = self._edit(by_site[name]) if name in by_site else None
                handles.append(self._install(site, name, edit, reducers.get(name), captured, name == stop_after))
            yield
        finally:
            for h in handles:
                h.remove()

    def _install(
        self,
        site: SiteModule,
        name: str,
        edit: Callable[[Tensor], Tensor] | None,
        reducer: Reducer | None,
        captured: dict[str, Tensor],
        stop: bool,
    ) -> RemovableHandle:
        def visit(x: Tensor) -> Tensor:
            if edit is not None:
                x = edit(x)
            if reducer is not None:
                captured[name] = reducer(x.detach())
            if stop:
                raise _StopForward
            return x

        if site.is_input:

            def pre_hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
                if args:
                    return (visit(args[0]), *args[1:]), kwargs
                kwargs["hidden_states"] = visit(kwargs["hidden_states"])
                return args, kwargs

            return site.module.register_forward_pre_hook(pre_hook, with_kwargs=True)

        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
            x, rebuild = _split(output)
            return rebuild(visit(x))

        return site.module.register_forward_hook(hook)

    def _run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        reducers: dict[str, Reducer],
        return_logits: bool,
        response_mask: Tensor | None,
    ) -> RunResult:
        captured: dict[str, Tensor] = {}
        stop_after = None if return_logits else max(reducers, key=HookPoint.parse)
        self._masks = PositionMasks.of_sequences(attention_mask, response_mask)
        try:
            with self._hooks(reducers, captured, stop_after):
                try:
                    out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
                except _StopForward:
                    return RunResult(None, captured)
        finally:
            self._masks = PositionMasks()
        return RunResult(out.logits if return_logits else None, captured)

    def run_shared_prefix(
        self,
        prefix_ids: Tensor,
        prefix_mask: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        prefix_of: Tensor,
        response_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Logits of continuations that share prefixes, each prefix computed once (a KV cache).

        ``prefix_ids`` / ``prefix_mask`` ``[p, P]`` are left-padded prefixes; ``input_ids`` /
        ``attention_mask`` ``[n, C]`` right-padded continuations, continuation ``i`` following prefix
        ``prefix_of[i]``; ``response_mask`` ``[n, C]`` marks the continuation's response tokens for
        ``positions="response"`` interventions (prefixes hold none). Returns the logits at each
        prefix's last position ``[p, vocab]`` (they predict a continuation's first token) and the
        continuations' logits ``[n, C, vocab]``: the logits of the concatenated sequences, under the
        installed interventions, for the price of ``p * P + n * C`` tokens instead of ``n * (P + C)``.
        """
        plan = SharedPrefix.plan(prefix_ids, prefix_mask, input_ids, attention_mask, prefix_of, response_mask)
        try:
            with torch.no_grad(), self._hooks({}, {}, None):
                self._masks = plan.prefix_masks
                first = self.model(**plan.prefix)
                cache = first.past_key_values
                cache.batch_select_indices(prefix_of)
                self._masks = plan.continuation_masks
                second = self.model(**plan.continuation, past_key_values=cache)
        finally:
            self._masks = PositionMasks()
        return first.logits[:, -1], second.logits

    def generate(self, input_ids: Tensor, attention_mask: Tensor, **kwargs: Any) -> Tensor:
        """``model.generate`` with the installed interventions; returns the full sequences."""
        self._generation_masks = generation_masks(attention_mask)
        try:
            with self._hooks({}, {}, None), torch.no_grad():
                return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **kwargs)  # type: ignore[operator]
        finally:
            self._generation_masks = None
