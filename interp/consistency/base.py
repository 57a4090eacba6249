"""The labelling-method protocol, its parameters, the registry and the helpers every method shares.

A consistency method (phase 2 of the paper) turns prompts into self-labelled SFT records: the
prompt's turns plus the assistant answer the method chose. Each method is one module holding
one class with a ``name`` (its registry key, spelled as in the paper's code) and a
``label(model, prompts, params) -> Dataset``. Every labelled record keeps the prompt's id,
group and fields, and records its provenance under ``fields["consistency"]`` (method,
candidates, scores, index chosen, and whether the row is kept for training).

Rows a method rejects (multi-view disagreement, an empty answer) stay in the labelled file for
provenance but end on the user turn, with ``kept = False``; :func:`sft_records` drops them, as
the paper's phase 3 drops null or blank labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

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


@runtime_checkable
class LabelMethod(Protocol):
    """One consistency method: prompts in, self-labelled records out.

    ``kind`` is ``"label"`` for methods whose labels are SFT targets on the same prompts, and
    ``"pairs"`` for BCT/ACT, which take clean/wrapped pairs (see :func:`pair_records`).
    """

    name: ClassVar[str]
    kind: ClassVar[MethodKind]

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset: ...


# ---- the registry -------------------------------------------------------------------------------

REGISTRY: dict[str, type] = {}
ALIASES: dict[str, str] = {"greedy": "greedy_self_training", "multi_view": "multi_view_consistency"}


def register(cls: type) -> type:
    """Class decorator: add a method to :data:`REGISTRY` under its ``name``."""
    name = cls.name  # type: ignore[attr-defined]
    if name in REGISTRY and REGISTRY[name] is not cls:
        raise ValueError(f"two consistency methods are named {name!r}")
    REGISTRY[name] = cls
    return cls


def canonical_name(name: str) -> str:
    """The registry key for ``name`` or one of its aliases (``greedy``, ``multi_view``)."""
    key = ALIASES.get(name, name)
    if key not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"unknown consistency method {name!r}; known: {known} (aliases: {', '.join(ALIASES)})")
    return key


def get_method(name: str, **components: Any) -> LabelMethod:
    """An instance of the method called ``name``; ``components`` (reranker, judge, rubric...) go to its constructor."""
    method: LabelMethod = REGISTRY[canonical_name(name)](**components)
    return method


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
