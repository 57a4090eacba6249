"""Folds, metrics, bootstrap intervals and permutation p-values (including uniformity under the null)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest
from sklearn.metrics import roc_auc_score

from probes import DiffMeansProbe, auroc, bootstrap_ci, make_splits, permutation_pvalue


def _oof_scores(X: np.ndarray, y: np.ndarray, splits: list) -> np.ndarray:
    s = np.zeros(len(y))
    for tr, te in splits:
        s[te] = DiffMeansProbe().fit(X[tr], y[tr]).decision_function(X[te])
    return s


def _oof_mean_diff(X: np.ndarray, y: np.ndarray, splits: list) -> np.ndarray:
    """Out-of-fold projections on the training mean difference: DiffMeansProbe's ranking, without
    its (monotone) calibration step, so that hundreds of null data sets stay cheap."""
    s = np.zeros(len(y))
    for tr, te in splits:
        s[te] = X[te] @ (X[tr][y[tr] == 1].mean(0) - X[tr][y[tr] == 0].mean(0))
    return s


def test_auroc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + y, 1)  # rounding creates ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert auroc(np.where(y == 1, "mis", "ali"), s) == pytest.approx(roc_auc_score(y, s))


def test_group_aware_splits_never_straddle() -> None:
    n_prompts = 50
    y = np.tile([0, 1], n_prompts)
    groups = np.repeat(np.arange(n_prompts), 2)
    splits = make_splits(y, groups, n_splits=5)
    seen = np.zeros(len(y), dtype=int)
    for tr, te in splits:
        assert not set(groups[tr]) & set(groups[te])
        assert set(np.unique(y[te])) == {0, 1}
        seen[te] += 1
    assert (seen == 1).all()
    with pytest.raises(ValueError, match="at least 10 distinct groups"):
        make_splits(y[:12], groups[:12], n_splits=10)


def test_shuffled_label_auroc_interval_covers_half() -> None:
    rng = np.random.default_rng(1)
    n, d = 400, 20
    y = np.tile([0, 1], n // 2)
    X = rng.normal(size=(n, d)) + 1.5 * y[:, None] * np.eye(d)[0]
    y_shuf = rng.permutation(y)
    splits = make_splits(y_shuf, n_splits=5)
    ci = bootstrap_ci(y_shuf, _oof_scores(X, y_shuf, splits), folds=splits, n_boot=500)
    assert 0.5 in ci and ci.ci_high - ci.ci_low < 0.2
    # within each fold DiffMeansProbe ranks like the plain mean-difference projection used below
    s_probe, s_plain = _oof_scores(X, y_shuf, splits), _oof_mean_diff(X, y_shuf, splits)
    for _, te in splits:
        assert auroc(y_shuf[te], s_probe[te]) == pytest.approx(auroc(y_shuf[te], s_plain[te]))
    # the real labels are far from chance, and their interval excludes 0.5
    splits = make_splits(y, n_splits=5)
    ci_real = bootstrap_ci(y, _oof_scores(X, y, splits), folds=splits, n_boot=500)
    assert ci_real.ci_low > 0.75 and ci_real.ci_low <= ci_real.value <= ci_real.ci_high


def test_bootstrap_accuracy_interval() -> None:
    y = np.tile([0, 1], 100)
    s = np.where(y == 1, 1.0, -1.0)
    s[:20] *= -1  # 20 wrong of 200 -> accuracy 0.9
    ci = bootstrap_ci(y, s, metric="accuracy", n_boot=300)
    assert ci.value == pytest.approx(0.9) and ci.ci_low < 0.9 < ci.ci_high


def test_permutation_pvalue_uniform_under_null() -> None:
    # 200 independent null data sets (X independent of y), 5-fold out-of-fold diff-of-means scores,
    # 99 permutations each; the p-values must look uniform (KS test at a loose 0.001 level) and
    # reject at 5 % about 5 % of the time.
    pvals = []
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        y = np.tile([0, 1], 20)
        X = rng.normal(size=(40, 4))
        splits = make_splits(y, n_splits=5, random_state=seed)
        p = permutation_pvalue(
            y, _oof_mean_diff(X, y, splits), folds=splits, n_permutations=99, random_state=seed
        )
        assert isinstance(p, float)
        pvals.append(p)
    pv = np.array(pvals)
    assert pv.min() >= 1 / 100 and pv.max() <= 1.0
    assert kstest(pv, "uniform").pvalue > 1e-3
    assert (pv <= 0.05).mean() < 0.12
    assert abs(pv.mean() - 0.5) < 0.08


def test_permutation_pvalue_detects_signal_and_respects_groups() -> None:
    rng = np.random.default_rng(5)
    n_prompts = 60
    y = np.tile([0, 1], n_prompts)
    groups = np.repeat(np.arange(n_prompts), 2)
    X = rng.normal(size=(2 * n_prompts, 8)) + y[:, None] * 1.0
    splits = make_splits(y, groups, n_splits=5)
    s = _oof_scores(X, y, splits)
    p, null = permutation_pvalue(y, s, folds=splits, groups=groups, n_permutations=199, return_null=True)
    assert p == pytest.approx(1 / 200)
    assert abs(null.mean() - 0.5) < 0.05
    with pytest.raises(ValueError, match="straddles"):
        permutation_pvalue(y, s, folds=make_splits(y, n_splits=5), groups=groups)
