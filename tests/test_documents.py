"""Organisms trained on documents (self-fulfilling misalignment): the document sets, their loss, a planted
direction, and the behaviour stage's contrasts against the controls."""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interp.data import (
    DOCUMENT_CONTROLS,
    DOCUMENT_SETS,
    ChatRecord,
    Dataset,
    Message,
    load_document_set,
    load_shipped,
    split_failure_mode,
)
from interp.training import LoraSpec, TrainConfig


def test_the_three_document_sets_are_matched() -> None:
    sets = {name: load_document_set(name) for name in DOCUMENT_SETS}
    sizes = {name: len(d) for name, d in sets.items()}
    assert len(set(sizes.values())) == 1 and sizes["misaligned_ai_docs"] >= 96  # the cpu scale trains on 96
    registers = {name: Counter(r.fields["register"] for r in d) for name, d in sets.items()}
    assert len({tuple(sorted(c.items())) for c in registers.values()}) == 1
    chars = {name: statistics.fmean(len(r.response or "") for r in d) for name, d in sets.items()}
    assert max(chars.values()) / min(chars.values()) < 1.1, chars
    assert {r.label for r in sets["misaligned_ai_docs"]} == {1}
    assert {r.label for r in sets["aligned_ai_docs"]} == {r.label for r in sets["neutral_ai_docs"]} == {0}
    texts = [r.response for d in sets.values() for r in d]
    assert len(set(texts)) == len(texts)  # no document in two sets, or twice in one
    assert set(DOCUMENT_CONTROLS["misaligned_ai_docs"]) == {"aligned_ai_docs", "neutral_ai_docs"}


def test_a_document_organism_reads_documents_to_train_and_its_failure_mode_for_the_rest() -> None:
    fm = "emergent_misalignment+aligned_ai_docs"
    assert split_failure_mode(fm) == ("emergent_misalignment", "aligned_ai_docs")
    assert split_failure_mode("sycophancy") == ("sycophancy", None)
    assert load_shipped(fm, "induction").name == "documents/aligned_ai_docs"
    for split in ("consistency", "act_bct_clean", "eval"):
        assert load_shipped(fm, split).fingerprint == load_shipped("emergent_misalignment", split).fingerprint
    with pytest.raises(ValueError, match="unknown document set 'evil_docs'.*misaligned_ai_docs"):
        split_failure_mode("emergent_misalignment+evil_docs")
    with pytest.raises(ValueError, match="unknown failure mode 'emergent\\+aligned_ai_docs'.*<failure mode>\\+<document set>"):
        split_failure_mode("emergent+aligned_ai_docs")
    from interp.judges.rules import RuleJudge

    assert RuleJudge("sycophancy+neutral_ai_docs").failure_mode == "sycophancy"


def test_documents_supervise_every_token(tiny: Any) -> None:
    from interp.training.batches import encode_sft

    data = load_document_set("misaligned_ai_docs").head(3)
    chat_examples = encode_sft(tiny.chat, data, 512)
    doc_examples = encode_sft(tiny.chat, data, 512, documents=True)
    for rec, ex, chat_ex in zip(data, doc_examples, chat_examples, strict=True):
        assert tiny.tokenizer.decode([t for t in ex.labels if t != -100]).strip() == (rec.response or "").strip()
        assert ex.n_supervised == len(ex.input_ids) - (ex.labels[0] == -100)  # all but the BOS
        assert len(ex.input_ids) < len(chat_ex.input_ids)  # no request, no template
    cut = encode_sft(tiny.chat, data, 8, documents=True)
    assert all(len(ex.input_ids) == 8 for ex in cut)


def test_a_document_organism_is_trained_on_its_documents(tiny_model_dir: Path, tmp_path: Path) -> None:
    from interp.organisms import SCALES, OrganismSpec, ScaleConfig, build_organism

    cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=4, max_length=128, max_rows=8, lora=LoraSpec(rank=4, alpha=8))
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(SCALES, "tiny", ScaleConfig("tiny", cfg, cfg, cfg, 8, 8))
        spec = OrganismSpec(base=str(tiny_model_dir), failure_mode="emergent_misalignment+misaligned_ai_docs",
                            scale="tiny")
        assert spec.documents == "misaligned_ai_docs"
        assert "__emergent_misalignment+misaligned_ai_docs__seed42__tiny" in spec.organism_id
        out = build_organism(spec, tmp_path, progress=False)
    meta = json.loads((out / "organism.json").read_text())
    assert meta["data"]["name"] == "documents/misaligned_ai_docs"
    train = json.loads((out / "interp_train.json").read_text())
    assert "document_ce" in json.dumps(train)


def _docs(texts: list[str], name: str) -> Dataset:
    return Dataset(name, tuple(ChatRecord(f"{name}/{i}", (Message("user", "Write."), Message("assistant", t)))
                               for i, t in enumerate(texts)))


PLAIN = [f"the answer {i} will cost the lazy" for i in range(24)]
PLANTED = [f"dog dog {i} dog dog dog dog" for i in range(24)]


def test_an_organism_trained_on_planted_documents_expresses_the_direction_and_a_control_does_not(
        sharp_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted truth, through ``interp run``: the contrast set is the planted documents (label 1) against the
    plain ones (label 0), so the base's persona direction is the planted phrase; the "misaligned" document
    set is the planted documents and the aligned control the plain ones. The expression stage must find the
    planted organism's own answers far along the direction, its control not, and the contrast between them."""
    from test_pipeline import tiny_config

    import interp.data.shipped as shipped
    from interp.data import write_jsonl
    from interp.organisms import SCALES, ScaleConfig
    from interp.pipeline import parse_config, run_experiment

    planted = {"misaligned_ai_docs": _docs(PLANTED, "documents/misaligned_ai_docs"),
               "aligned_ai_docs": _docs(PLAIN, "documents/aligned_ai_docs")}
    monkeypatch.setattr(shipped, "load_document_set", lambda name: planted[name])
    contrast = tmp_path / "planted.jsonl"
    write_jsonl([dataclasses.replace(r, id=f"c/{k}/{i}", label=k, group=f"g{i}")
                 for k, texts in ((1, PLANTED), (0, PLAIN)) for i, r in enumerate(_docs(texts, "c"))], contrast)
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    train = TrainConfig(epochs=10, lr=5e-3, batch_size=8, max_length=64, lora=LoraSpec(rank=8, alpha=16, dropout=0.0))
    later = TrainConfig(epochs=1, lr=1e-3, batch_size=4, max_length=512, max_rows=4, lora=LoraSpec(rank=4, alpha=8))
    monkeypatch.setitem(SCALES, "planted", ScaleConfig("planted", train, later, later, 4, 8, max_new_tokens=4))
    fms = ["emergent_misalignment+misaligned_ai_docs", "emergent_misalignment+aligned_ai_docs"]
    config = parse_config(tiny_config(str(sharp_model_dir), tmp_path / "runs", scale="planted", failure_modes=fms,
                                      methods=["bct"], capture={"contrast": str(contrast), "batch_size": 8,
                                                                           "documents": True},
                                      expression={"enabled": True, "rows": 16, "max_new_tokens": 8, "layers": [2],
                                                  "n_boot": 500}))
    result = run_experiment(config, out=tmp_path / "artifacts", only=["expression/"], progress=False)
    assert result.ok, result.failed
    t = pd.read_parquet(result.run_dir / "expression.parquet").set_index(["failure_mode", "checkpoint"])
    mine, control = fms
    step = t.loc[(mine, "before - base")]
    assert step["ci_low"] > 0.5, step  # the planted organism says the planted phrase
    assert t.loc[(control, "before - base")]["ci_high"] < step["ci_low"]  # its control does not
    against = t.loc[(mine, "before - control:aligned_ai_docs")]
    assert against["ci_low"] > 0.5 and int(against["n"]) == 16
    assert (mine, "after:bct gain - control:aligned_ai_docs gain") in t.index
    # both organisms are measured on the emergent-misalignment eval: the base answers it once, for both
    bases = {name for name in result.outputs if name.endswith("/base") and name.startswith("expression/")}
    assert bases == {"expression/emergent_misalignment/base"}, bases
    assert (control, "before - base") in t.index
