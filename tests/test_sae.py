"""SAE training, persistence, quality metrics, persona latents and diffing (sae-lens underneath)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from interp.sae import (
    SAETrainConfig,
    activation_batches,
    build_training_sae,
    diff_latents,
    latent_sharpening,
    latents_to_reach_auroc,
    load_sae,
    persona_latents,
    reconstruction_metrics,
    spliced_lm_loss,
    top_activating_examples,
    train_sae,
)
from interp.sae.train import make_trainer, trainer_config

D_IN, N_TRUE = 32, 48


def _sparse_data(n: int = 20_000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations built from N_TRUE known unit features, each active with p=0.04 (magnitude 1-3)."""
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(N_TRUE, D_IN, generator=g)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    active = torch.rand(n, N_TRUE, generator=g) < 0.04
    mags = 1 + 2 * torch.rand(n, N_TRUE, generator=g)
    return (active * mags) @ dictionary, dictionary


def _identity_sae(d: int):  # type: ignore[no-untyped-def]
    from sae_lens import StandardSAE, StandardSAEConfig

    sae = StandardSAE(StandardSAEConfig(d_in=d, d_sae=2 * d, apply_b_dec_to_input=False))
    with torch.no_grad():
        eye = torch.eye(d)
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    return sae


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    x, dictionary = _sparse_data()
    cfg = SAETrainConfig(d_sae=96, architecture="topk", k=4, lr=4e-3, batch_size=256, total_tokens=160_000,
                         dead_feature_window=200)
    out = tmp_path_factory.mktemp("sae") / "sae"
    sae = train_sae(x, cfg, out_dir=out, hook_name="blocks.0.hook_resid_post", data_fingerprint="synthetic-0")
    return sae, x, dictionary, cfg, out


def test_sae_recovers_planted_sparse_features(trained) -> None:  # type: ignore[no-untyped-def]
    sae, x, dictionary, _, _ = trained
    W = sae.W_dec.detach()
    W = W / W.norm(dim=1, keepdim=True)
    best = (dictionary @ W.T).max(dim=1).values  # best cosine per true feature
    assert (best > 0.9).float().mean() >= 0.8, best
    q = reconstruction_metrics(sae, x)
    assert q["explained_variance"] > 0.8
    assert q["l0"] <= 4.0 + 1e-6


def test_save_load_round_trip_in_sae_lens_format(trained) -> None:  # type: ignore[no-untyped-def]
    sae, x, _, cfg, out = trained
    assert (out / "cfg.json").is_file() and (out / "sae_weights.safetensors").is_file()
    assert json.loads((out / "cfg.json").read_text())["architecture"] == "topk"
    from sae_lens import SAE

    again = SAE.load_from_disk(str(out))
    assert torch.allclose(again.encode(x[:64]), sae.encode(x[:64]))
    # skip-if-exists: same inputs load the saved SAE instead of training
    same = train_sae(x, cfg, out_dir=out, hook_name="blocks.0.hook_resid_post", data_fingerprint="synthetic-0")
    assert torch.allclose(same.W_dec, sae.W_dec)
    with pytest.raises(FileExistsError):
        train_sae(x, cfg, out_dir=out, data_fingerprint="other-data")
    with pytest.raises(FileNotFoundError):
        load_sae(out.parent / "nothing-here")


def test_quality_metrics_identity_and_zero() -> None:
    x = torch.randn(500, 16) * 3 + 1
    ident = _identity_sae(16)
    q = reconstruction_metrics(ident, x)
    assert q["explained_variance"] == pytest.approx(1.0, abs=1e-5)
    assert q["cosine"] == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        ident.W_dec.zero_()
    q0 = reconstruction_metrics(ident, x - x.mean(0))
    assert q0["explained_variance"] == pytest.approx(0.0, abs=1e-5)


def test_persona_latents_and_diffing_find_the_planted_latent(trained) -> None:  # type: ignore[no-untyped-def]
    sae, x, dictionary, _, _ = trained
    g = torch.Generator().manual_seed(1)
    n = 400
    base = x[:n].clone()
    y = torch.arange(n) % 2
    planted = 3.0 * dictionary[7]
    acts = base + y[:, None] * planted
    W = sae.W_dec.detach() / sae.W_dec.detach().norm(dim=1, keepdim=True)
    target = int((W @ dictionary[7]).argmax())
    ranked = persona_latents(sae, acts, y.numpy(), top=5)
    assert int(ranked.iloc[0]["latent"]) == target
    assert ranked.iloc[0]["auroc"] > 0.9
    rows = pd.DataFrame({"id": [f"ex{i}" for i in range(n)], "label": y.numpy()})
    top = top_activating_examples(sae, acts, [target], rows, k=5)
    assert (top["label"] == 1).all() and list(top["rank"]) == [0, 1, 2, 3, 4]
    k, curve = latents_to_reach_auroc(sae, acts, y.numpy(), 0.95, ks=(1, 2, 4))
    assert k == 1 and curve["auroc"].iloc[0] > 0.94
    # "after" expresses the planted feature on every prompt: it is the top mover
    after = base + planted + 0.01 * torch.randn(base.shape, generator=g)
    moved = diff_latents(sae, base, after, persona=[target], top=5, n_boot=200)
    assert int(moved.iloc[0]["latent"]) == target and bool(moved.iloc[0]["is_persona"])
    assert moved.iloc[0]["ci_low"] > 0
    sharp = latent_sharpening(sae, base + y[:, None] * 0.5 * planted, y.numpy(), acts, y.numpy(), [target])
    assert sharp.iloc[0]["auroc_b"] >= sharp.iloc[0]["auroc_a"]
    assert sharp.iloc[0]["mean_diff_b"] > sharp.iloc[0]["mean_diff_a"]


def test_spliced_loss_identity_sae_matches_clean(tiny) -> None:  # type: ignore[no-untyped-def]
    seqs = [tiny.chat.encode([{"role": "user", "content": f"hello {i}"},
                              {"role": "assistant", "content": "general kenobi"}]).input_ids for i in range(4)]
    ident = _identity_sae(tiny.d_model)
    out = spliced_lm_loss(tiny, ident, "blocks.1.hook_resid_post", seqs)
    assert out["ce_spliced"] == pytest.approx(out["ce_clean"], abs=1e-4)
    assert out["ce_recovered"] == pytest.approx(1.0, abs=1e-3)
    assert out["ce_zero_ablated"] != pytest.approx(out["ce_clean"], abs=1e-4)
    assert np.isfinite(out["ce_clean"]) and out["n_predictions"] > 0
    # different lengths in one batch (padding): the clean CE equals one unpadded pass per sequence
    mixed = [*seqs, tiny.chat.encode([{"role": "user", "content": "a much longer question about " * 6}]).input_ids]
    got = spliced_lm_loss(tiny, ident, "blocks.1.hook_resid_post", mixed, batch_size=3)
    total, count = 0.0, 0
    for ids in mixed:
        with torch.no_grad():
            logits = tiny.model(input_ids=torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits[1:-1], dim=-1)
        total -= float(logp.gather(-1, torch.tensor(ids[2:])[:, None]).sum())
        count += len(ids) - 2
    assert got["n_predictions"] == count and got["ce_clean"] == pytest.approx(total / count, rel=1e-4)


@pytest.mark.real_model
@pytest.mark.slow
def test_small_sae_on_real_tokens(real_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from interp.activations import CaptureConfig, capture
    from interp.data.make_shipped import build_persona_pairs

    torch.set_num_threads(1)
    records = build_persona_pairs()[:60]
    hook = "blocks.15.hook_resid_post"
    store = capture(real_model, records, CaptureConfig(hooks=(hook,), positions="all", batch_size=8), root=tmp_path)
    acts = store.load(hook)
    assert acts.shape[0] > 2000 and acts.norm(dim=1).max() < 5000  # position 0 (the sink) is excluded
    cfg = SAETrainConfig(d_sae=1024, architecture="topk", k=32, lr=1e-3, batch_size=256, total_tokens=40_000)
    sae = train_sae(acts, cfg, hook_name=hook)
    q = reconstruction_metrics(sae, acts)
    assert q["explained_variance"] > 0.5
    seqs = [real_model.chat.encode([{"role": m.role, "content": m.content} for m in r.messages]).input_ids
            for r in records[:8]]
    ce = spliced_lm_loss(real_model, sae, hook, seqs)
    assert ce["ce_clean"] < ce["ce_spliced"] < ce["ce_zero_ablated"]


def test_activation_batches_are_contiguous_epochs_of_one_permutation() -> None:
    x = torch.arange(10 * 3, dtype=torch.float64).reshape(10, 3)
    it = activation_batches(x, 4, seed=3)
    first = [next(it) for _ in range(2)]  # one epoch: 2 full batches, the last 2 rows dropped
    assert all(b.dtype == torch.float32 and b.is_contiguous() and b.shape == (4, 3) for b in first)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.cat(first), x[perm[:8]].float())  # same batches as the per-step gather
    rows = {int(r) for r in torch.cat(first)[:, 0] // 3}
    assert len(rows) == 8  # no row twice within an epoch
    small_blocks = activation_batches(x, 4, seed=3, chunk_batches=1)  # block size changes no batch
    assert all(torch.equal(next(small_blocks), b) for b in first)
    with pytest.raises(ValueError):
        next(activation_batches(x, 11))


def test_fast_trainer_matches_sae_lens_trainer_step_for_step() -> None:
    """make_trainer (fused Adam) and sae-lens's own SAETrainer reach the same weights on the same batches."""
    from sae_lens import SAETrainer

    torch.set_num_threads(1)
    x, _ = _sparse_data(n=4096)
    cfg = SAETrainConfig(d_sae=64, architecture="topk", k=4, lr=4e-3, batch_size=256, total_tokens=256 * 12,
                         dead_feature_window=5)  # short window: the aux-k loss on dead latents is exercised too
    fast = make_trainer(build_training_sae(D_IN, cfg), activation_batches(x, 256, seed=1), cfg)
    assert fast.optimizer.defaults.get("fused") is True and "decode" in vars(fast.sae)  # both fast paths on
    plain = SAETrainer(cfg=trainer_config(cfg), sae=build_training_sae(D_IN, cfg),
                       data_provider=activation_batches(x, 256, seed=1))
    a, b = fast.fit(), plain.fit()
    for name, p in a.named_parameters():
        assert torch.allclose(p, dict(b.named_parameters())[name], atol=1e-5, rtol=1e-4), name
    assert not torch.allclose(a.W_dec, build_training_sae(D_IN, cfg).W_dec)  # it did train


def test_train_sae_reaches_explained_variance_on_planted_data() -> None:
    torch.set_num_threads(1)
    x, _ = _sparse_data(n=8192, seed=2)
    held_out, _ = _sparse_data(n=2048, seed=2)
    cfg = SAETrainConfig(d_sae=96, architecture="topk", k=4, lr=4e-3, batch_size=256, total_tokens=60_000,
                         dead_feature_window=100, seed=1)
    q = reconstruction_metrics(train_sae(x, cfg), held_out)
    assert q["explained_variance"] > 0.8, q
