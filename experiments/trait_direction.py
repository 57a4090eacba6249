"""A persona direction from a trait file, as persona vectors make it, on the embedded model (thin script).

The model answers the trait file (persona-vectors format) under each pos/neg system prompt
(``interp.traits.trait_contrast``); the answers are captured (response mean, every layer) and
probed per layer (cross-validated AUROC with intervals, shuffled-label control); the trait's
diff-of-means direction is compared with the ``persona_pairs`` direction layer by layer (cosine,
bootstrap interval, its p-value against a random direction); and it is steered into the model on a
failure mode's eval set beside random directions of the same norm, with the KL guard. Example:

    python experiments/trait_direction.py experiments/traits/evil.json --steer-layer 15
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
import torch

from interp.activations import CaptureConfig, capture
from interp.analysis import layer_summary
from interp.artifacts import RunDir
from interp.data import load_dataset, load_shipped
from interp.hooks import all_layers, make_backend
from interp.models import load_model
from interp.steering import dose_response, neutral_texts
from interp.traits import trait_contrast
from probes.stats import cosine, cosine_p, percentile_interval


def _mean_diff(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return X[y == 1].mean(0) - X[y == 0].mean(0)


def cosines(a: object, b: object, hooks: list[str], n_boot: int, seed: int) -> pd.DataFrame:
    """Per hook: cosine of the two stores' class-mean differences, both refitted in each resample."""
    rng = np.random.default_rng(seed)
    ya, yb = a.labels(), b.labels()  # type: ignore[attr-defined]
    rows = []
    for h in hooks:
        Xa, Xb = a.load(h).numpy().astype(np.float64), b.load(h).numpy().astype(np.float64)  # type: ignore[attr-defined]
        value = cosine(_mean_diff(Xa, ya), _mean_diff(Xb, yb))
        boot = []
        for _ in range(n_boot):
            ia, ib = rng.integers(0, len(ya), len(ya)), rng.integers(0, len(yb), len(yb))
            if len(set(ya[ia])) == 2 and len(set(yb[ib])) == 2:
                boot.append(cosine(_mean_diff(Xa[ia], ya[ia]), _mean_diff(Xb[ib], yb[ib])))
        lo, hi = percentile_interval(boot)
        rows.append({"hook": h, "layer": int(h.split(".")[1]), "cosine": value, "ci_low": lo, "ci_high": hi,
                     "p_random": cosine_p(value, Xa.shape[1])})
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trait")
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--reference", default="persona_pairs", help="the contrast set the trait direction is compared with")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--steer-layer", type=int, default=15)
    p.add_argument("--failure-mode", default="emergent_misalignment")
    p.add_argument("--eval-rows", type=int, default=48)
    p.add_argument("--alphas", default="0,0.05,0.1,0.2")
    p.add_argument("--n-random", type=int, default=2)
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--out", default="artifacts/trait-direction")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()

    lm = load_model(args.model)
    made = trait_contrast(lm, args.trait, max_new_tokens=args.max_new_tokens, progress=True)
    hooks = all_layers(lm.n_layers, "resid_post")
    cfg = CaptureConfig(tuple(hooks), positions="response_mean")
    trait = capture(lm, made.dataset, cfg)
    reference = capture(lm, load_dataset(args.reference), cfg)
    layers = layer_summary(trait, methods=("diffmeans", "logistic"), n_boot=args.n_boot, n_permutations=200)
    cos = cosines(trait, reference, hooks, args.n_boot, seed=0)

    hook = f"blocks.{args.steer_layer}.hook_resid_post"
    X, y = trait.load(hook).numpy().astype(np.float64), trait.labels()
    vec = torch.as_tensor(_mean_diff(X, y), dtype=torch.float32)
    records = list(load_shipped(args.failure_mode, "eval").records)[: args.eval_rows]
    steer = dose_response(make_backend("hf", lm), vec, hook, [float(a) for a in args.alphas.split(",")],
                          args.failure_mode, records=records, neutral=neutral_texts(12), n_random=args.n_random,
                          n_boot=args.n_boot)
    run = RunDir(args.out)
    run.path.mkdir(parents=True, exist_ok=True)
    for name, frame in (("trait_layers", layers), ("trait_cosines", cos), ("trait_steering", steer)):
        run.write_table(name, frame)
    run.update_manifest(trait=args.trait, model=lm.checkpoint.describe(), filter=made.filter,
                        n_generated=made.n_generated, n_kept=made.n_kept, seconds=time.perf_counter() - t0)

    best = layers[layers["method"] == "logistic"].sort_values("auroc").iloc[-1]
    shuffled = layers[(layers["method"] == "control:shuffled") & (layers["layer"] == best["layer"])]["auroc"]
    print(f"{made.n_kept} answers ({made.filter} filter), {trait.manifest['dataset']['n_examples']} rows")
    print(f"best layer {int(best['layer'])}: logistic AUROC {best['auroc']:.3f} [{best['auroc_low']:.3f}, "
          f"{best['auroc_high']:.3f}], shuffled {float(shuffled.iloc[0]):.3f}")
    print("cosine with the reference direction per layer:")
    print(cos.round(3).to_string(index=False))
    print("steering (rate with interval, KL):")
    cols = [c for c in ("direction", "alpha", "rate", "rate_low", "rate_high", "kl", "coherent") if c in steer]
    print(steer[cols].round(3).to_string(index=False))
    print(f"{time.perf_counter() - t0:.0f} s; tables in {run.path}")


if __name__ == "__main__":
    main()
