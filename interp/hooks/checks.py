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

from interp.hooks.architectures import EMBEDDING_SCALES, architecture_of, model_part, model_type_of
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
            "mlp=..., mid=..., attn_post_norm=..., mlp_post_norm=..., embedding=..., embedding_scale=..., "
            "final_norm=..., unembedding=..., replace=True), load_model(..., "
            "architecture={...}), or `architecture:` in a config.")


def _gap(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.double(), want.double()
    return float((got - want).norm() / want.norm().clamp_min(1e-30))


@torch.no_grad()
def _check_ends(loaded: Any, ids: torch.Tensor, first: torch.Tensor, last: torch.Tensor, seen: dict[str, Any],
                logits: torch.Tensor, tol: float) -> None:
    """A mapped family's embedding (times its scale) is the first block's input; the final norm reads
    the last block's output; the unembedding of the final norm's output (soft-capped where the model
    caps) is the logits."""
    model = loaded.model
    arch = architecture_of(model)
    assert arch is not None
    emb_path, emb = model_part(model, "embedding")
    weight: torch.Tensor = emb.weight  # type: ignore[assignment]
    rows = weight[ids] * arch.embedding_multiplier(loaded.d_model)
    gap = _gap(rows, first)
    if gap > tol:
        raise ArchitectureError(f"{type(model).__name__}: {emb_path}'s rows times {arch.embedding_scale} differ from "
                                f"the first block's input by {gap:.2g} of its norm: the embedding or its scale "
                                f"(embedding_scale: {' or '.join(map(repr, EMBEDDING_SCALES))}) is wrong. "
                                f"{_fix(model)}")
    norm_path = model_part(model, "final_norm")[0]
    if "input" not in seen or _gap(seen["input"], last) > tol:
        raise ArchitectureError(f"{type(model).__name__}: {norm_path} does not read the last block's output, so it is "
                                f"not the final norm. {_fix(model)}")
    head_path, head = model_part(model, "unembedding")
    out = seen["output"][0] if isinstance(seen["output"], tuple) else seen["output"]
    try:
        predicted = head(out).double()
    except RuntimeError as err:  # a module of other shapes
        raise ArchitectureError(f"{type(model).__name__}: {head_path} cannot read {norm_path}'s output ({err}): it is "
                                f"not the unembedding. {_fix(model)}") from None
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        predicted = torch.tanh(predicted / cap) * cap
    gap = _gap(predicted, logits) if predicted.shape == logits.shape else float("inf")
    if gap > tol:
        raise ArchitectureError(f"{type(model).__name__}: {head_path} applied to {norm_path}'s output differs from the "
                                f"logits by {gap:.2g} of their norm: it is not the unembedding. {_fix(model)}")


def check_sites(loaded: Any, layers: Iterable[int] | None = None) -> None:
    """Raise :class:`ArchitectureError` unless every site of ``layers`` (default: the first and the last)
    resolves, fires with width ``d_model``, and ``resid_pre + attn_out + mlp_out == resid_post`` there;
    for a mapped family also that its embedding, final norm and unembedding are where and what it says."""
    model = loaded.model
    n = loaded.n_layers
    chosen = sorted(set(layers)) if layers is not None else sorted({0, n - 1})
    names = [f"blocks.{layer}.hook_{site}" for layer in chosen for site in HOOK_KINDS]
    for name in names:
        try:
            site_module(model, HookPoint.parse(name, n))
        except ValueError as err:
            raise ArchitectureError(f"{type(model).__name__}: no module for {name}: {err} {_fix(model)}") from None
    mapped = architecture_of(model) is not None
    ends = ["blocks.0.hook_resid_pre", f"blocks.{n - 1}.hook_resid_post"] if mapped else []
    vocab = int(getattr(model.config, "vocab_size", 2) or 2)
    ids = torch.arange(1, 6).remainder(vocab).unsqueeze(0).to(loaded.device)
    seen: dict[str, torch.Tensor] = {}
    handle = None
    if mapped:
        final = model_part(model, "final_norm")[1]
        handle = final.register_forward_hook(lambda _m, args, out: seen.update(input=args[0], output=out))
    try:
        result = HFBackend(loaded).run(ids, capture=sorted(set(names) | set(ends)), return_logits=mapped)
    finally:
        if handle is not None:
            handle.remove()
    acts = result.activations
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
    if mapped:
        assert result.logits is not None
        _check_ends(loaded, ids, acts[ends[0]], acts[ends[1]], seen, result.logits, tol)
    for layer in chosen:
        a = {site: acts[f"blocks.{layer}.hook_{site}"].double() for site in HOOK_KINDS}
        gap = _gap(a["resid_pre"] + a["attn_out"] + a["mlp_out"], a["resid_post"])
        if gap > tol:
            attn = site_module(model, HookPoint.parse(f"blocks.{layer}.hook_attn_out")).path
            mlp = site_module(model, HookPoint.parse(f"blocks.{layer}.hook_mlp_out")).path
            raise ArchitectureError(
                f"{type(model).__name__}, block {layer}: resid_pre + attn_out + mlp_out differs from resid_post by "
                f"{gap:.2g} of its norm (allowed {tol:g} in {str(dtype).removeprefix('torch.')}): {attn} and {mlp} "
                "are not what the block adds to the residual stream (a norm after them is declared as "
                f"attn_post_norm / mlp_post_norm). {_fix(model)}")
