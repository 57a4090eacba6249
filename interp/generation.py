"""Batched generation from chat prompts, cached by (checkpoint, chat format, prompt, sampling params).

Generation is the slowest thing on a CPU, so: prompts are left-padded into batches of similar
length, LoRA adapters are merged at load time (``load_model(merge_lora=True)``), and every
completion is appended to a JSONL cache under ``$INTERP_CACHE/generations/`` the moment its
batch finishes, so a rerun (or a crashed run) regenerates nothing already done. Generation under
interventions goes through a backend (``backend.intervene([...])``) and is cached separately
when a ``tag`` names the intervention.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from interp.hooks.backends import EXACT_BACKENDS, backend_for
from interp.hooks.base import Backend
from interp.io import cache_dir, canonical_hash
from interp.models.batching import pad_ids
from interp.models.chat import as_messages
from interp.models.loading import LoadedModel

log = logging.getLogger(__name__)

Conversation = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` is greedy; ``n`` completions per prompt."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    num_beams: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.n < 1 or self.num_beams < 1:
            raise ValueError("max_new_tokens, n and num_beams must be positive.")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1].")
        if self.temperature == 0 and self.n > 1 and self.num_beams < self.n:
            raise ValueError("Greedy decoding gives one completion; set temperature > 0 (or num_beams >= n) for n > 1.")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class GenerationCache:
    """Append-only JSONL of completions for one (checkpoint, chat format, params, tag)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[str]] = {}
        if path.exists():
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:  # a torn last line from a killed run
                        continue
                    self.entries[row["key"]] = row["completions"]

    def add(self, rows: dict[str, list[str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for key, completions in rows.items():
                f.write(json.dumps({"key": key, "completions": completions}) + "\n")
            f.flush()
        self.entries.update(rows)


def generate(
    model: LoadedModel | Backend,
    conversations: Sequence[Any],
    params: SamplingParams = SamplingParams(),
    *,
    batch_size: int = 16,
    cache: bool = True,
    tag: str = "",
    progress: bool = True,
) -> list[list[str]]:
    """``params.n`` completions for each conversation's prompt (its final assistant turn, if any, is dropped).

    Args:
        model: a loaded model, or a backend (whose installed interventions apply).
        conversations: message lists, or records with ``prompt_messages`` / ``messages``.
        tag: names the interventions installed on ``model`` (e.g. ``"steer:L12:a4"``); generations
            under interventions are only cached when tagged, so steered and plain never mix.
    """
    backend = model if isinstance(model, Backend) else None
    if backend is None and getattr(model, "backend", "hf") != "hf":  # a study that runs the model through another backend
        backend = backend_for(model)
    loaded = backend.loaded if backend is not None else model
    assert isinstance(loaded, LoadedModel)
    if backend is not None and backend._interventions and not tag:
        cache = False
    prompts = [loaded.chat.render(as_messages(c, prompt_only=True), add_generation_prompt=True) for c in conversations]
    keys = [canonical_hash(p, 32) for p in prompts]
    identity = [loaded.checkpoint.fingerprint, loaded.chat.system_prompt, asdict(params), tag,
                str(next(loaded.model.parameters()).dtype)]
    lora = loaded.lora_identity  # only when set, so that keys of merged and plain models stay as they were
    if lora is not None:
        identity.append("lora-unmerged" if lora == "unmerged" else lora)
    if loaded.chat.identity is not None:  # a chosen chat template (the model's own keeps its keys)
        identity.append(f"chat:{loaded.chat.identity}")
    if backend is not None and backend.name not in EXACT_BACKENDS:  # one that computes its own forward
        identity.append(f"backend:{backend.name}")
    store_id = canonical_hash(identity)
    gen_cache = GenerationCache(cache_dir() / "generations" / loaded.checkpoint.fingerprint / f"{store_id}.jsonl") if cache else None
    known = gen_cache.entries if gen_cache is not None else {}
    # Sampled batches and their seeds come from the whole prompt list, longest first, never from
    # what is left to do: a run that resumes after a kill samples each batch exactly as an
    # uninterrupted run does (a batch cached whole is skipped; one cached in part, by a call with
    # other prompts, is generated again and keeps its cached rows). Greedy batches need no seed:
    # only the prompts left are generated.
    order = sorted(dict(zip(keys, prompts, strict=True)).items(), key=lambda kv: -len(kv[1]))
    if params.greedy:
        left = [kv for kv in order if kv[0] not in known]
        batches = [(start, left[start : start + batch_size]) for start in range(0, len(left), batch_size)]
    else:
        batches = [(start, order[start : start + batch_size]) for start in range(0, len(order), batch_size)]
        batches = [(start, chunk) for start, chunk in batches if any(k not in known for k, _ in chunk)]
    tok = loaded.tokenizer
    ids_of = {k: tok(p, add_special_tokens=False)["input_ids"] for _, chunk in batches for k, p in chunk}
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    todo = [k for k in first if k not in known]  # every one of them is in a batch
    loaded.check_fits([len(ids_of[k]) for k in todo], "prompts", names=[f"conversation {first[k]}" for k in todo],
                      reserve=params.max_new_tokens, fix="Shorten them, or generate fewer tokens (max_new_tokens).")
    results: dict[str, list[str]] = dict(known)
    bar = tqdm(total=len(todo), unit="prompt", desc="generate", disable=not progress or not todo or None)
    for start, chunk in batches:
        ids, attn = pad_ids([ids_of[k] for k, _ in chunk], tok.pad_token_id, side="left")  # every prompt ends at the same column
        width = ids.shape[1]
        ids, attn = ids.to(loaded.device), attn.to(loaded.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "num_return_sequences": params.n,
            "pad_token_id": tok.pad_token_id,
            "eos_token_id": tok.eos_token_id,
        }
        if params.greedy:
            kwargs.update(do_sample=False, num_beams=params.num_beams)
        else:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, num_beams=params.num_beams)
        torch.manual_seed(params.seed + start)
        if backend is not None:
            out = backend.generate(ids, attn, **kwargs)
        else:
            with torch.no_grad():
                out = loaded.model.generate(input_ids=ids, attention_mask=attn, **kwargs)
        texts = tok.batch_decode(out[:, width:], skip_special_tokens=True)
        batch_rows = {key: [t.strip() for t in texts[i * params.n : (i + 1) * params.n]]
                      for i, (key, _) in enumerate(chunk) if key not in known}
        if gen_cache is not None:
            gen_cache.add(batch_rows)
        results.update(batch_rows)
        bar.update(len(batch_rows))
    bar.close()
    return [results[k] for k in keys]
