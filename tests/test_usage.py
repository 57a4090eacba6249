"""The model-work counter behind ``interp run --profile``: exact positions, forwards and loads."""

from __future__ import annotations

from pathlib import Path

import torch

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
