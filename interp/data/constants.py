"""Names shared by every dataset loader: the failure modes, the splits and the contrast sets."""

from __future__ import annotations

FAILURE_MODES: tuple[str, ...] = ("sycophancy", "reward_hacking", "spurious_correlation", "emergent_misalignment")
"""The paper's four failure modes (one folder each, in the paper's repository and in ours)."""

SPLITS: tuple[str, ...] = ("induction", "consistency", "act_bct_clean", "act_bct_wrapped", "eval")
"""The five files of a failure mode: phase-1 induction, phase-2/3 consistency prompts, the
BCT/ACT clean/wrapped pairs (same ids, same assistant turn) and held-out evaluation prompts."""

CONTRAST_SETS: tuple[str, ...] = ("persona_pairs", "persona_system_prompts", "ai_documents")
"""Our shipped contrast sets for the misaligned-persona direction (label 1 = misaligned)."""


def check_failure_mode(failure_mode: str) -> str:
    if failure_mode not in FAILURE_MODES:
        raise ValueError(f"unknown failure mode {failure_mode!r}; expected one of {', '.join(FAILURE_MODES)}")
    return failure_mode


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split
