"""SAE training throughput: from interp's cached activations vs sae-lens's own runner on the live model.

Both sides train the same sae-lens SAE on the same local text (shipped conversations rendered
with the chat template) at the same hook (``blocks.L.hook_resid_post`` == output of
``model.layers.L``), fully offline, for the same number of training tokens, in one run:

    cached  interp.activations.capture(positions="all"; position 0 of each conversation is
            excluded) once, then interp.sae.train_sae (sae_lens.SAETrainer fed contiguous
            shuffled batches from the cached matrix, fused Adam)
    live    sae_lens.LanguageModelSAETrainingRunner (AutoModelForCausalLM on the local model
            folder, local dataset, streaming=False, seqpos_slice=(1, None)): the LM runs inside
            the training loop. Two data modes:
              packed  sae-lens's default: conversations concatenated into ``--context``-token
                      windows (its fastest mode; the headline ratio)
              padded  one conversation per window, padded with an unused special token that
                      ``exclude_special_tokens`` drops: the live side then trains on exactly the
                      activations the cache holds (same tokens, same context), so the final
                      quality of the two sides can be compared like for like

Same config by construction: the live runner gets the very SAE object ``build_training_sae``
builds for the cached side (same architecture, width, k, init from ``--seed``; sae-lens's runner
does not seed the SAE init itself), and its trainer settings are read from
``interp.sae.train.trainer_config`` (lr, constant schedule, Adam betas, batch size, token budget,
dead-feature window, no normalisation); the script checks the two trainer configs are equal.

Reports training tokens/s of each side (wall clock, and per CPU-second of the process, which is
robust to other processes sharing the CPU), their ratio, the capture cost of the cached side and
the amortised ratio (capture + 1 training run, and capture shared by ``--runs`` runs, e.g. a sweep
of widths), and the explained variance of every SAE on the same held-out cached activations
(position 0 excluded) with the differences. The sides train in interleaved rounds
(:mod:`benchmarks.interleave`: cached, live, live, cached, ...); speed-ups are medians over pairs of
rounds, with their range. ``torch.set_num_threads(1)`` by default.

    python benchmarks/sae.py --quick                 # 20k training tokens, both live modes
    python benchmarks/sae.py --tokens 50000 --live packed
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import torch

# `python benchmarks/sae.py` puts benchmarks/ first on sys.path, where benchmarks/probes.py would
# shadow the `probes` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks.interleave

import numpy as np  # noqa: E402

from benchmarks.interleave import interleaved, ratio  # noqa: E402

# trainer settings both sides must share (sae-lens's SAETrainerConfig field names)
SHARED_TRAINER_FIELDS = (
    "total_training_samples", "train_batch_size_samples", "lr", "lr_end", "lr_scheduler_name", "lr_warm_up_steps",
    "lr_decay_steps", "n_restart_cycles", "adam_beta1", "adam_beta2", "device", "autocast", "dead_feature_window",
    "feature_sampling_window",
)


def _conversations(n: int, seed: int = 0) -> list[list[dict[str, str]]]:
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


class _Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self) -> _Clock:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.t0, time.process_time() - self.c0


def _live(
    mode: str, args: argparse.Namespace, loaded: Any, cfg: Any, hook_layer: int, convs: list[Any], tmp: Path,
) -> tuple[Any, _Clock, _Clock, int]:
    """Train with sae-lens's runner on the live model; returns (sae, setup clock, training clock, context)."""
    from datasets import Dataset  # type: ignore[import-untyped]
    from sae_lens import LanguageModelSAERunnerConfig, LanguageModelSAETrainingRunner, LoggingConfig

    from interp.sae import build_training_sae
    from interp.sae.train import trainer_config

    tok = loaded.tokenizer
    exclude: list[int] | bool = False
    if mode == "packed":
        texts = [loaded.chat.render(c, add_generation_prompt=False) for c in convs]
        data = Dataset.from_dict({"text": texts + texts})  # the runner also fills a buffer ahead
        context = args.context
    else:  # one conversation per window, padded with a special token that never occurs in the data
        ids = [list(loaded.chat.encode(c).input_ids) for c in convs]
        used = {t for s in ids for t in s}
        pad = next((t for t in tok.all_special_ids if t not in used), None)
        if pad is None:
            raise RuntimeError("no unused special token to pad with")
        context = min(args.context, max(len(s) for s in ids))
        data = Dataset.from_dict({"input_ids": [s[:context] + [pad] * (context - len(s[:context])) for s in ids]})
        exclude = [int(pad)]
    tcfg = trainer_config(cfg)
    sae = build_training_sae(args.d_in, cfg, hook_name=f"model.layers.{hook_layer}", model_name=str(loaded.source_dir))
    rcfg = LanguageModelSAERunnerConfig(
        sae=sae.cfg, model_name=str(loaded.source_dir), model_class_name="AutoModelForCausalLM",
        hook_name=f"model.layers.{hook_layer}", dataset_path=str(tmp / "unused"), streaming=False,
        context_size=context, seqpos_slice=(1, None), exclude_special_tokens=exclude,
        training_tokens=cfg.total_tokens, train_batch_size_tokens=cfg.batch_size, store_batch_size_prompts=8,
        n_batches_in_buffer=16, lr=tcfg.lr, lr_end=tcfg.lr_end, lr_scheduler_name=tcfg.lr_scheduler_name,
        lr_warm_up_steps=tcfg.lr_warm_up_steps, lr_decay_steps=tcfg.lr_decay_steps, adam_beta1=tcfg.adam_beta1,
        adam_beta2=tcfg.adam_beta2, dead_feature_window=tcfg.dead_feature_window,
        feature_sampling_window=tcfg.feature_sampling_window, n_batches_for_norm_estimate=tcfg.n_batches_for_norm_estimate,
        device=cfg.device, logger=LoggingConfig(log_to_wandb=False), checkpoint_path=None,
        output_path=str(tmp / f"live-{mode}"), seed=cfg.seed, verbose=False,
    )
    live_t, ours = asdict(rcfg.to_sae_trainer_config()), asdict(tcfg)
    diff = {k: (live_t[k], ours[k]) for k in SHARED_TRAINER_FIELDS if live_t[k] != ours[k]}
    if diff:
        raise RuntimeError(f"live and cached trainer configs differ: {diff}")
    with _Clock() as setup, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner = LanguageModelSAETrainingRunner(rcfg, override_dataset=data, override_sae=sae)
    with _Clock() as train, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trained = runner.run()
    return trained, setup, train, context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k training tokens (default 100k)")
    parser.add_argument("--tokens", type=int, default=None, help="training tokens of each side (overrides --quick)")
    parser.add_argument("--live", choices=("packed", "padded", "both"), default="both")
    parser.add_argument("--layer", type=int, default=15)
    parser.add_argument("--d-sae", type=int, default=2304)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10, help="training runs sharing one capture, for the amortised rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (each side trains once per round)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    args.tokens = args.tokens or (20_000 if args.quick else 100_000)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("sae_lens").setLevel(logging.ERROR)

    import sae_lens.llm_sae_training_runner  # noqa: F401  (import cost, ~seconds, stays out of both timings)

    from interp.activations import CaptureConfig, capture
    from interp.models import load_model
    from interp.sae import SAETrainConfig, reconstruction_metrics, train_sae

    loaded = load_model("smollm2-135m-instruct", device="cpu")
    args.d_in = loaded.d_model
    hook = f"blocks.{args.layer}.hook_resid_post"
    convs = _conversations(5000)
    n_eval = 30
    eval_convs, train_convs, have = convs[:n_eval], [], 0
    for c in convs[n_eval:]:  # just enough conversations for one pass over `tokens` activations
        train_convs.append(c)
        have += len(loaded.chat.encode(c).input_ids) - 1
        if have >= 1.05 * args.tokens:
            break
    cfg = SAETrainConfig(d_sae=args.d_sae, architecture="topk", k=args.k, lr=args.lr, batch_size=args.batch,
                         total_tokens=args.tokens, seed=args.seed, dead_feature_window=500)
    modes = ("packed", "padded") if args.live == "both" else (args.live,)
    res: dict[str, Any] = {
        "device": "cpu", "threads": args.threads, "hook": hook, "training_tokens": args.tokens, "d_sae": args.d_sae,
        "k": args.k, "batch": args.batch, "lr": args.lr, "steps": -(-args.tokens // args.batch),
    }
    with TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        # held-out evaluation activations (same for every SAE), position 0 excluded
        eval_acts = capture(loaded, eval_convs, CaptureConfig(hooks=(hook,), positions="all"), root=tmp / "eval").load(hook)
        # cached side: capture once (timed), then train from the cache (timed)
        with _Clock() as cap:
            acts = capture(loaded, train_convs, CaptureConfig(hooks=(hook,), positions="all", batch_size=8),
                           root=tmp / "c").load(hook)
        n_acts = int(acts.shape[0])
        # the sides in interleaved rounds (cached, live..., then backward): wall and CPU seconds per round
        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        trained: dict[str, Any] = {}
        contexts: dict[str, int] = {}

        def record(name: str, clock: _Clock) -> None:
            wall.setdefault(name, []).append(clock.wall)
            cpu.setdefault(name, []).append(clock.cpu)

        def cached_side() -> None:
            with _Clock() as clock:
                trained["cached"] = train_sae(acts, cfg, hook_name=hook)
            record("cached", clock)

        def live_side(mode: str) -> None:
            trained[mode], setup, clock, contexts[mode] = _live(mode, args, loaded, cfg, args.layer, train_convs, tmp)
            record(mode, clock)
            wall.setdefault(f"{mode}_setup", []).append(setup.wall)

        sides: dict[str, Callable[[], None]] = {"cached": cached_side}
        sides |= {m: functools.partial(live_side, m) for m in modes}
        interleaved(sides, args.rounds)  # each side times itself (the live setup stays out of its training time)
        med = {k: float(np.median(v)) for k, v in wall.items()}
        med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
        ev_cached = reconstruction_metrics(trained["cached"], eval_acts)["explained_variance"]
        res.update({
            "rounds": args.rounds, "cached_activations": n_acts, "eval_tokens": int(eval_acts.shape[0]),
            "capture_s": cap.wall, "capture_tok_s": n_acts / cap.wall, "capture_tok_per_cpu_s": n_acts / cap.cpu,
            "cached_train_s": med["cached"], "cached_tok_s": args.tokens / med["cached"],
            "cached_tok_per_cpu_s": args.tokens / med_cpu["cached"], "cached_ev": ev_cached,
        })
        # capture cost charged to this run's tokens (a run longer than the cache reuses it for free)
        share = min(1.0, args.tokens / n_acts)
        for runs in (1, args.runs):
            res[f"cached_amortised_tok_s_{runs}run"] = args.tokens / (share * cap.wall / runs + med["cached"])
            res[f"cached_amortised_tok_per_cpu_s_{runs}run"] = args.tokens / (share * cap.cpu / runs + med_cpu["cached"])
        for mode in modes:
            ev = reconstruction_metrics(trained[mode], eval_acts)["explained_variance"]
            speed, speed_cpu = ratio(wall, "cached", mode), ratio(cpu, "cached", mode)
            res.update({
                f"live_{mode}_context": contexts[mode], f"live_{mode}_setup_s": med[f"{mode}_setup"],
                f"live_{mode}_train_s": med[mode], f"live_{mode}_tok_s": args.tokens / med[mode],
                f"live_{mode}_tok_per_cpu_s": args.tokens / med_cpu[mode],
                f"speedup_{mode}_wall": speed.median, f"speedup_{mode}_wall_range": f"{speed.low:.1f}-{speed.high:.1f}",
                f"speedup_{mode}_cpu": speed_cpu.median,
                f"speedup_{mode}_cpu_range": f"{speed_cpu.low:.1f}-{speed_cpu.high:.1f}",
                f"speedup_{mode}_amortised_1run_cpu": res["cached_amortised_tok_per_cpu_s_1run"] * med_cpu[mode] / args.tokens,
                f"speedup_{mode}_amortised_{args.runs}run_cpu":
                    res[f"cached_amortised_tok_per_cpu_s_{args.runs}run"] * med_cpu[mode] / args.tokens,
                f"live_{mode}_ev": ev, f"ev_diff_cached_minus_{mode}": ev_cached - ev,
            })
    for k, v in res.items():
        print(f"{k:>36}: {v:.4g}" if isinstance(v, float) else f"{k:>36}: {v}")
    for mode in modes:
        print(f"[{mode}] training from the cache: {res[f'speedup_{mode}_cpu']:.1f}x per CPU-second "
              f"[{res[f'speedup_{mode}_cpu_range']}], {res[f'speedup_{mode}_wall']:.1f}x wall "
              f"[{res[f'speedup_{mode}_wall_range']}] (medians over pairs of rounds; target >= 10x); with the capture "
              "paid by this run "
              f"{res[f'speedup_{mode}_amortised_1run_cpu']:.1f}x, shared by {args.runs} runs "
              f"{res[f'speedup_{mode}_amortised_{args.runs}run_cpu']:.1f}x; held-out EV (no position 0) "
              f"cached {ev_cached:.4f} vs live {res[f'live_{mode}_ev']:.4f} "
              f"(diff {res[f'ev_diff_cached_minus_{mode}']:+.4f})")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
