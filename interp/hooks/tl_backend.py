"""TransformerLens backend: a ``TransformerBridge`` booted around the loaded Hugging Face model.

The bridge exposes the canonical hook names natively. Booting it patches the wrapped model in
place (its own plain forward gets slower, and attention becomes eager), so give this backend a
``LoadedModel`` of its own rather than one another backend is using.

Generation: the bridge's hook points are PyTorch modules inside the patched Hugging Face model,
so :meth:`TransformerLensBackend.generate` runs Hugging Face ``generate`` on that model
(``bridge.original_model``, KV cache, left padding, every sampling option) inside
``bridge.hooks(...)``: the same hook functions as :meth:`run`, fired on the prompt pass and on
every decode step, and removed by the bridge's context manager even on error. The bridge's own
``generate`` is not used: it re-implements the decode loop (HookedTransformer-style arguments,
its own sampling and stopping), so it would take other kwargs than the other backends and
nothing guarantees the same tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from interp.hooks.base import Backend, Reducer, RunResult, generation_masks
from interp.hooks.interventions import Intervention, PositionMasks
from interp.hooks.names import HookPoint

MaskFor = Callable[[Tensor], PositionMasks]


class TransformerLensBackend(Backend):
    name: ClassVar[str] = "transformer_lens"

    def __init__(self, loaded: Any) -> None:
        super().__init__(loaded)
        from transformer_lens.model_bridge import TransformerBridge

        model = loaded.model
        if hasattr(model, "peft_config"):  # unmerged LoRA: bridge the causal LM inside, its LoRA layers in place
            model = model.get_base_model()
        self.bridge = TransformerBridge.boot_transformers(
            str(loaded.source_dir), hf_model=model, tokenizer=loaded.tokenizer, device=loaded.device,
            dtype=next(loaded.model.parameters()).dtype,
        )
        self.bridge.eval()

    def _run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        reducers: dict[str, Reducer],
        return_logits: bool,
        response_mask: Tensor | None,
    ) -> RunResult:
        captured: dict[str, Tensor] = {}
        by_site = self._interventions_by_site()
        masks = PositionMasks.of_sequences(attention_mask, response_mask)
        hooks = []
        for name in sorted(set(reducers) | set(by_site), key=HookPoint.parse):
            hooks.append((name, self._hook_fn(name, by_site.get(name, []), reducers.get(name), captured, lambda x: masks)))
        kwargs: dict[str, Any] = {"attention_mask": attention_mask}
        if not return_logits:
            kwargs["stop_at_layer"] = max(HookPoint.parse(n).layer for n in reducers) + 1
        with self.bridge.hooks(fwd_hooks=hooks):
            out = self.bridge(input_ids, **kwargs)
        return RunResult(out if return_logits else None, captured)

    def generate(self, input_ids: Tensor, attention_mask: Tensor, **kwargs: Any) -> Tensor:
        """Hugging Face ``generate`` on the bridged model with the interventions on its hook points."""
        masks_for = generation_masks(attention_mask)
        hooks = [(name, self._hook_fn(name, ivs, None, {}, masks_for)) for name, ivs in self._interventions_by_site().items()]
        with self.bridge.hooks(fwd_hooks=hooks), torch.no_grad():
            model: Any = self.bridge.original_model
            out: Tensor = model.generate(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, **kwargs)
        return out

    @staticmethod
    def _hook_fn(
        name: str,
        ivs: list[Intervention],
        reducer: Reducer | None,
        captured: dict[str, Tensor],
        mask_for: MaskFor,
    ) -> Any:
        def fn(x: Tensor, hook: Any) -> Tensor:
            if ivs:
                mask = mask_for(x)
                for iv in ivs:
                    x = iv.apply(x, mask)
            if reducer is not None:
                captured[name] = reducer(x.detach())
            return x

        return fn
