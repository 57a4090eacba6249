"""Benchmark: batched torch logistic layer sweep vs a scikit-learn ``LogisticRegression`` loop.

Both sides fit, per layer and outer fold, an L2 logistic regression on standardised features
(scaler fitted on the outer training fold) with C chosen from the same grid by the same inner
folds (mean held-out log-loss), then score the outer test fold. Outer folds come from
``probes.make_splits`` and inner folds from ``probes.torch_logistic.inner_splits``, so both sides
see identical splits. Prints wall time of each side, the speed-up, and the max |AUROC
difference| over (layer, fold).

Cases:
  cpu   30 layers x 2,000 examples x d = 576 (``--quick``: 6 x 1,000 x 256)
  gpu   32 layers x 16,000 x 4,096, only when CUDA is available (or ``--large``); the
        scikit-learn side runs on ``--sklearn-layers`` evenly spaced layers (default 2) and its
        time is extrapolated linearly to all layers — reported as such. ``--sklearn-layers`` also
        shortens the CPU case the same way (default there: all layers, nothing extrapolated).

The two sides run in interleaved rounds (:mod:`benchmarks.interleave`: ours, sklearn, sklearn,
ours, ...); each speed-up is taken within a pair of rounds, and its median and range over the
pairs are printed, for wall time and for process CPU time (which depends least on what else
runs on the machine).

Usage: python benchmarks/probes.py [--quick] [--large] [--device cuda] [--sklearn-layers N] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: this folder must not shadow the `probes` package
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from benchmarks.interleave import interleaved, ratio
from probes import make_splits, sweep
from probes.torch_logistic import DEFAULT_CS, inner_splits, resolve_device

N_SPLITS = 5
INNER_CV = 3
SEED = 0


@dataclass
class Case:
    name: str
    L: int
    n: int
    d: int


def make_data(
    case: Case, device: torch.device, seed: int = SEED
) -> tuple[dict[str, torch.Tensor], np.ndarray, np.ndarray]:
    """Paired planted data: n/2 prompts, one aligned (0) and one misaligned (1) answer each.

    Per layer: isotropic noise + 32 shared latent factors (anisotropy) + a planted direction
    whose separation rises then falls across layers (0.3 .. 3.0, against a per-feature sd of ~2.2).
    """
    g = torch.Generator(device=device).manual_seed(seed)
    n_prompts = case.n // 2
    y = np.tile([0, 1], n_prompts)
    groups = np.repeat(np.arange(n_prompts), 2)
    yt = torch.as_tensor(y, dtype=torch.float32, device=device)
    r = 32
    B = torch.randn(r, case.d, generator=g, device=device) * (2.0 / np.sqrt(r))
    acts: dict[str, torch.Tensor] = {}
    for layer in range(case.L):
        frac = layer / max(case.L - 1, 1)
        sep = 0.3 + 2.7 * float(np.sin(np.pi * frac))
        u = torch.randn(case.d, generator=g, device=device)
        u = u / u.norm()
        X = torch.randn(case.n, case.d, generator=g, device=device)
        X += torch.randn(case.n, r, generator=g, device=device) @ B
        X += (yt - 0.5)[:, None] * (sep * u)[None, :]
        acts[f"blocks.{layer}.hook_resid_post"] = X
    return acts, y, groups


def sklearn_loop(
    acts: dict[str, torch.Tensor], y: np.ndarray, groups: np.ndarray, hooks: list[str], Cs: tuple[float, ...]
) -> tuple[dict[tuple[str, int], float], float, float]:
    """The reference: a plain scikit-learn LogisticRegression loop over layers, folds, C and inner folds."""
    outer = make_splits(y, groups, n_splits=N_SPLITS, random_state=SEED)
    out: dict[tuple[str, int], float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for hook in hooks:
        X = acts[hook].cpu().numpy()
        for k, (tr, te) in enumerate(outer):
            mean, sd = X[tr].mean(0), X[tr].std(0)
            Ztr, Zte = (X[tr] - mean) / sd, (X[te] - mean) / sd
            ytr = y[tr]
            inner = inner_splits(ytr, groups[tr], n_splits=INNER_CV, random_state=SEED)
            losses = []
            for C in Cs:
                fold_losses = []
                for a, b in inner:
                    lr = LogisticRegression(C=C, max_iter=1000, tol=1e-4).fit(Ztr[a], ytr[a])
                    p = np.clip(lr.predict_proba(Ztr[b])[:, 1].astype(np.float64), 1e-15, 1 - 1e-15)
                    fold_losses.append(-np.mean(ytr[b] * np.log(p) + (1 - ytr[b]) * np.log(1 - p)))
                losses.append(np.mean(fold_losses))
            best = Cs[int(np.argmin(losses))]
            lr = LogisticRegression(C=best, max_iter=1000, tol=1e-4).fit(Ztr, ytr)
            out[(hook, k)] = float(roc_auc_score(y[te], lr.decision_function(Zte)))
    return out, time.perf_counter() - t0, time.process_time() - c0


def run_case(case: Case, device: torch.device, sklearn_layers: int | None, rounds: int) -> dict[str, Any]:
    acts, y, groups = make_data(case, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    Cs = DEFAULT_CS
    # Warm-up on a tiny slice (thread pools, CUDA context/kernels), not timed.
    sweep(
        {k: v[:200] for k, v in list(acts.items())[:2]},
        y[:200],
        groups[:200],
        methods=["logistic"],
        controls=(),
        device=device,
    )
    hooks = list(acts)
    if sklearn_layers is None or sklearn_layers >= len(hooks):
        sk_hooks = hooks
    else:  # evenly spaced layers, so that weak and strong layers are both represented
        sk_hooks = [hooks[int(i)] for i in np.linspace(0, len(hooks) - 1, sklearn_layers).round()]
    scale = len(hooks) / len(sk_hooks)
    got: dict[str, Any] = {}

    def ours() -> None:
        got["table"] = sweep(acts, y, groups, methods=["logistic"], controls=(), n_splits=N_SPLITS, Cs=Cs,
                             inner_cv=INNER_CV, random_state=SEED, device=device)

    def sklearn() -> None:
        got["sk"] = sklearn_loop(acts, y, groups, sk_hooks, Cs)[0]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    # wall and process-CPU seconds per round, the two sides interleaved (ours, sklearn, sklearn, ours, ...)
    cpu: dict[str, list[float]] = {"ours": [], "sklearn": []}

    def timed_cpu(name: str, fn: Any) -> Any:
        def run() -> None:
            c0 = time.process_time()
            fn()
            cpu[name].append(time.process_time() - c0)
        return run

    wall = interleaved({"ours": timed_cpu("ours", ours), "sklearn": timed_cpu("sklearn", sklearn)}, rounds, sync=sync)
    wall["sklearn"] = [t * scale for t in wall["sklearn"]]  # extrapolated to every layer when fewer were run
    cpu["sklearn"] = [t * scale for t in cpu["sklearn"]]
    speed, cpu_speed = ratio(wall, "sklearn", "ours", speed=False), ratio(cpu, "sklearn", "ours", speed=False)
    table, sk = got["table"], got["sk"]
    ours_auroc = {(r.hook, int(r.fold)): float(r.auroc) for r in table.itertuples()}
    diffs = np.array([abs(ours_auroc[key] - v) for key, v in sk.items()])
    mean_auroc = float(np.mean([ours_auroc[key] for key in sk]))
    return {
        "case": case.name,
        "shape": f"{case.L}x{case.n}x{case.d}",
        "device": str(device),
        "ours_s": float(np.median(wall["ours"])),
        "sklearn_s": float(np.median(wall["sklearn"])),
        "sklearn_note": "measured" if len(sk_hooks) == len(hooks) else f"extrapolated from {len(sk_hooks)} layers",
        "speedup": speed.median,
        "speedup_range": f"{speed.low:.1f}-{speed.high:.1f}",
        "ours_cpu_s": float(np.median(cpu["ours"])),
        "sklearn_cpu_s": float(np.median(cpu["sklearn"])),
        "cpu_speedup": cpu_speed.median,
        "cpu_speedup_range": f"{cpu_speed.low:.1f}-{cpu_speed.high:.1f}",
        "pairs": speed.n,
        "max_abs_dauroc": float(diffs.max()),
        "mean_abs_dauroc": float(diffs.mean()),
        "mean_auroc": mean_auroc,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small CPU case (6 x 1000 x 256)")
    ap.add_argument("--large", action="store_true", help="run the 32 x 16000 x 4096 case even without CUDA")
    ap.add_argument("--large-shape", default="32,16000,4096", help="L,n,d of the large case")
    ap.add_argument("--device", default=None, help="torch device for our side (default: cuda if available)")
    ap.add_argument(
        "--sklearn-layers",
        type=int,
        default=None,
        help="run the sklearn side on this many evenly spaced layers and extrapolate its time "
        "(default: all layers for the CPU case, 2 for the large case)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (each side runs once per round)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cases: list[tuple[Case, torch.device, int | None]] = []
    if args.quick:
        cases.append((Case("cpu-quick", 6, 1000, 256), torch.device("cpu"), args.sklearn_layers))
    else:
        cases.append((Case("cpu", 30, 2000, 576), torch.device("cpu"), args.sklearn_layers))
    if args.large or torch.cuda.is_available():
        L, n, d = (int(v) for v in args.large_shape.split(","))
        cases.append((Case("large", L, n, d), device, args.sklearn_layers or 2))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"load average {load} on {os.cpu_count()} CPUs; torch {torch.__version__}, threads={torch.get_num_threads()}, cuda={torch.cuda.is_available()}, "
        f"Cs={list(DEFAULT_CS)}, outer={N_SPLITS}-fold, inner={INNER_CV}-fold"
    )
    header = (
        f"{'case':<10} {'shape':<14} {'device':<6} {'ours_s':>8} {'sklearn_s':>10} {'speedup [range]':>17} "
        f"{'ours_cpu_s':>10} {'sklearn_cpu_s':>13} {'cpu_speedup [range]':>21} "
        f"{'max|dAUROC|':>12} {'mean|dAUROC|':>13} {'AUROC':>6}  sklearn time (medians of rounds; ratios over pairs)"
    )
    results = []
    for case, dev, sk_layers in cases:
        res = run_case(case, dev, sk_layers, args.rounds)
        results.append(res)
        print(header)
        print(
            f"{res['case']:<10} {res['shape']:<14} {res['device']:<6} {res['ours_s']:>8.2f} {res['sklearn_s']:>10.2f} "
            f"{res['speedup']:>6.1f}x [{res['speedup_range']:>8}] {res['ours_cpu_s']:>10.2f} {res['sklearn_cpu_s']:>13.2f} "
            f"{res['cpu_speedup']:>8.1f}x [{res['cpu_speedup_range']:>9}] {res['max_abs_dauroc']:>12.4f} "
            f"{res['mean_abs_dauroc']:>13.4f} {res['mean_auroc']:>6.3f}  {res['sklearn_note']}, {res['pairs']} pairs",
            flush=True,
        )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"load average at the end: {load} (CPU-time ratios depend least on what else runs)"
    )
    ok = all(float(r["speedup"]) >= 10 and float(r["max_abs_dauroc"]) <= 0.01 for r in results)
    ok_cpu = all(float(r["cpu_speedup"]) >= 10 and float(r["max_abs_dauroc"]) <= 0.01 for r in results)
    print(
        f"target (>= 10x faster, max |dAUROC| <= 0.01): wall {'met' if ok else 'NOT met'}, "
        f"CPU time {'met' if ok_cpu else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
