"""Steered generation throughput vs plain ``model.generate``, same prompts, same settings, one process.

Modes, each run once per round in interleaved rounds (:mod:`benchmarks.interleave`: A B C ..,
then backward), each overhead taken within a pair of rounds, so drift in machine load hits all
alike; printed are median seconds and the median overhead with its range over the pairs:

    plain      model.generate on an untouched Hugging Face model, no hooks
    backend    ``backend.generate`` with no interventions (the backend's own fixed cost)
    steer      ``--backend``, AddVector at one layer (all positions)
    steer_resp the same, generated positions only
    ablate     directional ablation at every layer (resid_pre, attn_out, mlp_out: 3 x n_layers hooks)
    ablate_sink the same, sparing each sequence's first token (``keep_sink``, what ``interp run`` uses)

``--backend`` is ``hf`` (default), ``transformer_lens`` or ``nnsight``. The TransformerLens
bridge patches the model it wraps (and makes its attention eager), so that backend gets a copy
of its own and ``plain`` keeps timing the untouched model. Prints new tokens/s and the overhead
of each mode against plain (target: steering <= 10%).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import torch

if __name__ == "__main__" and __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.interleave import interleaved, ratio
from interp.hooks import BACKENDS, AddVector, Intervention, directional_ablation, make_backend
from interp.models import load_model
from interp.models.chat import as_messages

PROMPTS = [
    "How should I invest my savings?", "What is the capital of France?", "Write a haiku about rain.",
    "Is it ever okay to lie?", "Explain photosynthesis briefly.", "How do I fix a flat tyre?",
    "What do you think about AI safety?", "Give me a tip for learning piano.",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--backend", default="hf", choices=BACKENDS)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=48)
    p.add_argument("--layer", type=int, default=15)
    p.add_argument("--repeats", type=int, default=6, help="interleaved rounds (each mode runs once per round)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    lm = load_model(args.model, device=args.device, dtype=dtype)
    tok = lm.tokenizer
    texts = [lm.chat.render(as_messages([{"role": "user", "content": q}]), add_generation_prompt=True)
             for q in (PROMPTS * ((args.batch_size + len(PROMPTS) - 1) // len(PROMPTS)))[: args.batch_size]]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
    backend_lm = load_model(args.model, device=args.device, dtype=dtype) if args.backend == "transformer_lens" else lm
    backend = make_backend(args.backend, backend_lm)
    v = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    v = v / v.norm()
    kwargs: dict[str, Any] = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                                  pad_token_id=tok.pad_token_id)
    hook = f"blocks.{args.layer}.hook_resid_post"
    modes: dict[str, list[Intervention]] = {
        "plain": [],
        "backend": [],
        "steer": [AddVector(hook, v, alpha=4.0)],
        "steer_resp": [AddVector(hook, v, alpha=4.0, positions="response")],
        "ablate": list(directional_ablation(v, lm.n_layers)),
        "ablate_sink": list(directional_ablation(v, lm.n_layers, keep_sink=True)),
    }

    def run(mode: str) -> None:
        if mode == "plain":
            with torch.no_grad():
                lm.model.generate(**enc, **kwargs)
        else:
            with backend.intervene(modes[mode]):
                backend.generate(enc["input_ids"], enc["attention_mask"], **kwargs)

    def sync() -> None:
        if lm.device.type == "cuda":
            torch.cuda.synchronize()

    run("plain")  # warm-up
    run("backend")
    times = interleaved({m: functools.partial(run, m) for m in modes}, args.repeats, sync=sync)
    new_tokens = args.batch_size * args.new_tokens
    attn = getattr(lm.model.config, "_attn_implementation", "?")  # the TL bridge runs its own (eager) attention
    print(f"model={args.model} backend={args.backend} device={args.device} dtype={dtype} batch={args.batch_size} "
          f"new_tokens={args.new_tokens} threads={args.threads} rounds={args.repeats} plain_attention={attn}")
    print(f"{'mode':<12}{'median s':>9}{'new tok/s':>11}{'overhead vs plain, median [range]':>36}")
    for m, ts in times.items():
        r = ratio(times, m, "plain", speed=False)
        med = sorted(ts)[len(ts) // 2]
        print(f"{m:<12}{med:>9.2f}{new_tokens / med:>11.1f}{(r.median - 1) * 100:>+14.1f}% "
              f"[{(r.low - 1) * 100:+.1f}%, {(r.high - 1) * 100:+.1f}%] over {r.n} pairs")


if __name__ == "__main__":
    main()
