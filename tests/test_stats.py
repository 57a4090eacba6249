"""probes.stats: the one statistics module (intervals, resampling, p-values, corrections, AUROC, cosine)."""

from __future__ import annotations

import numpy as np
import pytest

import probes.stats as S
from probes.stats import (
    Estimate,
    auroc,
    benjamini_hochberg,
    bootstrap_mean,
    bootstrap_p,
    cosine,
    holm,
    percentile_interval,
    permutation_p,
    resample_clusters,
    resample_rows,
    resample_units,
)


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tile([0, 1], n), np.repeat(np.arange(n), 2).astype(str)


def test_bootstrap_interval_covers_truth_at_nominal_rate() -> None:
    p, n, trials = 0.3, 120, 300
    covered = 0
    for seed in range(trials):
        x = (np.random.default_rng(1000 + seed).random(n) < p).astype(float)
        covered += p in bootstrap_mean(x, n_boot=800, seed=seed)
    assert 0.90 <= covered / trials <= 0.985


def test_cluster_bootstrap_is_wider_for_duplicated_groups() -> None:
    x = (np.random.default_rng(0).random(40) < 0.5).astype(float)
    doubled, groups = np.repeat(x, 2), np.repeat(np.arange(40), 2)
    plain, grouped = bootstrap_mean(doubled, seed=0), bootstrap_mean(doubled, groups=groups, seed=0)
    assert grouped.value == plain.value == pytest.approx(x.mean())
    assert grouped.ci_high - grouped.ci_low > (plain.ci_high - plain.ci_low) * 1.2


def test_weighted_mean_equals_the_mean_of_repeated_values() -> None:
    v, w = np.array([0.1, 0.5, 0.9]), np.array([1.0, 3.0, 2.0])
    est = bootstrap_mean(v, weights=w, n_boot=300, seed=1)
    assert est.value == pytest.approx(np.repeat(v, w.astype(int)).mean())
    assert v.min() <= est.ci_low <= est.value <= est.ci_high <= v.max()
    with pytest.raises(ValueError, match="weights has 2 entries for 3 values"):
        bootstrap_mean(v, weights=w[:2])


def test_chunked_resampling_draws_the_same_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    v = np.random.default_rng(2).random(50)
    whole = bootstrap_mean(v, n_boot=999, seed=4)
    monkeypatch.setattr(S, "_CHUNK_ELEMENTS", 7 * 50 + 3)  # 7 resamples per chunk
    assert bootstrap_mean(v, n_boot=999, seed=4) == whole


def test_resampling_keeps_pairs_together_else_stratifies() -> None:
    y, g = _pairs(20)
    idx = resample_units(y, g, 5, np.random.default_rng(0))
    assert idx.shape == (5, 40)
    assert (g[idx[:, :20]] == g[idx[:, 20:]]).all()
    assert (y[idx[:, :20]] == 1).all() and (y[idx[:, 20:]] == 0).all()
    y_unbalanced = np.array([1] * 7 + [0] * 13)
    strat = resample_units(y_unbalanced, None, 50, np.random.default_rng(1))
    assert (y_unbalanced[strat].sum(1) == 7).all()  # class counts kept in every resample


def test_cluster_resamples_keep_groups_whole() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    for rows in resample_clusters(groups, 20, np.random.default_rng(3)):
        picked = groups[rows]
        for g in set(picked):  # a group appears with all its members, once or several times
            assert (picked == g).sum() % (groups == g).sum() == 0


def test_rows_resampling_is_one_seeded_stream() -> None:
    a = resample_rows(9, 4, np.random.default_rng(5))
    b = np.random.default_rng(5).integers(0, 9, size=(4, 9))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="must be positive"):
        resample_rows(0, 3, np.random.default_rng(0))


def test_percentile_interval_ignores_non_finite_resamples() -> None:
    stats = np.array([np.nan, 1.0, 2.0, 3.0, np.inf])
    assert percentile_interval(stats, 0.5) == percentile_interval(np.array([1.0, 2.0, 3.0]), 0.5)
    assert all(np.isnan(percentile_interval(np.array([np.nan]))))
    with pytest.raises(ValueError, match="alpha"):
        percentile_interval(stats, 1.5)


def test_permutation_and_bootstrap_p_values() -> None:
    null = np.array([-0.3, -0.1, 0.0, 0.2, 0.4])
    assert permutation_p(null, 0.3) == pytest.approx((1 + 2) / 6)  # |-0.3| and |0.4| >= 0.3
    assert permutation_p(null, 0.3, alternative="greater") == pytest.approx((1 + 1) / 6)
    assert permutation_p(null + 0.5, 0.8, center=0.5) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="alternative"):
        permutation_p(null, 0.1, alternative="less")  # type: ignore[arg-type]
    assert bootstrap_p(np.full(99, 1.0)) == pytest.approx(2 / 100)  # every resample above 0
    assert bootstrap_p(np.r_[np.full(50, 1.0), np.full(50, -1.0)]) == 1.0


def test_multiple_comparison_corrections() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    bh = benjamini_hochberg(p)
    assert np.allclose(bh[:4], [0.04, 0.16 / 3, 0.16 / 3, 0.5]) and np.isnan(bh[4])
    ho = holm(p)
    assert np.allclose(ho[:4], [0.04, 0.09, 0.09, 0.5])
    assert (bh[:4] >= p[:4]).all() and (ho[:4] >= bh[:4]).all()
    assert np.isnan(benjamini_hochberg([np.nan])).all()


def test_auroc_and_cosine() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.0, 1.0, 2.0, 1.5, 3.0, 4.0])
    assert auroc(y, s) == pytest.approx(8 / 9)
    assert np.allclose(auroc(y, np.stack([s, -s])), [8 / 9, 1 / 9])
    assert auroc(y, np.ones(6)) == 0.5  # ties count one half
    with pytest.raises(ValueError, match="both classes"):
        auroc(np.ones(6, dtype=int), s)
    assert cosine([1.0, 0.0], [1.0, 1.0]) == pytest.approx(2**-0.5)
    with pytest.raises(ValueError, match="zero vector"):
        cosine([0.0, 0.0], [1.0, 0.0])


def test_estimate_is_one_value_type() -> None:
    est = Estimate(0.5, 0.4, 0.6)
    assert 0.45 in est and 0.7 not in est and np.isnan(est.p)
    assert est.with_p(0.01) == Estimate(0.5, 0.4, 0.6, 0.01)
