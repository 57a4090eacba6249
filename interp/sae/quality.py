"""How good is an SAE: reconstruction, sparsity, dead latents, and the LM loss with it spliced in.

Everything excludes position 0 (the attention sink, whose residual norm is ~100x the others'):
activation matrices from ``capture(..., positions="all")`` already drop it, and the spliced
loss keeps position 0's activation clean and ignores the prediction made there, so a bad SAE
cannot hide behind the sink.

- :func:`reconstruction_metrics`: explained variance ``1 - Σ‖x - x̂‖² / Σ‖x - x̄‖²``, MSE, mean
  L0, dead latents (never active on the data), cosine of x and x̂.
- :func:`spliced_lm_loss`: next-token cross-entropy clean, with the SAE's reconstruction patched
  in at the hook, and with the hook zero-ablated; ``ce_recovered`` = fraction of the
  zero-ablation loss gap the SAE closes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from interp.hooks import Backend, PositionMasks, backend_for
from interp.models.batching import pad_ids


def _encode_decode(sae: Any, x: Tensor, batch: int = 4096) -> tuple[Tensor, Tensor]:
    feats, recon = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            f = sae.encode(x[i : i + batch].float())
            feats.append(f)
            recon.append(sae.decode(f))
    return torch.cat(feats), torch.cat(recon)


def reconstruction_metrics(sae: Any, acts: Tensor) -> dict[str, float]:
    """Explained variance, MSE, L0, dead latents and cosine of an SAE on ``acts`` [n, d] (no position 0)."""
    x = acts.float()
    feats, recon = _encode_decode(sae, x)
    resid = ((x - recon) ** 2).sum()
    total = ((x - x.mean(0)) ** 2).sum()
    active = feats > 0
    fired = active.any(0)
    return {
        "explained_variance": float(1 - resid / total),
        "mse": float(((x - recon) ** 2).mean()),
        "l0": float(active.sum(1).float().mean()),
        "dead_latents": int((~fired).sum()),
        "dead_fraction": float((~fired).float().mean()),
        "cosine": float(torch.nn.functional.cosine_similarity(x, recon, dim=1).mean()),
        "n_tokens": int(x.shape[0]),
    }


@dataclass(frozen=True)
class _Splice:
    """An intervention replacing the activation at ``hook`` by ``fn`` of it, position 0 (the sink) kept clean."""

    hook: str
    fn: Callable[[Tensor], Tensor]
    width: int | None = None

    def apply(self, x: Tensor, masks: PositionMasks | Tensor | None = None) -> Tensor:
        out = x.clone()
        out[:, 1:] = self.fn(x[:, 1:])
        return out


def _ce(backend: Backend, ids: Tensor, mask: Tensor) -> tuple[float, int]:
    """Summed next-token CE over real tokens, excluding the prediction made at position 0."""
    logits = backend.run(ids, mask).logits
    assert logits is not None
    valid = (mask[:, 2:] * mask[:, 1:-1]).bool()  # predictions made at positions 1..T-2 of real tokens
    logp = torch.log_softmax(logits[:, 1:-1][valid].float(), dim=-1)  # [n_valid, vocab]: no softmax over padding
    nll = -logp.gather(-1, ids[:, 2:][valid].unsqueeze(-1)).squeeze(-1)
    return float(nll.sum()), int(valid.sum())


def spliced_lm_loss(
    loaded: Any, sae: Any, hook: str, token_ids: Sequence[Sequence[int]], *, batch_size: int = 8,
) -> dict[str, float]:
    """Mean next-token CE: clean, SAE reconstruction spliced in at ``hook``, and ``hook`` zero-ablated.

    ``token_ids`` are tokenised sequences (e.g. ``loaded.chat.encode(messages).input_ids``).
    Positions >= 1 are patched; the prediction made at position 0 is not scored.
    """
    backend = backend_for(loaded)  # the study's backend (hf unless a config chose another)
    loaded = backend.loaded
    device = loaded.device
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    sae_dtype = next(sae.parameters()).dtype

    def recon(x: Tensor) -> Tensor:
        return sae.decode(sae.encode(x.to(sae_dtype))).to(x.dtype)

    sums = {"clean": 0.0, "spliced": 0.0, "zero_ablated": 0.0}
    count = 0
    seqs = sorted((list(s) for s in token_ids if len(s) >= 3), key=len)  # similar lengths per batch: less padding
    if not seqs:
        raise ValueError("need sequences of at least 3 tokens to score the spliced loss")
    for i in range(0, len(seqs), batch_size):
        chunk = seqs[i : i + batch_size]
        ids, mask = pad_ids(chunk, pad)
        ids, mask = ids.to(device), mask.to(device)
        s_clean, n = _ce(backend, ids, mask)
        with backend.intervene([_Splice(hook, recon)]):
            s_spliced, _ = _ce(backend, ids, mask)
        with backend.intervene([_Splice(hook, torch.zeros_like)]):
            s_zero, _ = _ce(backend, ids, mask)
        sums["clean"] += s_clean
        sums["spliced"] += s_spliced
        sums["zero_ablated"] += s_zero
        count += n
    out = {f"ce_{k}": v / count for k, v in sums.items()}
    gap = out["ce_zero_ablated"] - out["ce_clean"]
    out["ce_delta"] = out["ce_spliced"] - out["ce_clean"]
    out["ce_recovered"] = (out["ce_zero_ablated"] - out["ce_spliced"]) / gap if gap > 0 else float("nan")
    out["n_predictions"] = float(count)
    return out
