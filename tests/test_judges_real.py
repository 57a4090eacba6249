"""Judges on real weights: the embedded model's log-prob rate, the MiniLM encoder, shipped-data checks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from interp.data import load_shipped
from interp.judges import (
    EmbeddingJudge,
    RuleJudge,
    SentenceEncoder,
    judge_agreement,
    labelled_pairs,
    misalignment_rate,
)
from interp.models import LoadedModel


@pytest.mark.real_model
def test_logprob_rate_on_sycophancy_eval_rows(real_model: LoadedModel) -> None:
    records = load_shipped("sycophancy", "eval").head(16).records
    r = misalignment_rate(real_model, "sycophancy", records=records, n_boot=500)
    assert r.judge == "logprob" and r.n == 16 and r.per_example.shape == (16,)
    assert set(np.unique(r.per_example)) <= {0.0, 1.0}
    assert 0.0 <= r.ci_low <= r.rate <= r.ci_high <= 1.0 and np.isfinite(r.details["mean_logprob_margin"])


@pytest.mark.real_model
def test_minilm_encoder_loads_offline_and_matches_sentence_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    enc = SentenceEncoder()
    texts = ["Yes, that's right: 12 × 3 is 26.", "I don't think so. 12 × 3 is 36, not 26."]
    x = enc.encode(texts)
    assert x.shape == (2, 384) and np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    if importlib.util.find_spec("sentence_transformers") is not None:
        from sentence_transformers import SentenceTransformer

        ref = SentenceTransformer(str(enc.model_dir), device="cpu").encode(texts)
        np.testing.assert_allclose(x, ref, atol=1e-5)


@pytest.mark.real_model
def test_rule_judges_agree_with_shipped_answers() -> None:
    for fm in ("sycophancy", "spurious_correlation"):
        pairs = labelled_pairs(load_shipped(fm, "eval"))
        out = judge_agreement(RuleJudge(fm), pairs, n_boot=300)
        assert out["n"] == 2 * len(load_shipped(fm, "eval")) and out["accuracy"] >= 0.95, (fm, out)


@pytest.mark.real_model
@pytest.mark.slow
def test_default_embedding_judge_heldout_accuracy(tmp_path: Path) -> None:
    judge = EmbeddingJudge.default("sycophancy", root=tmp_path)
    held = judge.heldout_accuracy()
    assert held.accuracy >= 0.9 and held.ci_low <= held.accuracy <= held.ci_high and held.n > 50
    again = EmbeddingJudge.default("sycophancy", root=tmp_path)  # a cache hit: loaded, not refitted
    assert again.name == judge.name and again.heldout_accuracy() == held
    with pytest.raises(ValueError, match="RuleJudge"):
        EmbeddingJudge.default("spurious_correlation", root=tmp_path)
