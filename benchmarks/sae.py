"""SAE training throughput: from interp's cached activations vs sae-lens's own runner on the live model.

Both sides train the same sae-lens SAE (same architecture, width, k, lr, batch size, number of
training tokens) on the same local text (the shipped conversations rendered with the chat
template), at the same hook (``blocks.L.hook_resid_post`` == ``model.layers.L`` output), fully
offline, in one run:

    live    sae_lens.LanguageModelSAETrainingRunner (AutoModelForCausalLM on the local model
            folder, local jsonl dataset, streaming=False, seqpos_slice=(1, None) so position 0
            of each context is skipped): the LM runs inside the training loop
    cached  interp.activations.capture(positions="all", position 0 excluded) once, then
            interp.sae.train_sae (sae_lens.SAETrainer fed from the cached matrix)

Reports training tokens/s of each side (wall clock, and per CPU-second of the process, which
is robust to other processes sharing the CPU), the capture cost of the cached side (and its
amortised rate), and the final explained variance of both SAEs on the same held-out cached
activations, position 0 excluded. ``torch.set_num_threads(1)`` on both sides by default (the
CPU here is shared). Run ``python benchmarks/sae.py --quick``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

# `python benchmarks/sae.py` puts benchmarks/ first on sys.path, where benchmarks/probes.py would
# shadow the `probes` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _texts(loaded: Any, n: int, seed: int = 0) -> list[list[dict[str, str]]]:
    from interp.data.constants import FAILURE_MODES, SPLITS
    from interp.data.make_shipped import build_failure_modes, build_persona_pairs

    convs = []
    modes = build_failure_modes()
    for fm in FAILURE_MODES:
        for split in SPLITS:
            for r in modes[fm][split]:
                convs.append([{"role": m.role, "content": m.content} for m in r.messages])
    convs += [[{"role": m.role, "content": m.content} for m in r.messages] for r in build_persona_pairs()]
    random.Random(seed).shuffle(convs)
    return convs[:n]


def _live(
    args: argparse.Namespace, model_dir: str, texts: list[str], hook_layer: int, tmp: Path
) -> tuple[Any, float, float]:
    from sae_lens import (
        LanguageModelSAERunnerConfig,
        LanguageModelSAETrainingRunner,
        LoggingConfig,
        TopKTrainingSAEConfig,
    )

    data = tmp / "live-data"
    data.mkdir()
    with open(data / "train.jsonl", "w", encoding="utf-8") as f:
        for t in texts + texts:  # twice: the runner also draws tokens to fill its buffer and estimate norms
            f.write(json.dumps({"text": t}) + "\n")
    cfg = LanguageModelSAERunnerConfig(
        sae=TopKTrainingSAEConfig(d_in=args.d_in, d_sae=args.d_sae, k=args.k, normalize_activations="none"),
        model_name=model_dir, model_class_name="AutoModelForCausalLM", hook_name=f"model.layers.{hook_layer}",
        dataset_path=str(data), streaming=False, is_dataset_tokenized=False, context_size=args.context,
        seqpos_slice=(1, None), training_tokens=args.tokens, train_batch_size_tokens=args.batch,
        store_batch_size_prompts=8, n_batches_in_buffer=16, lr=args.lr, lr_end=args.lr, device="cpu",
        n_batches_for_norm_estimate=2, logger=LoggingConfig(log_to_wandb=False), checkpoint_path=None,
        output_path=str(tmp / "live-out"), dead_feature_window=500, feature_sampling_window=500, seed=args.seed,
        verbose=False,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    sae = LanguageModelSAETrainingRunner(cfg).run()
    return sae, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k training tokens (default 100k)")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    args.tokens = args.tokens or (20_000 if args.quick else 100_000)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    from interp.activations import CaptureConfig, capture
    from interp.models import load_model
    from interp.sae import SAETrainConfig, reconstruction_metrics, train_sae

    loaded = load_model("smollm2-135m-instruct", device="cpu")
    args.d_in = loaded.d_model
    hook = f"blocks.{args.layer}.hook_resid_post"
    convs = _texts(loaded, 5000)
    n_eval = 30
    eval_convs, train_convs, have = convs[:n_eval], [], 0
    for c in convs[n_eval:]:  # just enough conversations for one pass over `tokens` activations
        train_convs.append(c)
        have += len(loaded.chat.encode(c).input_ids) - 1
        if have >= 1.05 * args.tokens:
            break
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        # held-out evaluation activations (same for both SAEs), position 0 excluded
        eval_acts = capture(loaded, eval_convs, CaptureConfig(hooks=(hook,), positions="all"), root=tmp / "eval").load(hook)
        # cached side: capture once (timed), then train from the cache (timed)
        t0 = time.perf_counter()
        store = capture(loaded, train_convs, CaptureConfig(hooks=(hook,), positions="all", batch_size=8), root=tmp / "c")
        cache_s = time.perf_counter() - t0
        acts = store.load(hook)
        cfg = SAETrainConfig(d_sae=args.d_sae, architecture="topk", k=args.k, lr=args.lr, batch_size=args.batch,
                             total_tokens=args.tokens, seed=args.seed, dead_feature_window=500)
        t0, c0 = time.perf_counter(), time.process_time()
        sae_cached = train_sae(acts, cfg, hook_name=hook)
        cached_s, cached_cpu = time.perf_counter() - t0, time.process_time() - c0
        # live side: sae-lens's runner with the LM in the loop, on the same conversations
        texts = [loaded.chat.render(c, add_generation_prompt=False) for c in train_convs]
        sae_live, live_s, live_cpu = _live(args, str(loaded.source_dir), texts, args.layer, tmp)
        q_cached = reconstruction_metrics(sae_cached, eval_acts)
        q_live = reconstruction_metrics(sae_live, eval_acts)
    res = {
        "device": "cpu", "threads": args.threads, "hook": hook, "training_tokens": args.tokens, "d_sae": args.d_sae,
        "k": args.k, "batch": args.batch, "cached_activations": int(acts.shape[0]),
        "live_tok_s": args.tokens / live_s, "cached_train_tok_s": args.tokens / cached_s,
        "capture_tok_s": int(acts.shape[0]) / cache_s,
        "speedup_train": live_s / cached_s,
        "live_tok_per_cpu_s": args.tokens / live_cpu, "cached_tok_per_cpu_s": args.tokens / cached_cpu,
        "speedup_cpu_time": live_cpu / cached_cpu,
        "live_ev_no_pos0": q_live["explained_variance"], "cached_ev_no_pos0": q_cached["explained_variance"],
        "live_l0": q_live["l0"], "cached_l0": q_cached["l0"],
        "live_dead": q_live["dead_latents"], "cached_dead": q_cached["dead_latents"],
        "eval_tokens": q_live["n_tokens"],
    }
    for k, v in res.items():
        print(f"{k:>22}: {v:.4g}" if isinstance(v, float) else f"{k:>22}: {v}")
    print(f"training from the cache is {res['speedup_train']:.1f}x faster than sae-lens's live runner "
          f"(target >= 10x); the one-off capture ran at {res['capture_tok_s']:.0f} tok/s")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
