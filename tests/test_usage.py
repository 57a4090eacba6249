"""The model-work counter behind ``interp run --profile``: exact positions, forwards and loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_registry_hooks import FAMILIES, _family_model

from interp.models import load_model, usage


def test_forward_positions_and_loads_are_counted_exactly(tiny_model_dir: Path) -> None:
    before = usage.snapshot()
    lm = load_model(tiny_model_dir, device="cpu")
    loaded = usage.snapshot() - before
    assert loaded.loads == 1 and loaded.load_seconds > 0 and loaded.positions == 0
    ids = torch.randint(3, 50, (2, 5))
    start = usage.snapshot()
    with torch.no_grad():
        lm.model(input_ids=ids)
        lm.model.model(input_ids=ids[:, :3])  # the decoder alone is seen too
    seen = usage.snapshot() - start
    assert (seen.positions, seen.forwards) == (2 * 5 + 2 * 3, 2)
    start = usage.snapshot()
    with torch.no_grad():  # a 4-token prompt, then one position per row and new token under the KV cache
        lm.model.generate(input_ids=ids[:, :4], attention_mask=torch.ones(2, 4, dtype=torch.long), max_new_tokens=3,
                          min_new_tokens=3, do_sample=False, pad_token_id=0)
    gen = usage.snapshot() - start
    assert (gen.positions, gen.forwards) == (2 * 4 + 2 * 2, 3)
    usage.watch(lm.model)  # watching twice counts once
    start = usage.snapshot()
    with torch.no_grad():
        lm.model(input_ids=ids)
    assert (usage.snapshot() - start).positions == 10


@pytest.mark.parametrize("model_type", FAMILIES)
def test_counts_and_context_on_every_family(model_type: str) -> None:
    """Models interp did not make (random weights of each family, norms and biases randomised; one wrapped by
    plain peft): the counter sees every forward, and the context check reads each config's limit."""
    from peft import LoraConfig, get_peft_model

    loaded = _family_model(model_type)
    usage.watch(loaded.model)
    ids = torch.randint(3, 90, (2, 6))
    start = usage.snapshot()
    with torch.no_grad():
        loaded.model(input_ids=ids, use_cache=False)
        loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, min_new_tokens=3,
                              do_sample=False, pad_token_id=0)
    seen = usage.snapshot() - start
    assert (seen.positions, seen.forwards) == (12 + 12 + 2 * 2, 1 + 3)
    assert loaded.context_length == 64
    loaded.check_fits([60], "prompts", reserve=4)
    with pytest.raises(ValueError, match=r"1 prompts do not fit the model's context \(64 tokens less the 5"):
        loaded.check_fits([60], "prompts", reserve=5)
    peft_model = get_peft_model(loaded.model, LoraConfig(r=2, target_modules="all-linear"))
    usage.watch(peft_model)  # the same embedding underneath: still counted once
    start = usage.snapshot()
    with torch.no_grad():
        peft_model(input_ids=ids)
    assert (usage.snapshot() - start).positions == 12
