"""The per-device code paths of a sharded model (``device_map``), run on CPU: every decoder block, the
embeddings, the final norm and the head dispatched by a map of submodules (accelerate's hooks forced
on, as a map over several GPUs installs them), so activations pass through the hooks that move them
between devices. Captures, steering, ablation and
generation must equal those of the model loaded whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from interp.hooks import AddVector, directional_ablation, make_backend
from interp.models import load_model

HOOKS = [f"blocks.{layer}.hook_{site}" for layer in range(3) for site in ("resid_pre", "attn_out", "mlp_out",
                                                                            "resid_post")]


def _device_map() -> dict[str, str]:
    parts = ["model.embed_tokens", *(f"model.layers.{i}" for i in range(3)), "model.norm", "model.rotary_emb", "lm_head"]
    return dict.fromkeys(parts, "cpu")


@pytest.mark.parametrize("backend", ["hf", "nnsight"])
def test_a_sharded_model_gives_the_whole_models_numbers(sharp_model_dir: Path, backend: str) -> None:
    from accelerate import dispatch_model

    whole = load_model(sharp_model_dir, device="cpu")
    sharded = load_model(sharp_model_dir, device="cpu")
    # what device_map="auto" does over GPUs, forced onto one device: accelerate's hooks on every placed module
    dispatch_model(sharded.model, device_map=_device_map(), main_device="cpu", force_hooks=True)
    assert all(hasattr(sharded.model.get_submodule(m), "_hf_hook") for m in _device_map())
    ids = torch.randint(5, 300, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # a left-padded row
    v = torch.randn(whole.d_model, generator=torch.Generator().manual_seed(1))
    a, b = make_backend(backend, whole), make_backend(backend, sharded)
    plain_a, plain_b = a.run(ids, mask, capture=HOOKS), b.run(ids, mask, capture=HOOKS)
    for hook in HOOKS:
        assert torch.equal(plain_a.activations[hook], plain_b.activations[hook]), hook
    steer = [AddVector("blocks.1.hook_resid_post", v, alpha=4.0)]
    for interventions in (steer, directional_ablation(v, whole.n_layers)):
        with a.intervene(interventions), b.intervene(interventions):
            la, lb = a.run(ids, mask).logits, b.run(ids, mask).logits
            assert la is not None and lb is not None and torch.equal(la, lb)
            ga = a.generate(ids, mask, max_new_tokens=5, do_sample=False)
            gb = b.generate(ids, mask, max_new_tokens=5, do_sample=False)
        assert torch.equal(ga, gb)
    assert not torch.equal(la, plain_a.logits)  # the last intervention changed something
