"""LoRA supervised fine-tuning with the loss on assistant-response tokens only.

Used for phase 1 (a base model on an induction set -> a model organism) and phase 3 (the
organism's own adapter continued on its self-labels, or BCT's clean answers on wrapped prompts).
The loss of a step is the mean token cross-entropy over every supervised token of the step's
micro-batches (the response content and the end-of-turn token after it; see
:mod:`interp.training.batches`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.data.schema import Dataset
from interp.models.checkpoint import Checkpoint
from interp.models.loading import LoadedModel
from interp.training.batches import IGNORE_INDEX, SFTExample, collate_sft, encode_sft
from interp.training.config import TrainConfig, TrainResult
from interp.training.during import DuringTraining
from interp.training.loop import OnEpoch, train_loop


def sft_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(sum of next-token cross-entropies over supervised tokens, their number)."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    logits = out.logits[:, :-1][keep].float()
    loss = F.cross_entropy(logits, labels[keep], reduction="sum")
    return loss, int(keep.sum())


def train_sft(
    init: str | Path | Checkpoint,
    data: Dataset,
    config: TrainConfig,
    adapter_dir: Path,
    *,
    checkpoints_dir: Path | None = None,
    base: str | Path | Checkpoint | None = None,
    on_epoch: OnEpoch | None = None,
    trajectory_path: Path | None = None,
    progress: bool = True,
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
    during: DuringTraining | None = None,
    documents: bool = False,
) -> TrainResult:
    """Fine-tune a LoRA on ``data``'s assistant turns; skip if done, resume if interrupted.

    Args:
        init: a base model (a new LoRA of shape ``config.lora`` is attached) or an existing adapter
            directory (that LoRA is loaded trainable and continued; its base stays the base).
        data: records ending with an assistant turn (the first ``config.max_rows`` are used).
        config: optimisation settings (all part of the run's key).
        adapter_dir: where the final adapter goes (may already hold ``checkpoints/``).
        checkpoints_dir: per-epoch adapters ``epoch{N}`` (``epoch0`` = the init); None: none kept.
        base: the base of an ``init`` adapter whose config does not name a local one.
        on_epoch: called as ``on_epoch(epoch, epoch_dir)`` after each epoch (and for epoch 0);
            the metrics it returns join that epoch's trajectory line.
        trajectory_path: the JSON-lines trajectory (epoch, loss, seconds, checkpoint, metrics).
        progress: show a progress bar.
        device / device_map: where the base goes (``device_map="auto"`` for a base that needs
            several GPUs); not part of the run's key.
        documents: train on each record's final turn alone as plain text, every token supervised
            (continued pre-training on documents; keyed apart).
    """
    rows = data.head(config.max_rows) if config.max_rows is not None else data

    def encode(loaded: LoadedModel) -> list[SFTExample]:
        return encode_sft(loaded.chat, rows, config.max_length, documents=documents)

    return train_loop(
        kind="sft", init=init, base=base, data_fingerprints=[data.fingerprint], config=config,
        adapter_dir=adapter_dir, checkpoints_dir=checkpoints_dir, on_epoch=on_epoch,
        trajectory_path=trajectory_path, progress=progress, encode=encode, collate=collate_sft, loss_fn=sft_loss,
        extra_key={"loss": "document_ce" if documents else "response_ce_with_eot"}, device=device, device_map=device_map, during=during,
    )
