"""nnsight backend: the same canonical sites, reached through an nnsight trace.

Sites resolve to the same Hugging Face modules as the ``hf`` backend; inside the trace each
site is visited in execution order (nnsight requires it), edited by the installed
interventions, reduced, and saved with ``nnsight.save``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import nnsight
from torch import Tensor

from interp.hooks.base import Backend, Reducer, RunResult
from interp.hooks.hf_backend import site_module
from interp.hooks.interventions import Intervention
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

    def _run(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        reducers: dict[str, Reducer],
        return_logits: bool,
        response_mask: Tensor | None,
    ) -> RunResult:
        by_site: dict[str, list[Intervention]] = {}
        for iv in self._interventions:
            by_site.setdefault(iv.hook, []).append(iv)
        saved: dict[str, Any] = {}
        logits: Any = None
        model = self.loaded.model
        with self.wrapped.trace({"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}) as tracer:
            for name in sorted(set(reducers) | set(by_site), key=HookPoint.parse):
                site = site_module(model, HookPoint.parse(name))
                env = self._envoy(site.path)
                if site.is_input:
                    x = env.input
                else:
                    out = env.output
                    x = out[0] if site.output_is_tuple_head else out
                if name in by_site:
                    for iv in by_site[name]:
                        x = iv.apply(x, response_mask)
                    if site.is_input:
                        env.input = x
                    elif site.output_is_tuple_head:
                        env.output = (x, *out[1:])
                    else:
                        env.output = x
                if name in reducers:
                    saved[name] = nnsight.save(reducers[name](x.detach()))
            if return_logits:
                logits = nnsight.save(self.wrapped.output.logits)
            else:
                tracer.stop()
        return RunResult(logits, {k: v for k, v in saved.items()})
