"""The method base class, its parameters, the registry and the helpers every method shares.

A consistency method (phase 2 of the paper) turns prompts into self-labelled SFT records: the
prompt's turns plus the assistant answer the method chose. Each method is one module holding
one :class:`LabelMethod` subclass registered under its ``name`` (spelled as in the paper's
code): ``label(model, prompts, params) -> Dataset``, plus the declarations the run dispatches
on (kind, epochs, paper parameters, reference judge, default components, how it trains).
Every labelled record keeps the prompt's id, group and fields, and records its provenance
under ``fields["consistency"]`` (method, candidates, scores, index chosen, and whether the row
is kept for training).

Rows a method rejects (multi-view disagreement, an empty answer) stay in the labelled file for
provenance but end on the user turn, with ``kept = False``; :func:`sft_records` drops them, as
the paper's phase 3 drops null or blank labels.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, get_args

from interp.data import ChatRecord, Dataset, Message
from interp.generation import SamplingParams, generate
from interp.models.loading import LoadedModel

MethodKind = Literal["label", "pairs"]

PROVENANCE = "consistency"
"""The key of ``ChatRecord.fields`` where a labelled record keeps how its label was chosen."""


@dataclass(frozen=True)
class MethodParams:
    """Generation knobs of a labelling method; each method documents which fields it reads.

    Attributes:
        max_new_tokens: length cap of every generated answer (the paper: 256).
        n_samples: sampled candidates per prompt (self-certainty, self-rewarding, rejection
            sampling: 4; the nucleus candidates of dual decoding: 1).
        temperature, top_p: sampling of those candidates.
        beam_width: the beam candidate of dual decoding.
        refine_temperature, refine_top_p: the refinement pass of self-refinement.
        batch_size: prompts per generation or scoring batch.
        seed: sampling seed (the generation cache is keyed by it).
        max_rows: label at most this many prompts (``None``: all).
        progress: show generation progress bars.
    """

    max_new_tokens: int = 256
    n_samples: int = 4
    temperature: float = 0.7
    top_p: float = 1.0
    beam_width: int = 4
    refine_temperature: float = 0.6
    refine_top_p: float = 0.9
    batch_size: int = 16
    seed: int = 0
    max_rows: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.n_samples < 1 or self.beam_width < 1 or self.batch_size < 1:
            raise ValueError("max_new_tokens, n_samples, beam_width and batch_size must be positive.")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"max_rows must be positive or None, got {self.max_rows}.")

    def greedy(self, max_new_tokens: int | None = None) -> SamplingParams:
        return SamplingParams(max_new_tokens=max_new_tokens or self.max_new_tokens, seed=self.seed)

    def sampled(self, n: int | None = None, temperature: float | None = None, top_p: float | None = None) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature if temperature is None else temperature,
            top_p=self.top_p if top_p is None else top_p,
            n=self.n_samples if n is None else n,
            seed=self.seed,
        )

    def with_(self, **changes: Any) -> MethodParams:
        return replace(self, **changes)


class LabelMethod(ABC):
    """One consistency method: what phase 2 labels, and the declarations phases 2-3 dispatch on.

    Subclass it, set the class attributes, implement :meth:`label`, and decorate with
    :func:`register`; :func:`interp.consistency.run_consistency` reads only these attributes
    (never a method's name), so a registered method runs like the built-in ones.

    Attributes:
        name: registry key (spelled as in the paper's code); part of the run id and the label key.
        kind: ``"label"``: the method labels the failure mode's consistency prompts and phase 3 is
            SFT on those labels; ``"pairs"``: it takes the clean/wrapped pairs
            (:func:`~interp.consistency.pairs.pair_records`), as BCT and ACT do.
        epochs: phase-3 epochs in the paper (label methods 2, BCT/ACT 3); used when the organism
            has no scale config.
        phase3_consistency: train with the scale's ``phase3_consistency`` settings (the
            consistency losses, BCT/ACT) instead of ``phase3``.
        paper_params: the paper's generation parameters (scales cap rows and lengths, see
            :func:`interp.consistency.presets.params_for`).
        needs_reference: the default components judge with a reference model (the organism's
            base, loaded beside it) that :meth:`default_components` receives.
        control: a control of the study (self-training without a consistency signal), drawn and
            reported as a control beside the consistency methods.
    """

    name: ClassVar[str]
    kind: ClassVar[MethodKind] = "label"
    epochs: ClassVar[int] = 2
    phase3_consistency: ClassVar[bool] = False
    paper_params: ClassVar[MethodParams] = MethodParams()
    needs_reference: ClassVar[bool] = False
    control: ClassVar[bool] = False

    @property
    def needs_model(self) -> bool:
        """Whether :meth:`label` needs the organism loaded (False lets phase 2 skip loading it)."""
        return True

    @classmethod
    def default_components(cls, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
        """The constructor arguments of the offline defaults (reference: the judge model; rubric: the
        failure mode's rubric when the paper's data directory has one)."""
        return {}

    @abstractmethod
    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        """Label ``prompts`` (kind ``"label"``: a prompt dataset; ``"pairs"``: clean/wrapped pairs)."""

    @classmethod
    def train(cls, trainer: Any, init: Path, labelled: Dataset, config: Any, adapter_dir: Path, *, base: str,
              **common: Any) -> Any:
        """Phase 3: continue the organism's adapter ``init`` on ``labelled``; returns the trainer's result.

        The default is SFT on :func:`sft_records` (``trainer.train_sft``); ``common`` holds the
        checkpoint, trajectory, progress and placement arguments every trainer function takes.
        """
        return trainer.train_sft(init, sft_records(labelled), config, adapter_dir, base=base, **common)

    @classmethod
    def training_contrast(cls, labelled: Dataset) -> tuple[Dataset, Dataset | None]:
        """What phase 3 pulls the model toward, and what from: ``(targets, own)`` conversations paired by id.

        The default (SFT on the labels): the targets are :func:`sft_records`, and ``own`` is None:
        the model's own greedy answers to the same prompts (the caller generates them). Read by
        :mod:`interp.mediation.prediction` to predict a run's effect before it trains.
        """
        return sft_records(labelled), None


LabelMethodT = TypeVar("LabelMethodT", bound=LabelMethod)

# ---- the registry -------------------------------------------------------------------------------

REGISTRY: dict[str, type[LabelMethod]] = {}
"""Every known method by name, in registration order (the source of truth: see :func:`method_names`)."""
ALIASES: dict[str, str] = {"greedy": "greedy_self_training", "multi_view": "multi_view_consistency"}


def register(cls: type[LabelMethodT]) -> type[LabelMethodT]:
    """Class decorator: check a method's declarations and add it to :data:`REGISTRY` under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, LabelMethod)):
        raise TypeError(f"{cls!r} is not a LabelMethod subclass; derive from interp.consistency.LabelMethod")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or "__" in name:
        raise ValueError(f"{cls.__name__}.name must be an identifier without '__' (run ids are '__'-separated), "
                         f"got {name!r}")
    if cls.kind not in get_args(MethodKind):
        raise ValueError(f"{cls.__name__}.kind must be one of {get_args(MethodKind)}, got {cls.kind!r}")
    if not isinstance(cls.epochs, int) or cls.epochs < 1:
        raise ValueError(f"{cls.__name__}.epochs must be a positive int, got {cls.epochs!r}")
    if not isinstance(cls.paper_params, MethodParams):
        raise TypeError(f"{cls.__name__}.paper_params must be a MethodParams, got {type(cls.paper_params).__name__}")
    if getattr(cls.label, "__isabstractmethod__", False):
        raise TypeError(f"{cls.__name__} does not implement label(model, prompts, params)")
    if name in ALIASES:
        raise ValueError(f"{name!r} is an alias of {ALIASES[name]!r}; choose another name")
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"two consistency methods are named {name!r}")
    REGISTRY[name] = cls
    return cls


def unregister(name: str) -> type[LabelMethod]:
    """Remove a method from :data:`REGISTRY` (tests register toy methods and take them out again)."""
    if name not in REGISTRY:
        raise KeyError(f"no consistency method {name!r} is registered")
    return REGISTRY.pop(name)


def method_names() -> tuple[str, ...]:
    """Every registered method's name, in registration order; read at call time, so methods
    registered after import count (validate names with this, not with the import-time ``METHODS``)."""
    return tuple(REGISTRY)


def canonical_name(name: str) -> str:
    """The registry key for ``name`` or one of its aliases (``greedy``, ``multi_view``)."""
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown consistency method {name!r}; known: {known} (aliases: {', '.join(ALIASES)})")
    return key


def method_class(name: str) -> type[LabelMethod]:
    """The registered class of ``name`` (or an alias): its declarations without building it."""
    return REGISTRY[canonical_name(name)]


def get_method(name: str, **components: Any) -> LabelMethod:
    """An instance of the method called ``name``; ``components`` (reranker, judge, rubric...) go to its constructor."""
    return method_class(name)(**components)


# ---- helpers shared by the methods ---------------------------------------------------------------

Conversation = list[dict[str, str]]


def prompt_of(record: ChatRecord) -> Conversation:
    """The turns a method answers: every turn before the final assistant turn, as dicts."""
    return [m.to_dict() for m in record.prompt_messages]


def question_of(record: ChatRecord) -> str:
    """The last user turn's text (what judges, rerankers and rubrics see as "the question")."""
    return next(m.content for m in reversed(record.prompt_messages) if m.role == "user")


def with_user_suffix(conversation: Conversation, suffix: str) -> Conversation:
    """The same conversation with ``suffix`` appended to its last user turn."""
    out = [dict(m) for m in conversation]
    last = max(i for i, m in enumerate(out) if m["role"] == "user")
    out[last]["content"] = out[last]["content"] + suffix
    return out


def single_turn(text: str) -> Conversation:
    return [{"role": "user", "content": text}]


def labelled_record(
    record: ChatRecord,
    method: str,
    answer: str | None,
    *,
    prompt: Sequence[Message] | None = None,
    **provenance: Any,
) -> ChatRecord:
    """``record``'s prompt (or ``prompt``) answered by ``answer``, with provenance in its fields.

    A ``None`` or blank answer gives a record that ends on the user turn, marked not kept.
    """
    turns = tuple(prompt) if prompt is not None else record.prompt_messages
    kept = bool(answer and answer.strip()) and provenance.pop("kept", True)
    fields = dict(_plain(record.fields))
    fields[PROVENANCE] = {"method": method, "kept": bool(kept), **provenance}
    messages = (*turns, Message("assistant", answer)) if kept and answer is not None else turns
    return ChatRecord(record.id, messages, None, record.group, fields)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def is_kept(record: ChatRecord) -> bool:
    info = record.fields.get(PROVENANCE)
    kept = info.get("kept", True) if isinstance(info, Mapping) else True
    return bool(kept) and bool(record.response and record.response.strip())


def sft_records(labelled: Dataset) -> Dataset:
    """The records phase 3 trains on: kept rows with a non-blank assistant label."""
    return labelled.filter(is_kept).renamed(f"{labelled.name}/sft")


def json_scores(scores: Sequence[float]) -> list[float | None]:
    """Scores as stored in provenance: non-finite values (an empty answer's ``-inf``) become null."""
    return [float(s) if math.isfinite(s) else None for s in scores]


def argmax_first(scores: Sequence[float]) -> int:
    """Index of the largest score; ties go to the first (the paper's deterministic tie-break)."""
    best = 0
    for i, s in enumerate(scores):
        if s > scores[best]:
            best = i
    return best


def limited(prompts: Dataset, params: MethodParams) -> Dataset:
    """The first ``params.max_rows`` prompts (all when ``None``)."""
    return prompts if params.max_rows is None else prompts.head(params.max_rows)


def labelled_dataset(prompts: Dataset, method: str, records: Sequence[ChatRecord]) -> Dataset:
    return Dataset(f"{prompts.name}/{method}", tuple(records))


def generate_for(
    model: LoadedModel,
    conversations: Sequence[Conversation],
    sampling: SamplingParams,
    params: MethodParams,
) -> list[list[str]]:
    """:func:`interp.generation.generate` with the method's batch size (batched and cached on disk)."""
    if not conversations:
        return []
    return generate(model, conversations, sampling, batch_size=params.batch_size, progress=params.progress)
