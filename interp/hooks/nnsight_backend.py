"""nnsight backend: the same canonical sites, reached through an nnsight trace.

Sites resolve to the same Hugging Face modules as the ``hf`` backend; inside the trace each
site is visited in execution order (nnsight requires it), edited by the installed
interventions, reduced, and saved with ``nnsight.save``.

Generation uses nnsight's own generation tracing (``wrapped.generate(...)``): the interventions
sit in a ``for _ in tracer.all()`` loop, so nnsight applies them to the prompt pass and to every
decode step of Hugging Face ``generate`` (KV cache, left padding, any generate kwargs). An open
``tracer.all()`` loop ends when generation does and skips whatever follows it in the same
invoke, so the generated ids are read in a second, input-less ``tracer.invoke()``; nnsight's
warning that the loop "was never reached" one step further is expected and silenced. nnsight
removes its hooks when the trace exits, on error too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import nnsight
import torch
from torch import Tensor

from interp.hooks.base import Backend, Reducer, RunResult, SharedPrefix, generation_masks
from interp.hooks.hf_backend import site_module
from interp.hooks.interventions import Intervention, PositionMasks
from interp.hooks.names import HookPoint


class NNsightBackend(Backend):
    name: ClassVar[str] = "nnsight"
    intervention_sites: ClassVar[frozenset[str]] = frozenset({"resid_pre", "attn_out", "mlp_out", "resid_post"})

    def __init__(self, loaded: Any) -> None:
        super().__init__(loaded)
        from nnsight.modeling.transformers import TransformersModel

        self.wrapped = TransformersModel(loaded.model, tokenizer=loaded.tokenizer)

    def _envoy(self, path: str) -> Any:
        env: Any = self.wrapped
        for part in path.split("."):
            env = env[int(part)] if part.isdigit() else getattr(env, part)
        return env

    def _visit(self, name: str, ivs: list[Intervention], mask_for: Callable[[Tensor], PositionMasks]) -> Any:
        """Inside a trace: read the site's activation, write back the intervened one, return it."""
        site = site_module(self.loaded.model, HookPoint.parse(name))
        env = self._envoy(site.path)
        if site.is_input:
            x = env.input
        else:
            out = env.output
            x = out[0] if site.output_is_tuple_head else out
        if ivs:
            mask = mask_for(x)
            for iv in ivs:
                x = iv.apply(x, mask)
            if site.is_input:
                env.input = x
            elif site.output_is_tuple_head:
                env.output = (x, *out[1:])
            else:
                env.output = x
        return x

    def _run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        reducers: dict[str, Reducer],
        return_logits: bool,
        response_mask: Tensor | None,
    ) -> RunResult:
        by_site = self._interventions_by_site()
        masks = PositionMasks.of_sequences(attention_mask, response_mask)
        saved: dict[str, Any] = {}
        logits: Any = None
        with self.wrapped.trace({"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}) as tracer:
            for name in sorted(set(reducers) | set(by_site), key=HookPoint.parse):
                x = self._visit(name, by_site.get(name, []), lambda _: masks)
                if name in reducers:
                    saved[name] = nnsight.save(reducers[name](x.detach()))
            if return_logits:
                logits = nnsight.save(self.wrapped.output.logits)
            else:
                tracer.stop()
        return RunResult(logits, {k: v for k, v in saved.items()})

    def run_shared_prefix(
        self,
        prefix_ids: Tensor,
        prefix_mask: Tensor,
        input_ids: Tensor,
        attention_mask: Tensor,
        prefix_of: Tensor,
        response_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """As :meth:`interp.hooks.hf_backend.HFBackend.run_shared_prefix`: the prefixes in one traced
        forward that keeps its KV cache, the continuations in a second one that reads it (the same two
        forwards as the hf backend, so the same numbers in every dtype)."""
        by_site = self._interventions_by_site()
        order = sorted(by_site, key=HookPoint.parse)
        plan = SharedPrefix.plan(prefix_ids, prefix_mask, input_ids, attention_mask, prefix_of, response_mask)
        with torch.no_grad():
            with self.wrapped.trace(plan.prefix):
                for name in order:
                    self._visit(name, by_site[name], lambda _: plan.prefix_masks)
                first = nnsight.save(self.wrapped.output)
            cache = first.past_key_values
            cache.batch_select_indices(prefix_of)
            with self.wrapped.trace(plan.continuation | {"past_key_values": cache}):
                for name in order:
                    self._visit(name, by_site[name], lambda _: plan.continuation_masks)
                logits = nnsight.save(self.wrapped.output.logits)
        return first.logits[:, -1], logits

    def generate(self, input_ids: Tensor, attention_mask: Tensor, **kwargs: Any) -> Tensor:
        """Hugging Face ``generate`` traced by nnsight, the interventions applied at every step."""
        by_site = self._interventions_by_site()
        masks_for = generation_masks(attention_mask)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*was never reached", category=UserWarning)
            with self.wrapped.generate(use_cache=True, **kwargs) as tracer:
                with tracer.invoke({"input_ids": input_ids, "attention_mask": attention_mask}):
                    if by_site:
                        for _ in tracer.all():
                            for name, ivs in by_site.items():
                                self._visit(name, ivs, masks_for)
                with tracer.invoke():
                    ids = nnsight.save(tracer.result)
        out: Tensor = ids
        return out
