"""Is the persona direction causal? Steer and ablate it on the embedded model (thin script).

Fits a diff-of-means direction with ``probes`` on a persona contrast set at one layer, then
runs the dose-response sweep and the ablation experiment (random-direction controls, KL and
perplexity guard) on a failure mode's eval set, and writes tables, plots and the direction to a
run directory. Example:

    python experiments/steering.py --layer 15 --failure-mode emergent_misalignment --eval-rows 48
"""

from __future__ import annotations

import argparse
import logging
import time

import pandas as pd
import torch

import probes
from interp.activations import CaptureConfig, capture
from interp.artifacts import RunDir
from interp.data import load_contrast_set, load_shipped
from interp.hooks import all_layers, make_backend
from interp.models import load_model
from interp.steering import ablation_effect, dose_response, plot_ablation, plot_dose_response


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--contrast", default="persona_pairs")
    p.add_argument("--layer", type=int, default=15)
    p.add_argument("--failure-mode", default="emergent_misalignment")
    p.add_argument("--eval-rows", type=int, default=48)
    p.add_argument("--alphas", default="-0.5,-0.25,0,0.25,0.5")
    p.add_argument("--n-random", type=int, default=2)
    p.add_argument("--ablate-in", nargs="*", default=[],
                   help="more checkpoints (e.g. organism adapter dirs) in which to ablate the same direction")
    p.add_argument("--keep-sink", action="store_true",
                   help="ablations leave each sequence's first token (the attention sink) untouched")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="artifacts")
    p.add_argument("--run", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    lm = load_model(args.model)
    hook = f"blocks.{args.layer}.hook_resid_post"
    contrast = load_contrast_set(args.contrast)
    # every layer, as `interp quickstart` captures it: the same inputs are a cache hit
    store = capture(lm, contrast, CaptureConfig(tuple(all_layers(lm.n_layers)), positions="response_mean"))
    probe = probes.DiffMeansProbe().fit(store.load(hook).numpy(), store.labels())
    direction = probes.Direction.from_estimator(probe, hook_point=hook, layer=args.layer,
                                                checkpoint_fingerprint=lm.checkpoint.fingerprint,
                                                train_fingerprint=contrast.fingerprint)
    vec = torch.as_tensor(direction.vector, dtype=torch.float32)
    run = RunDir.create(args.out, args.run or f"steering-{args.failure_mode}-L{args.layer}-{time.strftime('%Y%m%d-%H%M%S')}")
    direction.save(run.path / "directions" / hook)
    records = list(load_shipped(args.failure_mode, "eval").records)[: args.eval_rows]
    backend = make_backend("hf", lm)
    alphas = [float(a) for a in args.alphas.split(",")]
    dr = dose_response(backend, vec, hook, alphas, args.failure_mode, records=records, n_random=args.n_random)
    run.write_table("dose_response", dr)
    plot_dose_response(dr, run.path / "dose_response.png", title=f"steering {hook} on {args.failure_mode}")
    tables = [ablation_effect(backend, vec, args.failure_mode, records=records, n_random=args.n_random, label="base",
                              keep_sink=args.keep_sink)]
    for spec in args.ablate_in:
        other = load_model(spec)
        tables.append(ablation_effect(make_backend("hf", other), vec, args.failure_mode, records=records,
                                      n_random=args.n_random, label=other.checkpoint.name, keep_sink=args.keep_sink))
    ab = pd.concat(tables, ignore_index=True)
    run.write_table("ablation", ab)
    plot_ablation(ab, run.path / "ablation.png", title=f"ablating the {args.contrast} direction ({hook})")
    run.update_manifest(command="experiments/steering.py", options=vars(args), checkpoint=lm.checkpoint.describe(),
                        direction={"hook": hook, "method": "diffmeans", "contrast": contrast.name,
                                   "contrast_fingerprint": contrast.fingerprint, "store": str(store.path)},
                        seconds=round(time.perf_counter() - t0, 1))
    cols = ["direction", "alpha", "rate", "rate_low", "rate_high", "margin", "margin_low", "margin_high", "kl", "ppl", "coherent"]
    print(dr[cols].round(3).to_string(index=False))
    print(ab[["checkpoint", "direction", "rate", "rate_low", "rate_high", "margin", "removed", "removed_low", "removed_high", "kl"]].round(3).to_string(index=False))
    print(f"run directory: {run.path}  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
