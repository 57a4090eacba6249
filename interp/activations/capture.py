"""Capture activations of a model on a dataset into an on-disk store, streaming and resumable.

Only what was asked is kept: the chosen hook points, reduced to the chosen positions inside
the hook (on the model's device), cast to the storage dtype and copied to the host (pinned,
non-blocking, on a side stream when on CUDA). Batches are length-sorted to waste little on
padding; a writer thread turns full shards into safetensors files while the model computes, so
memory stays bounded by one shard whatever the number of tokens. A capture is keyed by its
inputs: the same inputs again is a cache hit, and an interrupted one resumes.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import save_file
from torch import Tensor
from tqdm.auto import tqdm

from interp.activations.examples import Example, as_examples, fit_context
from interp.activations.positions import POSITION_KINDS, PositionKind, batch_layout
from interp.activations.store import FORMAT, ActivationStore, StoreError, write_manifest
from interp.hooks import EXACT_BACKENDS, Backend, HookPoint, architecture_of, backend_for
from interp.io import cache_dir, canonical_hash, file_sha256
from interp.models.batching import right_pad
from interp.models.chat import Encoded
from interp.models.loading import LoadedModel, parse_dtype

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureConfig:
    """What to capture.

    Attributes:
        hooks: canonical hook names (``blocks.{L}.hook_resid_post``...).
        positions: one of ``last_prompt``, ``prompt_mean``, ``response_mean``, ``response_all``, ``all``.
        include_first: keep position 0 (the attention sink) in ``prompt_mean`` / ``all``.
        dtype: storage dtype (``float32``, ``bfloat16``, ``float16``).
        batch_size: examples per forward pass.
        shard_mb: flush a shard to disk when it reaches this size (bounds memory).
        max_tokens: refuse conversations longer than this (None: the model's context length).
        truncate: cut conversations longer than the limit to it instead of refusing them (the
            manifest counts them); off by default, since a cut response is another response.
        documents: capture each example's final assistant turn alone as plain text, on any model
            (no request, no chat template): a document, all of whose tokens are the response.
    """

    hooks: tuple[str, ...]
    positions: PositionKind = "response_mean"
    include_first: bool = False
    dtype: str = "float32"
    batch_size: int = 8
    shard_mb: float = 64.0
    max_tokens: int | None = None
    truncate: bool = False
    documents: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hooks", tuple(self.hooks))
        if not self.hooks:
            raise ValueError("CaptureConfig.hooks is empty; name at least one hook point.")
        for h in self.hooks:
            HookPoint.parse(h)
        if len(set(self.hooks)) != len(self.hooks):
            raise ValueError("CaptureConfig.hooks lists a hook twice.")
        if self.positions not in POSITION_KINDS:
            raise ValueError(f"positions must be one of {POSITION_KINDS}, got {self.positions!r}.")
        if self.documents and self.positions in ("last_prompt", "prompt_mean"):
            raise ValueError(f"documents have no prompt: positions {self.positions!r} reads one; use response_mean, "
                             "response_all or all (the document's tokens)")
        parse_dtype(self.dtype)
        if self.batch_size < 1 or self.shard_mb <= 0:
            raise ValueError("batch_size and shard_mb must be positive.")

    def identity(self) -> dict[str, Any]:
        """The fields that change what is stored (batch size and shard size do not)."""
        d = asdict(self)
        for k in ("batch_size", "shard_mb"):
            d.pop(k)
        for later in ("truncate", "documents"):  # stores captured before the options existed keep their keys
            if not d[later]:
                d.pop(later)
        d["hooks"] = sorted(self.hooks, key=HookPoint.parse)
        return d


@dataclass
class _Prepared:
    name: str
    fingerprint: str
    examples: list[Example]
    encoded: list[Encoded] = field(default_factory=list)


def _safe(name: str) -> str:
    """A dataset or checkpoint label as one path component."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def store_key(loaded: LoadedModel, dataset_fingerprint: str, config: CaptureConfig, backend: str = "hf") -> str:
    """The identity of a capture: checkpoint, chat formatting, compute dtype, dataset and config (and the
    backend, where it is not one of the exact ones)."""
    identity = {
        "format": FORMAT,
        "checkpoint": loaded.checkpoint.fingerprint,
        "system_prompt": loaded.chat.system_prompt,
        "compute_dtype": str(next(loaded.model.parameters()).dtype),
        "dataset": dataset_fingerprint,
        "config": config.identity(),
    }
    if loaded.lora_identity is not None:  # only then, so that keys of merged and plain models stay as they were
        identity["lora"] = loaded.lora_identity
    if loaded.chat.identity is not None:  # a chosen chat template (the model's own keeps the keys it had)
        identity["chat"] = loaded.chat.identity
    if backend not in EXACT_BACKENDS:  # a backend that computes its own forward (TransformerLens's bridge)
        identity["backend"] = backend
    arch = architecture_of(loaded.model)
    if arch is not None and arch.post_norms and any(HookPoint.parse(h).kind in ("attn_out", "mlp_out")
                                                    for h in config.hooks):
        identity["sites"] = "after-post-norm"  # attn_out / mlp_out there read the norms' outputs (they once did not)
    return canonical_hash(identity)


class _HostCopier:
    """Moves reduced activations to host memory; on CUDA through pinned buffers on a side stream."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None

    def __call__(self, x: Tensor) -> Tensor:
        if self.stream is None:
            return x
        ready = torch.cuda.Event()
        ready.record()
        out = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
        with torch.cuda.stream(self.stream):
            self.stream.wait_event(ready)
            out.copy_(x, non_blocking=True)
            x.record_stream(self.stream)
        return out

    def wait(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()


class _ShardWriter:
    """A thread that writes shards atomically and appends them to the manifest, in order."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path, self.manifest = path, manifest
        self.queue: queue.Queue[tuple[str, dict[str, Tensor]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="interp-shard-writer", daemon=True)
        self.thread.start()

    def put(self, name: str, tensors: dict[str, Tensor]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((name, tensors))

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is not None:
                continue
            name, tensors = item
            try:
                tmp = self.path / f".{name}.tmp"
                save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
                os.replace(tmp, self.path / name)
                n_examples = len(set(tensors["example"].tolist()))
                self.manifest["shards"].append({"file": name, "rows": int(tensors["example"].numel()),
                                                "examples": n_examples, "sha256": file_sha256(self.path / name)})
                write_manifest(self.path, self.manifest)
            except BaseException as err:  # surfaced to the capture loop on the next put/close
                self.error = err

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def capture(
    model: LoadedModel | Backend,
    dataset: Iterable[Any],
    config: CaptureConfig,
    root: str | Path | None = None,
    *,
    progress: bool = True,
) -> ActivationStore:
    """Capture ``config.hooks`` at ``config.positions`` for every example of ``dataset``.

    Returns the store (a cache hit returns at once). ``root`` defaults to
    ``$INTERP_CACHE/activations``; the store directory is named by dataset, checkpoint and key.
    """
    backend = backend_for(model)
    loaded = backend.loaded
    for h in config.hooks:
        HookPoint.parse(h, loaded.n_layers)
    name, fingerprint, examples = as_examples(dataset)
    key = store_key(loaded, fingerprint, config, backend.name)
    path = Path(root) if root is not None else cache_dir() / "activations"
    path = path / _safe(f"{name}-{loaded.checkpoint.name}-{key}")
    if (path / "manifest.json").is_file():
        store = ActivationStore(path)
        if store.manifest.get("key") != key:
            raise StoreError(f"{path} holds another capture (key {store.manifest.get('key')}, expected {key}).")
        try:
            store.verify()
        except StoreError as e:  # a damaged cache entry is not a hit: capture it again
            log.warning("%s; capturing it again", e)
            shutil.rmtree(path)
        else:
            if store.complete:
                log.info("Cache hit: %s", path)
                return store
    encode = loaded.chat.encode_document if config.documents else loaded.chat.encode
    encoded, n_cut = fit_context([encode(e.messages) for e in examples], examples, loaded, config)
    if config.positions.startswith("response"):
        silent = [examples[i].id for i, e in enumerate(encoded) if not any(e.response_mask)]
        if silent:
            raise ValueError(f"{len(silent)} conversations have no response tokens to read at positions="
                             f"{config.positions!r} (first: {silent[:3]}): end each with an assistant turn, or "
                             "capture positions='last_prompt' / 'prompt_mean'.")
    manifest = _open_store(path, key, loaded, name, fingerprint, examples, encoded, config, backend.name)
    manifest["truncated"] = n_cut
    store = ActivationStore(path)
    done = store.done_examples()
    todo = sorted((i for i in range(len(examples)) if i not in done), key=lambda i: -len(encoded[i]))
    if done:
        log.info("Resuming %s: %d of %d examples already stored", path.name, len(done), len(examples))
    started = time.perf_counter()
    _run_capture(backend, encoded, todo, config, path, manifest, progress, initial=len(done), total=len(examples))
    manifest["complete"] = True
    manifest["seconds"] = manifest.get("seconds", 0.0) + time.perf_counter() - started
    write_manifest(path, manifest)
    return ActivationStore(path)


def _open_store(
    path: Path,
    key: str,
    loaded: LoadedModel,
    name: str,
    fingerprint: str,
    examples: Sequence[Example],
    encoded: Sequence[Encoded],
    config: CaptureConfig,
    backend: str = "hf",
) -> dict[str, Any]:
    if (path / "manifest.json").is_file():
        return dict(ActivationStore(path).manifest)
    import transformers

    import interp

    path.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "index": range(len(examples)),
            "id": [e.id for e in examples],
            "label": pd.array([e.label for e in examples], dtype="Int64"),
            "group": [e.group for e in examples],
            "n_tokens": [len(e) for e in encoded],
            "prompt_len": [e.prompt_len for e in encoded],
            "n_response": [sum(e.response_mask) for e in encoded],
        }
    )
    tmp = path / f".{os.getpid()}.examples.parquet"
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path / "examples.parquet")
    examples_sha256 = file_sha256(path / "examples.parquet")
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "key": key,
        "checkpoint": loaded.checkpoint.describe(),
        "system_prompt": loaded.chat.system_prompt,
        "compute_dtype": str(next(loaded.model.parameters()).dtype),
        "lora": loaded.lora_identity,
        "backend": backend,
        "chat": {"format": loaded.chat.describe, "identity": loaded.chat.identity,
                 "separator": loaded.chat.separator if loaded.chat.plain else None},
        "dataset": {"name": name, "fingerprint": fingerprint, "n_examples": len(examples)},
        "hooks": sorted(config.hooks, key=HookPoint.parse),
        "positions": config.positions,
        "include_first": config.include_first,
        "dtype": config.dtype,
        "d_model": loaded.d_model,
        "config": asdict(config),
        "versions": {"interp": interp.__version__, "torch": torch.__version__, "transformers": transformers.__version__},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "examples_sha256": examples_sha256,
        "shards": [],
        "complete": False,
    }
    write_manifest(path, manifest)
    return manifest


def _run_capture(
    backend: Backend,
    encoded: Sequence[Encoded],
    todo: list[int],
    config: CaptureConfig,
    path: Path,
    manifest: dict[str, Any],
    progress: bool,
    initial: int,
    total: int,
) -> None:
    device = backend.device
    store_dtype = parse_dtype(config.dtype)
    pad_id = backend.loaded.tokenizer.pad_token_id or 0
    copier = _HostCopier(device)
    writer = _ShardWriter(path, manifest)
    shard_limit = int(config.shard_mb * 2**20)
    pending: dict[str, list[Tensor]] = {}
    pending_bytes = 0
    shard_no = len(manifest["shards"])
    bar = tqdm(total=total, initial=initial, unit="ex", desc=f"capture {path.name[:40]}", disable=not progress or None)

    def flush() -> None:
        nonlocal pending, pending_bytes, shard_no
        if not pending:
            return
        copier.wait()
        writer.put(f"shard-{shard_no:05d}.safetensors", {k: torch.cat(v) for k, v in pending.items()})
        shard_no += 1
        pending, pending_bytes = {}, 0

    try:
        for start in range(0, len(todo), config.batch_size):
            idx = todo[start : start + config.batch_size]
            batch = right_pad([encoded[i] for i in idx], pad_id)
            ids = batch.input_ids.to(device, non_blocking=True)
            attn = batch.attention_mask.to(device, non_blocking=True)
            layout = batch_layout(config.positions, attn, batch.response_mask, batch.prompt_lens, torch.tensor(idx), config.include_first)
            reducers = {h: (lambda x, lay=layout: copier(lay.reduce(x).to(store_dtype))) for h in config.hooks}
            result = backend.run(ids, attn, capture=reducers, return_logits=False)
            for h in config.hooks:
                pending.setdefault(h, []).append(result.activations[h])
            pending.setdefault("example", []).append(layout.rows_example)
            pending.setdefault("position", []).append(layout.rows_position)
            pending_bytes += sum(result.activations[h].numel() * result.activations[h].element_size() for h in config.hooks)
            if pending_bytes >= shard_limit:
                flush()
            bar.update(len(idx))
        flush()
    finally:
        bar.close()
        writer.close()
