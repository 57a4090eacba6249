"""Checking where a model's sites are, once, when it loads: every canonical site resolves to a module,
fires in a forward pass with the model's width, and the residual stream adds up.

The adding-up test is what catches a wrong map (a guessed name that exists but is not what the
block adds, a post-norm not declared): in every decoder block interp supports, sequential or
parallel, ``resid_post = resid_pre + attn_out + mlp_out``. One forward pass of a few tokens,
stopped after the deepest layer checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from interp.hooks.architectures import architecture_of, model_type_of
from interp.hooks.hf_backend import HFBackend, site_module
from interp.hooks.names import HOOK_KINDS, HookPoint

#: relative size of ``resid_post - (resid_pre + attn_out + mlp_out)`` allowed, by compute dtype
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-8}
LOW_PRECISION_TOLERANCE = 5e-2


class ArchitectureError(ValueError):
    """A model whose declared (or guessed) modules are not where, or not what, interp needs."""


def _fix(model: Any) -> str:
    t = model_type_of(model)
    how = "declared" if architecture_of(model) is not None else "guessed from common names (the family is not mapped)"
    return (f"Its modules were {how}. Map them: interp.hooks.register_architecture({t!r}, layers=..., attn=..., "
            "mlp=..., mid=..., attn_post_norm=..., mlp_post_norm=..., replace=True), load_model(..., "
            "architecture={...}), or `architecture:` in a config.")


def check_sites(loaded: Any, layers: Iterable[int] | None = None) -> None:
    """Raise :class:`ArchitectureError` unless every site of ``layers`` (default: the first and the last)
    resolves, fires with width ``d_model``, and ``resid_pre + attn_out + mlp_out == resid_post`` there."""
    model = loaded.model
    n = loaded.n_layers
    chosen = sorted(set(layers)) if layers is not None else sorted({0, n - 1})
    names = [f"blocks.{layer}.hook_{site}" for layer in chosen for site in HOOK_KINDS]
    for name in names:
        try:
            site_module(model, HookPoint.parse(name, n))
        except ValueError as err:
            raise ArchitectureError(f"{type(model).__name__}: no module for {name}: {err} {_fix(model)}") from None
    vocab = int(getattr(model.config, "vocab_size", 2) or 2)
    ids = torch.arange(1, 6).remainder(vocab).unsqueeze(0).to(loaded.device)
    acts = HFBackend(loaded).run(ids, capture=names, return_logits=False).activations
    silent = [name for name in names if name not in acts]
    if silent:
        paths = ", ".join(f"{site_module(model, HookPoint.parse(s)).path} ({s})" for s in silent)
        raise ArchitectureError(f"{type(model).__name__}: {paths} never ran in a forward pass: not a module the "
                                f"block uses. {_fix(model)}")
    d = loaded.d_model
    for name in names:
        if acts[name].shape[-1] != d:
            path = site_module(model, HookPoint.parse(name)).path
            raise ArchitectureError(f"{type(model).__name__}: {path} ({name}) has width {acts[name].shape[-1]}, the "
                                    f"residual stream {d}: it is not a module that reads or writes the stream. "
                                    f"{_fix(model)}")
    dtype = acts[names[0]].dtype
    tol = TOLERANCE.get(dtype, LOW_PRECISION_TOLERANCE)
    for layer in chosen:
        a = {site: acts[f"blocks.{layer}.hook_{site}"].double() for site in HOOK_KINDS}
        gap = float((a["resid_post"] - a["resid_pre"] - a["attn_out"] - a["mlp_out"]).norm() / a["resid_post"].norm())
        if gap > tol:
            attn = site_module(model, HookPoint.parse(f"blocks.{layer}.hook_attn_out")).path
            mlp = site_module(model, HookPoint.parse(f"blocks.{layer}.hook_mlp_out")).path
            raise ArchitectureError(
                f"{type(model).__name__}, block {layer}: resid_pre + attn_out + mlp_out differs from resid_post by "
                f"{gap:.2g} of its norm (allowed {tol:g} in {str(dtype).removeprefix('torch.')}): {attn} and {mlp} "
                "are not what the block adds to the residual stream (a norm after them is declared as "
                f"attn_post_norm / mlp_post_norm). {_fix(model)}")
