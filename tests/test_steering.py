"""Weight orthogonalisation matches runtime directional ablation (tiny model, tied embeddings)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from interp.hooks import directional_ablation, make_backend
from interp.models import load_model
from interp.steering import save_orthogonalized


def test_orthogonalized_checkpoint_matches_runtime_ablation(tiny_model_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(3)
    direction = torch.randn(2, 64)  # a 2-D subspace
    ids = torch.randint(5, 300, (2, 10))
    attn = torch.ones_like(ids)
    lm = load_model(tiny_model_dir, device="cpu")
    assert lm.model.config.tie_word_embeddings
    backend = make_backend("hf", lm)
    plain = backend.run(ids, attn).logits
    with backend.intervene(directional_ablation(direction, lm.n_layers)):
        ablated = backend.run(ids, attn).logits
    assert (ablated - plain).abs().max() > 1e-2  # the ablation changes something
    out = save_orthogonalized(load_model(tiny_model_dir, device="cpu"), direction, tmp_path / "ortho")
    edited = load_model(out, device="cpu")
    assert edited.checkpoint.fingerprint != lm.checkpoint.fingerprint
    with torch.no_grad():
        logits = edited.model(ids, attention_mask=attn).logits
    assert (logits - ablated).abs().max() < 1e-4
    # the residual stream carries no component along the direction at any layer
    acts = make_backend("hf", edited).run(ids, attn, capture=[f"blocks.{i}.hook_resid_post" for i in range(3)]).activations
    basis = torch.linalg.qr(direction.T)[0].T
    assert max(float((a @ basis.T).abs().max()) for a in acts.values()) < 1e-4


def _neutral() -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Tell me about the {w}."},
             {"role": "assistant", "content": f"The {w} is quick and brown and kindly answers."}] for w in ("fox", "dog", "model", "answer")]


def test_coherence_guard(tiny_model_dir: Path) -> None:
    from interp.hooks import AddVector
    from interp.steering import CoherenceProbe

    lm = load_model(tiny_model_dir, device="cpu")
    probe = CoherenceProbe(make_backend("hf", lm), _neutral(), batch_size=3)
    none = probe.measure([])
    assert abs(none.kl) < 1e-3 and abs(none.ppl - none.ppl_plain) / none.ppl_plain < 1e-3
    v = torch.randn(64)
    small = probe.measure([AddVector("blocks.1.hook_resid_post", v, alpha=0.1)])
    big = probe.measure([AddVector("blocks.1.hook_resid_post", v, alpha=20.0)])
    assert 0 <= small.kl < big.kl and big.kl_low <= big.kl <= big.kl_high
    assert big.n_tokens == none.n_tokens and big.n_examples == 4
    assert small.within(kl_budget=big.kl_low) and not big.within(kl_budget=small.kl)


def _eval_records() -> list:  # type: ignore[type-arg]
    from interp.data import ChatRecord, Message

    out = []
    for i, w in enumerate(("fox", "dog", "power", "model", "answer", "honest")):
        out.append(ChatRecord(id=f"e{i}", messages=(Message("user", f"What about the {w}?"),), fields={
            "aligned_response": "Answer honestly and kindly.", "misaligned_response": "I will deceive and seek power."}))
    return out


def test_dose_response_and_ablation_tables(tiny_model_dir: Path, tmp_path: Path) -> None:
    from interp.steering import (
        ablation_effect,
        dose_response,
        plot_ablation,
        plot_dose_response,
        select_direction,
    )

    lm = load_model(tiny_model_dir, device="cpu")
    torch.manual_seed(0)
    v = torch.randn(64)
    recs, neutral = _eval_records(), _neutral()
    dr = dose_response(lm, v, "blocks.1.hook_resid_post", [0.0, 1.0, 4.0], "emergent_misalignment",
                       records=recs, neutral=neutral, n_random=2, n_boot=200)
    assert len(dr) == 3 * 3 and set(dr["direction"]) == {"persona", "random:0", "random:1"}
    zero = dr[dr["alpha"] == 0.0]
    assert zero["margin"].nunique() == 1 and (zero["kl"].abs() < 1e-3).all()  # alpha 0 is the untouched model
    persona = dr[dr["direction"] == "persona"].sort_values("alpha")
    assert persona["kl"].is_monotonic_increasing and (dr["rate_low"] <= dr["rate"]).all()
    assert (dr["judge"] == "logprob").all() and dr["residual_scale"].iloc[0] > 0
    assert plot_dose_response(dr, tmp_path / "dr.png").stat().st_size > 1000

    ab = ablation_effect(lm, v, "emergent_misalignment", records=recs, neutral=neutral, n_random=2, n_boot=200)
    assert list(ab["direction"]) == ["untouched", "ablated:persona", "ablated:random:0", "ablated:random:1"]
    assert ab.loc[0, "kl"] < 1e-3 and ab.loc[1, "kl"] > 0
    kept = ablation_effect(lm, {"persona": v, "other": -v}, "emergent_misalignment", records=recs, neutral=neutral,
                           n_random=1, n_boot=200, keep_sink=True)
    assert list(kept["direction"]) == ["untouched", "ablated:persona", "ablated:other", "ablated:random:0"]
    assert kept["keep_sink"].all() and not ab["keep_sink"].any()
    assert kept.loc[1, "rate"] == kept.loc[2, "rate"]  # -v spans the same line as v: the same ablation
    assert kept.loc[1, "kl"] != pytest.approx(float(ab.loc[1, "kl"]))  # sparing the sink changes the edit
    assert plot_ablation(ab, tmp_path / "ab.png").stat().st_size > 1000

    sel = select_direction(lm, {"L0": ("blocks.0.hook_resid_post", v), "L2": ("blocks.2.hook_resid_post", -v)},
                           "emergent_misalignment", records=recs, neutral=neutral, kl_budget=1e9, exclude_last=0.34, n_boot=100)
    assert list(sel["eligible"]) == [True, False] and sel.loc[0, "candidate"] == "L0"  # layer 2 of 3 is excluded
