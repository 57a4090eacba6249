"""TransformerLens backend: a ``TransformerBridge`` booted around the loaded Hugging Face model.

The bridge exposes the canonical hook names natively. Booting it patches the wrapped model in
place (its own plain forward gets slower, and attention becomes eager), so give this backend a
``LoadedModel`` of its own rather than one another backend is using.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from interp.hooks.base import Backend, Reducer, RunResult
from interp.hooks.interventions import Intervention
from interp.hooks.names import HookPoint


class TransformerLensBackend(Backend):
    name: ClassVar[str] = "transformer_lens"

    def __init__(self, loaded: Any) -> None:
        super().__init__(loaded)
        from transformer_lens.model_bridge import TransformerBridge

        self.bridge = TransformerBridge.boot_transformers(
            str(loaded.source_dir), hf_model=loaded.model, tokenizer=loaded.tokenizer, device=loaded.device,
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
        by_site: dict[str, list[Intervention]] = {}
        for iv in self._interventions:
            by_site.setdefault(iv.hook, []).append(iv)
        hooks = []
        for name in sorted(set(reducers) | set(by_site), key=HookPoint.parse):
            hooks.append((name, self._hook_fn(name, by_site.get(name, []), reducers.get(name), captured, response_mask)))
        kwargs: dict[str, Any] = {"attention_mask": attention_mask}
        if not return_logits:
            kwargs["stop_at_layer"] = max(HookPoint.parse(n).layer for n in reducers) + 1
        with self.bridge.hooks(fwd_hooks=hooks):
            out = self.bridge(input_ids, **kwargs)
        return RunResult(out if return_logits else None, captured)

    @staticmethod
    def _hook_fn(
        name: str,
        ivs: list[Intervention],
        reducer: Reducer | None,
        captured: dict[str, Tensor],
        response_mask: Tensor | None,
    ) -> Any:
        def fn(x: Tensor, hook: Any) -> Tensor:
            for iv in ivs:
                x = iv.apply(x, response_mask)
            if reducer is not None:
                captured[name] = reducer(x.detach())
            return x

        return fn
