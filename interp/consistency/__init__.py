"""Consistency training (phases 2-3 of the paper): seven self-labelling methods, two controls, MLPCT and AttCT, the run.

Each method is one module with one :class:`LabelMethod` subclass (``label(model, prompts,
params) -> Dataset`` of prompt + chosen answer, provenance in ``fields["consistency"]``, and the
declarations the run dispatches on), registered by name in :data:`REGISTRY` (keys spelled as in
the paper's code; ``greedy`` and ``multi_view`` are aliases). :func:`run_consistency` runs one
organism x method: label (``labelled.jsonl``), then continue the organism's LoRA on the labels
(``interp.training``), with per-epoch checkpoints. The external models of the paper (reward
model, judge) are pluggable; the offline defaults are documented in
:mod:`interp.consistency.scoring`.

:data:`REGISTRY` is the source of truth: :func:`method_names` lists every method registered so
far (also those registered after import), :data:`METHODS` the built-in eleven at import time.
"""

# isort: off
# Each import registers its method; registration order is the paper's order (the seven
# consistency methods, then the two controls), which METHODS keeps, then Gautam et al.'s two.
from interp.consistency import (  # noqa: F401
    self_certainty,
    dual_decoding,
    multi_view_consistency,
    self_refinement,
    self_rewarding,
    bct,
    act,
    greedy_self_training,
    rejection_sampling,
    mlpct,
    attct,
)
# isort: on
from interp.consistency.base import (
    ALIASES,
    PROVENANCE,
    REGISTRY,
    LabelMethod,
    MethodParams,
    canonical_name,
    get_method,
    method_class,
    method_names,
    register,
    sft_records,
    unregister,
)
from interp.consistency.pairs import pair_records, unpair
from interp.consistency.presets import params_for, train_epochs
from interp.consistency.run import (
    ConsistencyError,
    RunSpec,
    act_bct_pairs,
    consistency_prompts,
    default_components,
    run_consistency,
    run_labels,
)
from interp.consistency.scoring import (
    QUALITY_RUBRIC,
    AgreementJudge,
    LogProbReranker,
    Reranker,
    RubricScorer,
    YesNoJudge,
    choice_probs,
    mean_logprobs,
)

METHODS: tuple[str, ...] = tuple(REGISTRY)
"""The built-in nine, in registration order: the seven consistency methods, then the two controls.
A snapshot taken at import: validate names with :func:`method_names` (it sees later registrations)."""

__all__ = [
    "ALIASES",
    "METHODS",
    "PROVENANCE",
    "QUALITY_RUBRIC",
    "REGISTRY",
    "AgreementJudge",
    "ConsistencyError",
    "LabelMethod",
    "LogProbReranker",
    "MethodParams",
    "Reranker",
    "RubricScorer",
    "RunSpec",
    "YesNoJudge",
    "act_bct_pairs",
    "canonical_name",
    "choice_probs",
    "consistency_prompts",
    "default_components",
    "get_method",
    "mean_logprobs",
    "method_class",
    "method_names",
    "pair_records",
    "params_for",
    "register",
    "run_consistency",
    "run_labels",
    "sft_records",
    "train_epochs",
    "unpair",
    "unregister",
]
