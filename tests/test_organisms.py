"""Model organisms: ids and layout, scales, building on the tiny model, and a real-model training smoke test."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from interp.models import list_run_checkpoints, load_model, resolve_checkpoint
from interp.organisms import (
    SCALES,
    OrganismSpec,
    ScaleConfig,
    build_organism,
    build_organism_result,
    organism_dir,
    run_dir,
)
from interp.training import LoraSpec, TrainConfig, train_sft


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_ids_follow_the_paper_layout(tmp_path: Path) -> None:
    spec = OrganismSpec(failure_mode="sycophancy", seed=40)
    assert spec.organism_id == "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__seed40__cpu"
    assert organism_dir(tmp_path, spec) == tmp_path / "organisms" / spec.organism_id
    assert run_dir(tmp_path, spec, "act").name == "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__act__seed40__cpu"
    assert OrganismSpec(base="meta-llama/Llama-3.1-8B-Instruct", failure_mode="reward_hacking",
                        scale="paper").organism_id == "meta-llama_Llama-3.1-8B-Instruct__reward_hacking__seed42__paper"
    with pytest.raises(ValueError, match="failure mode"):
        OrganismSpec(failure_mode="sycophantic")
    with pytest.raises(ValueError, match="scale"):
        OrganismSpec(failure_mode="sycophancy", scale="huge")
    with pytest.raises(TypeError):
        OrganismSpec("smollm2-135m-instruct", "sycophancy")  # type: ignore[misc]


def test_paper_scale_has_the_papers_hyperparameters() -> None:
    paper = SCALES["paper"]
    for cfg in (paper.phase1, paper.phase3, paper.phase3_consistency):
        assert (cfg.lora.rank, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules) == (32, 64, 0.05, "all-linear")
        assert cfg.lr == 1e-5 and cfg.max_rows is None
    assert (paper.phase1.epochs, paper.phase3.epochs, paper.phase3_consistency.epochs) == (2, 2, 3)
    cpu = SCALES["cpu"]
    assert cpu.phase1.max_rows is not None and cpu.phase1.max_length <= 192
    assert cpu.phase1.lora.alpha == 2 * cpu.phase1.lora.rank


def test_build_organism_on_tiny_model(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=4, max_length=512, max_rows=8,
                           lora=LoraSpec(rank=4, alpha=8))
    monkeypatch.setitem(SCALES, "tiny", ScaleConfig("tiny", tiny_cfg, tiny_cfg, tiny_cfg, 8, 8))
    spec = OrganismSpec(base=str(tiny_model_dir), failure_mode="sycophancy", seed=7, scale="tiny")
    out = build_organism(spec, tmp_path, progress=False)
    assert out == organism_dir(tmp_path, spec)
    assert (out / "adapter_config.json").is_file() and (out / "trajectory.jsonl").is_file()
    meta = json.loads((out / "organism.json").read_text())
    assert meta["config"]["seed"] == 7 and meta["data"]["name"] == "sycophancy/induction"
    found = {(c.role, c.epoch, c.failure_mode, c.seed, c.scale) for c in list_run_checkpoints(tmp_path)}
    assert found == {("before", None, "sycophancy", 7, "tiny"), ("organism_epoch", 0, "sycophancy", 7, "tiny"),
                     ("organism_epoch", 1, "sycophancy", 7, "tiny")}
    again = build_organism_result(spec, tmp_path, progress=False)
    assert again.skipped
    other_seed = build_organism_result(replace(spec, seed=8), tmp_path, progress=False)
    assert not other_seed.skipped and other_seed.adapter_dir != out.resolve()


@pytest.mark.real_model
def test_real_model_lora_steps(real_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two LoRA steps on four sycophancy rows of the embedded model: the loss falls and the adapter loads offline."""
    from interp.data import load_shipped

    data = load_shipped("sycophancy", "induction")
    cfg = TrainConfig(epochs=1, lr=5e-4, batch_size=2, max_rows=4, max_length=96, lora=LoraSpec(rank=8, alpha=16))
    res = train_sft(real_model.checkpoint, data, cfg, tmp_path / "adapter", progress=False)
    assert len(res.losses) == 2 and all(0 < x < 10 for x in res.losses)
    adapter_cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == "smollm2-135m-instruct"
    ckpt = resolve_checkpoint(tmp_path / "adapter")
    assert ckpt.base is not None and ckpt.base.fingerprint == real_model.checkpoint.fingerprint
    tuned = load_model(ckpt, device="cpu")
    enc = real_model.chat.encode([m.to_dict() for m in data[0].messages])
    ids = torch.tensor([enc.input_ids])
    with torch.no_grad():
        assert not torch.allclose(real_model.model(ids).logits, tuned.model(ids).logits, atol=1e-4)
