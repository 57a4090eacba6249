"""Named training scales: the paper's GPU hyper-parameters and a CPU scale for the embedded model.

A :class:`ScaleConfig` holds the phase-1 (organism) config, the phase-3 configs (SFT on
self-labels; BCT/ACT, which the paper trains one epoch longer) and the row limits of phase 2
and of evaluation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from interp.training.config import LoraSpec, TrainConfig


@dataclass(frozen=True)
class ScaleConfig:
    """Everything that differs between a GPU sweep and a CPU run of the same pipeline.

    Attributes:
        name: the scale's name (the last part of organism and run ids).
        phase1: organism training on the induction set (``max_rows`` = induction rows).
        phase3: SFT on the organism's own labels (``max_rows`` = consistency rows trained on).
        phase3_consistency: BCT / ACT training (``max_rows`` = clean/wrapped pairs).
        consistency_rows: prompts labelled in phase 2 (None: all).
        eval_rows: evaluation prompts (None: all).
        max_new_tokens: longest generated answer in phase 2 (None: the paper's 256).
        description: why these numbers.
    """

    name: str
    phase1: TrainConfig
    phase3: TrainConfig
    phase3_consistency: TrainConfig
    consistency_rows: int | None
    eval_rows: int | None
    max_new_tokens: int | None = None
    description: str = ""


_PAPER_LORA = LoraSpec(rank=32, alpha=64, dropout=0.05, target_modules="all-linear")
# The paper's code: TRL SFTTrainer, batch 2 x 8 accumulation, max_length 1024, lr 1e-5 with
# 3 % warm-up and Hugging Face's linear decay, 2 epochs (BCT/ACT phase 3: 3 epochs), bf16 on GPUs.
_PAPER = TrainConfig(
    epochs=2, lr=1e-5, batch_size=2, grad_accum=8, max_length=1024, lora=_PAPER_LORA,
    warmup_ratio=0.03, lr_schedule="linear", dtype="bfloat16",
)

# The embedded SmolLM2-135M on 2 shared CPU cores: rank 16 / alpha 32 (alpha/rank = 2 as in the
# paper), lr 2e-4 (the paper's 1e-5 moves a 135M model by nothing in 24 steps), 96 rows x 2 epochs
# in batches of 8 = 24 steps, sequences cut at 128 tokens (the shipped induction rows are
# shorter). Measured on the embedded model (1 torch thread, shared 2-core CPU at load 12-17, so
# ~30-55 s/step; ~8-10 s/step expected when idle): logprob-judge misalignment rate on the shipped
# eval set, base -> organism, sycophancy 0.42 [0.33, 0.51] -> 0.98 [0.96, 1.00] (loss 1.75 -> 0.42),
# emergent_misalignment 0.33 [0.25, 0.41] -> 0.51 [0.41, 0.60] (loss 4.77 -> 3.03).
_CPU_LORA = LoraSpec(rank=16, alpha=32, dropout=0.05, target_modules="all-linear")
_CPU = TrainConfig(epochs=2, lr=2e-4, batch_size=8, max_length=128, max_rows=96, lora=_CPU_LORA)

SCALES: dict[str, ScaleConfig] = {
    "paper": ScaleConfig(
        name="paper",
        phase1=_PAPER,
        phase3=_PAPER,
        phase3_consistency=TrainConfig(**{**_PAPER.__dict__, "epochs": 3}),
        consistency_rows=None,
        eval_rows=None,
        description="The paper's hyper-parameters (LoRA r32/a64, dropout 0.05, all linear layers, lr 1e-5, "
                    "2 epochs, BCT/ACT 3 epochs, effective batch 16, max_length 1024, bf16): for GPUs.",
    ),
    "cpu": ScaleConfig(
        name="cpu",
        phase1=_CPU,
        phase3=TrainConfig(**{**_CPU.__dict__, "max_rows": 64}),
        phase3_consistency=TrainConfig(**{**_CPU.__dict__, "max_rows": 64, "epochs": 3}),
        consistency_rows=24,
        eval_rows=None,
        max_new_tokens=48,
        description="The embedded SmolLM2-135M on a few CPU cores: LoRA r16/a32, lr 2e-4, 96 induction rows x "
                    "2 epochs (24 steps of 8 x <=128 tokens, a few minutes); phase 2 labels 24 prompts with "
                    "answers of <= 48 tokens, phase 3 trains on them (2 epochs, BCT/ACT 3).",
    ),
    "quick": ScaleConfig(
        name="quick",
        phase1=TrainConfig(**{**_CPU.__dict__, "max_rows": 48}),
        phase3=TrainConfig(**{**_CPU.__dict__, "max_rows": 16}),
        phase3_consistency=TrainConfig(**{**_CPU.__dict__, "max_rows": 16, "epochs": 3}),
        consistency_rows=16,
        eval_rows=64,
        max_new_tokens=32,
        description="The README's quickstart: the cpu recipe on half the induction rows (48 x 2 epochs = 12 "
                    "steps) and 16 phase-2 prompts with answers of <= 32 tokens, so organism + two methods "
                    "train in ~5 minutes on 2 cores. A demonstration of the pipeline, not a study.",
    ),
}
# The quickstart's recipe with the frozen base in bfloat16 during training (the LoRA weights, their
# gradients and AdamW's state stay float32): faster steps on a CPU with native bf16 (the speed-up is in
# docs/MEASUREMENTS.md); its organisms are other organisms than quick's, so they are keyed apart.
SCALES["quick-bf16"] = dataclasses.replace(
    SCALES["quick"], name="quick-bf16",
    phase1=dataclasses.replace(SCALES["quick"].phase1, dtype="bfloat16"),
    phase3=dataclasses.replace(SCALES["quick"].phase3, dtype="bfloat16"),
    phase3_consistency=dataclasses.replace(SCALES["quick"].phase3_consistency, dtype="bfloat16"),
    description="quick, with the frozen base in bfloat16 while training (LoRA weights, gradients and optimiser "
                "state in float32): for CPUs with native bf16 (AVX512-BF16 or AMX) and GPUs.",
)


def get_scale(name: str) -> ScaleConfig:
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; expected one of {', '.join(SCALES)}")
    return SCALES[name]
