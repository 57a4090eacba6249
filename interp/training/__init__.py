"""LoRA training: supervised fine-tuning on response tokens and activation consistency training.

``interp.training`` owns how an adapter is trained: :func:`train_sft` (phase 1 organisms, phase 3
SFT on self-labels and BCT), :func:`train_act` (phase 3 ACT), their config values and the shared
epoch loop with per-epoch checkpoints, a trajectory file, skip-if-done and resume
(:mod:`interp.training.loop`). What to train on, and with which scale, lives in
:mod:`interp.organisms` and in the consistency methods.
"""

from interp.training.act import ACT_LOSS_SCALE, act_loss, layer_outputs, train_act
from interp.training.batches import (
    IGNORE_INDEX,
    ACTPair,
    SFTExample,
    collate_act,
    collate_sft,
    encode_act_pairs,
    encode_sft,
    encode_sft_example,
)
from interp.training.config import LoraSpec, TrainConfig, TrainingError, TrainResult
from interp.training.loop import MANIFEST, prepare_model, resolve_init
from interp.training.sft import sft_loss, train_sft

__all__ = [
    "ACT_LOSS_SCALE",
    "IGNORE_INDEX",
    "MANIFEST",
    "ACTPair",
    "LoraSpec",
    "SFTExample",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "act_loss",
    "collate_act",
    "collate_sft",
    "encode_act_pairs",
    "encode_sft",
    "encode_sft_example",
    "layer_outputs",
    "prepare_model",
    "resolve_init",
    "sft_loss",
    "train_act",
    "train_sft",
]
