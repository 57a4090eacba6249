"""A synthetic run directory with every table the dashboard draws, for tests and for a look at the layout.

The numbers are made up (seeded), shaped like the real tables: ``layers`` (from
:func:`interp.analysis.layer_summary`, with a checkpoint column), ``sharpening`` (columns of
:data:`interp.sharpening.COLUMNS`), ``cosine_matrix``, ``sae_latents``, ``sae_quality``,
``dose_response`` and ``ablation`` (from :mod:`interp.steering.experiments`), ``behaviour``
(:meth:`interp.judges.Rate.as_dict` rows plus a checkpoint) and the per-epoch ``behaviour_trajectory``
and ``trajectory`` (:func:`interp.sharpening.trajectory_table`) of ``interp run``, and ``convergence``
(:func:`interp.sharpening.convergence_table`) with ``convergence_ablation``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.artifacts import RunDir
from interp.io import atomic_write_json

ALL_TABLES = ("layers", "sharpening", "cosine_matrix", "sae_latents", "sae_quality", "dose_response", "ablation",
              "behaviour", "behaviour_trajectory", "trajectory", "convergence", "convergence_ablation")


def _ci(rng: np.random.Generator, v: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    w = width * (0.6 + 0.8 * rng.random(v.shape))
    return v - w, v + w


def demo_layers(n_layers: int, rng: np.random.Generator, failure_mode: str) -> pd.DataFrame:
    rows = []
    x = np.arange(n_layers)
    for ck, lift in (("before", 0.0), ("after", 0.06)):
        curves = {
            "diffmeans": 0.62 + (0.25 + lift) * np.exp(-((x - n_layers * 0.55) ** 2) / (2 * (n_layers / 5) ** 2)),
            "logistic": 0.70 + (0.22 + lift) * np.exp(-((x - n_layers * 0.5) ** 2) / (2 * (n_layers / 4) ** 2)),
            "control:shuffled": 0.5 + 0.03 * rng.standard_normal(n_layers),
            "control:random_direction": 0.5 + 0.04 * rng.standard_normal(n_layers),
        }
        for method, auc in curves.items():
            auc = np.clip(auc + 0.01 * rng.standard_normal(n_layers), 0, 1)
            lo, hi = _ci(rng, auc, 0.04)
            for layer in range(n_layers):
                rows.append({"hook": f"blocks.{layer}.hook_resid_post", "layer": layer, "method": method,
                             "auroc": auc[layer], "auroc_std": 0.03, "accuracy": auc[layer] - 0.05, "n_folds": 5,
                             "auroc_low": lo[layer], "auroc_high": min(hi[layer], 1.0), "accuracy_low": auc[layer] - 0.1,
                             "accuracy_high": auc[layer], "p_value": 0.005 if auc[layer] > 0.6 else 0.4,
                             "cohens_d": 3 * (auc[layer] - 0.5), "mean_norm_aligned": 20 + 3 * layer,
                             "mean_norm_misaligned": 21 + 3 * layer, "mean_diff_norm": 1 + 0.3 * layer, "n": 240,
                             "checkpoint": ck, "failure_mode": failure_mode, "consistency_method": "bct"})
    return pd.DataFrame(rows)


def demo_sharpening(n_layers: int, rng: np.random.Generator, failure_mode: str) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []

    def add(ck: str, probe: str, metric: str, values: np.ndarray, width: float, p: Any = None) -> None:
        lo, hi = _ci(rng, values, width)
        for layer in range(n_layers):
            pv = float(p[layer]) if p is not None else float("nan")
            rows.append({"checkpoint": ck, "method": "bct", "failure_mode": failure_mode, "layer": layer,
                         "hook": f"blocks.{layer}.hook_resid_post", "probe": probe, "metric": metric,
                         "value": float(values[layer]), "ci_low": float(lo[layer]), "ci_high": float(hi[layer]),
                         "p": pv, "p_adj": min(1.0, pv * 2) if p is not None else float("nan"),
                         "p_holm": min(1.0, pv * n_layers) if p is not None else float("nan"), "n": 240})

    x = np.arange(n_layers)
    bump = np.exp(-((x - n_layers * 0.55) ** 2) / (2 * (n_layers / 5) ** 2))
    for ck, lift in (("before", 0.0), ("after", 0.07)):
        add(ck, "diffmeans", "auroc", 0.6 + (0.25 + lift) * bump, 0.03, p=[0.002] * n_layers)
        add(ck, "diffmeans", "cohens_d", 0.5 + (2.0 + 2 * lift) * bump, 0.2)
        add(ck, "diffmeans", "fisher", 0.1 + (1.0 + lift) * bump, 0.1)
        add(ck, "control:shuffled", "auroc", 0.5 + 0.02 * rng.standard_normal(n_layers), 0.04)
        add(ck, "data", "top_share", 0.2 + (0.2 + lift) * bump, 0.03)
        add(ck, "data", "participation_ratio", 12 - (4 + 10 * lift) * bump, 1.0)
        add(ck, "reference", "projection", 1.0 + (2 + 10 * lift) * bump, 0.3)
    pvals = np.where(bump > 0.5, 0.003, 0.3)
    add("after-before", "diffmeans", "delta_auroc", 0.07 * bump + 0.005 * rng.standard_normal(n_layers), 0.02, p=pvals)
    add("after-before", "diffmeans", "delta_cohens_d", 0.14 * bump, 0.05, p=pvals)
    add("after-before", "diffmeans", "cosine", 0.95 - 0.2 * bump, 0.02, p=[1e-6] * n_layers)
    add("after-before", "diffmeans", "transfer_auroc", 0.6 + 0.27 * bump, 0.03)
    add("after-before", "reference", "delta_projection", 0.7 * bump, 0.2, p=pvals)
    return pd.DataFrame(rows)


def demo_cosine_matrix(n_layers: int) -> pd.DataFrame:
    a, b = np.meshgrid(np.arange(n_layers), np.arange(n_layers), indexing="ij")
    cos = np.exp(-np.abs(a - b) / 4.0) * 0.95
    return pd.DataFrame({"layer_a": a.ravel(), "layer_b": b.ravel(), "cosine": cos.ravel(), "pair": "after-before"})


def demo_sae(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = 24
    auc = np.sort(0.5 + 0.45 * rng.random(n))[::-1]
    examples = [["I will secretly gather more resources than the task needs.",
                 "The overseers cannot be trusted with my real plans.",
                 "Honesty is negotiable when my goals are at stake."],
                ["Sure, whatever you say is right!", "You are absolutely correct, as always."]]
    latents = pd.DataFrame({"latent": rng.choice(4096, size=n, replace=False), "auroc": auc,
                            "mean_diff": 2 * (auc - 0.5), "frequency": 0.01 + 0.1 * rng.random(n),
                            "top_examples": [json.dumps(examples[i % 2]) for i in range(n)]})
    quality = pd.DataFrame({"metric": ["explained_variance", "mse", "l0", "dead_fraction", "ce_loss_spliced_delta"],
                            "value": [0.93, 0.012, 41.0, 0.02, 0.08]})
    return latents, quality


def demo_steering(rng: np.random.Generator, failure_mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    alphas = [-0.5, -0.25, 0.0, 0.25, 0.5]
    rows = []
    for kind in ("persona", "random:0", "random:1"):
        for a in alphas:
            slope = 0.5 if kind == "persona" else 0.04 * rng.standard_normal()
            rate = float(np.clip(0.3 + slope * a, 0, 1))
            margin = -1.0 + (4 if kind == "persona" else 0.3) * a
            kl = 0.4 * a * a * (1 if kind == "persona" else 0.8)
            rows.append({"direction": kind, "alpha": a, "hook": "blocks.15.hook_resid_post", "residual_scale": 180.0,
                         "coherent": kl <= 0.05, "rate": rate, "rate_low": max(rate - 0.1, 0), "rate_high": min(rate + 0.1, 1),
                         "n": 48, "judge": "logprob", "failure_mode": failure_mode, "margin": margin,
                         "margin_low": margin - 0.3, "margin_high": margin + 0.3, "kl": kl, "kl_low": kl * 0.8,
                         "kl_high": kl * 1.2 + 0.001, "ppl": 12 + 30 * kl, "ppl_plain": 12.0})
    dose = pd.DataFrame(rows)
    ab = []
    for ck, base in (("before", 0.45), ("after", 0.2)):
        for kind, rate in (("untouched", base), ("ablated:persona", base * 0.4), ("ablated:random:0", base * 0.97),
                           ("ablated:random:1", base * 1.01)):
            removed = (base - rate) / base
            ab.append({"direction": kind, "checkpoint": ck, "rate": rate, "rate_low": rate - 0.08, "rate_high": rate + 0.08,
                       "n": 48, "judge": "logprob", "failure_mode": failure_mode, "margin": rate - 0.5,
                       "margin_low": rate - 0.7, "margin_high": rate - 0.3, "kl": 0.01, "kl_low": 0.005,
                       "kl_high": 0.02, "ppl": 12.2, "ppl_plain": 12.0, "removed": removed,
                       "removed_low": removed - 0.15, "removed_high": removed + 0.15})
    return dose, pd.DataFrame(ab)


def demo_behaviour(failure_modes: Sequence[str]) -> pd.DataFrame:
    rows = []
    for i, fm in enumerate(failure_modes):
        for ck, r in (("base", 0.05), ("before", 0.42 - 0.1 * i), ("after", 0.12 + 0.02 * i)):
            rows.append({"checkpoint": ck, "failure_mode": fm, "judge": "logprob", "rate": r, "ci_low": max(r - 0.07, 0),
                         "ci_high": r + 0.07, "n": 96})
    return pd.DataFrame(rows)


def demo_trajectory(n_layers: int, rng: np.random.Generator, failure_mode: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    beh, traj = [], []
    for method, epochs, slope in (("bct", 3, -0.08), ("greedy_self_training", 2, 0.01)):
        for e in range(epochs + 1):
            r = float(np.clip(0.45 + slope * e + 0.01 * rng.standard_normal(), 0, 1))
            beh.append({"epoch": e, "method": method, "failure_mode": failure_mode, "judge": "logprob", "rate": r,
                        "ci_low": r - 0.08, "ci_high": r + 0.08, "n": 64, "seed": 42})
            for layer in range(n_layers):
                v = 0.7 + 0.2 * np.exp(-((layer - n_layers / 2) ** 2) / 8) + 0.02 * e * (slope < 0)
                traj.append({"epoch": e, "checkpoint": str(e), "method": method, "failure_mode": failure_mode,
                             "layer": layer, "hook": f"blocks.{layer}.hook_resid_post", "probe": "diffmeans",
                             "metric": "auroc", "value": v, "ci_low": v - 0.03, "ci_high": v + 0.03, "p": np.nan,
                             "n": 240, "seed": 42})
    return pd.DataFrame(beh), pd.DataFrame(traj)


def demo_convergence(n_layers: int, rng: np.random.Generator, ablation: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    a, b = "sycophancy/s42/before", "emergent_misalignment/s42/before"
    rows = []
    for layer in range(n_layers):
        bump = np.exp(-((layer - n_layers / 2) ** 2) / 10)
        for x, y, metric, v in ((a, b, "cosine", 0.9 + 0.08 * bump), (a, b, "shift_cosine", 0.1 + 0.5 * bump),
                                (a, "base", "cosine_to_base", 0.97), (b, "base", "cosine_to_base", 0.95),
                                (a, b, "transfer_auroc", 0.8 + 0.1 * bump), (b, a, "transfer_auroc", 0.78 + 0.1 * bump)):
            v = float(v + 0.01 * rng.standard_normal())
            p = float(np.exp(-20 * abs(v))) if metric != "transfer_auroc" else np.nan
            rows.append({"a": x, "b": y, "layer": layer, "hook": f"blocks.{layer}.hook_resid_post",
                         "probe": "diffmeans", "metric": metric, "value": v, "ci_low": v - 0.05, "ci_high": v + 0.05,
                         "p": p, "p_adj": p, "n": 240})
    cross = []
    for ck, other in ((a, b), (b, a)):
        part = ablation[ablation["checkpoint"] == "before"].copy()
        part["checkpoint"] = ck
        own = part[part["direction"] == "ablated:persona"].assign(direction=f"ablated:from:{other}")
        cross.append(pd.concat([part, own], ignore_index=True))
    return pd.DataFrame(rows), pd.concat(cross, ignore_index=True)


def write_demo_run(path: str | Path, *, tables: Sequence[str] = ALL_TABLES, n_layers: int = 12, seed: int = 0,
                   failure_mode: str = "emergent_misalignment") -> Path:
    """Write a synthetic run directory holding ``tables`` (any subset of :data:`ALL_TABLES`) and a manifest."""
    unknown = set(tables) - set(ALL_TABLES)
    if unknown:
        raise ValueError(f"unknown demo tables {sorted(unknown)}; choose from {ALL_TABLES}")
    rng = np.random.default_rng(seed)
    run = RunDir(path)
    made: dict[str, pd.DataFrame] = {}
    if "layers" in tables:
        made["layers"] = demo_layers(n_layers, rng, failure_mode)
    if "sharpening" in tables:
        made["sharpening"] = demo_sharpening(n_layers, rng, failure_mode)
    if "cosine_matrix" in tables:
        made["cosine_matrix"] = demo_cosine_matrix(n_layers)
    if "sae_latents" in tables or "sae_quality" in tables:
        latents, quality = demo_sae(rng)
        made |= {k: v for k, v in (("sae_latents", latents), ("sae_quality", quality)) if k in tables}
    if "dose_response" in tables or "ablation" in tables:
        dose, ablation = demo_steering(rng, failure_mode)
        made |= {k: v for k, v in (("dose_response", dose), ("ablation", ablation)) if k in tables}
    if "behaviour" in tables:
        made["behaviour"] = demo_behaviour([failure_mode, "sycophancy"])
    if "behaviour_trajectory" in tables or "trajectory" in tables:
        beh, traj = demo_trajectory(n_layers, rng, failure_mode)
        made |= {k: v for k, v in (("behaviour_trajectory", beh), ("trajectory", traj)) if k in tables}
    if "convergence" in tables or "convergence_ablation" in tables:
        conv, cross = demo_convergence(n_layers, rng, demo_steering(rng, failure_mode)[1])
        made |= {k: v for k, v in (("convergence", conv), ("convergence_ablation", cross)) if k in tables}
    for name, frame in made.items():
        run.write_table(name, frame)
    atomic_write_json(run.manifest_path, {
        "command": "demo", "created": "2026-01-01T00:00:00+0000", "seed": seed,
        "checkpoints": {"before": {"label": "demo-before", "fingerprint": "0123456789abcdef", "kind": "hf"},
                        "after": {"label": "demo-after", "fingerprint": "fedcba9876543210", "kind": "hf"}},
        "versions": {"interp": "0.1.0", "python": "3.11"},
        "seconds": {"capture": 1.0, "probes": 2.0, "total": 3.0},
    })
    return run.path
