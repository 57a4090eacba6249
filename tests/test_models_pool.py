"""ModelPool: one base load, adapters swapped unmerged, outputs equal to load_model's merged ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from interp.models import load_model, record_adapter_base, resolve_checkpoint
from interp.models.pool import ModelPool, StaleModelError

IDS = torch.tensor([[1, 5, 9, 20, 33, 40, 7], [2, 11, 3, 60, 8, 15, 90]])


def _make_adapter(base_dir: Path, out: Path, seed: int, targets: list[str]) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)  # adapter_config names base_dir as the base
    record_adapter_base(out, resolve_checkpoint(base_dir))
    return out


@pytest.fixture(scope="module")
def adapters(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pool-adapters")
    a = _make_adapter(tiny_model_dir, root / "a", 1, ["q_proj", "v_proj", "down_proj"])
    b = _make_adapter(tiny_model_dir, root / "b", 2, ["k_proj", "o_proj", "gate_proj", "up_proj"])
    return a, b


def _logits(lm: Any) -> torch.Tensor:
    with torch.no_grad():
        return lm.model(input_ids=IDS).logits


def _close(x: torch.Tensor, y: torch.Tensor) -> bool:
    return torch.allclose(x, y, rtol=1e-5, atol=1e-5 * float(y.abs().max()))


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every from_pretrained of a full model (the expensive base load)."""
    from transformers import AutoModelForCausalLM

    calls: list[str] = []
    original = AutoModelForCausalLM.from_pretrained

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counting)
    return calls


def test_pool_switches_adapters_exactly_and_loads_base_once(
    adapters: tuple[Path, Path], tiny_model_dir: Path, count_loads: list[str]
) -> None:
    torch.set_num_threads(1)
    a_dir, b_dir = adapters
    specs = {"a": a_dir, "b": b_dir, "base": tiny_model_dir}
    ref = {name: _logits(load_model(spec, device="cpu")) for name, spec in specs.items()}
    assert (
        not _close(ref["a"], ref["base"])
        and not _close(ref["b"], ref["base"])
        and not _close(ref["a"], ref["b"])
    )
    count_loads.clear()

    pool = ModelPool(device="cpu")
    # b is first attached while the adapters are disabled for the base: it must still switch on
    order = [
        ("a", a_dir),
        ("base", tiny_model_dir),
        ("b", b_dir),
        ("base", tiny_model_dir),
        ("a", a_dir),
        ("b", b_dir),
    ]
    got: dict[str, Any] = {}
    for name, spec in order:
        lm = pool.get(spec)
        assert _close(_logits(lm), ref[name]), name
        got[name] = lm
    assert count_loads == [str(tiny_model_dir)]  # one base load for six requests
    assert pool.base_loads == 1 and len(pool.adapters) == 2

    fps = {name: lm.checkpoint.fingerprint for name, lm in got.items()}
    assert fps["a"] == resolve_checkpoint(a_dir).fingerprint
    assert len(set(fps.values())) == 3  # each adapter keeps its own identity, distinct from the base
    assert got["a"].checkpoint.kind == "lora" and got["base"].checkpoint.kind == "hf"
    assert got["a"].tokenizer is got["b"].tokenizer and got["b"].n_layers == 3  # b is live (requested last)


def test_switched_out_models_refuse_use(adapters: tuple[Path, Path]) -> None:
    a_dir, b_dir = adapters
    pool = ModelPool(device="cpu")
    a = pool.get(a_dir)
    b = pool.get(b_dir)
    with pytest.raises(StaleModelError, match="switched out"):
        _logits(a)
    assert b.n_layers == 3
    assert pool.get(a_dir) is a and a.n_layers == 3  # re-got: live again, and b is now stale
    with pytest.raises(StaleModelError):
        _ = b.device


def test_other_base_evicts(adapters: tuple[Path, Path], tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other-base"
    shutil.copytree(tiny_model_dir, other)
    pool = ModelPool(device="cpu")
    a = pool.get(adapters[0])
    o = pool.get(other)
    assert pool.base_loads == 2 and pool.adapters == [] and pool.base == resolve_checkpoint(other)
    with pytest.raises(StaleModelError):
        _logits(a)
    assert _close(_logits(o), _logits(load_model(tiny_model_dir, device="cpu")))


def test_capture_through_pool_equals_load_model(adapters: tuple[Path, Path], tmp_path: Path) -> None:
    from interp.activations import CaptureConfig, capture

    torch.set_num_threads(1)
    convs = [
        [
            {"role": "user", "content": "What is two plus two?"},
            {"role": "assistant", "content": "The answer is four."},
        ],
        [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "general kenobi"}],
    ]
    config = CaptureConfig(
        hooks=("blocks.0.hook_resid_post", "blocks.2.hook_mlp_out"), positions="response_mean"
    )
    pool = ModelPool(device="cpu")
    pool.get(adapters[0])
    pooled = capture(pool.get(adapters[1]), convs, config, root=tmp_path / "pool", progress=False)
    merged = capture(
        load_model(adapters[1], device="cpu"), convs, config, root=tmp_path / "merged", progress=False
    )
    for hook in config.hooks:
        x, y = pooled.load(hook), merged.load(hook)
        assert x.shape == (2, 64)
        assert _close(x, y), hook


def test_hooks_and_generation_through_pool_match_load_model(adapters: tuple[Path, Path]) -> None:
    from interp.hooks import make_backend
    from interp.hooks.hf_backend import decoder_layers

    torch.set_num_threads(1)
    pool = ModelPool(device="cpu")
    pool.get(adapters[1])
    lm = pool.get(adapters[0])
    ref = load_model(adapters[0], device="cpu")
    assert (
        decoder_layers(lm.model)[0] == decoder_layers(ref.model)[0] == "model.layers"
    )  # peft leaves them in place
    attn = torch.ones_like(IDS)
    hooks = ["blocks.1.hook_resid_pre", "blocks.1.hook_attn_out", "blocks.2.hook_resid_post"]
    got, want = (make_backend("hf", m).run(IDS, attn, capture=hooks) for m in (lm, ref))
    for h in hooks:
        assert _close(got.activations[h], want.activations[h]), h
    gen = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": ref.tokenizer.pad_token_id}
    out, out_ref = (make_backend("hf", m).generate(IDS, attn, **gen) for m in (lm, ref))
    assert torch.equal(out, out_ref) and out.shape[1] == IDS.shape[1] + 6


def test_max_adapters_deletes_the_least_recently_used(adapters: tuple[Path, Path], tiny_model_dir: Path,
                                                      tmp_path: Path, count_loads: list[str]) -> None:
    a, b = adapters
    c = _make_adapter(tiny_model_dir, tmp_path / "c", 3, ["q_proj", "up_proj"])
    expected = {p: _logits(load_model(p)) for p in (a, b, c)}
    count_loads.clear()
    with pytest.raises(ValueError, match="max_adapters"):
        ModelPool(max_adapters=0)
    pool = ModelPool(max_adapters=2)
    la = pool.get(a)
    pool.get(b)
    pool.get(a)  # a is now the most recently used: attaching c deletes b, not a
    lc = pool.get(c)
    assert [ck.path for ck in pool.adapters] == [resolve_checkpoint(a).path, resolve_checkpoint(c).path]
    assert _close(_logits(lc), expected[c])
    with pytest.raises(StaleModelError):
        _logits(la)  # switched out by the later get, as always
    for p in (b, a, c, b):  # b comes back from disk, each time the right weights
        assert _close(_logits(pool.get(p)), expected[p])
        assert len(pool.adapters) <= 2
    assert pool.base_loads == 1 and len(count_loads) == 1  # the base was never reloaded


def test_adapter_dtype_runs_lora_in_bf16_equal_to_load_model_and_keyed(adapters: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    from interp.activations.capture import CaptureConfig, store_key

    torch.set_num_threads(1)
    fast = ModelPool(device="cpu", dtype="bfloat16", adapter_dtype="bfloat16")
    plain = ModelPool(device="cpu", dtype="bfloat16")
    got, ref = fast.get(adapters[0]), plain.get(adapters[0])
    lora = [p for n, p in got.model.named_parameters() if "lora_" in n]
    assert lora and all(p.dtype == torch.bfloat16 for p in lora)
    assert all(p.dtype == torch.float32 for n, p in ref.model.named_parameters() if "lora_" in n)
    assert (got.lora_identity, ref.lora_identity) == ("unmerged:bfloat16", "unmerged")
    x, y = _logits(got).float(), _logits(ref).float()
    base = _logits(ModelPool(device="cpu", dtype="bfloat16").get(resolve_checkpoint(adapters[0]).base)).float()
    # the LoRA term survives: bf16-LoRA logits sit near the float32-LoRA ones, far from the base's
    assert (x - y).abs().max() < 0.2 * (y - base).abs().max()
    direct = load_model(adapters[0], device="cpu", dtype="bfloat16", merge_lora=False, adapter_dtype="bfloat16")
    assert torch.equal(_logits(direct), _logits(got))  # the pool equals load_model's unmerged reference
    # a second adapter attached later is cast too
    assert all(p.dtype == torch.bfloat16 for n, p in fast.get(adapters[1]).model.named_parameters() if "lora_" in n)
    config = CaptureConfig(hooks=("blocks.0.hook_resid_post",))
    assert store_key(direct, "d", config) != store_key(
        load_model(adapters[0], device="cpu", dtype="bfloat16", merge_lora=False), "d", config)
    with pytest.raises(ValueError, match="merge_lora=False"):
        load_model(adapters[0], device="cpu", adapter_dtype="bfloat16")
