"""Hook names, intervention operators, and parity of the three backends (tiny random-weight model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from interp.hooks import (
    BACKENDS,
    AddVector,
    HookPoint,
    ProjectOut,
    add,
    all_layers,
    directional_ablation,
    make_backend,
    orthonormal_basis,
    project_out,
    sink_mask,
)
from interp.models import LoadedModel, load_model

SITES = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")


def test_hook_names_parse_and_order() -> None:
    assert HookPoint.parse("blocks.3.hook_resid_post").layer == 3
    assert sorted(["blocks.1.hook_resid_post", "blocks.1.hook_resid_pre", "blocks.0.hook_mlp_out"], key=HookPoint.parse) == [
        "blocks.0.hook_mlp_out", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"]
    with pytest.raises(ValueError, match="Unknown hook point 'layers.3'"):
        HookPoint.parse("layers.3")
    with pytest.raises(ValueError, match="layers 0..2"):
        HookPoint.parse("blocks.7.hook_resid_post", n_layers=3)


def test_project_out_removes_exactly_the_span() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    basis = orthonormal_basis(torch.randn(3, 16))
    y = project_out(x, basis)
    assert (y @ basis.T).abs().max() < 1e-5
    assert torch.allclose(project_out(y, basis), y, atol=1e-6)  # idempotent
    assert torch.allclose(x - y, (x @ basis.T) @ basis, atol=1e-5)
    with pytest.raises(ValueError, match="linearly dependent"):
        orthonormal_basis(torch.stack([basis[0], 2 * basis[0]]))


def test_add_respects_mask() -> None:
    x = torch.zeros(1, 3, 4)
    mask = torch.tensor([[False, True, True]])
    y = add(x, torch.ones(4), 2.0, mask)
    assert y[0, 0].abs().sum() == 0 and torch.all(y[0, 1:] == 2.0)
    with pytest.raises(ValueError, match="1-D"):
        AddVector("blocks.0.hook_resid_post", torch.ones(2, 4))
    with pytest.raises(ValueError, match="needs a response mask"):
        AddVector("blocks.0.hook_resid_post", torch.ones(4), positions="response").apply(x, None)


def test_directional_ablation_covers_every_layer() -> None:
    ivs = directional_ablation(torch.randn(8), n_layers=4)
    assert len(ivs) == 12 and {iv.hook for iv in ivs} >= {"blocks.3.hook_resid_pre", "blocks.0.hook_mlp_out"}


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(5, 300, (2, 9))
    attn = torch.ones_like(ids)
    attn[1, 6:] = 0  # right padding on the second row
    return ids, attn


def _backends(path: Path) -> dict[str, object]:
    out = {}
    for name in BACKENDS:
        lm = load_model(path, device="cpu")  # one model per backend: the TL bridge patches its model
        lm.model.set_attn_implementation("eager")
        out[name] = make_backend(name, lm)
    return out


def test_backend_parity_with_hidden_states_and_interventions(tiny_model_dir: Path, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    ids, attn = batch
    ref = load_model(tiny_model_dir, device="cpu")
    ref.model.set_attn_implementation("eager")
    with torch.no_grad():
        hidden = ref.model(ids, attention_mask=attn, output_hidden_states=True).hidden_states
    names = [f"blocks.{layer}.hook_{site}" for layer in range(3) for site in SITES]
    torch.manual_seed(2)
    interventions = [
        AddVector("blocks.1.hook_resid_post", torch.randn(64), alpha=3.0),
        AddVector("blocks.0.hook_mlp_out", torch.randn(64), alpha=1.0, positions="response"),
        *directional_ablation(torch.randn(64), n_layers=3),
    ]
    response = torch.zeros_like(ids, dtype=torch.bool)
    response[:, 4:6] = True
    results = {}
    for name, backend in _backends(tiny_model_dir).items():
        plain = backend.run(ids, attn, capture=names)  # type: ignore[attr-defined]
        for layer in range(2):  # the last layer's hidden_states entry has the final norm applied
            diff = (plain.activations[f"blocks.{layer}.hook_resid_post"] - hidden[layer + 1]).abs().max()
            assert diff <= 1e-4, (name, layer, float(diff))
        with backend.intervene(interventions):  # type: ignore[attr-defined]
            steered = backend.run(ids, attn, capture=names, response_mask=response)  # type: ignore[attr-defined]
        results[name] = (plain, steered)
    hf_plain, hf_steered = results["hf"]
    assert (hf_steered.logits - hf_plain.logits).abs().max() > 1e-2  # the interventions bite
    for name, (plain, steered) in results.items():
        for hook in names:
            assert (plain.activations[hook] - hf_plain.activations[hook]).abs().max() <= 1e-4, (name, hook)
            assert (steered.activations[hook] - hf_steered.activations[hook]).abs().max() <= 1e-4, (name, hook)
        assert (steered.logits - hf_steered.logits).abs().max() <= 1e-4, name


def test_sink_mask_marks_each_first_real_token() -> None:
    attn = torch.tensor([[1, 1, 1, 0], [0, 0, 1, 1], [0, 1, 1, 1]])  # right- and left-padded rows
    assert sink_mask(attn).tolist() == [[True, False, False, False], [False, False, True, False],
                                        [False, True, False, False]]
    with pytest.raises(ValueError, match="keep_sink=True\\) needs to know each sequence's first token"):
        ProjectOut("blocks.0.hook_resid_post", torch.randn(8), keep_sink=True).apply(torch.randn(2, 3, 8))


def test_ablation_keeping_the_sink_leaves_the_first_token_untouched(tiny_model_dir: Path,
                                                                     batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """With ``keep_sink`` nothing edits position 0, which attends only to itself: its logits are the
    untouched model's. Every backend gives the same logits, for right and left padding."""
    ids, attn = batch
    v = torch.randn(64, generator=torch.Generator().manual_seed(8))
    left_ids, left_attn = torch.zeros_like(ids), torch.zeros_like(attn)
    for i in range(ids.shape[0]):  # the same rows, left-padded
        n = int(attn[i].sum())
        left_ids[i, ids.shape[1] - n:], left_attn[i, ids.shape[1] - n:] = ids[i, :n], 1
    results = {}
    for name, backend in _backends(tiny_model_dir).items():
        plain = backend.run(ids, attn).logits  # type: ignore[attr-defined]
        with backend.intervene(directional_ablation(v, n_layers=3, keep_sink=True)):  # type: ignore[attr-defined]
            kept = backend.run(ids, attn).logits  # type: ignore[attr-defined]
            kept_left = backend.run(left_ids, left_attn).logits  # type: ignore[attr-defined]
        with backend.intervene(directional_ablation(v, n_layers=3)):  # type: ignore[attr-defined]
            full = backend.run(ids, attn).logits  # type: ignore[attr-defined]
        results[name] = kept
        assert torch.allclose(kept[:, 0], plain[:, 0], atol=1e-5), name
        assert (full[:, 0] - plain[:, 0]).abs().max() > 1e-3, name  # the plain ablation does edit it
        assert (kept[:, 1:] - plain[:, 1:]).abs().max() > 1e-3 and (kept[:, 1:] - full[:, 1:]).abs().max() > 1e-4, name
        for i in range(ids.shape[0]):  # left padding: the sink moves with the first real token
            n = int(attn[i].sum())
            assert torch.allclose(kept_left[i, ids.shape[1] - n:], kept[i, :n], atol=1e-4), (name, i)
    for name, kept in results.items():
        assert torch.allclose(kept, results["hf"], atol=1e-4), name


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_no_logits_stops_early_and_matches(backend_name: str, tiny_model_dir: Path, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    ids, attn = batch
    lm = load_model(tiny_model_dir, device="cpu")
    lm.model.set_attn_implementation("eager")
    backend = make_backend(backend_name, lm)
    full = backend.run(ids, attn, capture=["blocks.1.hook_resid_post"])
    early = backend.run(ids, attn, capture=["blocks.1.hook_resid_post"], return_logits=False)
    assert early.logits is None and full.logits is not None
    assert torch.equal(early.activations["blocks.1.hook_resid_post"], full.activations["blocks.1.hook_resid_post"])
    with pytest.raises(ValueError, match="Nothing to compute"):
        backend.run(ids, attn, return_logits=False)


def test_interventions_removed_on_exit_even_on_error(tiny: LoadedModel, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    ids, attn = batch
    backend = make_backend("hf", tiny)
    before = backend.run(ids, attn).logits
    with pytest.raises(RuntimeError, match="boom"), backend.intervene([AddVector("blocks.0.hook_resid_post", torch.ones(64), 5.0)]):
        raise RuntimeError("boom")
    assert torch.equal(backend.run(ids, attn).logits, before)
    from interp.models import loading, usage  # the hooks load_model installs are the ones that stay

    kept = (usage._count, loading._contiguous_first)  # the input embedding's counter, the unembedding's copy
    assert all(not m._forward_hooks and all(any(h is k for k in kept) for h in m._forward_pre_hooks.values())
               for m in tiny.model.modules())
    with pytest.raises(ValueError, match="d=32"):
        with backend.intervene([AddVector("blocks.0.hook_resid_post", torch.ones(32))]):
            pass
    with pytest.raises(ValueError, match="d=32"):  # every operator declares its width, not only vectors
        with backend.intervene([ProjectOut("blocks.0.hook_resid_post", torch.ones(32))]):
            pass
    with pytest.raises(NotImplementedError, match="resid_mid"):
        with backend.intervene([ProjectOut("blocks.0.hook_resid_mid", torch.ones(64))]):
            pass


def test_steered_generation(tiny: LoadedModel) -> None:
    backend = make_backend("hf", tiny)
    enc = tiny.chat.encode([{"role": "user", "content": "hello there"}])
    ids = torch.tensor([enc.input_ids])
    attn = torch.ones_like(ids)
    plain = backend.generate(ids, attn, max_new_tokens=6, do_sample=False)
    vec = tiny.model.get_input_embeddings().weight[42].detach() * 50
    with backend.intervene([AddVector("blocks.2.hook_resid_post", vec, 1.0, positions="response")]):
        steered = backend.generate(ids, attn, max_new_tokens=6, do_sample=False)
    assert torch.equal(plain[:, : ids.shape[1]], steered[:, : ids.shape[1]])
    # the first new token comes from the prompt's last position, which "response" steering leaves alone
    assert plain[0, ids.shape[1]] == steered[0, ids.shape[1]]
    assert not torch.equal(plain, steered)
    assert torch.equal(backend.generate(ids, attn, max_new_tokens=6, do_sample=False), plain)


def test_all_layers_helper() -> None:
    assert all_layers(2, "mlp_out") == ["blocks.0.hook_mlp_out", "blocks.1.hook_mlp_out"]
