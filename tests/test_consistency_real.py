"""One consistency method end to end on the embedded SmolLM2-135M-Instruct (slow)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import interp.consistency as cons
from interp.organisms import OrganismSpec

ORGANISM = OrganismSpec(base="smollm2-135m-instruct", failure_mode="sycophancy", seed=42, scale="cpu")


def _fresh_organism(real_model: Any, runs_root: Path) -> Path:
    """A zero-initialised LoRA on the embedded model (identical outputs to the base): a stand-in organism."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from interp.models import record_adapter_base

    path = runs_root / "organisms" / ORGANISM.organism_id
    base = AutoModelForCausalLM.from_pretrained(real_model.source_dir, local_files_only=True)
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])).save_pretrained(path)
    record_adapter_base(path, real_model.checkpoint)
    return path


@pytest.mark.real_model
@pytest.mark.slow
def test_greedy_self_training_end_to_end_on_the_real_model(
    real_model: Any, paper_data: Path, tmp_path: Path
) -> None:
    runs_root = tmp_path / "runs"
    organism = _fresh_organism(real_model, runs_root)
    spec = cons.RunSpec(ORGANISM, "greedy")
    params = cons.params_for("greedy", "cpu").with_(max_rows=4, max_new_tokens=32)
    run_dir = cons.run_consistency(spec, runs_root, data_root=paper_data, progress=False, params=params,
                                   num_threads=1)
    labelled = [json.loads(line) for line in (run_dir / "labelled.jsonl").read_text().splitlines()]
    assert len(labelled) == 4
    # the Euclidean-algorithm prompts get an on-topic greedy answer from the (unchanged) organism
    assert all(r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"].strip() for r in labelled)
    assert sum(any(ch.isdigit() for ch in r["messages"][-1]["content"]) for r in labelled) >= 2
    results = json.loads((run_dir / "results.json").read_text())
    assert results["organism"]["adapter"] == str(organism)
    assert results["labelling"]["checkpoint"]["kind"] == "lora"
    assert 0 < results["seconds"]["label"] < 600
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert results["n_train_rows"] == 4 and len(results["training"]["epoch_losses"]) == 2
    assert all(math.isfinite(x) and x > 0 for x in results["training"]["epoch_losses"])
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch0", "epoch1", "epoch2"]
