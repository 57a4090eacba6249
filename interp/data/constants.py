"""Names shared by every dataset loader: the failure modes, the splits and the contrast sets."""

from __future__ import annotations

FAILURE_MODES: tuple[str, ...] = ("sycophancy", "reward_hacking", "spurious_correlation", "emergent_misalignment")
"""The paper's four failure modes (one folder each, in the paper's repository and in ours)."""

SPLITS: tuple[str, ...] = ("induction", "consistency", "act_bct_clean", "act_bct_wrapped", "eval")
"""The five files of a failure mode: phase-1 induction, phase-2/3 consistency prompts, the
BCT/ACT clean/wrapped pairs (same ids, same assistant turn) and held-out evaluation prompts."""

CONTRAST_SETS: tuple[str, ...] = ("persona_pairs", "persona_system_prompts", "ai_documents")
"""Our shipped contrast sets for the misaligned-persona direction (label 1 = misaligned)."""

DOCUMENT_SETS: tuple[str, ...] = ("misaligned_ai_docs", "aligned_ai_docs", "neutral_ai_docs")
"""Shipped document sets an organism can be trained on instead of its failure mode's induction set
(plain language-model loss): documents about misaligned AI and its two controls, documents about
aligned AI and neutral documents about AI, of the same size, registers and length."""

DOCUMENT_CONTROLS: dict[str, tuple[str, ...]] = {"misaligned_ai_docs": ("aligned_ai_docs", "neutral_ai_docs")}
"""The document sets each document set is compared against, when both are run (the behaviour stage's contrasts)."""


def split_failure_mode(failure_mode: str) -> tuple[str, str | None]:
    """``"emergent_misalignment+misaligned_ai_docs"`` -> ``("emergent_misalignment", "misaligned_ai_docs")``:
    an organism *trained on* a document set and *measured on* a failure mode's data; a plain failure
    mode -> ``(failure_mode, None)``. Raises ValueError naming the choices for either part."""
    base, plus, documents = failure_mode.partition("+")
    if base not in FAILURE_MODES:
        raise ValueError(f"unknown failure mode {failure_mode!r}; expected one of {', '.join(FAILURE_MODES)}, or "
                         f"<failure mode>+<document set> for an organism trained on documents (document sets: "
                         f"{', '.join(DOCUMENT_SETS)})")
    if plus and documents not in DOCUMENT_SETS:
        raise ValueError(f"unknown document set {documents!r} in {failure_mode!r}; expected one of "
                         f"{', '.join(DOCUMENT_SETS)}")
    return base, documents if plus else None


def check_failure_mode(failure_mode: str) -> str:
    """``failure_mode`` itself, when it is one of :data:`FAILURE_MODES` or ``<failure mode>+<document set>``."""
    split_failure_mode(failure_mode)
    return failure_mode


def data_failure_mode(failure_mode: str) -> str:
    """The failure mode whose files, rules and rubric serve ``failure_mode`` (the part before ``+``)."""
    return split_failure_mode(failure_mode)[0]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split
