"""Activation capture and store: positions, cache hits, resume, bounded shards, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from interp.activations import ActivationStore, CaptureConfig, Example, StoreError, capture
from interp.hooks import make_backend
from interp.hooks.hf_backend import HFBackend
from interp.models import LoadedModel

HOOKS = ("blocks.0.hook_resid_post", "blocks.2.hook_resid_post", "blocks.1.hook_mlp_out")


def _data(n: int = 10) -> list[Example]:
    words = ["fox", "dog", "power", "honest", "kindly", "answer", "four", "five"]
    out = []
    for i in range(n):
        prompt = f"What is {words[i % 8]} {i}?"
        response = " ".join(words[(i + j) % 8] for j in range(1 + i % 4))
        out.append(Example(({"role": "user", "content": prompt}, {"role": "assistant", "content": response}),
                           id=f"ex{i}", label=i % 2, group=f"g{i // 2}"))
    return out


def _reference(lm: LoadedModel, ex: Example) -> dict[str, torch.Tensor]:
    """Unbatched, unpadded activations of one example at every HOOK, for checking pooled rows."""
    enc = lm.chat.encode(ex.messages)
    ids = torch.tensor([enc.input_ids])
    result = make_backend("hf", lm).run(ids, capture=list(HOOKS), return_logits=False)
    return {h: v[0] for h, v in result.activations.items()} | {"mask": torch.tensor(enc.response_mask), "prompt_len": torch.tensor(enc.prompt_len)}


@pytest.mark.parametrize("positions", ["last_prompt", "prompt_mean", "response_mean", "response_all", "all"])
def test_positions_match_unbatched_reference(tiny: LoadedModel, tmp_path: Path, positions: str) -> None:
    data = _data(7)
    store = capture(tiny, data, CaptureConfig(HOOKS, positions=positions, batch_size=3), root=tmp_path, progress=False)  # type: ignore[arg-type]
    rows = store.rows()
    acts = store.load_many(HOOKS)
    for i, ex in enumerate(data):
        ref = _reference(tiny, ex)
        sel = (rows["example"] == i).to_numpy().copy()
        got = acts["blocks.2.hook_resid_post"][torch.from_numpy(sel)]
        x = ref["blocks.2.hook_resid_post"]
        pl = int(ref["prompt_len"])
        expected = {
            "last_prompt": x[pl - 1 : pl],
            "prompt_mean": x[1:pl].mean(0, keepdim=True),
            "response_mean": x[ref["mask"]].mean(0, keepdim=True),
            "response_all": x[ref["mask"]],
            "all": x[1:],
        }[positions]
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-4), (positions, i)
    assert rows.groupby("example")["label"].first().tolist() == [i % 2 for i in range(7)]  # metadata travels
    if positions in ("response_all", "all"):
        assert 0 not in set(rows["position"])  # the attention sink is excluded


def test_store_records_identity(tiny: LoadedModel, tmp_path: Path) -> None:
    store = capture(tiny, _data(), CaptureConfig(HOOKS), root=tmp_path, progress=False)
    m = store.manifest
    assert m["complete"] and m["checkpoint"]["fingerprint"] == tiny.checkpoint.fingerprint
    assert m["dataset"]["n_examples"] == 10 and len(m["dataset"]["fingerprint"]) == 64
    assert m["hooks"] == ["blocks.0.hook_resid_post", "blocks.1.hook_mlp_out", "blocks.2.hook_resid_post"]
    assert {"torch", "transformers", "interp"} <= set(m["versions"])
    assert store.labels().tolist() == [i % 2 for i in range(10)]
    assert list(store.groups()[:3]) == ["g0", "g0", "g1"]


class _Counting(HFBackend):
    calls = 0
    fail_after: int | None = None

    def _run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        if self.fail_after is not None and type(self).calls > self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        return super()._run(*args, **kwargs)


def test_repeat_capture_is_a_cache_hit(tiny: LoadedModel, tmp_path: Path) -> None:
    cfg = CaptureConfig(HOOKS)
    first = capture(tiny, _data(), cfg, root=tmp_path, progress=False)
    backend = _Counting(tiny)
    _Counting.calls = 0
    again = capture(backend, _data(), CaptureConfig(HOOKS, batch_size=2, shard_mb=7), root=tmp_path, progress=False)
    assert _Counting.calls == 0 and again.path == first.path
    other = capture(backend, _data(), CaptureConfig(HOOKS, positions="last_prompt"), root=tmp_path, progress=False)
    assert _Counting.calls > 0 and other.path != first.path  # a changed input is a new capture


def test_interrupted_capture_resumes_and_matches(tiny: LoadedModel, tmp_path: Path) -> None:
    data = _data(12)
    clean = capture(tiny, data, CaptureConfig(HOOKS, batch_size=2), root=tmp_path / "clean", progress=False)
    # tiny shards: every batch becomes its own shard, so an interruption leaves finished shards behind
    cfg = CaptureConfig(HOOKS, batch_size=2, shard_mb=0.001)
    backend = _Counting(tiny)
    _Counting.calls, backend.fail_after = 0, 3
    with pytest.raises(KeyboardInterrupt):
        capture(backend, data, cfg, root=tmp_path / "resumed", progress=False)
    partial = ActivationStore(next((tmp_path / "resumed").iterdir()))
    assert not partial.complete and 0 < len(partial.done_examples()) < 12
    with pytest.raises(StoreError, match="incomplete"):
        partial.load(HOOKS[0])
    _Counting.calls, backend.fail_after = 0, None
    resumed = capture(backend, data, cfg, root=tmp_path / "resumed", progress=False)
    assert _Counting.calls == (12 - len(partial.done_examples())) // 2  # only the missing batches ran
    for h in HOOKS:
        assert torch.allclose(resumed.load(h), clean.load(h), atol=1e-5)


def test_memory_is_bounded_by_shards(tiny: LoadedModel, tmp_path: Path) -> None:
    store = capture(tiny, _data(40), CaptureConfig(HOOKS, positions="all", batch_size=4, shard_mb=0.05), root=tmp_path, progress=False)
    sizes = [s["rows"] for s in store.manifest["shards"]]
    assert sum(sizes) == len(store.rows())
    limit_rows = 0.05 * 2**20 / (64 * 4 * len(HOOKS))
    assert len(sizes) > 3 and max(sizes) <= limit_rows + 4 * 64  # a shard never exceeds the limit by more than one batch


def test_bad_input(tiny: LoadedModel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown hook point"):
        CaptureConfig(("resid_post_12",))
    with pytest.raises(ValueError, match="positions must be one of"):
        CaptureConfig(HOOKS, positions="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="layers 0..2"):
        capture(tiny, _data(), CaptureConfig(("blocks.9.hook_resid_post",)), root=tmp_path, progress=False)
    with pytest.raises(ValueError, match="empty"):
        capture(tiny, [], CaptureConfig(HOOKS), root=tmp_path, progress=False)
    prompt_only = [Example(({"role": "user", "content": "hi"},))]
    with pytest.raises(ValueError, match="no response tokens to read"):  # refused before a store is opened
        capture(tiny, prompt_only, CaptureConfig(HOOKS, positions="response_mean"), root=tmp_path, progress=False)
    with pytest.raises(StoreError, match="not an activation store"):
        ActivationStore(tmp_path / "nothing")
    store = capture(tiny, _data(), CaptureConfig(HOOKS), root=tmp_path, progress=False)
    with pytest.raises(StoreError, match="was not captured"):
        store.load("blocks.1.hook_resid_pre")
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["format"] = "other/9"
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="format"):
        ActivationStore(store.path)


def test_a_conversation_past_the_context_is_refused_or_cut_on_request(tiny: LoadedModel, tmp_path: Path) -> None:
    """Refused by default; with ``truncate`` its first ``context`` tokens are captured (the rows equal a
    capture of those tokens) and the manifest counts the cut."""
    long = Example(({"role": "user", "content": "Tell me."}, {"role": "assistant", "content": "power " * 1200}),
                   id="long", label=1, group="gl")
    data = [*_data(4), long]
    with pytest.raises(ValueError, match=r"1 conversations are longer than the model's context \(1024 tokens\).*'long'"):
        capture(tiny, data, CaptureConfig(HOOKS), root=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # refused before a store was begun
    store = capture(tiny, data, CaptureConfig(HOOKS, truncate=True), root=tmp_path, progress=False)
    assert store.manifest["truncated"] == 1
    row = (store.rows()["example"] == 4).to_numpy().copy()
    got = store.load("blocks.2.hook_resid_post")[torch.from_numpy(row)]
    enc = tiny.chat.encode(long.messages)
    ids = torch.tensor([enc.input_ids[:1024]])
    x = make_backend("hf", tiny).run(ids, capture=["blocks.2.hook_resid_post"], return_logits=False).activations
    mask = torch.tensor(enc.response_mask[:1024])
    assert torch.allclose(got[0], x["blocks.2.hook_resid_post"][0][mask].mean(0), atol=1e-4)
