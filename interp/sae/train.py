"""Training sparse autoencoders with sae-lens, from cached activations, fully offline.

This module owns the SAE training recipe: an :class:`SAETrainConfig` (architecture, width,
sparsity, optimiser, token budget), the sae-lens training SAE it builds (``StandardTrainingSAE``
or ``TopKTrainingSAE``), an iterator of shuffled batches drawn from an in-memory activation
matrix (e.g. ``capture(..., CaptureConfig(hooks=(h,), positions="all"))`` of local text, where
position 0 is already excluded), and :class:`sae_lens.SAETrainer` fed by it. Nothing is
downloaded and nothing is pickled: the trainer's own checkpointing (``torch.save``) is off, and
the result is written with ``save_inference_model`` (safetensors + ``cfg.json``), the format
``SAE.load_from_disk`` reads, so SAEs a user has on disk in sae-lens's format load the same way.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from interp.io import atomic_directory, atomic_write_json, canonical_hash

log = logging.getLogger(__name__)

Architecture = Literal["standard", "topk"]
TRAINING_RECORD = "interp_training.json"


@dataclass(frozen=True)
class SAETrainConfig:
    """What to train.

    Attributes:
        d_sae: number of latents.
        architecture: ``"standard"`` (ReLU + L1) or ``"topk"`` (exactly ``k`` active latents).
        k: active latents of a TopK SAE.
        l1_coefficient: sparsity penalty of a standard SAE.
        lr: Adam learning rate (constant after ``lr_warm_up_steps``).
        batch_size: activations (tokens) per step.
        total_tokens: training budget in activations; cycles over the data when it is smaller.
        normalize_activations: sae-lens normalisation (``"none"`` or ``"expected_average_only_in"``).
        n_batches_for_norm_estimate: batches used to estimate the normalisation factor.
        seed: weight initialisation and batch order.
    """

    d_sae: int = 4096
    architecture: Architecture = "topk"
    k: int = 32
    l1_coefficient: float = 5.0
    lr: float = 3e-4
    lr_warm_up_steps: int = 0
    batch_size: int = 1024
    total_tokens: int = 200_000
    normalize_activations: str = "none"
    n_batches_for_norm_estimate: int = 20
    dead_feature_window: int = 500
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.architecture not in ("standard", "topk"):
            raise ValueError(f"architecture must be 'standard' or 'topk'; got {self.architecture!r}")
        if self.d_sae < 1 or self.batch_size < 1 or self.total_tokens < self.batch_size:
            raise ValueError("d_sae and batch_size must be positive and total_tokens >= batch_size")
        if self.architecture == "topk" and not 0 < self.k <= self.d_sae:
            raise ValueError(f"k must be in [1, d_sae]; got k={self.k}, d_sae={self.d_sae}")


def build_training_sae(d_in: int, cfg: SAETrainConfig, *, hook_name: str = "", model_name: str = "") -> Any:
    """The sae-lens training SAE for ``cfg`` (weights initialised from ``cfg.seed``)."""
    from sae_lens import (
        StandardTrainingSAE,
        StandardTrainingSAEConfig,
        TopKTrainingSAE,
        TopKTrainingSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=hook_name, model_name=model_name)
    common: dict[str, Any] = {"d_in": d_in, "d_sae": cfg.d_sae, "device": cfg.device, "dtype": "float32",
                              "normalize_activations": cfg.normalize_activations, "metadata": meta}
    torch.manual_seed(cfg.seed)
    if cfg.architecture == "topk":
        return TopKTrainingSAE(TopKTrainingSAEConfig(k=cfg.k, **common))
    return StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=cfg.l1_coefficient, **common))


def trainer_config(cfg: SAETrainConfig) -> Any:
    """The :class:`sae_lens.config.SAETrainerConfig` of ``cfg`` (no wandb, no pickled checkpoints)."""
    from sae_lens import LoggingConfig
    from sae_lens.config import SAETrainerConfig

    return SAETrainerConfig(
        total_training_samples=cfg.total_tokens, train_batch_size_samples=cfg.batch_size, lr=cfg.lr, lr_end=cfg.lr,
        lr_warm_up_steps=cfg.lr_warm_up_steps, device=cfg.device, dead_feature_window=cfg.dead_feature_window,
        feature_sampling_window=max(cfg.dead_feature_window, 100), n_checkpoints=0, checkpoint_path=None,
        save_final_checkpoint=False, logger=LoggingConfig(log_to_wandb=False),
        n_batches_for_norm_estimate=cfg.n_batches_for_norm_estimate,
    )


def activation_batches(acts: Tensor, batch_size: int, *, seed: int = 0) -> Iterator[Tensor]:
    """An endless iterator of shuffled ``[batch_size, d]`` batches (a fresh permutation per epoch)."""
    if acts.ndim != 2 or acts.shape[0] < batch_size:
        raise ValueError(f"need a [n >= batch_size={batch_size}, d] activation matrix; got {tuple(acts.shape)}")
    gen = torch.Generator().manual_seed(seed)
    x = acts.float()
    while True:
        perm = torch.randperm(x.shape[0], generator=gen)
        for i in range(0, x.shape[0] - batch_size + 1, batch_size):
            yield x[perm[i : i + batch_size]]


def train_sae(
    acts: Tensor, cfg: SAETrainConfig, *, out_dir: str | Path | None = None, hook_name: str = "",
    model_name: str = "", data_fingerprint: str = "",
) -> Any:
    """Train an SAE on ``acts`` [n, d] and return the inference :class:`sae_lens.SAE`.

    With ``out_dir`` the SAE is saved there in sae-lens's format (plus ``interp_training.json``
    with the config and data fingerprint); if the folder already holds an SAE trained with the
    same inputs it is loaded instead (skip-if-exists, keyed by config and data).
    """
    from sae_lens import SAETrainer

    key = canonical_hash({"cfg": asdict(cfg), "data": data_fingerprint, "d_in": int(acts.shape[1]),
                          "n": int(acts.shape[0]), "hook": hook_name})
    if out_dir is not None:
        out = Path(out_dir)
        record = out / TRAINING_RECORD
        if record.is_file():
            from interp.io import read_json

            if read_json(record).get("key") == key:
                log.info("SAE already trained at %s; loading it", out)
                return load_sae(out, device=cfg.device)
            raise FileExistsError(f"{out} holds an SAE trained with other inputs; choose another folder")
    sae = build_training_sae(int(acts.shape[1]), cfg, hook_name=hook_name, model_name=model_name)
    trainer = SAETrainer(cfg=trainer_config(cfg), sae=sae,
                         data_provider=activation_batches(acts, cfg.batch_size, seed=cfg.seed))
    trained = trainer.fit()
    if out_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            trained.save_inference_model(tmp)
            return load_sae(tmp, device=cfg.device)
    with atomic_directory(Path(out_dir)) as tmp:
        trained.save_inference_model(tmp)
        atomic_write_json(tmp / TRAINING_RECORD, {"key": key, "config": asdict(cfg), "data": data_fingerprint,
                                                  "n_activations": int(acts.shape[0]), "hook_name": hook_name,
                                                  "model_name": model_name})
    return load_sae(out_dir, device=cfg.device)


def load_sae(path: str | Path, *, device: str = "cpu") -> Any:
    """Load an SAE saved in sae-lens's disk format (``cfg.json`` + ``sae_weights.safetensors``)."""
    from sae_lens import SAE

    path = Path(path)
    if not (path / "cfg.json").is_file():
        raise FileNotFoundError(f"{path} is not an SAE folder in sae-lens's format (no cfg.json)")
    return SAE.load_from_disk(str(path), device=device).eval()
