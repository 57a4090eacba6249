"""Training configuration values and the result of a training run.

:class:`LoraSpec` and :class:`TrainConfig` are frozen values: every field is part of the run's
key (a finished identical run is skipped, an interrupted one resumes), so two runs with equal
configs, inputs and data are the same unit of work.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


class TrainingError(RuntimeError):
    """A training run cannot start or continue; the message says what to do."""


FAMILY_TARGETS = "family"
"""``LoraSpec.target_modules`` naming the family's declared LoRA targets."""


@dataclass(frozen=True)
class LoraSpec:
    """The LoRA adapter to attach to a base model (the paper's: rank 32, alpha 64, all linear layers).

    ``target_modules``: peft's ``"all-linear"``, module names, or ``"family"`` (the ``lora_targets``
    of the model family's :class:`~interp.hooks.architectures.ArchitectureMap`, fused projections
    included). Ignored when training continues an existing adapter (that adapter's own shape is kept).
    """

    rank: int = 32
    alpha: int = 64
    dropout: float = 0.05
    target_modules: str | tuple[str, ...] = "all-linear"

    def __post_init__(self) -> None:
        if self.rank < 1 or self.alpha <= 0:
            raise ValueError(f"LoRA rank and alpha must be positive, got rank={self.rank}, alpha={self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one LoRA training run.

    Attributes:
        epochs: passes over the (row-limited) data.
        lr: AdamW learning rate (peak, after warm-up).
        batch_size: sequences per micro-batch; an optimiser step sees ``batch_size * grad_accum``.
        grad_accum: micro-batches per optimiser step (the loss is a token-weighted mean over them).
        max_length: sequences are cut at this many tokens (right truncation; a row left with no
            supervised token is dropped with a warning).
        max_rows: use only the first ``max_rows`` records (None: all).
        seed: LoRA initialisation, data order and dropout (per epoch, so a resumed run repeats
            exactly what an uninterrupted one does).
        lora: the adapter shape for a new LoRA.
        weight_decay: AdamW weight decay.
        warmup_steps / warmup_ratio: linear warm-up length (the larger of the two, in steps).
        lr_schedule: ``"constant"`` after warm-up, or ``"linear"`` decay to 0 (Hugging Face's default).
        dtype: dtype of the frozen base weights (``"float32"``; ``"bfloat16"`` on GPUs).
        gradient_checkpointing: trade compute for memory (large models).
        chat_template / chat_separator: how conversations become text (``load_model``'s; None:
            the model's own template, or plain text for a model without one). In a run's key
            only when set.
    """

    epochs: int = 2
    lr: float = 1e-5
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 256
    max_rows: int | None = None
    seed: int = 42
    lora: LoraSpec = field(default_factory=LoraSpec)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    lr_schedule: Literal["constant", "linear"] = "constant"
    dtype: str = "float32"
    gradient_checkpointing: bool = False
    chat_template: str | None = None
    chat_separator: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError(f"batch_size and grad_accum must be positive, got {self.batch_size}, {self.grad_accum}")
        if self.max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {self.max_length}")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be positive or None, got {self.max_rows}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(f"lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}")
        if not 0.0 <= self.warmup_ratio < 1.0 or self.warmup_steps < 0:
            raise ValueError("warmup_steps must be >= 0 and warmup_ratio in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the form that is hashed into a run's key)."""
        out = asdict(self)
        for name in ("chat_template", "chat_separator"):  # added later: keys of runs without them stay as they were
            if out[name] is None:
                del out[name]
        tm = out["lora"]["target_modules"]
        out["lora"]["target_modules"] = list(tm) if isinstance(tm, (tuple, list)) else tm
        return out


@dataclass
class TrainResult:
    """What a training run left on disk.

    Attributes:
        adapter_dir: the final adapter (PEFT files, ``interp_base.json``, ``interp_train.json``).
        epoch_dirs: ``checkpoints_dir/epoch{N}`` for N = 0 (the init) .. epochs; empty without a
            checkpoints directory.
        losses: the training loss of every optimiser step, in order (all epochs).
        seconds: wall-clock training time (summed over resumed sessions; excludes ``on_epoch``).
        skipped: True when a finished identical run was found and nothing was trained.
    """

    adapter_dir: Path
    epoch_dirs: list[Path]
    losses: list[float]
    seconds: float
    skipped: bool
    key: str = ""
    epoch_losses: list[float] = field(default_factory=list)
