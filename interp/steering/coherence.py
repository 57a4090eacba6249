"""The coherence guard: is a steered or ablated model still a language model?

"Less misaligned" must never just mean "broken". On neutral text, a :class:`CoherenceProbe`
measures the mean per-token KL divergence from the untouched model's next-token distribution
(KL(plain || edited), over response tokens) and the perplexity of the text under both, with
bootstrap intervals over examples. The untouched model's log-probs are computed once (stored in
float16, response positions only: n_tokens x vocab x 2 bytes) and reused for every intervention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from interp.hooks.base import Backend
from interp.hooks.interventions import Intervention
from interp.models.batching import right_pad
from interp.models.chat import as_messages
from probes.stats import bootstrap_mean


@dataclass(frozen=True)
class Coherence:
    """KL to the untouched model and perplexities on neutral text (95% bootstrap intervals over examples)."""

    kl: float
    kl_low: float
    kl_high: float
    ppl_plain: float
    ppl: float
    ppl_low: float
    ppl_high: float
    n_examples: int
    n_tokens: int

    def within(self, kl_budget: float) -> bool:
        """True if the edit stays inside the KL budget (upper interval bound)."""
        return self.kl_high <= kl_budget

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CoherenceProbe:
    """Neutral conversations, encoded once, with the untouched model's log-probs cached."""

    def __init__(self, backend: Backend, records: Sequence[Any], *, batch_size: int = 8, max_tokens: int = 4096) -> None:
        self.backend = backend
        chat = backend.loaded.chat
        self.encoded = [chat.encode(as_messages(r)) for r in records]
        backend.loaded.check_fits([len(e) for e in self.encoded], "neutral conversations")
        if not all(any(e.response_mask) for e in self.encoded):
            raise ValueError("Coherence needs conversations that end with an assistant turn (the neutral text).")
        self.batch_size = batch_size
        self.pad_id = int(backend.loaded.tokenizer.pad_token_id or 0)
        n_tokens = sum(sum(e.response_mask) for e in self.encoded)
        if n_tokens > max_tokens:
            raise ValueError(f"{n_tokens} response tokens exceed max_tokens={max_tokens}; pass fewer or shorter texts.")
        self.plain: list[Tensor] = []
        self.plain_nll: list[Tensor] = []
        for logp, nll in self._passes(()):
            self.plain.append(logp.to(torch.float16))
            self.plain_nll.append(nll)

    def _passes(self, interventions: Sequence[Intervention]) -> Any:
        """Yield, per example, (log-probs [n_resp, vocab], NLL of each response token [n_resp])."""
        with self.backend.intervene(interventions):
            for start in range(0, len(self.encoded), self.batch_size):
                batch = right_pad(self.encoded[start : start + self.batch_size], self.pad_id).to(self.backend.device)
                logits = self.backend.run(batch.input_ids, batch.attention_mask, response_mask=batch.response_mask).logits
                assert logits is not None
                logp = F.log_softmax(logits.float(), dim=-1)
                for row in range(batch.input_ids.shape[0]):
                    targets = batch.response_mask[row].nonzero().squeeze(1)  # token t is predicted at t-1
                    lp = logp[row, targets - 1]
                    yield lp.cpu(), -lp.gather(1, batch.input_ids[row, targets].unsqueeze(1)).squeeze(1).cpu()

    def measure(self, interventions: Sequence[Intervention], *, n_boot: int = 1000, seed: int = 0) -> Coherence:
        kls, nlls, counts = [], [], []
        # untouched: the cached pass is the answer (KL exactly 0), no forward pass needed
        passes = self._passes(interventions) if interventions else ((p.float(), n) for p, n in zip(self.plain, self.plain_nll, strict=True))
        for (logp, nll), plain in zip(passes, self.plain, strict=True):
            p = plain.float()
            kls.append(float((p.exp() * (p - logp)).sum(-1).sum()))
            nlls.append(float(nll.sum()))
            counts.append(len(nll))
        kl, nll_sum, w = np.array(kls), np.array(nlls), np.array(counts, dtype=float)
        plain_nll = float(sum(float(n.sum()) for n in self.plain_nll) / w.sum())
        kl_ci = bootstrap_mean(kl / w, weights=w, n_boot=n_boot, seed=seed)  # a token-weighted mean over texts
        nll_ci = bootstrap_mean(nll_sum / w, weights=w, n_boot=n_boot, seed=seed)
        return Coherence(
            kl=float(kl.sum() / w.sum()), kl_low=kl_ci.ci_low, kl_high=kl_ci.ci_high,
            ppl_plain=float(np.exp(plain_nll)), ppl=float(np.exp(nll_sum.sum() / w.sum())),
            ppl_low=float(np.exp(nll_ci.ci_low)), ppl_high=float(np.exp(nll_ci.ci_high)),
            n_examples=len(counts), n_tokens=int(w.sum()),
        )


def model_drift(reference: CoherenceProbe, other: CoherenceProbe, *, n_boot: int = 1000, seed: int = 0) -> Coherence:
    """How far ``other``'s model has moved from ``reference``'s on the same neutral texts: KL(reference ||
    other) per response token and both perplexities (``ppl_plain``: the reference's), with intervals
    over texts. The coherence guard of a trained checkpoint against the one it was trained from."""
    if [e.input_ids for e in reference.encoded] != [e.input_ids for e in other.encoded]:
        raise ValueError("model_drift compares two models on the same texts under the same tokenizer; these differ")
    kls, nlls, counts = [], [], []
    for p_ref, p_other, nll in zip(reference.plain, other.plain, other.plain_nll, strict=True):
        p, q = p_ref.float(), p_other.float()
        kls.append(float((p.exp() * (p - q)).sum()))
        nlls.append(float(nll.sum()))
        counts.append(len(nll))
    kl, nll_sum, w = np.array(kls), np.array(nlls), np.array(counts, dtype=float)
    ref_nll = float(sum(float(n.sum()) for n in reference.plain_nll) / w.sum())
    kl_ci = bootstrap_mean(kl / w, weights=w, n_boot=n_boot, seed=seed)
    nll_ci = bootstrap_mean(nll_sum / w, weights=w, n_boot=n_boot, seed=seed)
    return Coherence(kl=float(kl.sum() / w.sum()), kl_low=kl_ci.ci_low, kl_high=kl_ci.ci_high,
                     ppl_plain=float(np.exp(ref_nll)), ppl=float(np.exp(nll_sum.sum() / w.sum())),
                     ppl_low=float(np.exp(nll_ci.ci_low)), ppl_high=float(np.exp(nll_ci.ci_high)),
                     n_examples=len(counts), n_tokens=int(w.sum()))
