"""Many LoRA checkpoints of one base, loaded once: the base stays in memory and adapters are swapped.

A study of a 70B organism and its "after" adapters reloads the same base for every checkpoint
when it calls :func:`~interp.models.load_model` in a loop (minutes each). A :class:`ModelPool`
loads the base once, attaches each adapter once into one PEFT model (unmerged LoRA), and
switches between them with ``set_adapter``: switching is instant and exact, since no base
weight is ever modified. A request for the base itself disables the adapter layers (what
peft's ``disable_adapter()`` does, made persistent), which gives exactly the base's outputs
for LoRA adapters without trained biases (``bias="none"``, the default). A request for a
different base evicts everything and loads it.

What ``get`` returns is a :class:`~interp.models.LoadedModel` like ``load_model``'s: its
``model`` is the Hugging Face CausalLM itself (peft's LoRA layers sit inside its linear
modules; the decoder layers the hook backends hook are untouched), its ``checkpoint`` is the
requested checkpoint (an adapter's own fingerprint, so caches never mix checkpoints), and the
base is loaded by ``load_model`` itself, so ``device``, ``dtype`` and ``device_map`` mean
exactly what they mean there.

All LoadedModels of a pool share one torch module, so only the one returned by the latest
``get`` is live: the others are *switched out* and raise :class:`StaleModelError` when their
model is used (call ``pool.get(spec)`` again; it is instant). A backend built on a LoadedModel
keeps the module itself and is not guarded: build backends after ``get``, not across ``get``s.

Numerics: in float32 the pooled (unmerged) logits equal ``load_model``'s (merged) ones to
float rounding. In bfloat16 and float16 they differ by more: merging rounds ``W + scale * B @ A``
to bf16 once, while the unmerged path adds the LoRA term (computed in float32, peft's
``autocast_adapter_dtype``) to a bf16 matmul. Both are legitimate readings of the checkpoint;
compare like with like (``load_model(..., merge_lora=False)`` is the unmerged reference, and the
pool equals it bit for bit), and never mix pooled and ``load_model`` captures of one checkpoint in
a bf16 analysis: their cache keys are the same (the capture and generation caches do not record
merged vs unmerged). Unmerged LoRA also makes each forward a little slower (one extra low-rank
matmul per adapted linear). The sizes of these differences are in docs/MEASUREMENTS.md.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any, NoReturn

import torch

from interp.models.chat import SystemPrompt
from interp.models.checkpoint import Checkpoint, CheckpointError, resolve_checkpoint
from interp.models.loading import LoadedModel, cast_adapter, load_model, parse_dtype

log = logging.getLogger(__name__)


class StaleModelError(RuntimeError):
    """A LoadedModel from a :class:`ModelPool` was used after a later ``get`` switched it out."""


class _SwitchedOut:
    """Stands in for the model of a LoadedModel whose adapter is no longer the active one."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self._name = checkpoint.name

    def _raise(self) -> NoReturn:
        raise StaleModelError(
            f"The model of {self._name!r} was switched out of its ModelPool by a later pool.get(); "
            f"call pool.get(...) for {self._name!r} again (switching is instant)."
        )

    def __getattr__(self, attr: str) -> NoReturn:
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._raise()

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        self._raise()

    def __repr__(self) -> str:
        return f"<switched out: {self._name}>"


class ModelPool:
    """Holds one base model and any number of its LoRA adapters; ``get`` switches between them.

    Args:
        device: where to put the base (default: CUDA if available, else CPU); ignored with ``device_map``.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (as in ``load_model``).
        device_map: passed to ``from_pretrained`` (``"auto"`` shards a 70B base over GPUs).
        system_prompt: the chat format's system prompt for every model of the pool.
        max_adapters: how many adapters stay attached at once (None: all). Attaching one more
            deletes the least recently used adapter that is not live (its LoadedModel is switched
            out; a later ``get`` attaches it again from disk). Each attached LoRA adapter costs
            its own weights in device memory: about 0.2 GB for rank 32 on an 8B model in bf16,
            about 0.8 GB on a 70B one (arithmetic, not measured).
        adapter_dtype: the dtype the LoRA layers compute in (None: float32, peft's
            ``autocast_adapter_dtype``). ``"bfloat16"`` beside a bf16 base skips the casts to and
            from float32 around every adapted linear: a faster forward, with the LoRA term rounded
            to bf16 (caches key on it). As in ``load_model(..., merge_lora=False, adapter_dtype=...)``.
        chat_template, chat_separator: how conversations become text, as in ``load_model``.

    Example::

        pool = ModelPool(dtype="bfloat16", device_map="auto")
        for ckpt in list_run_checkpoints(root):
            lm = pool.get(ckpt.path)          # the base is loaded on the first call only
            store = capture(lm, dataset, config)
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype = "float32",
        device_map: str | dict[str, Any] | None = None,
        system_prompt: SystemPrompt = "default",
        max_adapters: int | None = None,
        adapter_dtype: str | torch.dtype | None = None,
        chat_template: str | None = None,
        chat_separator: str | None = None,
    ) -> None:
        if max_adapters is not None and max_adapters < 1:
            raise ValueError(f"max_adapters must be >= 1 or None (no limit), got {max_adapters}")
        self.max_adapters = max_adapters
        self.adapter_dtype = parse_dtype(adapter_dtype) if adapter_dtype is not None else None
        self.device = device
        self.dtype = dtype
        self.device_map = device_map
        self.system_prompt = system_prompt
        self.chat_template = chat_template
        self.chat_separator = chat_separator
        #: how many times a base model was loaded from disk (for logs and tests)
        self.base_loads = 0
        self._base: LoadedModel | None = None  # internal; never handed out, so never switched out
        self._peft: Any = None  # peft.PeftModel around the base, once an adapter is attached
        self._adapter_names: dict[Checkpoint, str] = {}  # in order of last use (least recent first)
        self._attached = 0  # adapters attached so far, for unique peft adapter names
        self._handles: dict[Checkpoint, LoadedModel] = {}
        self._live: Checkpoint | None = None
        self._adapters_enabled = True  # peft's state: LoRA layers on (an adapter) or off (the base)

    @property
    def base(self) -> Checkpoint | None:
        """The base checkpoint held now, if any."""
        return self._base.checkpoint if self._base is not None else None

    @property
    def adapters(self) -> list[Checkpoint]:
        """The adapters attached to the held base, least recently used first."""
        return list(self._adapter_names)

    def get(
        self, spec: str | Path | Checkpoint, *, base: str | Path | Checkpoint | None = None
    ) -> LoadedModel:
        """The model for ``spec`` (anything ``load_model`` accepts), made live; a matching base is reused.

        Args:
            spec: a model name, model directory, LoRA adapter directory, GGUF file or Checkpoint.
            base: the base of a LoRA adapter when its adapter_config does not name a local one.
        """
        checkpoint = resolve_checkpoint(spec, base)
        base_ckpt = checkpoint.base if checkpoint.kind == "lora" else checkpoint
        if base_ckpt is None:  # resolve_checkpoint always gives an adapter its base
            raise CheckpointError(f"Adapter {checkpoint.path} has no base; pass base=...")
        if self._base is None or self._base.checkpoint != base_ckpt:
            self.evict()
            self._base = self._load_base(base_ckpt)
        if checkpoint.kind == "lora":
            self._activate(checkpoint)
        elif self._peft is not None and self._adapters_enabled:
            self._peft.base_model.disable_adapter_layers()
            self._adapters_enabled = False
        return self._make_live(checkpoint)

    def evict(self) -> None:
        """Drop the base and its adapters (every LoadedModel of the pool is switched out)."""
        if self._base is None:
            return
        name, n = self._base.checkpoint.name, len(self._adapter_names)
        log.info("Evicting %s and %d adapter(s) from the model pool", name, n)
        for ckpt, handle in self._handles.items():
            handle.model = _SwitchedOut(ckpt)
        self._base = self._peft = self._live = None
        self._adapters_enabled = True
        self._adapter_names.clear()
        self._handles.clear()
        self._attached = 0
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _load_base(self, checkpoint: Checkpoint) -> LoadedModel:
        log.info("Loading base %s into the model pool", checkpoint.name)
        self.base_loads += 1
        return load_model(
            checkpoint,
            device=self.device,
            dtype=self.dtype,
            device_map=self.device_map,
            system_prompt=self.system_prompt,
            chat_template=self.chat_template,
            chat_separator=self.chat_separator,
        )

    def _activate(self, checkpoint: Checkpoint) -> None:
        """Attach ``checkpoint``'s adapter (once) and make it the only active one."""
        from peft import PeftModel

        assert self._base is not None
        name = self._adapter_names.pop(checkpoint, None)
        if name is None:
            self._make_room()
            name = f"adapter_{self._attached}"  # ModuleDict keys: no dots, so not the path
            self._attached += 1
            try:
                if self._peft is None:
                    self._peft = PeftModel.from_pretrained(
                        self._base.model, checkpoint.path, adapter_name=name, is_trainable=False
                    )
                else:
                    self._peft.load_adapter(checkpoint.path, adapter_name=name, is_trainable=False)
            except (RuntimeError, ValueError, KeyError) as err:
                raise CheckpointError(
                    f"Adapter {checkpoint.path} does not fit base {self._base.checkpoint.name}: "
                    f"{str(err).splitlines()[0]}. Pass the base model it was trained on (base=...)."
                ) from err
            self._peft.eval()
            if self.adapter_dtype is not None:
                cast_adapter(self._peft, name, self.adapter_dtype)
            log.info("Attached adapter %s as %s", checkpoint.name, name)
        self._adapter_names[checkpoint] = name  # now the most recently used
        if not self._adapters_enabled:  # each of these walks every module: skip when not needed
            self._peft.base_model.enable_adapter_layers()
            self._adapters_enabled = True
        self._peft.set_adapter(name, inference_mode=True)

    def _make_room(self) -> None:
        """Delete least recently used adapters (never the live one) until one more fits ``max_adapters``."""
        if self.max_adapters is None:
            return
        for ckpt in list(self._adapter_names):
            if len(self._adapter_names) < self.max_adapters:
                return
            if ckpt == self._live:
                continue
            name = self._adapter_names.pop(ckpt)
            self._peft.delete_adapter(name)
            handle = self._handles.pop(ckpt, None)
            if handle is not None:
                handle.model = _SwitchedOut(ckpt)
            log.info("Deleted adapter %s (%s) from the model pool: max_adapters=%d", ckpt.name, name, self.max_adapters)

    def _make_live(self, checkpoint: Checkpoint) -> LoadedModel:
        assert self._base is not None
        # peft injects its LoRA layers into the base module in place: one module for every handle.
        model = self._base.model
        if self._live is not None and self._live != checkpoint and self._live in self._handles:
            self._handles[self._live].model = _SwitchedOut(self._live)
        handle = self._handles.get(checkpoint)
        if handle is None:
            base = self._base
            handle = LoadedModel(model, base.tokenizer, checkpoint, base.chat, base.source_dir)
            self._handles[checkpoint] = handle
        handle.model = model
        self._live = checkpoint
        return handle
