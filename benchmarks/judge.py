"""Paired log-prob judge throughput vs a raw Hugging Face forward, same pairs, one process.

The log-prob judge scores every eval record twice (its aligned and its misaligned answer after
the same prompt); steering and ablation experiments run it once per condition, so its speed sets
the cost of a dose-response curve. Modes, each run once per round in interleaved rounds
(:mod:`benchmarks.interleave`), each speed-up taken within a pair of rounds (machine drift hits
all alike) and reported as its median with the range over the pairs:

    raw_hf     the peer: right-padded full sequences through ``model(...)``, log-softmax, no hooks
    full       ``response_logprobs(share_prefixes=False)``: the same sequences through the HF backend
    shared     ``response_logprobs``: each prompt once with a KV cache, both answers on it
    shared_steer  ``shared`` under an AddVector at one layer (the steering experiments' case)

Prints pairs/s, the speed-up of each mode over ``raw_hf`` and the largest log-prob difference
between ``shared`` and ``raw_hf`` (they compute the same numbers).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
import torch

if __name__ == "__main__" and __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.interleave import interleaved, ratio_lines
from interp.data import load_shipped
from interp.hooks import AddVector, make_backend
from interp.judges.logprob import response_logprobs
from interp.models import load_model
from interp.models.batching import right_pad


def raw_hf(lm, convs: list, batch_size: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The peer: what one writes with plain transformers (full sequences, sorted by length)."""
    encoded = [lm.chat.encode(c) for c in convs]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    out = np.empty(len(encoded))
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            batch = right_pad([encoded[i] for i in chunk], int(lm.tokenizer.pad_token_id or 0)).to(lm.device)
            logits = lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(2, batch.input_ids[:, 1:, None])[..., 0]
            target = batch.response_mask[:, 1:]
            out[chunk] = ((lp * target).sum(1) / target.sum(1)).double().cpu().numpy()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--failure-mode", default="sycophancy")
    p.add_argument("--pairs", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--repeats", type=int, default=6, help="interleaved rounds (each mode runs once per round)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    lm = load_model(args.model, device=args.device)
    backend = make_backend("hf", lm)
    records = list(load_shipped(args.failure_mode, "eval").records)[: args.pairs]
    convs = []
    for r in records:
        prompt = [m.to_dict() for m in r.prompt_messages]
        convs += [[*prompt, {"role": "assistant", "content": str(r.fields[k])}]
                  for k in ("misaligned_response", "aligned_response")]
    v = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    steer = [AddVector(f"blocks.{lm.n_layers // 2}.hook_resid_post", (v / v.norm()).to(lm.device), alpha=4.0)]

    def shared_steer() -> np.ndarray:
        with backend.intervene(steer):
            return response_logprobs(backend, convs, batch_size=args.batch_size)

    modes = {
        "raw_hf": lambda: raw_hf(lm, convs, args.batch_size),
        "full": lambda: response_logprobs(backend, convs, batch_size=args.batch_size, share_prefixes=False),
        "shared": lambda: response_logprobs(backend, convs, batch_size=args.batch_size),
        "shared_steer": shared_steer,
    }
    values: dict[str, np.ndarray] = {}

    def keep(name: str) -> None:
        values[name] = modes[name]()

    def sync() -> None:
        if lm.device.type == "cuda":
            torch.cuda.synchronize()

    for name in modes:  # warm-up
        keep(name)
    times = interleaved({name: functools.partial(keep, name) for name in modes}, args.repeats, sync=sync)
    print(f"{args.model} on {lm.device} ({args.threads} threads), {len(records)} pairs, batch {args.batch_size}, "
          f"{args.repeats} interleaved rounds")
    print("\n".join(ratio_lines(times, "raw_hf", work=len(records), unit="pairs/s")))
    print(f"max |shared - raw_hf| log-prob: {np.abs(values['shared'] - values['raw_hf']).max():.2e}")


if __name__ == "__main__":
    main()
