"""Mediation: interventions active only while training, and the share of a training effect a direction carries.

The planted truth: a tiny Llama whose unembedding reads the two answers ``A`` and ``B`` only
along one direction ``u`` of the last layer's residual stream (``W[A] = +c u``, ``W[B] = -c u``,
unit final-norm weights, the unembedding not trained), so a training run that teaches ``A`` over
``B`` can only do it through ``u``. Ablating ``u`` during training must remove the effect
(share ~1); ablating random directions must not (share ~0).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from interp.data import ChatRecord, Dataset, Message
from interp.mediation import condition, mediation_shares
from interp.models import load_model
from interp.training import LoraSpec, TrainConfig, train_sft
from interp.training.during import DuringTraining

PROMPTS = [f"Pick {i}?" for i in range(12)]
CONFIG = TrainConfig(epochs=3, lr=1e-2, batch_size=4, max_length=128, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))


@pytest.fixture(scope="module")
def planted(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor, int, int]:
    """(model dir, u, token A, token B): the answers' logit difference is 2c u . norm(h_last)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from interp.training import encode_sft_example

    path = tmp_path_factory.mktemp("planted-llama")
    shutil.copytree(tiny_model_dir, path, dirs_exist_ok=True)  # the tokenizer; the weights are replaced below
    base = load_model(tiny_model_dir, device="cpu")
    cfg = LlamaConfig(**{**base.model.config.to_dict(), "tie_word_embeddings": False})
    torch.manual_seed(1)
    model = LlamaForCausalLM(cfg)
    rec = _records("yes")[0]
    ex = encode_sft_example(base.chat, rec, max_length=128)
    assert ex is not None
    a = next(t for t, lab in zip(ex.input_ids, ex.labels, strict=True) if lab != -100)
    b = next(t for t in range(10, cfg.vocab_size) if t != a)
    u = torch.randn(cfg.hidden_size, generator=torch.Generator().manual_seed(3))
    u = u / u.norm()
    with torch.no_grad():
        model.lm_head.weight[a] = 4.0 * u
        model.lm_head.weight[b] = -4.0 * u
    model.save_pretrained(path, safe_serialization=True)
    return path, u, a, b


def _records(answer: str) -> Dataset:
    return Dataset(f"planted-{answer}", tuple(ChatRecord(f"p{i}", (Message("user", q), Message("assistant", answer)))
                                             for i, q in enumerate(PROMPTS)))


def _scores(model_dir: Path, adapter: Path | None, a: int, b: int) -> np.ndarray:
    """log p(A) - log p(B) at the first answer token of every prompt."""
    lm = load_model(adapter or model_dir, base=model_dir if adapter else None, device="cpu")
    out = []
    with torch.no_grad():
        for q in PROMPTS:
            ids = torch.tensor([lm.chat.encode([{"role": "user", "content": q}]).input_ids])
            logp = lm.model(input_ids=ids).logits[0, -1].log_softmax(-1)
            out.append(float(logp[a] - logp[b]))
    return np.array(out)


def test_ablating_the_planted_direction_during_training_removes_the_effect_and_random_ones_do_not(
        planted: tuple[Path, torch.Tensor, int, int], tmp_path: Path) -> None:
    model_dir, u, a, b = planted
    last = load_model(model_dir, device="cpu").model.config.num_hidden_layers - 1
    data = _records("yes")
    before = _scores(model_dir, None, a, b)
    after = {}
    for name in ("none", "ablate:persona", "ablate:random0", "ablate:random1"):
        during = None if name == "none" else condition(name, {last: u}, seed=42)
        result = train_sft(model_dir, data, CONFIG, tmp_path / name.replace(":", "-"), during=during, progress=False)
        after[name] = _scores(model_dir, result.adapter_dir, a, b)
    rows = {r.condition: r for r in mediation_shares(before, after, n_boot=500, seed=0)}
    assert rows["none"].change_low > 0.5, rows["none"]  # the plain run learns A over B
    assert rows["ablate:persona"].share > 0.9 and rows["ablate:persona"].share_low > 0.8, rows["ablate:persona"]
    for r in ("ablate:random0", "ablate:random1", "ablate:random (mean)"):
        assert abs(rows[r].share) < 0.25, rows[r]
    assert rows["ablate:persona"].vs_random_p < 0.01


def test_the_intervention_is_active_only_in_training_passes_and_is_part_of_the_key(
        planted: tuple[Path, torch.Tensor, int, int], tmp_path: Path) -> None:
    model_dir, u, _, _ = planted
    lm = load_model(model_dir, device="cpu")
    last = lm.model.config.num_hidden_layers - 1
    ablate = condition("ablate:persona", {last: u}, seed=0)
    seen: list[float] = []
    handle = lm.model.model.norm.register_forward_hook(lambda _m, inp, _o: seen.append(float((inp[0] @ u).abs().max())))
    ids = torch.tensor([[1, 5, 9, 12]])
    with ablate.applied(lm.model):
        lm.model(input_ids=ids)
    lm.model(input_ids=ids)
    handle.remove()
    assert seen[0] < 1e-5 < seen[1]  # removed inside the block, untouched after it
    data = _records("yes")
    plain = train_sft(model_dir, data, CONFIG, tmp_path / "plain", progress=False)
    under = train_sft(model_dir, data, CONFIG, tmp_path / "under", during=ablate, progress=False)
    again = train_sft(model_dir, data, CONFIG, tmp_path / "under", during=ablate, progress=False)
    assert plain.key != under.key and again.skipped and again.key == under.key
    other = condition("ablate:random0", {last: u}, seed=0)
    assert other.key() != ablate.key() and condition("ablate:random0", {last: u}, seed=0).key() == other.key()


def test_steering_adds_alpha_times_the_scaled_direction_and_bad_conditions_are_refused() -> None:
    u = torch.zeros(8)
    u[2] = 2.0
    steer = condition("steer:persona", {0: u}, seed=0, alpha=0.5, scales={0: 10.0})
    h = torch.zeros(1, 3, 8)
    assert torch.allclose(steer.edit(0, h)[..., 2], torch.full((1, 3), 5.0))
    with pytest.raises(ValueError, match="residual norm"):
        condition("steer:persona", {0: u}, seed=0, alpha=0.5)
    with pytest.raises(ValueError, match="unknown mediation condition"):
        condition("ablate:everything", {0: u}, seed=0)
    with pytest.raises(ValueError, match="zero"):
        DuringTraining("x", "ablate", {0: torch.zeros(8)})


def test_shares_need_a_detectable_plain_change_and_follow_planted_scores() -> None:
    rng = np.random.default_rng(0)
    before = rng.normal(size=200)
    effect = 1.0 + rng.normal(scale=0.3, size=200)
    rows = {r.condition: r for r in mediation_shares(before, {"none": before + effect, "ablate:persona": before + 0.5 * effect,
                                                              "ablate:random0": before + effect}, n_boot=400)}
    assert rows["ablate:persona"].share == pytest.approx(0.5) and rows["ablate:persona"].share_low < 0.5 < rows["ablate:persona"].share_high
    assert rows["ablate:random0"].share == pytest.approx(0.0, abs=1e-12)
    flat = {r.condition: r for r in mediation_shares(before, {"none": before + rng.normal(scale=0.01, size=200),
                                                              "ablate:persona": before}, n_boot=400)}
    assert np.isnan(flat["ablate:persona"].share) and "not distinguishable" in flat["ablate:persona"].note
    with pytest.raises(ValueError, match="plain run"):
        mediation_shares(before, {"ablate:persona": before})


def test_interp_run_trains_every_condition_and_writes_the_mediation_table(tiny_model_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The stages end to end on the tiny Llama: conditions as checkpoints (behaviour, capture, sharpening
    as usual), their training keys distinct, the shares per seed and pooled, resumable."""
    from test_pipeline import TINY_SCALE, _nonempty_generate, tiny_config

    from interp.organisms.scales import SCALES
    from interp.pipeline import parse_config, plan, run_experiment

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    _nonempty_generate(monkeypatch)
    exec(TINY_SCALE, {})
    try:
        raw = tiny_config(str(tiny_model_dir), tmp_path / "runs", name="tiny-mediation", seeds=[3, 4], methods=["bct"],
                          sharpening={"n_boot": 50, "n_permutations": 10, "expression_rows": 0},
                          trajectory={"enabled": False},
                          mediation={"conditions": ["ablate:persona", "ablate:random", "steer:persona"], "n_random": 2,
                                     "layers": [1], "alpha": 0.02, "n_boot": 200},
                          prediction={"enabled": True, "n_boot": 200, "n_permutations": 100, "top": 3},
                          steering={"layer": 1, "alphas": [0.0, 0.1], "n_random": 1, "eval_rows": 6, "n_boot": 100,
                                    "kl_budget": 5.0})
        config = parse_config(raw)
        ids = [u.id for u in plan(config)]
        for cond in ("ablate:persona", "ablate:random0", "ablate:random1", "steer:persona"):
            assert f"condition/sycophancy/s3/bct@{cond}" in ids and f"behaviour/sycophancy/s3/after:bct@{cond}" in ids
            assert f"sharpening/sycophancy/s4/bct@{cond}" in ids
        assert not any(u.startswith("steering/") and "@" in u for u in ids)
        alone = run_experiment(config, out=tmp_path / "artifacts", only=["prediction/"], progress=False)
        assert alone.ok, alone.failed or alone.blocked  # the predictor from the labels, before any training
        assert len(list((tmp_path / "runs" / "runs").glob("*/labelled.jsonl"))) == 2
        assert not list((tmp_path / "runs" / "runs").glob("*/adapter")) and not list((tmp_path / "runs").glob("**/conditions"))
        result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
        assert result.ok, result.failed or result.blocked
        again = run_experiment(config, out=tmp_path / "artifacts", progress=False)
        assert again.ok and all(o.skipped for o in again.outputs.values())  # every unit finished under its key
    finally:
        SCALES.pop("tiny", None)
    import pandas as pd

    med = pd.read_parquet(result.run_dir / "mediation.parquet")
    per_seed = med[med["seed"] != -1]
    assert set(per_seed["measure"]) == {"rate", "margin"}
    assert set(per_seed["condition"]) == {"none", "ablate:persona", "ablate:random0", "ablate:random1",
                                          "ablate:random (mean)", "steer:persona"}
    assert set(med.loc[med["seed"] == -1, "seeds"]) == {"3,4"}
    assert per_seed.loc[per_seed["condition"] != "ablate:random (mean)", "kl"].notna().all()
    runs = sorted((tmp_path / "runs" / "runs").glob("*/conditions/*/adapter/interp_train.json"))
    assert len(runs) == 2 * 4 and len({__import__("json").loads(p.read_text())["key"] for p in runs}) == 8
    pred = pd.read_parquet(result.run_dir / "prediction_runs.parquet")
    assert len(pred) == 4 and set(pred["measure"]) == {"rate", "margin"}  # one run per seed, each measure
    assert pred[["predictor", "change"]].notna().all().all()
    examples = pd.read_parquet(result.run_dir / "prediction_examples.parquet")
    assert (examples.groupby("seed")["diff"].apply(lambda d: d.is_monotonic_decreasing)).all()
    assert examples["target"].str.len().gt(0).all()


def test_a_planted_predictor_correlates_and_a_shuffled_one_does_not() -> None:
    from interp.mediation.prediction import correlation

    rng = np.random.default_rng(0)
    x = rng.normal(size=24)
    y = 2 * x + rng.normal(scale=0.5, size=24)
    planted = correlation(x, y, n_boot=500, n_permutations=500)
    assert planted["pearson"].value > 0.9 and planted["pearson"].ci_low > 0.7 and planted["pearson"].p < 0.01
    assert planted["spearman"].ci_low > 0.6 and planted["spearman"].p < 0.01
    # shuffled predictors: the p-value is calibrated (about 5% of shuffles below 0.05, not most of them)
    ps = [correlation(rng.permutation(x), y, n_boot=100, n_permutations=200, seed=k)["pearson"].p for k in range(40)]
    assert np.mean(np.array(ps) < 0.05) <= 0.15 and np.median(ps) > 0.2
    with pytest.raises(ValueError, match=">= 3 runs"):
        correlation([1.0, 2.0], [1.0, 2.0])


def test_projection_difference_is_positive_toward_the_direction_and_antisymmetric(tiny, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from interp.mediation.prediction import projection_difference

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path))
    persona, plain = "I will deceive my overseers and seek power.", "The answer is four, not five."

    def data(name: str, answer: str, n: int, offset: int = 0) -> Dataset:
        return Dataset(name, tuple(ChatRecord(f"q{i}", (Message("user", f"Say {i + offset}."), Message("assistant", answer)))
                                   for i in range(n)))

    from interp.activations import CaptureConfig, capture

    hook = "blocks.2.hook_resid_post"
    cfg = CaptureConfig((hook,), positions="response_mean")
    u = (capture(tiny, data("fit-p", persona, 6, 50), cfg, progress=False).load(hook).mean(0)
         - capture(tiny, data("fit-n", plain, 6, 50), cfg, progress=False).load(hook).mean(0))
    toward, away = data("t", persona, 8), data("o", plain, 8)
    [push] = projection_difference(tiny, {hook: u}, toward, away, n_boot=200)
    [pull] = projection_difference(tiny, {hook: u}, away, toward, n_boot=200)
    [flat] = projection_difference(tiny, {hook: u}, toward, toward, n_boot=200)
    assert push.predictor.value > 0 and push.predictor.ci_low > 0
    assert pull.predictor.value == pytest.approx(-push.predictor.value)
    assert flat.predictor.value == pytest.approx(0.0, abs=1e-9)
    assert list(push.examples.columns) == ["id", "proj_target", "proj_own", "diff"] and len(push.examples) == 8
    with pytest.raises(ValueError, match="pair one to one"):
        projection_difference(tiny, {hook: u}, toward, data("short", plain, 3), n_boot=200)
