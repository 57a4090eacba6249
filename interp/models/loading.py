"""Load a checkpoint for study: one call for the embedded model, HF directories, LoRA adapters and GGUF.

GGUF files (the embedded model is one) are dequantised by transformers once and cached as
safetensors under ``$INTERP_CACHE/models/<name>-<sha>``, so the slow conversion happens a
single time per file. Nothing here touches the network: every ``from_pretrained`` is
``local_files_only``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from interp.io import atomic_directory, cache_dir
from interp.models.chat import ChatFormat, SystemPrompt, resolve_template
from interp.models.checkpoint import Checkpoint, CheckpointError, resolve_checkpoint
from interp.models.usage import counted_load

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    """A model ready for study: the torch module, its tokenizer, its identity and chat format."""

    model: PreTrainedModel
    tokenizer: Any
    checkpoint: Checkpoint
    chat: ChatFormat
    #: the directory holding the (base) model's config and weights on disk
    source_dir: Path
    #: the hook backend a study runs this model through (:func:`interp.hooks.backends.backend_for`)
    backend: str = "hf"

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def context_length(self) -> int | None:
        """The most tokens one forward pass may hold (the config's position limit), None when it states none."""
        return context_length(self.model.config)

    def check_fits(self, lengths: Sequence[int], what: str, *, names: Sequence[str] | None = None, reserve: int = 0,
                   fix: str = "Shorten them.") -> None:
        """:func:`check_fits` against this model's context."""
        check_fits(lengths, self.context_length, what, names=names, reserve=reserve, fix=fix)

    @property
    def lora_identity(self) -> str | None:
        """How the LoRA layers run, for cache keys (numerically a different function from the merged
        weights in bf16): None (merged, or no adapter), ``"unmerged"`` (computed in float32) or
        ``"unmerged:<dtype>"`` (an ``adapter_dtype`` other than float32)."""
        for m in self.model.modules():
            if hasattr(m, "lora_A"):
                weights = list(m.lora_A.parameters())
                if weights and weights[0].dtype != torch.float32:
                    return f"unmerged:{str(weights[0].dtype).removeprefix('torch.')}"
                return "unmerged"
        return None


def context_length(config: Any) -> int | None:
    """A transformers config's position limit (``max_position_embeddings`` or its older names), None if absent."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_fits(lengths: Sequence[int], limit: int | None, what: str, *, names: Sequence[str] | None = None,
               reserve: int = 0, fix: str = "Shorten them.") -> None:
    """Refuse, before a forward pass, sequences longer than the context ``limit`` (``reserve``: tokens still to
    generate after each): nothing would cut them, and they would read positions the model never learned."""
    long = [i for i, n in enumerate(lengths) if limit is not None and n + reserve > limit]
    if long:
        first = long[0]
        name = repr(names[first]) if names is not None else f"number {first}"
        room = f" less the {reserve} tokens to generate" if reserve else ""
        raise ValueError(f"{len(long)} {what} do not fit the model's context ({limit} tokens{room}): the first, "
                         f"{name}, has {lengths[first]} tokens. {fix}")


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}.")
    return _DTYPES[dtype]


def gguf_to_safetensors(gguf: Path) -> Path:
    """Dequantise a GGUF file to a cached safetensors model directory (once per file)."""
    from interp.io import file_sha256

    if importlib.util.find_spec("gguf") is None:
        raise CheckpointError(f"Loading {gguf.name} needs the 'gguf' package: pip install gguf")
    target = cache_dir() / "models" / f"{gguf.stem}-{file_sha256(gguf)[:16]}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("Dequantising %s to float32 safetensors in %s (one time, ~35 s)", gguf.name, target)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                     local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    except (struct.error, EOFError, IndexError, ValueError) as e:
        raise CheckpointError(f"{gguf} is truncated or damaged; it cannot be read as GGUF ({e}). Copy or download "
                              "it again.") from None
    # save_pretrained refuses a GGUF-loaded model until the quantizer is detached.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_directory(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        # Reload the tokenizer transformers built from the GGUF as it is (tokenizer.json), not through the
        # family's class, which rebuilds its own pre-tokenizer (a Gemma class splits a byte-level vocabulary
        # on spaces and loses most of its tokens).
        config_path = tmp / "tokenizer_config.json"
        tokenizer_config = json.loads(config_path.read_text())
        tokenizer_config["tokenizer_class"] = "TokenizersBackend"
        config_path.write_text(json.dumps(tokenizer_config, indent=2, ensure_ascii=False))
    return target


def _weights_dir(checkpoint: Checkpoint) -> Path:
    if checkpoint.kind in ("embedded", "gguf"):
        return gguf_to_safetensors(checkpoint.path)
    return checkpoint.path


@counted_load
def load_model(
    spec: str | Path | Checkpoint,
    *,
    base: str | Path | Checkpoint | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype = "float32",
    device_map: str | dict[str, Any] | None = None,
    merge_lora: bool = True,
    system_prompt: SystemPrompt = "default",
    adapter_dtype: str | torch.dtype | None = None,
    chat_template: str | Path | None = None,
    chat_separator: str | None = None,
    architecture: Any = None,
) -> LoadedModel:
    """Load any supported checkpoint for study.

    Args:
        spec: ``"smollm2-135m-instruct"``, a model directory, a LoRA adapter directory or a GGUF file.
        base: the base of a LoRA adapter when its adapter_config does not name a local one.
        device: where to put the model (default: CUDA if available, else CPU); ignored with ``device_map``.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device_map: passed to ``from_pretrained`` (``"auto"`` shards a 70B model over GPUs).
        merge_lora: merge an adapter into the base weights (faster forward and generation).
        system_prompt: ``"default"`` (the chat template's), a string, or ``None`` to remove it.
        adapter_dtype: with ``merge_lora=False``, the dtype the LoRA layers compute in (None:
            float32, peft's default); see :class:`~interp.models.pool.ModelPool`.
        chat_template: how conversations become text (:class:`~interp.models.chat.ChatFormat`):
            None, the tokenizer's template or plain text for a tokenizer without one (a base
            model); ``"plain"``; or a Jinja template string or file.
        chat_separator: with plain text, between a prompt and its response (default a newline).
        architecture: where this model keeps its modules, an
            :class:`~interp.hooks.architectures.ArchitectureMap` or its fields as a dict, ahead of
            its family's declaration (for a model nobody mapped). Whatever the map, the sites are
            checked once here (:func:`~interp.hooks.checks.check_sites`): a wrong map is an error.
    """
    from transformers import AutoModelForCausalLM

    chat_template = resolve_template(chat_template)  # a bad template or file fails before any weight loads
    if adapter_dtype is not None and merge_lora:
        raise ValueError("adapter_dtype applies to unmerged LoRA layers: pass merge_lora=False with it")

    checkpoint = resolve_checkpoint(spec, base)
    torch_dtype = parse_dtype(dtype)
    model_dir = _weights_dir(checkpoint.base if checkpoint.kind == "lora" and checkpoint.base else checkpoint)
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, **kwargs)
    except OSError as err:
        raise CheckpointError(f"Could not load a model from {model_dir}: {err}") from err
    from interp.hooks.architectures import set_architecture
    from interp.hooks.checks import check_sites

    if architecture is not None:
        set_architecture(model, architecture)
    if checkpoint.kind == "lora":
        model = _attach_adapter(model, checkpoint, merge_lora)
        if adapter_dtype is not None:
            cast_adapter(model, "default", parse_dtype(adapter_dtype))
    if device_map is None:
        model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    contiguous_head_input(model)
    if torch_dtype == torch.bfloat16 and next(model.parameters()).device.type == "cpu":
        _check_cpu_bf16()
    tokenizer = _tokenizer(model_dir)
    chat = ChatFormat(tokenizer, system_prompt, chat_template, chat_separator)
    loaded = LoadedModel(model, tokenizer, checkpoint, chat, model_dir)
    check_sites(loaded)  # a model whose map is wrong fails here, naming the module and the fix
    return loaded


def contiguous_head_input(model: nn.Module) -> None:
    """Hand the unembedding a contiguous input. A forward that keeps the logits of the last position
    only (``logits_to_keep=1``: generation's prefill, a shared prefix) gives it a strided slice
    ``[batch, 1, d]``; on a frozen weight (``requires_grad=False``, as in every PEFT model), torch's
    matmul then copies the whole weight once per row (``bmm`` on an expanded copy) instead of one
    ``mm``, a cost that grows with the vocabulary. The copy made here is ``batch x d`` values."""
    getter = getattr(model, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    if isinstance(head, nn.Module):
        head.register_forward_pre_hook(_contiguous_first)


def _contiguous_first(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
        return (args[0].contiguous(), *args[1:])
    return None


def native_bf16(device: str | None = None) -> bool:
    """Whether ``device`` (None: CUDA when present, else the CPU) computes bfloat16 natively: a CUDA device
    with bf16, a CPU with AVX512-BF16 or AMX. Elsewhere bf16 is emulated, and slower than float32."""
    kind = torch.device(device).type if device else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return bool(kind == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@functools.cache
def _check_cpu_bf16() -> None:
    """bfloat16 on a CPU without native bf16 arithmetic (AVX512-BF16 or AMX) is emulated: warn once."""
    if not native_bf16("cpu"):
        log.warning("this CPU has no native bfloat16 arithmetic: a bfloat16 model runs slower here than in "
                    "float32 (set dtype: float32, or precision: auto in a config)")


def _tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_chat(spec: str | Path | Checkpoint, base: str | Path | Checkpoint | None = None,
              system_prompt: SystemPrompt = "default", chat_template: str | Path | None = None,
              chat_separator: str | None = None) -> ChatFormat:
    """The chat format (tokenizer and template) of a checkpoint, read without loading a weight."""
    checkpoint = resolve_checkpoint(spec, base)
    tokenizer = _tokenizer(_weights_dir(checkpoint.base if checkpoint.kind == "lora" and checkpoint.base else checkpoint))
    return ChatFormat(tokenizer, system_prompt, chat_template, chat_separator)


def _attach_adapter(model: nn.Module, checkpoint: Checkpoint, merge: bool) -> nn.Module:
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(model, checkpoint.path, is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as err:
        base_name = checkpoint.base.name if checkpoint.base else "?"
        raise CheckpointError(
            f"Adapter {checkpoint.path} does not fit base {base_name}: {str(err).splitlines()[0]}. "
            "Pass the base model it was trained on (base=...)."
        ) from err
    return peft_model.merge_and_unload() if merge else peft_model


def cast_adapter(model: nn.Module, adapter: str, dtype: torch.dtype) -> None:
    """Cast the weights of one attached (unmerged) LoRA adapter to ``dtype``, in place."""
    for module in model.modules():
        for name in ("lora_A", "lora_B"):
            part = getattr(module, name, None)
            if isinstance(part, nn.ModuleDict) and adapter in part:
                part[adapter].to(dtype)


def model_config(spec: str | Path | Checkpoint, base: str | Path | Checkpoint | None = None) -> Any:
    """The transformers config of a checkpoint (of its base, for an adapter), read without loading a weight."""
    from transformers import AutoConfig

    checkpoint = resolve_checkpoint(spec, base)
    source = checkpoint.base if checkpoint.kind == "lora" and checkpoint.base else checkpoint
    return AutoConfig.from_pretrained(_weights_dir(source), local_files_only=True)


def check_adapter_fits(checkpoint: Checkpoint) -> None:
    """Refuse, before loading any weight, a LoRA adapter whose matrices do not fit its base's modules.

    The base is built on the meta device from its config (no memory, no weights) and every LoRA
    matrix of ``adapter_model.safetensors`` is compared with the module it adapts: an adapter
    trained on another base (another width, other module names) is named with the first module
    that does not fit, instead of failing later inside peft.
    """
    if checkpoint.kind != "lora" or checkpoint.base is None:
        return
    weights = checkpoint.path / "adapter_model.safetensors"
    if not weights.is_file():
        return  # peft's .bin adapters are refused when loaded (no pickle), with their own message
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        base = AutoModelForCausalLM.from_config(model_config(checkpoint.base))
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is no mapping)
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            module_path = key.split(".lora_")[0].removeprefix("base_model.model.")
            try:
                module = base.get_submodule(module_path)
            except AttributeError:
                raise CheckpointError(f"Adapter {checkpoint.path} adapts {module_path}, which its base "
                                      f"{checkpoint.base.name} does not have: it was trained on another model; "
                                      "give the base it was trained on (model: or base=...)") from None
            shape = f.get_slice(key).get_shape()
            want, got = (getattr(module, "in_features", None), shape[1]) if ".lora_A." in key else (
                getattr(module, "out_features", None), shape[0])
            if want is not None and want != got:
                raise CheckpointError(f"Adapter {checkpoint.path}: its LoRA matrix for {module_path} has width {got}, "
                                      f"the base {checkpoint.base.name} has {want} there: it was trained on another "
                                      "model; give the base it was trained on (model: or base=...)")
