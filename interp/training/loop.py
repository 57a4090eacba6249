"""The epoch loop every trainer shares: LoRA set-up, run keys, checkpoints, resume and trajectory.

A run is keyed by its inputs (init and base fingerprints, data fingerprints, config, loss
settings). Layout of one run::

    adapter_dir/                 final adapter (PEFT files + interp_base.json), then
                                 interp_train.json last (the "finished" marker, with the key)
    checkpoints_dir/epoch{N}/    adapter after epoch N (epoch0 = the init, before training)
    checkpoints_dir/.train-state/  trainable weights + AdamW state of the last finished epoch
                                 (removed when the run finishes; adapter_dir/.train-state
                                 without a checkpoints_dir)
    trajectory_path              one JSON line per epoch: epoch, loss, seconds, key, checkpoint,
                                 and whatever ``on_epoch`` returned

A finished run with the same key is skipped; a different finished run in the same directory is
an error (never silently overwritten); an interrupted run resumes after its last finished epoch
with the same data order, dropout and optimiser state as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from tqdm.auto import tqdm

from interp.hooks.architectures import lora_targets
from interp.io import (
    atomic_write_json,
    canonical_hash,
    file_sha256,
    first_damaged,
    read_json,
)
from interp.models.checkpoint import (
    BASE_RECORD,
    EMBEDDED_NAME,
    Checkpoint,
    resolve_checkpoint,
)
from interp.models.loading import LoadedModel, load_model
from interp.training.config import FAMILY_TARGETS, TrainConfig, TrainingError, TrainResult
from interp.training.during import DuringTraining
from interp.training.state import RunState, Trajectory, publish_adapter, save_adapter, trainable

log = logging.getLogger(__name__)

MANIFEST = "interp_train.json"
STATE_DIR = ".train-state"
#: the files of a trained adapter (peft's two and the record of its base)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", BASE_RECORD)
KEY_VERSION = 1

class Example(Protocol):
    """A training example: its record's id and the tokens of its (longest) forward pass."""

    @property
    def id(self) -> str: ...

    def __len__(self) -> int: ...


E = TypeVar("E", bound=Example)
OnEpoch = Callable[[int, Path], dict[str, Any]]
Collate = Callable[[Sequence[E], int], dict[str, torch.Tensor]]
#: (model, batch) -> (sum of per-token losses, number of tokens it is summed over)
LossFn = Callable[[Any, dict[str, torch.Tensor]], tuple[torch.Tensor, int]]


@dataclass
class Prepared:
    """A PEFT model ready to train, with the checkpoints it came from."""

    peft_model: Any
    loaded: LoadedModel  # tokenizer and chat format of the base
    init: Checkpoint
    base: Checkpoint


def resolve_init(init: str | Path | Checkpoint, base: str | Path | Checkpoint | None) -> tuple[Checkpoint, Checkpoint]:
    """(init checkpoint, base of the adapter that training produces)."""
    init_ckpt = resolve_checkpoint(init, base)
    if init_ckpt.kind == "lora":
        if init_ckpt.base is None:
            raise TrainingError(f"adapter {init_ckpt.path} has no base; pass base=...")
        return init_ckpt, init_ckpt.base
    return init_ckpt, init_ckpt


def base_reference(base: Checkpoint) -> str:
    """What an adapter_config names as its base, so that ``resolve_checkpoint`` finds it again."""
    return EMBEDDED_NAME if base.kind == "embedded" else str(base.path)


def prepare_model(init: Checkpoint, base: Checkpoint, config: TrainConfig, *, device: str | None = None,
                  device_map: str | dict[str, Any] | None = None) -> Prepared:
    """Load the base and attach a new LoRA (init is a model) or the init adapter, trainable.

    ``device`` / ``device_map`` place the base as :func:`~interp.models.load_model` does
    (``device_map="auto"`` splits a 70B base over a node's GPUs); placement is not part of a run's key.
    """
    from peft import LoraConfig, PeftModel, get_peft_model

    loaded = load_model(base, dtype=config.dtype, device=device, device_map=device_map,
                        chat_template=config.chat_template, chat_separator=config.chat_separator)
    model = loaded.model
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    if init.kind == "lora":
        peft_model = PeftModel.from_pretrained(model, init.path, is_trainable=True)
        r = peft_model.peft_config["default"].r
        if r != config.lora.rank:
            log.info("continuing adapter %s of rank %d (config.lora rank %d is ignored)", init.path, r, config.lora.rank)
    else:
        torch.manual_seed(config.seed)
        spec = config.lora
        targets = spec.target_modules
        lora = LoraConfig(
            r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
            target_modules=(lora_targets(model) if targets == FAMILY_TARGETS
                            else targets if isinstance(targets, str) else list(targets)),
            task_type="CAUSAL_LM", bias="none",
        )
        peft_model = get_peft_model(model, lora)
    peft_model.peft_config["default"].base_model_name_or_path = base_reference(base)
    return Prepared(peft_model, loaded, init, base)


def run_key(kind: str, init: Checkpoint, base: Checkpoint, data: Sequence[str], config: TrainConfig,
            extra: dict[str, Any] | None = None) -> str:
    return canonical_hash({
        "version": KEY_VERSION, "kind": kind, "init": init.fingerprint, "base": base.fingerprint,
        "data": list(data), "config": config.to_dict(), "extra": extra or {},
    })


def finished_result(adapter_dir: Path, key: str, checkpoints_dir: Path | None, epochs: int) -> TrainResult | None:
    """The result of a finished run with this key, None when there is none; error on a different run."""
    manifest = adapter_dir / MANIFEST
    if not manifest.is_file():
        return None
    done = read_json(manifest)
    if done.get("key") != key:
        raise TrainingError(
            f"{adapter_dir} already holds a finished training run with other inputs (key {done.get('key')}, "
            f"this run's key {key}). Remove that directory or choose another one."
        )
    epoch_dirs = [checkpoints_dir / f"epoch{e}" for e in range(epochs + 1)] if checkpoints_dir else []
    recorded = done.get("sha256", {})  # runs finished before checksums: the adapter's presence only
    for root, files in ((adapter_dir, recorded.get("adapter", dict.fromkeys(ADAPTER_FILES))),
                        (checkpoints_dir, recorded.get("epochs", {}))):
        damage = first_damaged(root, files) if root is not None else None
        if damage is not None:
            log.warning("%s: %s was %s since this run finished; training it again", adapter_dir, *damage)
            (adapter_dir / MANIFEST).unlink()
            return None
    return TrainResult(adapter_dir, epoch_dirs, list(done["losses"]), float(done["seconds"]), True, key,
                       list(done.get("epoch_losses", [])))


def _checksums(adapter_dir: Path, checkpoints_dir: Path | None, epoch_dirs: Sequence[Path]) -> dict[str, Any]:
    """sha256 of the final adapter's files and of every kept epoch's, for :func:`finished_result` to check."""
    out: dict[str, Any] = {"adapter": {n: file_sha256(adapter_dir / n) for n in ADAPTER_FILES}}
    if checkpoints_dir is not None:
        out["epochs"] = {str(f.relative_to(checkpoints_dir)): file_sha256(f)
                         for d in epoch_dirs for f in sorted(d.iterdir()) if f.is_file()}
    return out


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(canonical_hash([seed, epoch], 8), 16)


def _lr_at(step: int, total: int, config: TrainConfig) -> float:
    warm = max(config.warmup_steps, math.ceil(config.warmup_ratio * total))
    if warm and step < warm:
        return config.lr * (step + 1) / warm
    if config.lr_schedule == "linear":
        return config.lr * max(0.0, (total - step) / max(1, total - warm))
    return config.lr


@contextlib.contextmanager
def _epoch_dir_for_callback(
    checkpoints_dir: Path | None, epoch: int, model: Any, base: Checkpoint
) -> Iterator[Path | None]:
    if checkpoints_dir is not None:
        yield checkpoints_dir / f"epoch{epoch}"
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"interp-epoch{epoch}-"))
    try:
        save_adapter(model, base, scratch / "adapter")
        yield scratch / "adapter"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def train_loop(
    *,
    kind: str,
    init: str | Path | Checkpoint,
    base: str | Path | Checkpoint | None,
    data_fingerprints: Sequence[str],
    config: TrainConfig,
    adapter_dir: Path,
    checkpoints_dir: Path | None,
    on_epoch: OnEpoch | None,
    trajectory_path: Path | None,
    progress: bool,
    encode: Callable[[LoadedModel], Sequence[E]],
    collate: Collate[E],
    loss_fn: LossFn,
    extra_key: dict[str, Any] | None = None,
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
    during: DuringTraining | None = None,
) -> TrainResult:
    """Train a LoRA for ``config.epochs`` epochs of ``loss_fn`` over ``encode(loaded)`` examples
    (``device`` / ``device_map``: where the base goes, see :func:`prepare_model`; ``during``: an
    intervention in every training forward pass and no other, part of the run's key)."""
    adapter_dir = Path(adapter_dir).resolve()
    checkpoints_dir = Path(checkpoints_dir).resolve() if checkpoints_dir is not None else None
    trajectory_path = Path(trajectory_path) if trajectory_path is not None else None
    init_ckpt, base_ckpt = resolve_init(init, base)
    if init_ckpt.kind == "lora" and init_ckpt.path.resolve() == adapter_dir:
        raise TrainingError(f"adapter_dir {adapter_dir} is the adapter being continued; write the result elsewhere")
    if during is not None:
        extra_key = {**(extra_key or {}), "during": during.key()}
    key = run_key(kind, init_ckpt, base_ckpt, data_fingerprints, config, extra_key)
    done = finished_result(adapter_dir, key, checkpoints_dir, config.epochs)
    if done is not None:
        log.info("skipping %s training: %s already holds this run (key %s)", kind, adapter_dir, key)
        return done

    state = RunState((checkpoints_dir or adapter_dir) / STATE_DIR)
    saved = state.read()
    if saved is not None and saved.get("key") != key:
        raise TrainingError(
            f"{state.folder} holds an interrupted run with other inputs (key {saved.get('key')}, this run's "
            f"key {key}). Remove {checkpoints_dir or adapter_dir} or choose another directory."
        )

    prepared = prepare_model(init_ckpt, base_ckpt, config, device=device, device_map=device_map)
    model = prepared.peft_model
    examples = list(encode(prepared.loaded))
    prepared.loaded.check_fits([len(e) for e in examples], "training sequences", names=[e.id for e in examples],
                               fix=f"Lower max_length (now {config.max_length}) to the model's context.")
    pad_id = prepared.loaded.tokenizer.pad_token_id
    pad_id = int(pad_id if pad_id is not None else prepared.loaded.tokenizer.eos_token_id or 0)
    inputs_on = prepared.loaded.device  # with a device_map: where the embeddings are
    params = list(trainable(model).values())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    micro_per_epoch = math.ceil(len(examples) / config.batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
    total_steps = steps_per_epoch * config.epochs

    trajectory = Trajectory(trajectory_path, key)
    epoch_dirs = [checkpoints_dir / f"epoch{e}" for e in range(config.epochs + 1)] if checkpoints_dir else []
    meta: dict[str, Any]
    if saved is not None:
        state.load(model, optimizer)
        meta = saved
        log.info("resuming %s training after epoch %d (%s)", kind, meta["epoch"], state.folder)
    else:
        meta = {"key": key, "epoch": -1, "losses": [], "epoch_losses": [], "seconds": 0.0, "epoch_seconds": []}
    trajectory.reset(keep_through=int(meta["epoch"]))

    def finish_epoch(epoch: int, loss: float | None, seconds: float) -> None:
        if checkpoints_dir is not None:
            target = checkpoints_dir / f"epoch{epoch}"
            if target.exists():
                shutil.rmtree(target)  # a stale copy from a crash between this save and the state write
            save_adapter(model, base_ckpt, target)
        meta["epoch"] = epoch
        if epoch > 0:
            meta["epoch_losses"].append(loss)
            meta["epoch_seconds"].append(seconds)
        state.write(model, optimizer, meta)
        callback(epoch)

    def callback(epoch: int) -> None:
        if trajectory.has(epoch) or (trajectory_path is None and on_epoch is None):
            return
        line: dict[str, Any] = {"epoch": epoch, "key": key, "kind": kind,
                                "loss": meta["epoch_losses"][epoch - 1] if epoch > 0 else None,
                                "seconds": meta["epoch_seconds"][epoch - 1] if epoch > 0 else 0.0}
        with _epoch_dir_for_callback(checkpoints_dir, epoch, model, base_ckpt) as where:
            line["checkpoint"] = str(where) if checkpoints_dir is not None else None
            if on_epoch is not None and where is not None:
                was_training = model.training
                model.eval()
                metrics = on_epoch(epoch, where)
                model.train(was_training)
                line.update({k: v for k, v in metrics.items() if k not in ("epoch", "key")})
        trajectory.append(line)

    if meta["epoch"] < 0:
        finish_epoch(0, None, 0.0)
    else:
        # callbacks a crash interrupted (without epoch dirs only the state's own epoch can be shown)
        first = 0 if checkpoints_dir is not None else int(meta["epoch"])
        for e in range(first, int(meta["epoch"]) + 1):
            callback(e)

    bar = tqdm(total=total_steps, initial=steps_per_epoch * int(meta["epoch"]), unit="step",
               desc=f"{kind} {adapter_dir.name}", disable=not progress or None)
    for epoch in range(int(meta["epoch"]) + 1, config.epochs + 1):
        start = time.perf_counter()
        model.train()
        torch.manual_seed(_epoch_seed(config.seed, epoch))
        gen = torch.Generator().manual_seed(_epoch_seed(config.seed, -epoch))
        order = torch.randperm(len(examples), generator=gen).tolist()
        micro = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        epoch_losses: list[float] = []
        for s in range(steps_per_epoch):
            group = micro[s * config.grad_accum : (s + 1) * config.grad_accum]
            batches = [collate([examples[i] for i in idx], pad_id) for idx in group]
            for g in optimizer.param_groups:
                g["lr"] = _lr_at((epoch - 1) * steps_per_epoch + s, total_steps, config)
            optimizer.zero_grad(set_to_none=True)
            weights: list[int] = []
            sums: list[float] = []
            with during.applied(model) if during is not None else contextlib.nullcontext():
                for b in batches:
                    loss_sum, n = loss_fn(model, {k: v.to(inputs_on) for k, v in b.items()})
                    sums.append(float(loss_sum.detach()))
                    weights.append(n)
                    # backward per micro-batch keeps one graph alive; rescaled below to a token mean
                    loss_sum.backward()
            n_total = max(1, sum(weights))
            for p in params:
                if p.grad is not None:
                    p.grad.div_(n_total)
            total_loss = sum(sums) / n_total
            optimizer.step()
            epoch_losses.append(total_loss)
            meta["losses"].append(total_loss)
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{total_loss:.4f}")
        seconds = time.perf_counter() - start
        meta["seconds"] = float(meta["seconds"]) + seconds
        mean_loss = sum(epoch_losses) / max(1, len(epoch_losses))
        log.info("%s epoch %d/%d: loss %.4f (%.1f s)", kind, epoch, config.epochs, mean_loss, seconds)
        finish_epoch(epoch, mean_loss, seconds)
    bar.close()

    publish_adapter(model, base_ckpt, adapter_dir)
    manifest = {
        "key": key, "kind": kind, "init": init_ckpt.describe(), "base": base_ckpt.describe(),
        "data": list(data_fingerprints), "config": config.to_dict(), "extra": extra_key or {},
        "n_examples": len(examples), "steps": total_steps, "losses": meta["losses"],
        "epoch_losses": meta["epoch_losses"], "seconds": meta["seconds"],
        "epoch_dirs": [str(p) for p in epoch_dirs],
        "sha256": _checksums(adapter_dir, checkpoints_dir, epoch_dirs),
    }
    atomic_write_json(adapter_dir / MANIFEST, manifest)
    state.clear()
    return TrainResult(adapter_dir, epoch_dirs, list(meta["losses"]), float(meta["seconds"]), False, key,
                       list(meta["epoch_losses"]))
