"""Training sparse autoencoders with sae-lens, from cached activations, fully offline.

This module owns the SAE training recipe: an :class:`SAETrainConfig` (architecture, width,
sparsity, optimiser, token budget), the sae-lens training SAE it builds (``StandardTrainingSAE``
or ``TopKTrainingSAE``), an iterator of shuffled batches drawn from an in-memory activation
matrix (e.g. ``capture(..., CaptureConfig(hooks=(h,), positions="all"))`` of local text, where
position 0 is already excluded), and :class:`sae_lens.SAETrainer` fed by it. Nothing is
downloaded and nothing is pickled: the trainer's own checkpointing (``torch.save``) is off, and
the result is written with ``save_inference_model`` (safetensors + ``cfg.json``), the format
``SAE.load_from_disk`` reads, so SAEs a user has on disk in sae-lens's format load the same way.

The fast path changes no maths: batches are contiguous slices of shuffled blocks of rows
(no per-step gather or dtype conversion), and the trainer's Adam is swapped for the fused
implementation of the same update (:func:`make_trainer`); see ``benchmarks/sae.py``.
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


def activation_batches(
    acts: Tensor, batch_size: int, *, seed: int = 0, chunk_batches: int = 64
) -> Iterator[Tensor]:
    """An endless iterator of shuffled ``[batch_size, d]`` float32 batches (a fresh permutation per epoch).

    The batches are those of ``acts[perm[i : i + batch_size]]``; rows are gathered (and cast)
    ``chunk_batches`` batches at a time into one contiguous block whose slices are yielded as
    views, so a step costs no copy and memory stays bounded by one block, not a second copy
    of ``acts``. A trailing partial batch of an epoch is dropped.
    """
    if acts.ndim != 2 or acts.shape[0] < batch_size:
        raise ValueError(f"need a [n >= batch_size={batch_size}, d] activation matrix; got {tuple(acts.shape)}")
    gen = torch.Generator().manual_seed(seed)
    n = acts.shape[0]
    usable = n - n % batch_size
    block = batch_size * chunk_batches
    while True:
        perm = torch.randperm(n, generator=gen)
        for start in range(0, usable, block):
            rows = acts[perm[start : min(start + block, usable)]].to(torch.float32)
            for i in range(0, rows.shape[0], batch_size):
                yield rows[i : i + batch_size]


def _fast_training(sae: Any, x: Tensor) -> bool:
    return bool(sae.training and torch.is_grad_enabled() and x.ndim == 2 and not x.requires_grad)


def _centred_encode(sae: Any, x: Tensor) -> tuple[Tensor, Tensor]:
    """TopKTrainingSAE.encode_with_hidden_pre with ``(x - b_dec) @ W_enc`` as ``x @ W_enc - b_dec @ W_enc``.

    Equal in exact arithmetic; since ``x`` needs no gradient, autograd then skips the
    ``[batch, d_sae] @ [d_sae, d_in]`` input-gradient product that only fed ``b_dec``'s gradient.
    """
    if not _fast_training(sae, x):
        return type(sae).encode_with_hidden_pre(sae, x)
    sae_in = sae.run_time_activation_norm_fn_in(sae.hook_sae_input(sae.reshape_fn_in(x.to(sae.dtype))))
    shift = (sae.b_dec * sae.cfg.apply_b_dec_to_input) @ sae.W_enc
    hidden_pre = sae.hook_sae_acts_pre(sae_in @ sae.W_enc - shift + sae.b_enc)
    if sae.cfg.rescale_acts_by_decoder_norm:
        hidden_pre = hidden_pre * sae.W_dec.norm(dim=-1)
    return sae.hook_sae_acts_post(sae.activation_fn(hidden_pre)), hidden_pre


def _active_rows_decode(sae: Any, feature_acts: Tensor) -> Tensor:
    """TopKTrainingSAE.decode with the decoder product restricted to the k active latents."""
    if not (sae.training and torch.is_grad_enabled() and feature_acts.ndim == 2 and not feature_acts.is_sparse):
        return type(sae).decode(sae, feature_acts)
    codes = feature_acts * (1 / sae.W_dec.norm(dim=-1)) if sae.cfg.rescale_acts_by_decoder_norm else feature_acts
    # codes >= 0 with at most k nonzeros per row: the k largest hold them all, and
    # sum_j vals[b, j] * W_dec[idx[b, j]] is codes @ W_dec; gradients flow through both factors
    vals, idx = codes.topk(sae.cfg.k, dim=-1, sorted=False)
    out = torch.nn.functional.embedding_bag(idx, sae.W_dec, per_sample_weights=vals, mode="sum") + sae.b_dec
    out = sae.hook_sae_recons(out)
    out = sae.run_time_activation_norm_fn_out(out)
    return sae.reshape_fn_out(out, sae.d_head)


def make_trainer(sae: Any, data: Iterator[Tensor], cfg: SAETrainConfig) -> Any:
    """The :class:`sae_lens.SAETrainer` for ``cfg`` on ``data``, with the same maths computed faster.

    - sae-lens builds a plain (foreach) Adam; the fused kernel computes the same update (same
      betas, eps, lr schedule) in one pass over each parameter (~10% of a CPU step here).
    - A TopK SAE's training decode multiplies only the ``k`` active rows of ``W_dec`` instead of
      a dense ``[batch, d_sae] @ [d_sae, d_in]`` product (3 of the 6 big matmuls of a step),
      and its encoder folds ``b_dec`` in after the product (one more big matmul saved);
      inference (eval mode or no grad) keeps sae-lens's own encode and decode.
    """
    from sae_lens import SAETrainer, TopKTrainingSAE
    from sae_lens.training.optim import get_lr_scheduler

    if isinstance(sae, TopKTrainingSAE) and not sae.cfg.use_sparse_activations and 4 * sae.cfg.k <= sae.cfg.d_sae:
        sae.decode = lambda feature_acts: _active_rows_decode(sae, feature_acts)
        sae.encode_with_hidden_pre = lambda x: _centred_encode(sae, x)
    tcfg = trainer_config(cfg)
    trainer = SAETrainer(cfg=tcfg, sae=sae, data_provider=data)
    try:
        fused = torch.optim.Adam(sae.parameters(), lr=tcfg.lr, betas=(tcfg.adam_beta1, tcfg.adam_beta2), fused=True)
    except (RuntimeError, TypeError) as err:  # no fused kernel for this device / dtype
        log.debug("fused Adam unavailable (%s); keeping sae-lens's Adam", err)
        return trainer
    trainer.optimizer = fused
    trainer.lr_scheduler = get_lr_scheduler(
        tcfg.lr_scheduler_name, lr=tcfg.lr, optimizer=fused, warm_up_steps=tcfg.lr_warm_up_steps,
        decay_steps=tcfg.lr_decay_steps, training_steps=tcfg.total_training_steps, lr_end=tcfg.lr_end,
        num_cycles=tcfg.n_restart_cycles,
    )
    return trainer


def train_sae(
    acts: Tensor, cfg: SAETrainConfig, *, out_dir: str | Path | None = None, hook_name: str = "",
    model_name: str = "", data_fingerprint: str = "",
) -> Any:
    """Train an SAE on ``acts`` [n, d] and return the inference :class:`sae_lens.SAE`.

    With ``out_dir`` the SAE is saved there in sae-lens's format (plus ``interp_training.json``
    with the config and data fingerprint); if the folder already holds an SAE trained with the
    same inputs it is loaded instead (skip-if-exists, keyed by config and data).
    """
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
    trained = make_trainer(sae, activation_batches(acts, cfg.batch_size, seed=cfg.seed), cfg).fit()
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
