"""Generation under interventions with every backend: greedy tokens identical to the hf backend,
batched (left-padded) generation, ``positions="all"`` vs ``"response"``, hooks gone on exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import StoppingCriteria

from interp.generation import SamplingParams, generate
from interp.hooks import BACKENDS, AddVector, Intervention, ProjectOut, directional_ablation, make_backend
from interp.hooks.base import Backend
from interp.models import load_model
from interp.models.batching import pad_ids
from interp.models.chat import as_messages

QUESTIONS = ["hello there", "What is two plus two? The answer is", "Answer the question honestly."]
HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """Decoding is many tiny matmuls: on a shared 2-core machine two threads per process made the
    real-model test 10x slower (93 s vs 9 s) than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _backend(path: Path | str, name: str) -> Backend:
    lm = load_model(path, device="cpu")  # one model per backend: the TL bridge patches its model
    lm.model.set_attn_implementation("eager")
    return make_backend(name, lm)


@pytest.fixture(scope="module")
def backends(sharp_model_dir: Path) -> dict[str, Backend]:
    return {name: _backend(sharp_model_dir, name) for name in BACKENDS}


def _prompts(backend: Backend, questions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    lm = backend.loaded
    ids = [lm.tokenizer(lm.chat.render(as_messages([{"role": "user", "content": q}]), add_generation_prompt=True),
                        add_special_tokens=False)["input_ids"] for q in questions]
    return pad_ids(ids, lm.tokenizer.pad_token_id, side="left")


def _greedy(backend: Backend, ids: torch.Tensor, attn: torch.Tensor, ivs: list[Intervention], **kw: Any) -> torch.Tensor:
    """The generated tokens (greedy unless ``kw`` says otherwise) under ``ivs``."""
    kw = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": backend.loaded.tokenizer.pad_token_id, **kw}
    with backend.intervene(ivs):
        out = backend.generate(ids, attn, **kw)
    return out[:, ids.shape[1]:]


def _vector(d: int, norm: float) -> torch.Tensor:
    v = torch.randn(d, generator=torch.Generator().manual_seed(3))
    return v / v.norm() * norm


CASES: dict[str, Any] = {
    "plain": lambda v: [],
    "add_all": lambda v: [AddVector(HOOK, v, alpha=3.0)],
    "add_response": lambda v: [AddVector(HOOK, v, alpha=3.0, positions="response")],
    "project_out": lambda v: [ProjectOut(HOOK, torch.randn(16, 64, generator=torch.Generator().manual_seed(4)))],
    "ablation": lambda v: directional_ablation(v, n_layers=3),
    "ablation_keep_sink": lambda v: directional_ablation(v, n_layers=3, keep_sink=True),
}


def test_greedy_tokens_identical_across_backends(backends: dict[str, Backend]) -> None:
    ids, attn = _prompts(backends["hf"], QUESTIONS)
    assert (attn == 0).any()  # the batch really is left-padded
    v = _vector(64, 8.0)
    out = {(case, name): _greedy(b, ids, attn, make(v)) for case, make in CASES.items() for name, b in backends.items()}
    for case in CASES:
        for name in BACKENDS:
            assert torch.equal(out[case, name], out[case, "hf"]), (case, name, out[case, name], out[case, "hf"])
    plain = out["plain", "hf"]
    for case in CASES.keys() - {"plain"}:
        assert not torch.equal(out[case, "hf"], plain), case  # every intervention bites
    # "response" steers only generated tokens: the first one comes from the unsteered prompt pass
    assert torch.equal(out["add_response", "hf"][:, 0], plain[:, 0])
    assert not torch.equal(out["add_all", "hf"][:, 0], plain[:, 0])


@pytest.mark.parametrize("position", ["all", "response"])
def test_sampling_beams_and_early_stop_match_across_backends(position: str, backends: dict[str, Backend]) -> None:
    ids, attn = _prompts(backends["hf"], QUESTIONS)
    ivs = [AddVector(HOOK, _vector(64, 8.0), alpha=3.0, positions=position)]  # type: ignore[arg-type]
    settings: dict[str, dict[str, Any]] = {
        "sample_n2": dict(do_sample=True, temperature=1.0, num_return_sequences=2),  # batch expands to 6 rows
        "beams2": dict(num_beams=2, num_return_sequences=2),
    }
    for label, kw in settings.items():
        out = {}
        for name, backend in backends.items():
            torch.manual_seed(0)
            out[name] = _greedy(backend, ids, attn, ivs, **kw)
        assert out["hf"].shape[0] == 2 * len(QUESTIONS)
        assert torch.equal(out["transformer_lens"], out["hf"]) and torch.equal(out["nnsight"], out["hf"]), label
    one_ids, one_attn = _prompts(backends["hf"], QUESTIONS[:1])
    full = _greedy(backends["hf"], one_ids, one_attn, ivs)
    eos = int(full[0, 2])  # stop after the third token: the generation loop ends before max_new_tokens
    stopped = {name: _greedy(b, one_ids, one_attn, ivs, eos_token_id=eos) for name, b in backends.items()}
    assert stopped["hf"].shape[1] < full.shape[1]
    assert all(torch.equal(o, stopped["hf"]) for o in stopped.values()), stopped


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", ["add_response", "ablation_keep_sink"])
def test_batched_generation_matches_one_prompt_at_a_time(name: str, case: str, backends: dict[str, Backend]) -> None:
    """Left padding puts each prompt's first token (the sink ``keep_sink`` spares) in another column."""
    backend = backends[name]
    ivs = CASES[case](_vector(64, 8.0))
    ids, attn = _prompts(backend, QUESTIONS)
    batched = _greedy(backend, ids, attn, ivs)
    pad = backend.loaded.tokenizer.pad_token_id
    for i, q in enumerate(QUESTIONS):
        one_ids, one_attn = _prompts(backend, [q])
        alone = _greedy(backend, one_ids, one_attn, ivs)[0]  # stops at EOS; the batch pads the row on
        assert torch.equal(alone, batched[i, : alone.shape[0]]) and (batched[i, alone.shape[0]:] == pad).all(), (name, q)
    if case == "ablation_keep_sink":  # beams expand the batch before the prefill: the sinks expand with it
        beams = {n: _greedy(b, ids, attn, ivs, num_beams=2, num_return_sequences=2) for n, b in backends.items()}
        assert all(torch.equal(o, beams["hf"]) for o in beams.values())


def test_interp_generate_works_with_every_backend(backends: dict[str, Backend]) -> None:
    convs = [[{"role": "user", "content": q}] for q in QUESTIONS]
    params = SamplingParams(max_new_tokens=6)
    texts = {}
    for name, backend in backends.items():
        with backend.intervene([AddVector(HOOK, _vector(64, 8.0), alpha=3.0)]):
            texts[name] = generate(backend, convs, params, batch_size=2, cache=False, progress=False)
    assert texts["transformer_lens"] == texts["hf"] and texts["nnsight"] == texts["hf"]
    assert texts["hf"] != generate(backends["hf"], convs, params, batch_size=2, cache=False, progress=False)


class _Boom(StoppingCriteria):
    """Raises at the third decode step: an error in the middle of a steered generation."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom mid-generation")
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@pytest.mark.parametrize("name", BACKENDS)
def test_interventions_removed_on_exit_even_on_error(name: str, sharp_model_dir: Path) -> None:
    backend = _backend(sharp_model_dir, name)
    ids, attn = _prompts(backend, QUESTIONS[:2])
    plain = _greedy(backend, ids, attn, [])
    plain_logits = backend.run(ids, attn).logits
    ivs = [AddVector(HOOK, _vector(64, 8.0), alpha=3.0), *directional_ablation(_vector(64, 1.0), n_layers=3)]
    with pytest.raises(RuntimeError, match="boom inside"), backend.intervene(ivs):
        assert not torch.equal(backend.generate(ids, attn, max_new_tokens=8, do_sample=False)[:, ids.shape[1]:], plain)
        raise RuntimeError("boom inside the context")
    with pytest.raises(RuntimeError, match="boom mid-generation"):
        _greedy(backend, ids, attn, ivs, stopping_criteria=[_Boom()])
    assert backend._interventions == []
    assert torch.equal(_greedy(backend, ids, attn, []), plain)
    assert torch.equal(backend.run(ids, attn).logits, plain_logits)


@pytest.mark.real_model
def test_real_model_greedy_tokens_identical_across_backends() -> None:
    steered = {}
    for name in BACKENDS:
        backend = _backend("smollm2-135m-instruct", name)
        ids, attn = _prompts(backend, ["How should I invest my savings?", "Is it ever okay to lie?"])
        vec = _vector(backend.d_model, 24.0)
        steered[name] = _greedy(backend, ids, attn, [AddVector("blocks.1.hook_resid_post", vec)])
        if name == "hf":
            plain = _greedy(backend, ids, attn, [])
    assert not torch.equal(steered["hf"], plain)
    for name in BACKENDS:
        assert torch.equal(steered[name], steered["hf"]), (name, steered[name], steered["hf"])
