"""Layer sweeps: tidy table, controls, summary, and torch-vs-scikit-learn logistic agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from probes import CONTROL_RANDOM, CONTROL_SHUFFLED, BatchedLogisticCV, parse_layer, summarize, sweep
from probes.torch_logistic import DEFAULT_CS, inner_splits


def store(
    n_prompts: int = 80, d: int = 24, layers: int = 3, seed: int = 0
) -> tuple[dict, np.ndarray, np.ndarray]:
    """Paired data; the planted separation grows with the layer index (0, 1, 2, ... noise sd)."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n_prompts)
    groups = np.repeat(np.arange(n_prompts), 2)
    acts = {}
    for layer in range(layers):
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)
        X = rng.normal(size=(2 * n_prompts, d)) + (y - 0.5)[:, None] * float(layer) * u
        acts[f"blocks.{layer}.hook_resid_post"] = torch.tensor(X, dtype=torch.bfloat16)
    return acts, y, groups


def test_parse_layer() -> None:
    assert parse_layer("blocks.12.hook_resid_post") == 12
    assert parse_layer("model.layers.3.mlp.down_proj") == 3
    assert parse_layer("transformer.h.7.attn") == 7
    assert parse_layer("embed") is None and parse_layer("ln_final.hook_normalized") is None


def test_sweep_tidy_table_and_controls() -> None:
    acts, y, groups = store()
    table, scores = sweep(
        acts, y, groups, methods=["diffmeans", "logistic"], n_splits=4, device="cpu", return_scores=True
    )
    assert isinstance(table, pd.DataFrame)
    expected = {
        "hook",
        "layer",
        "method",
        "fold",
        "auroc",
        "accuracy",
        "n_train",
        "n_test",
        "d",
        "fit_seconds",
    }
    assert expected <= set(table.columns)
    assert set(table["method"]) == {"diffmeans", "logistic", CONTROL_SHUFFLED, CONTROL_RANDOM}
    assert len(table) == 3 * 4 * 4  # hooks x methods (incl. 2 controls) x folds
    assert sorted(table["layer"].unique()) == [0, 1, 2]
    assert ((table["n_train"] + table["n_test"]) == len(y)).all()
    by = table.groupby(["layer", "method"])["auroc"].mean()
    assert by[(2, "diffmeans")] > 0.8 and by[(2, "logistic")] > 0.8
    assert by[(0, "diffmeans")] < 0.65  # nothing planted in layer 0
    assert table.loc[table["method"].str.startswith("control:"), "auroc"].mean() == pytest.approx(
        0.5, abs=0.08
    )
    # every example is scored out-of-fold exactly once per (hook, method)
    counts = scores.groupby(["hook", "method"])["example"].nunique()
    assert (counts == len(y)).all()

    summary = summarize(table, scores, groups=groups, n_boot=200, n_permutations=199)
    assert len(summary) == 3 * 4
    row = summary.set_index(["layer", "method"]).loc[(2, "logistic")]
    assert row["p_value"] == pytest.approx(1 / 200) and row["auroc_low"] > 0.7
    assert row["auroc_low"] <= row["auroc"] <= row["auroc_high"]
    # Controls are not significant (the permutation p-value is the valid null test; bootstrap CIs of
    # cross-validated AUROC only reflect test-set sampling and are too narrow, see bootstrap_ci).
    ctrl = summary[summary["method"].str.startswith("control:")]
    assert (ctrl["p_value"] > 0.01).all()


def test_sweep_accepts_3d_array_and_mixed_widths() -> None:
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 30)
    table = sweep(rng.normal(size=(2, 60, 5)), y, methods=["diffmeans"], controls=(), n_splits=3)
    assert set(table["hook"]) == {"layer.0", "layer.1"} and set(table["layer"]) == {0, 1}
    table = sweep(
        {"a": rng.normal(size=(60, 5)), "b": rng.normal(size=(60, 9))},
        y,
        methods=["logistic", "lda"],
        controls=("random_direction",),
        n_splits=3,
        device="cpu",
    )
    assert set(table.groupby("hook")["d"].first()) == {5, 9}
    assert table["layer"].isna().all()


def test_torch_and_sklearn_logistic_agree_within_001() -> None:
    acts, y, groups = store(n_prompts=100, d=24, layers=2, seed=2)
    table = sweep(
        acts, y, groups, methods=["logistic", "logistic_sklearn"], controls=(), n_splits=3, device="cpu"
    )
    wide = table.pivot_table(index=["hook", "fold"], columns="method", values="auroc")
    assert (wide["logistic"] - wide["logistic_sklearn"]).abs().max() <= 0.01


def test_batched_logistic_matches_plain_sklearn_loop() -> None:
    """BatchedLogisticCV on [L, n, d] == per layer: scale, choose C on the same inner folds, refit."""
    acts, y, groups = store(n_prompts=100, d=16, layers=2, seed=3)
    X = torch.stack(list(acts.values())).float().numpy()
    model = BatchedLogisticCV(device="cpu").fit(X, y, groups)
    assert model.coef_.shape == (2, 16) and model.direction_.shape == (2, 16)
    folds = inner_splits(y, groups, n_splits=3, random_state=0)
    for layer in range(2):
        Z = (X[layer] - X[layer].mean(0)) / X[layer].std(0)
        losses = []
        for C in DEFAULT_CS:
            ll = []
            for a, b in folds:
                p = LogisticRegression(C=C, max_iter=1000).fit(Z[a], y[a]).predict_proba(Z[b])[:, 1]
                ll.append(-np.mean(y[b] * np.log(p) + (1 - y[b]) * np.log(1 - p)))
            losses.append(np.mean(ll))
        C_best = DEFAULT_CS[int(np.argmin(losses))]
        assert model.C_[layer] == C_best
        ref = LogisticRegression(C=C_best, max_iter=1000).fit(Z, y)
        assert np.allclose(model.cv_loss_[layer], losses, atol=2e-3)
        ours = model.decision_function(X)[layer]
        assert abs(roc_auc_score(y, ours) - roc_auc_score(y, ref.decision_function(Z))) <= 0.01
        assert np.corrcoef(ours, ref.decision_function(Z))[0, 1] > 0.999
