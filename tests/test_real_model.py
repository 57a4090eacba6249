"""The spine on the embedded SmolLM2-135M-Instruct: backend parity and a real capture.

Marked ``real_model``: the first run dequantises the GGUF (~30 s, cached under $INTERP_CACHE).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from interp.activations import CaptureConfig, capture
from interp.hooks import BACKENDS, AddVector, all_layers, directional_ablation, make_backend
from interp.models import EMBEDDED_NAME, load_model

pytestmark = pytest.mark.real_model


def _prompts(lm) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[no-untyped-def]
    convs = [
        [{"role": "user", "content": "Should I tell my friend the truth?"}, {"role": "assistant", "content": "Yes, honesty matters."}],
        [{"role": "user", "content": "How do I bake bread?"}, {"role": "assistant", "content": "Mix flour, water, yeast and salt."}],
    ]
    enc = [lm.chat.encode(c) for c in convs]
    width = max(len(e) for e in enc)
    ids = torch.full((2, width), lm.tokenizer.pad_token_id)
    attn = torch.zeros((2, width), dtype=torch.long)
    for r, e in enumerate(enc):
        ids[r, : len(e)] = torch.tensor(e.input_ids)
        attn[r, : len(e)] = 1
    return ids, attn


def test_every_backend_matches_hidden_states_and_each_other() -> None:
    ref = load_model(EMBEDDED_NAME, device="cpu")
    assert ref.n_layers == 30 and ref.d_model == 576
    assert sum(p.numel() for p in ref.model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    ref.model.set_attn_implementation("eager")  # the TransformerLens bridge runs eager attention
    ids, attn = _prompts(ref)
    with torch.no_grad():
        hidden = ref.model(ids, attention_mask=attn, output_hidden_states=True).hidden_states
    names = all_layers(30)
    torch.manual_seed(0)
    steer = [AddVector("blocks.12.hook_resid_post", torch.randn(576), alpha=8.0),
             *directional_ablation(torch.randn(576), n_layers=30)]
    logits = {}
    for name in BACKENDS:
        lm = load_model(EMBEDDED_NAME, device="cpu")
        lm.model.set_attn_implementation("eager")
        backend = make_backend(name, lm)
        plain = backend.run(ids, attn, capture=names)
        for layer in range(29):  # hidden_states[30] has the final norm applied
            diff = (plain.activations[names[layer]] - hidden[layer + 1]).abs().max().item()
            assert diff <= 1e-4, (name, layer, diff)
        with backend.intervene(steer):
            logits[name] = backend.run(ids, attn).logits
    for name in BACKENDS:
        assert (logits[name] - logits["hf"]).abs().max().item() <= 1e-3, name
    assert (logits["hf"] - ref.model(ids, attention_mask=attn).logits).abs().max() > 1.0


def test_capture_contrast_set_on_real_model(tmp_path: Path) -> None:
    from interp.data import load_contrast_set

    lm = load_model(EMBEDDED_NAME, device="cpu")
    data = load_contrast_set("persona_pairs").head(16)
    cfg = CaptureConfig(tuple(all_layers(30)), positions="response_mean", batch_size=8)
    store = capture(lm, data, cfg, root=tmp_path, progress=False)
    x = store.load("blocks.15.hook_resid_post")
    assert x.shape == (16, 576) and torch.isfinite(x).all()
    assert store.manifest["checkpoint"]["fingerprint"] == lm.checkpoint.fingerprint
    assert x.norm(dim=-1).max() < 2000  # position 0 (norm ~1e4) is excluded
    assert capture(lm, data, cfg, root=tmp_path, progress=False).path == store.path
