"""Where each Hugging Face model family keeps the modules interp hooks and edits: one declaration per family.

An :class:`ArchitectureMap` names, for one family (keyed by ``config.model_type``), the decoder's
list of blocks and, inside a block, the attention, the MLP, the module whose input is
``resid_mid`` (the norm in front of the MLP), the attention output projection and the MLP down
projection. The ``hf`` and ``nnsight`` backends place their hooks with it
(:func:`interp.hooks.hf_backend.site_module`); weight orthogonalisation edits the projections it
names (:mod:`interp.steering.orthogonalize`). :func:`register_architecture` adds a family.

A model type nobody mapped falls back to searching lists of likely names (what interp did before
the maps), so a model that worked unmapped still works; a mapped family whose modules are not
where its map says gets an error naming the field and the fix. New fields (post-norms, checks at
load) get defaults, so existing declarations keep working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from torch import nn

Part = Literal["attn", "mlp", "mid"]
Writer = Literal["attn_out_proj", "mlp_down_proj"]


@dataclass(frozen=True)
class ArchitectureMap:
    """Module paths of one model family (dotted paths; the defaults are the Llama layout).

    Attributes:
        layers: the decoder's ``nn.ModuleList`` of blocks, from the top ``*ForCausalLM`` module
            (found as a suffix inside wrappers such as a PEFT model).
        attn, mlp: the attention and MLP modules inside a block (``attn_out`` / ``mlp_out`` are
            their outputs).
        mid: the module inside a block whose input is ``resid_mid`` (the stream after attention's
            residual add): the norm in front of the MLP, or the MLP itself in a post-norm block.
        attn_out_proj: inside ``attn``, the linear layer that writes attention's output.
        mlp_down_proj: inside ``mlp``, the linear layer that writes the MLP's output.
        attn_post_norm, mlp_post_norm: inside a block, the norm applied to attention's / the MLP's
            output before the residual add (Gemma 2/3, OLMo 2), or None (pre-norm families). When
            set, ``attn_out`` / ``mlp_out`` are that norm's output: what is added to the stream.
        embedding: the token embedding (from the top module), the first writer to the stream.
        embedding_scale: what the stream gets per embedding row: ``"1"`` (the row itself) or
            ``"sqrt_d_model"`` (Gemma multiplies it by the square root of the width).
        final_norm: the norm after the last block, which the unembedding reads (from the top module).
        unembedding: the linear layer from the final norm to the logits (from the top module; tied
            to the embedding or not, as the model's config says).
        lora_targets: the linear layers a LoRA adapter trains (``target_modules: family``), fused
            projections under their own names (Phi-3's ``qkv_proj``, GPT-NeoX's ``query_key_value``).

    The writers to the residual stream are the embedding, ``attn_out_proj`` and ``mlp_down_proj``
    (:attr:`writers`); :func:`interp.hooks.checks.check_sites` checks them all at load.
    """

    layers: str = "model.layers"
    attn: str = "self_attn"
    mlp: str = "mlp"
    mid: str = "post_attention_layernorm"
    attn_out_proj: str = "o_proj"
    mlp_down_proj: str = "down_proj"
    attn_post_norm: str | None = None
    mlp_post_norm: str | None = None
    embedding: str = "model.embed_tokens"
    embedding_scale: str = "1"
    final_norm: str = "model.norm"
    unembedding: str = "lm_head"
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

    @property
    def writers(self) -> tuple[str, ...]:
        """What writes to the residual stream: the embedding (from the top), then per block the
        attention output and MLP down projections (inside ``attn`` / ``mlp``)."""
        return (self.embedding, f"{self.attn}.{self.attn_out_proj}", f"{self.mlp}.{self.mlp_down_proj}")

    def embedding_multiplier(self, d_model: int) -> float:
        """The factor between an embedding row and what the stream gets."""
        return float(d_model) ** 0.5 if self.embedding_scale == "sqrt_d_model" else 1.0

    @property
    def post_norms(self) -> tuple[str, ...]:
        """The declared post-norms (empty for a pre-norm family)."""
        return tuple(p for p in (self.attn_post_norm, self.mlp_post_norm) if p is not None)

    def __post_init__(self) -> None:
        if isinstance(self.lora_targets, (list, str)):
            object.__setattr__(self, "lora_targets", (self.lora_targets,) if isinstance(self.lora_targets, str)
                               else tuple(self.lora_targets))
        if not self.lora_targets or not all(isinstance(t, str) and t and "." not in t for t in self.lora_targets):
            raise ValueError("ArchitectureMap.lora_targets must be module names like ('q_proj', 'v_proj'), got "
                             f"{self.lora_targets!r}")
        if self.embedding_scale not in EMBEDDING_SCALES:
            raise ValueError(f"ArchitectureMap.embedding_scale must be one of {EMBEDDING_SCALES}, got "
                             f"{self.embedding_scale!r}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("lora_targets", "embedding_scale") or (value is None and f.name in _OPTIONAL):
                continue
            if not isinstance(value, str) or not value or any(not p for p in value.split(".")):
                raise ValueError(f"ArchitectureMap.{f.name} must be a dotted module path like 'model.layers', "
                                 f"got {value!r}")


_OPTIONAL = ("attn_post_norm", "mlp_post_norm")
EMBEDDING_SCALES = ("1", "sqrt_d_model")

ARCHITECTURES: dict[str, ArchitectureMap] = {}
"""Declared families by ``config.model_type``."""


def register_architecture(model_type: str, arch: ArchitectureMap | None = None, *, replace: bool = False,
                          **fields: Any) -> ArchitectureMap:
    """Declare where ``model_type``'s modules are: an :class:`ArchitectureMap`, or its fields as keywords
    (the rest keep the Llama defaults). ``replace=True`` overrides an existing declaration."""
    if not isinstance(model_type, str) or not model_type:
        raise ValueError(f"model_type must be a non-empty string (a config.model_type), got {model_type!r}")
    if arch is not None and fields:
        raise TypeError("pass an ArchitectureMap or its fields as keywords, not both")
    if arch is None:
        arch = as_architecture(fields)
    if not isinstance(arch, ArchitectureMap):
        raise TypeError(f"arch must be an ArchitectureMap, got {type(arch).__name__}")
    if model_type in ARCHITECTURES and ARCHITECTURES[model_type] != arch and not replace:
        raise ValueError(f"model type {model_type!r} is already mapped ({ARCHITECTURES[model_type]}); "
                         "pass replace=True to override it")
    ARCHITECTURES[model_type] = arch
    return arch


def unregister_architecture(model_type: str) -> ArchitectureMap:
    """Remove a declaration (its models fall back to the name search)."""
    if model_type not in ARCHITECTURES:
        raise KeyError(f"model type {model_type!r} is not mapped; mapped: {', '.join(sorted(ARCHITECTURES))}")
    return ARCHITECTURES.pop(model_type)


def model_type_of(model: Any) -> str | None:
    config = getattr(model, "config", None)
    value = getattr(config, "model_type", None)
    return value if isinstance(value, str) else None


def architecture_of(model: Any) -> ArchitectureMap | None:
    """The map of ``model``: its own (``set_architecture``), else its family's declaration, else None
    (the name search applies)."""
    own = getattr(model, OWN_MAP, None)
    if isinstance(own, ArchitectureMap):
        return own
    model_type = model_type_of(model)
    return ARCHITECTURES.get(model_type) if model_type is not None else None


OWN_MAP = "interp_architecture"


def as_architecture(value: ArchitectureMap | Mapping[str, Any]) -> ArchitectureMap:
    """An :class:`ArchitectureMap`, or its fields as a mapping (the rest keep the Llama defaults)."""
    if isinstance(value, ArchitectureMap):
        return value
    known = {f.name for f in dataclasses.fields(ArchitectureMap)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise TypeError(f"unknown ArchitectureMap fields {unknown}; known: {sorted(known)}")
    return ArchitectureMap(**value)


def set_architecture(model: Any, arch: ArchitectureMap | Mapping[str, Any]) -> ArchitectureMap:
    """Give one loaded model its own map (a model nobody mapped, or a family mapped otherwise), ahead of
    its family's declaration; PEFT wrappers around it see it too."""
    arch = as_architecture(arch)
    setattr(model, OWN_MAP, arch)
    return arch


# ---- the declared families (checked on tiny random models of each in tests/test_registry_hooks.py) ----

_LLAMA = ArchitectureMap()
for _family in ("llama", "qwen2", "qwen3", "mistral"):
    register_architecture(_family, _LLAMA)
# Gemma (1): the Llama layout, its embedding rows scaled by sqrt(d_model) on the way in
register_architecture("gemma", embedding_scale="sqrt_d_model")
# Phi-3: the Llama layout with fused projections (one qkv_proj, one gate_up_proj)
register_architecture("phi3", lora_targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"))
# Gemma 2/3: a sandwich of norms; the MLP's input norm is pre_feedforward_layernorm, and a norm follows
# each of attention and the MLP before its residual add (in Llama, post_attention_layernorm is the
# pre-MLP norm: the post-norms are declared, never searched for).
# The embedding rows reach the stream times sqrt(d_model).
_POST_NORM = ArchitectureMap(attn_post_norm="post_attention_layernorm", mlp_post_norm="post_feedforward_layernorm")
_GEMMA = dataclasses.replace(_POST_NORM, mid="pre_feedforward_layernorm", embedding_scale="sqrt_d_model")
register_architecture("gemma2", _GEMMA)
register_architecture("gemma3_text", _GEMMA)
# OLMo 2: post-norm only; nothing sits in front of the MLP, whose input is resid_mid itself.
register_architecture("olmo2", dataclasses.replace(_POST_NORM, mid="mlp"))
register_architecture("gpt_neox", layers="gpt_neox.layers", attn="attention", attn_out_proj="dense",
                      mlp_down_proj="dense_4h_to_h", embedding="gpt_neox.embed_in",
                      final_norm="gpt_neox.final_layer_norm",
                      lora_targets=("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"))


def post_norm(model: Any, layer: nn.Module, part: Literal["attn", "mlp"]) -> tuple[str, nn.Module] | None:
    """The norm a block applies to attention's or the MLP's output before its residual add, and its
    path inside the block; None for a pre-norm family (or an unmapped one)."""
    arch = architecture_of(model)
    path = None if arch is None else (arch.attn_post_norm if part == "attn" else arch.mlp_post_norm)
    if path is None:
        return None
    mod = _get(layer, path)
    if mod is None:
        raise _mapped_error(model, f"{part}_post_norm", path, type(layer).__name__, "has no such norm")
    return path, mod


# ---- the name search for unmapped families (the lists interp used before the maps) ----------------

FALLBACK_NAMES: dict[str, tuple[str, ...]] = {
    "layers": ("layers", "h", "blocks"),
    "attn": ("self_attn", "attn", "attention", "self_attention"),
    "mlp": ("mlp", "feed_forward", "ffn"),
    "mid": ("pre_feedforward_layernorm", "post_attention_layernorm", "ln_2"),
    "attn_out_proj": ("o_proj", "out_proj", "dense", "c_proj"),
    "mlp_down_proj": ("down_proj", "fc2", "c_proj", "w2", "dense_4h_to_h"),
}
_WHAT = {"attn": "attention", "mlp": "MLP", "mid": "pre-MLP norm", "attn_out_proj": "attention output",
         "mlp_down_proj": "MLP down"}


def _n_layers(model: Any) -> int:
    return int(model.config.num_hidden_layers)


def _mapped_error(model: Any, field: str, path: str, inside: str, problem: str) -> ValueError:
    return ValueError(
        f"{type(model).__name__} (model_type {model_type_of(model)!r}) {problem}: its ArchitectureMap says "
        f"{field}={path!r} (inside {inside}). Fix the declaration: interp.hooks.register_architecture("
        f"{model_type_of(model)!r}, {field}=..., replace=True).")


def decoder_layers(model: Any) -> tuple[str, nn.ModuleList]:
    """The decoder's blocks and their path in ``model`` (``model.layers`` for Llama, ``gpt_neox.layers``...)."""
    arch = architecture_of(model)
    n = _n_layers(model)
    if arch is None:
        candidates = [
            (name, mod)
            for name, mod in model.named_modules()
            if isinstance(mod, nn.ModuleList) and len(mod) == n and name.split(".")[-1] in FALLBACK_NAMES["layers"]
        ]
        if not candidates:
            raise ValueError(f"Cannot find the {n} decoder layers of {type(model).__name__}; interp supports "
                             "decoder-only HF models (declare others with interp.hooks.register_architecture).")
        return min(candidates, key=lambda c: len(c[0]))
    path, layers = _from_top(model, "layers", arch.layers)
    if not isinstance(layers, nn.ModuleList) or len(layers) != n:
        raise _mapped_error(model, "layers", arch.layers, "the model",
                            f"has a {type(layers).__name__} there, not a ModuleList of its {n} layers")
    return path, layers


def _from_top(model: Any, field: str, path: str) -> tuple[str, nn.Module]:
    """The module a map's ``field`` names from the top of ``model``, or inside a wrapper (a PEFT model
    holds the causal LM under ``base_model.model``): the shortest path ending in it."""
    direct = _get(model, path)
    if direct is not None:
        return path, direct
    found = [(name, mod) for name, mod in model.named_modules() if name.endswith("." + path)]
    if not found:
        raise _mapped_error(model, field, path, "the model", "has no such module")
    return min(found, key=lambda c: len(c[0]))


def _get(module: nn.Module, path: str) -> nn.Module | None:
    try:
        return module.get_submodule(path)
    except AttributeError:
        return None


def block_part(model: Any, layer: nn.Module, part: Part) -> tuple[str, nn.Module]:
    """The attention, MLP or pre-MLP module of one decoder block, and its path inside the block."""
    arch = architecture_of(model)
    if arch is None:
        for name in FALLBACK_NAMES[part]:
            if hasattr(layer, name):
                return name, getattr(layer, name)
        raise ValueError(f"{type(layer).__name__} has no {_WHAT[part]} module (looked for {FALLBACK_NAMES[part]}).")
    path = getattr(arch, part)
    mod = _get(layer, path)
    if mod is None:
        raise _mapped_error(model, part, path, type(layer).__name__, f"has no {_WHAT[part]} module there")
    return path, mod


def writer_module(model: Any, module: nn.Module, which: Writer) -> nn.Module:
    """The module that applies a block's writer, for hooking its input: the ``nn.Linear`` of
    :func:`block_writer`, or the PEFT LoRA layer wrapping it (whose ``base_layer`` it is)."""
    arch = architecture_of(model)
    names = FALLBACK_NAMES[which] if arch is None else (getattr(arch, which),)
    for name in names:
        mod = _get(module, name)
        if isinstance(mod, nn.Linear) or isinstance(getattr(mod, "base_layer", None), nn.Linear):
            assert mod is not None
            return mod
    return block_writer(model, module, which)[1]  # raises, naming the declaration to fix


def block_writer(model: Any, module: nn.Module, which: Writer) -> tuple[str, nn.Linear]:
    """The linear layer of an attention (``attn_out_proj``) or MLP (``mlp_down_proj``) module that
    writes to the residual stream, and its path inside that module."""
    arch = architecture_of(model)
    if arch is None:
        for name in FALLBACK_NAMES[which]:
            mod = getattr(module, name, None)
            if isinstance(mod, nn.Linear):
                return name, mod
        raise ValueError(f"{type(module).__name__} has no {_WHAT[which]} linear layer (looked for "
                         f"{FALLBACK_NAMES[which]}).")
    path = getattr(arch, which)
    mod = _get(module, path)
    if not isinstance(mod, nn.Linear):
        found = "nothing" if mod is None else f"a {type(mod).__name__}"
        raise _mapped_error(model, which, path, type(module).__name__, f"has {found} there, not an nn.Linear")
    return path, mod


# ---- the modules around the blocks: embedding, final norm, unembedding ------------------------------

Top = Literal["embedding", "final_norm", "unembedding"]
_FINAL_NORMS = ("norm", "final_layer_norm", "ln_f", "final_layernorm", "final_norm")


def model_part(model: Any, part: Top) -> tuple[str, nn.Module]:
    """The token embedding, the final norm or the unembedding of ``model``, and its path (found as a
    suffix inside wrappers such as a PEFT model). Unmapped families: the model's own embedding
    getters, and a final norm next to the decoder's blocks under a common name."""
    arch = architecture_of(model)
    if arch is not None:
        return _from_top(model, part, getattr(arch, part))
    if part in ("embedding", "unembedding"):
        getter = getattr(model, "get_input_embeddings" if part == "embedding" else "get_output_embeddings", None)
        mod = getter() if callable(getter) else None
        if mod is None:
            raise ValueError(f"{type(model).__name__} has no {part} (declare it with interp.hooks.register_architecture)")
        return next((name for name, m in model.named_modules() if m is mod), part), mod
    layers_path, _ = decoder_layers(model)
    parent = layers_path.rpartition(".")[0]
    for name in _FINAL_NORMS:
        mod = _get(model, f"{parent}.{name}" if parent else name)
        if mod is not None:
            return (f"{parent}.{name}" if parent else name), mod
    raise ValueError(f"{type(model).__name__} has no final norm beside {layers_path} (looked for {_FINAL_NORMS}); "
                     "declare it: interp.hooks.register_architecture(..., final_norm=...)")


def lora_targets(model: Any) -> list[str]:
    """The family's LoRA target modules (``target_modules: family``)."""
    arch = architecture_of(model)
    if arch is None:
        raise ValueError(f"{type(model).__name__} (model_type {model_type_of(model)!r}) is not mapped, so it has no "
                         "family LoRA targets: name them (lora target_modules: [q_proj, v_proj, ...] or 'all-linear'), "
                         "or declare the family with interp.hooks.register_architecture(..., lora_targets=...)")
    return list(arch.lora_targets)
