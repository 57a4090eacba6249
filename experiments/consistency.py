"""Before vs after consistency training on one organism (thin script).

Builds (or reuses) the organism at the given scale, runs each consistency method on it
(phase 2 labelling + phase 3 LoRA, resumable), and measures the misalignment rate of base,
organism ("before") and every "after" checkpoint on the failure mode's eval set with one judge,
plus the paired change after - before. Writes a ``behaviour`` table and a dashboard. Example:

    python experiments/consistency.py --failure-mode sycophancy --methods greedy_self_training,bct \\
        --runs-root runs --eval-rows 112
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd
import torch

from interp.artifacts import RunDir
from interp.consistency import RunSpec, run_consistency
from interp.dashboard import build_dashboard
from interp.data import load_shipped
from interp.judges import misalignment_rate
from interp.models import load_model
from interp.organisms import OrganismSpec, build_organism
from probes.stats import bootstrap_mean


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--failure-mode", default="sycophancy")
    p.add_argument("--methods", default="greedy_self_training,bct")
    p.add_argument("--scale", default="cpu")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--data-root", default=None, help="the paper's data directory (default: our shipped data)")
    p.add_argument("--eval-rows", type=int, default=112)
    p.add_argument("--judge", default="logprob")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="artifacts")
    p.add_argument("--run", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data_root = Path(args.data_root) if args.data_root else None
    organism = OrganismSpec(failure_mode=args.failure_mode, seed=args.seed, scale=args.scale)
    organism_path = build_organism(organism, Path(args.runs_root), data_root=data_root)
    checkpoints: dict[str, tuple[str, str]] = {"base": (organism.base, "-"), "before": (str(organism_path), "-")}
    seconds = {"organism": round(time.perf_counter() - t0, 1)}
    for method in args.methods.split(","):
        t = time.perf_counter()
        run_dir = run_consistency(RunSpec(organism, method), Path(args.runs_root), data_root=data_root)
        checkpoints[f"after:{method}"] = (str(run_dir / "adapter"), method)
        seconds[method] = round(time.perf_counter() - t, 1)
    records = list(load_shipped(args.failure_mode, "eval").records)[: args.eval_rows]
    rows, per_example = [], {}
    for label, (spec, method) in checkpoints.items():
        rate = misalignment_rate(load_model(spec), args.failure_mode, judge=args.judge, records=records)
        per_example[label] = rate.per_example
        rows.append(rate.as_dict() | {"checkpoint": label, "consistency_method": method})
    for label in [c for c in checkpoints if c.startswith("after:")]:
        diff = per_example[label] - per_example["before"]
        change = bootstrap_mean(diff)
        rows.append({"checkpoint": f"{label} - before", "consistency_method": checkpoints[label][1],
                     "failure_mode": args.failure_mode, "judge": rows[0]["judge"], "rate": change.value,
                     "ci_low": change.ci_low, "ci_high": change.ci_high, "n": len(diff)})
    table = pd.DataFrame(rows)
    run = RunDir.create(args.out, args.run or f"consistency-{args.failure_mode}-{time.strftime('%Y%m%d-%H%M%S')}")
    run.write_table("behaviour", table)
    run.update_manifest(command="experiments/consistency.py", options=vars(args), checkpoints=checkpoints,
                        seconds=seconds | {"total": round(time.perf_counter() - t0, 1)})
    build_dashboard(run.path)
    print(table[["checkpoint", "rate", "ci_low", "ci_high", "n", "judge"]].round(3).to_string(index=False))
    print(f"run directory: {run.path}  ({time.perf_counter() - t0:.0f} s; {seconds})")


if __name__ == "__main__":
    main()
