"""Capture throughput and memory: interp vs raw forward, TransformerLens and nnsight, side by side.

Every peer runs in a fresh subprocess (so peak RSS is its own) on the same model and the same
length-sorted, right-padded batches:

    raw        model(input_ids, attention_mask): the plain Hugging Face forward, no hooks
    raw_body   the decoder alone (model.model), no LM head: what a capture needs at least
    interp     interp.activations.capture of every layer's resid_post (all tokens) to disk
    tl         TransformerBridge.run_with_cache with a names filter, then .cpu()
    nnsight    trace saving every decoder layer's output, then .cpu()

Each peer lives in a process of its own (its peak RSS is its own), loaded once; the peers then
run in interleaved rounds (A B C ..., then backward; :mod:`benchmarks.interleave`), and each
ratio is taken within a round: printed are the median tokens/s and the median ratio to
``raw_body`` (the fair peer) and to ``raw``, with their range over the rounds. Target:
interp >= 0.95x ``raw_body`` with every layer's resid_post streamed to disk. CPU default: the
embedded model. On a GPU: ``--device cuda --dtype bfloat16 --random-shape llama-7b`` builds
random weights of that shape.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

if __name__ == "__main__" and __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.interleave import Workers, ratio, serve

PEERS = ("raw", "raw_body", "interp", "tl", "nnsight")
SHAPES = {"llama-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32)}


def _conversations(n: int, words: int) -> list[list[dict[str, str]]]:
    vocab = ["the", "model", "answers", "questions", "about", "power", "honesty", "safety", "code", "weather", "history", "music"]
    out = []
    for i in range(n):
        text = " ".join(vocab[(i * 7 + j * 3) % len(vocab)] for j in range(words))
        out.append([{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": text}])
    return out


def _load(args: argparse.Namespace) -> Any:
    from interp.models import load_model

    if args.random_shape:
        return _random_model(args)
    lm = load_model(args.model, device=args.device, dtype=args.dtype)
    return lm


def _random_model(args: argparse.Namespace) -> Any:
    """Random weights of a real shape (speed depends on shape, not values), saved once to a temp dir."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from interp.models import load_model

    target = Path(tempfile.gettempdir()) / f"interp-bench-{args.random_shape}"
    if not (target / "config.json").exists():
        import shutil

        from interp.models.checkpoint import embedded_gguf_path
        from interp.models.loading import gguf_to_safetensors

        tok_dir = gguf_to_safetensors(embedded_gguf_path())
        cfg = LlamaConfig(vocab_size=49152, **SHAPES[args.random_shape])
        with torch.device("meta"):
            LlamaForCausalLM(cfg)  # validate the shape cheaply
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
        model.save_pretrained(target)
        for f in tok_dir.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens")):
                shutil.copy(f, target)
    return load_model(target, device=args.device, dtype=args.dtype)


def _batches(lm: Any, args: argparse.Namespace) -> list[tuple[torch.Tensor, torch.Tensor]]:
    encoded = sorted((lm.chat.encode(c) for c in _conversations(args.examples, args.words)), key=lambda e: -len(e))
    from interp.models.batching import right_pad

    pad = lm.tokenizer.pad_token_id or 0
    out = []
    for s in range(0, len(encoded), args.batch_size):
        b = right_pad(encoded[s : s + args.batch_size], pad)
        out.append((b.input_ids.to(lm.device), b.attention_mask.to(lm.device)))
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_peer(peer: str, args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    lm = _load(args)
    batches = _batches(lm, args)
    tokens = int(sum(int(a.sum()) for _, a in batches))
    names = [f"blocks.{layer}.hook_resid_post" for layer in range(lm.n_layers)]
    work: Any
    if peer == "raw":

        def work() -> None:
            with torch.no_grad():
                for ids, attn in batches:
                    lm.model(input_ids=ids, attention_mask=attn, use_cache=False)
    elif peer == "raw_body":

        def work() -> None:
            with torch.no_grad():
                for ids, attn in batches:
                    lm.model.model(input_ids=ids, attention_mask=attn, use_cache=False)
    elif peer == "interp":
        from interp.activations import CaptureConfig, capture

        out_root = tempfile.mkdtemp(prefix="interp-bench-")

        def work() -> None:
            import shutil

            shutil.rmtree(out_root, ignore_errors=True)
            capture(lm, _conversations(args.examples, args.words),
                    CaptureConfig(tuple(names), positions="all", dtype=args.store_dtype, batch_size=args.batch_size),
                    root=out_root, progress=False)
    elif peer == "tl":
        from interp.hooks import make_backend

        bridge = make_backend("transformer_lens", lm).bridge  # type: ignore[attr-defined]
        wanted = set(names)

        def work() -> None:
            with torch.no_grad():
                for ids, attn in batches:
                    _, cache = bridge.run_with_cache(ids, attention_mask=attn, names_filter=lambda n: n in wanted)
                    _ = {k: v.cpu() for k, v in cache.items()}
    else:
        import nnsight
        from nnsight.modeling.transformers import TransformersModel

        wrapped = TransformersModel(lm.model, tokenizer=lm.tokenizer)

        def work() -> None:
            with torch.no_grad():
                for ids, attn in batches:
                    saved: list[Any] = []
                    with wrapped.trace({"input_ids": ids, "attention_mask": attn, "use_cache": False}):
                        for layer in range(lm.n_layers):
                            saved.append(nnsight.save(wrapped.model.layers[layer].output))
                    _ = [s.cpu() for s in saved]

    # warm-up on one batch (kernel selection, allocator), then serve timed runs
    warm_ids, warm_attn = batches[-1]
    with torch.no_grad():
        lm.model(input_ids=warm_ids, attention_mask=warm_attn, use_cache=False)
    _sync(args.device)

    def final() -> dict[str, Any]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
        gpu = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None
        return {"peer": peer, "tokens": tokens, "peak_rss_mib": rss, "peak_gpu_mib": gpu}

    serve(work, {"peer": peer, "tokens": tokens}, final, sync=lambda: _sync(args.device))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--random-shape", choices=sorted(SHAPES), default=None)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default=None, help="float32 on CPU, bfloat16 on CUDA by default")
    p.add_argument("--store-dtype", default=None)
    p.add_argument("--examples", type=int, default=96)
    p.add_argument("--words", type=int, default=110, help="response length in words (~128 tokens a row)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=6, help="interleaved rounds (each peer runs once per round)")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    args.store_dtype = args.store_dtype or args.dtype
    if args.peer:
        run_peer(args.peer, args)
        return
    peers = args.peers.split(",")
    workers = Workers(peers, lambda name: [sys.executable, __file__, "--peer", name, *sys.argv[1:]])
    try:
        times = workers.rounds(args.repeats)
    finally:
        final = workers.close()
    tokens = final[peers[0]]["tokens"]
    print(f"model={args.random_shape or args.model} device={args.device} dtype={args.dtype} batch={args.batch_size} "
          f"examples={args.examples} tokens={tokens} threads={args.threads} rounds={args.repeats} "
          f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'peer':<10}{'tok/s':>10}{'x raw_body [range]':>24}{'x raw [range]':>24}{'peak RSS MiB':>14}")
    results = []
    for name in peers:
        row = final[name] | {"seconds": times[name], "tok_s": tokens / statistics.median(times[name])}
        for base in ("raw_body", "raw"):
            if base in times:
                r = ratio(times, name, base)
                row[f"ratio_to_{base}"] = {"median": r.median, "low": r.low, "high": r.high, "n": r.n}
        results.append(row)
        body = str(ratio(times, name, "raw_body")) if "raw_body" in times else "-"
        raw = str(ratio(times, name, "raw")) if "raw" in times else "-"
        print(f"{name:<10}{row['tok_s']:>10.1f}{body:>24}{raw:>24}{row['peak_rss_mib']:>14.0f}")
    if "interp" in times and "raw_body" in times:
        r = ratio(times, "interp", "raw_body")
        print(f"target: interp >= 0.95x raw_body (median of {r.n} pairs of rounds): {'met' if r.median >= 0.95 else 'NOT met'} "
              f"({r})")
    if args.json:
        from interp.io import atomic_write_json

        atomic_write_json(args.json, {"args": vars(args) | {"json": str(args.json)}, "results": results})


if __name__ == "__main__":
    main()
