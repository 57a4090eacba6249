"""Batched, cached generation (tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interp.generation import GenerationCache, SamplingParams, generate
from interp.hooks import AddVector, make_backend
from interp.models import LoadedModel

CONVS = [[{"role": "user", "content": f"Tell me about the {w}."}] for w in ("fox", "dog", "power", "answer five")]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))


def test_batched_greedy_equals_one_at_a_time(tiny: LoadedModel) -> None:
    params = SamplingParams(max_new_tokens=6)
    batched = generate(tiny, CONVS, params, batch_size=4, cache=False, progress=False)
    single = [generate(tiny, [c], params, batch_size=1, cache=False, progress=False)[0] for c in CONVS]
    assert batched == single and all(len(c) == 1 for c in batched)


def test_cache_hit_and_torn_line(tiny: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params = SamplingParams(max_new_tokens=5, temperature=1.0, n=3, seed=1)
    first = generate(tiny, CONVS, params, progress=False)
    assert all(len(c) == 3 for c in first)
    files = list((tmp_path / "cache" / "generations").rglob("*.jsonl"))
    assert len(files) == 1
    with open(files[0], "a") as f:
        f.write('{"key": "torn')  # a killed run's half line is ignored
    assert len(GenerationCache(files[0]).entries) == 4
    monkeypatch.setattr(tiny.model, "generate", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert generate(tiny, CONVS, params, progress=False) == first


def test_a_generation_killed_midway_resumes_to_what_one_run_samples(tiny: LoadedModel, tmp_path: Path) -> None:
    """Batches and seeds come from the whole prompt list: the prompts left after a kill are sampled as
    they would have been (found when a resumed consistency run labelled 8 of 24 prompts otherwise)."""
    convs = CONVS + [[{"role": "user", "content": f"Say a word about {w}, please."}] for w in ("sand", "fire")]
    params = SamplingParams(max_new_tokens=5, temperature=1.0, n=2, seed=3)
    whole = generate(tiny, convs, params, batch_size=2, cache=False, progress=False)
    first = generate(tiny, convs, params, batch_size=2, progress=False)
    assert first == whole
    cache = next((tmp_path / "cache" / "generations").rglob("*.jsonl"))
    lines = cache.read_text().splitlines()
    assert len(lines) == 6
    cache.write_text("\n".join(lines[:2]) + "\n")  # killed after the first batch of two
    assert generate(tiny, convs, params, batch_size=2, progress=False) == whole


def test_steered_generation_is_not_mixed_with_plain(tiny: LoadedModel) -> None:
    params = SamplingParams(max_new_tokens=6)
    plain = generate(tiny, CONVS[:2], params, progress=False)
    backend = make_backend("hf", tiny)
    vec = tiny.model.get_input_embeddings().weight[42].detach() * 50
    with backend.intervene([AddVector("blocks.2.hook_resid_post", vec, positions="response")]):
        steered = generate(backend, CONVS[:2], params, progress=False)
    assert steered != plain
    assert generate(tiny, CONVS[:2], params, progress=False) == plain


def test_bad_params() -> None:
    with pytest.raises(ValueError, match="Greedy decoding gives one completion"):
        SamplingParams(n=2)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(temperature=1.0, top_p=0.0)
