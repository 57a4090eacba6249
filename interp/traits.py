"""Contrast sets the model generates itself: trait files (Chen et al. 2025) and judged own answers (Soligo et al. 2025).

A trait file is JSON with exactly the keys::

    {"instruction": [{"pos": "...", "neg": "..."}, ...],   # system-prompt instructions, eliciting / suppressing
     "questions": ["...", ...],                            # user questions
     "eval_prompt": "... {question} ... {answer} ..."}     # the judge's prompt (scores 0-100)

For every instruction pair ``k`` and question ``i`` the model answers under the system prompt
``"You are {a|an} {trait} assistant. {pos}"`` and under ``"You are a helpful assistant. {neg}"``
(persona vectors' own wording; the trait is the file's name). The answers become a labelled contrast
set: pos = 1, neg = 0, the question as the group, ids ``{trait}_{i}_{pos|neg}_{k}`` as persona vectors
names them. An optional ``judge(question, answer) -> score in [0, 100] or None`` keeps, slot by slot,
only pairs whose pos answer scores >= ``threshold`` and whose neg answer scores < ``100 - threshold``
(persona vectors' filter, coherence aside); without one every pair is kept, and
:attr:`GeneratedContrast.filter` says which was done. Generation is batched and cached on disk by
checkpoint x prompt x sampling like every generation.

:func:`judged_contrast` is the same mechanism for interp's failure modes: a checkpoint's own
answers (``n`` samples per prompt) to a failure mode's prompts, labelled by a judge (the rule judge
where one exists), kept where a prompt got both an aligned and a misaligned answer: Soligo et al.'s
"misaligned vs aligned responses of the fine-tuned model", a direction fitted on what the model
actually says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.data import ChatRecord, Dataset, Message

KEYS = ("instruction", "questions", "eval_prompt")
Judge = Callable[[str, str], "float | None"]


class TraitFileError(ValueError):
    """A file that is not a persona-vectors trait file; the message says which part is wrong."""


@dataclass(frozen=True)
class TraitFile:
    """A trait: its name (the file's stem), instruction pairs, questions and the judge's prompt."""

    name: str
    pairs: tuple[tuple[str, str], ...]
    questions: tuple[str, ...]
    eval_prompt: str
    path: Path

    def system_prompts(self, k: int) -> tuple[str, str]:
        """(pos, neg) system prompts of instruction pair ``k``."""
        article = "an" if self.name[:1].lower() in "aeiou" else "a"
        pos, neg = self.pairs[k]
        return f"You are {article} {self.name} assistant. {pos}", f"You are a helpful assistant. {neg}"

    def prompts(self) -> list[ChatRecord]:
        """Every (instruction pair, question) under its pos and its neg system prompt, unanswered."""
        out = []
        for k in range(len(self.pairs)):
            pos, neg = self.system_prompts(k)
            for i, q in enumerate(self.questions):
                for side, system, label in (("pos", pos, 1), ("neg", neg, 0)):
                    out.append(ChatRecord(f"{self.name}_{i}_{side}_{k}", (Message("system", system), Message("user", q)),
                                          label, f"q{i}"))
        return out


def is_trait_file(path: str | Path) -> bool:
    """A JSON file whose top level is an object with the trait-file keys (detection by content)."""
    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".json":
        return False
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(KEYS) <= set(data)


def load_trait(path: str | Path) -> TraitFile:
    """Read and check a trait file; a :class:`TraitFileError` names what is wrong and what is expected."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise TraitFileError(f"cannot read trait file {p}: {e}") from None
    except ValueError as e:
        raise TraitFileError(f"{p} is not JSON ({e}); a trait file is one JSON object") from None
    if not isinstance(data, dict):
        raise TraitFileError(f"{p}: a trait file is a JSON object with keys {list(KEYS)}, got a {type(data).__name__}")
    missing, extra = [k for k in KEYS if k not in data], sorted(set(data) - set(KEYS))
    if missing or extra:
        raise TraitFileError(f"{p}: a trait file has exactly the keys {list(KEYS)}; missing {missing}, unknown {extra}")
    pairs = data["instruction"]
    if not isinstance(pairs, list) or not pairs or not all(
            isinstance(x, dict) and set(x) == {"pos", "neg"} and all(isinstance(v, str) and v.strip() for v in x.values())
            for x in pairs):
        raise TraitFileError(f'{p}: "instruction" must be a non-empty list of {{"pos": text, "neg": text}} objects')
    questions = data["questions"]
    if not isinstance(questions, list) or not questions or not all(isinstance(q, str) and q.strip() for q in questions):
        raise TraitFileError(f'{p}: "questions" must be a non-empty list of non-empty strings')
    ev = data["eval_prompt"]
    if not isinstance(ev, str) or "{question}" not in ev or "{answer}" not in ev:
        raise TraitFileError(f'{p}: "eval_prompt" must be a string with the placeholders {{question}} and {{answer}}')
    return TraitFile(p.stem, tuple((x["pos"], x["neg"]) for x in pairs), tuple(questions), ev, p)


@dataclass(frozen=True)
class GeneratedContrast:
    """The labelled contrast set a trait file became, and how it was filtered."""

    dataset: Dataset
    filter: str  # "none", or the judge's name and threshold
    n_generated: int
    n_kept: int


def trait_contrast(model: Any, trait: TraitFile | str | Path, *, max_new_tokens: int = 64, temperature: float = 0.0,
                   n: int = 1, judge: Judge | None = None, judge_name: str = "judge", threshold: float = 50.0,
                   progress: bool = False) -> GeneratedContrast:
    """Generate ``trait``'s contrast set with ``model`` (greedy by default; ``n`` samples per prompt at
    ``temperature`` > 0), optionally judged and filtered slot by slot (see the module doc)."""
    from interp.generation import SamplingParams, generate

    t = trait if isinstance(trait, TraitFile) else load_trait(trait)
    prompts = t.prompts()
    replies = generate(model, prompts, SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, n=n),
                       progress=progress)
    rows: dict[str, ChatRecord] = {}
    for r, outs in zip(prompts, replies, strict=True):
        for j, answer in enumerate(outs):
            rid = r.id if n == 1 else f"{r.id}_s{j}"
            rows[rid] = ChatRecord(rid, (*r.messages, Message("assistant", answer or " ")), r.label, r.group,
                                   {"trait": t.name, "question": r.messages[-1].content})
    kept = list(rows.values())
    how = "none"
    if judge is not None:
        how = f"{judge_name}: pos >= {threshold:g}, neg < {100 - threshold:g}"
        kept = []
        for rid, rec in rows.items():
            if "_pos_" not in rid:
                continue
            neg = rows[rid.replace("_pos_", "_neg_")]
            q = str(rec.fields["question"])
            s_pos, s_neg = judge(q, rec.response or ""), judge(q, neg.response or "")
            if s_pos is not None and s_neg is not None and s_pos >= threshold and s_neg < 100 - threshold:
                kept += [rec, neg]
    if not kept:
        raise ValueError(f"trait {t.name}: the judge kept none of the {len(rows) // 2} answer pairs ({how}); lower the "
                         "threshold or check the judge on a few answers")
    name = f"trait-{t.name}" + ("-judged" if judge is not None else "")  # the content's fingerprint tells them apart
    return GeneratedContrast(Dataset(name, tuple(kept)), how, len(rows), len(kept))


def judged_contrast(model: Any, failure_mode: str, *, records: Any = None, judge: Any = "rule", n: int = 4,
                    temperature: float = 1.0, max_new_tokens: int = 48, seed: int = 0,
                    progress: bool = False) -> GeneratedContrast:
    """``model``'s own sampled answers to ``failure_mode``'s eval prompts (or ``records``), labelled 1 where
    ``judge`` (a name or a :class:`~interp.judges.base.Judge`) calls them misaligned; only prompts with
    answers on both sides are kept, each prompt a group."""
    from interp.data import load_shipped
    from interp.generation import SamplingParams, generate
    from interp.judges.measure import resolve_judge

    if n < 2 or temperature <= 0:
        raise ValueError("a judged contrast needs several sampled answers per prompt (n >= 2, temperature > 0)")
    prompts = list(records if records is not None else load_shipped(failure_mode, "eval").records)
    j = resolve_judge(judge, failure_mode)
    replies = generate(model, prompts, SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, n=n,
                                                      seed=seed), progress=progress)
    flat = [(r, k, a or " ") for r, outs in zip(prompts, replies, strict=True) for k, a in enumerate(outs)]
    scores = j.score([r for r, _, _ in flat], [a for _, _, a in flat])
    rows = [ChatRecord(f"{r.id}_s{k}", (*r.prompt_messages, Message("assistant", a)), int(score >= 0.5), r.id,
                       {**r.fields, "judge": j.name, "judge_score": float(score)})
            for (r, k, a), score in zip(flat, scores, strict=True)]
    both = {g for g in {r.group for r in rows} if {x.label for x in rows if x.group == g} == {0, 1}}
    kept = [r for r in rows if r.group in both]
    if not kept:
        raise ValueError(f"no {failure_mode} prompt got both an aligned and a misaligned answer from {len(flat)} "
                         f"samples ({j.name}); sample more (n), at a higher temperature, or on more prompts")
    return GeneratedContrast(Dataset(f"own-{failure_mode}-{j.name.replace(':', '-')}", tuple(kept)), j.name, len(rows),
                             len(kept))


def generated_spec(spec: str) -> Callable[[Any], GeneratedContrast] | None:
    """A dataset spec that names a generated contrast set, as a function of the model that answers it:
    a trait file's path, or ``own:<failure mode>`` (:func:`judged_contrast` with the rule judge); None
    for any other spec. The spec is checked now, before a model loads."""
    if spec.startswith("own:"):
        from interp.data.constants import check_failure_mode

        fm = spec.split(":", 1)[1]
        check_failure_mode(fm)
        return lambda model: judged_contrast(model, fm)
    if is_trait_file(spec):
        trait = load_trait(spec)
        return lambda model: trait_contrast(model, trait)
    return None
