"""Sharpening metrics validated on planted truth (synthetic activations with known structure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interp.sharpening import (
    COLUMNS,
    CheckpointActs,
    cohens_d,
    concentration,
    cross_fitted_scores,
    difference_vectors,
    fisher,
    layer_cosines,
    paired_bootstrap_scores,
    sharpening_table,
    trajectory_table,
    transfer_auroc,
)
from interp.sharpening.compare import paired_bootstrap_refit, permutation_test_refit
from interp.sharpening.transfer import default_splits
from probes.stats import auroc, cosine

D = 16


def _pairs(n_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair prompt effect Z [2n, d], labels y, groups (one aligned + one misaligned per group)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_pairs, D)) * 2.0
    y = np.tile([0, 1], n_pairs)
    groups = np.repeat(np.arange(n_pairs), 2).astype(str)
    return np.repeat(z, 2, axis=0), y, groups


def _checkpoint(Z: np.ndarray, y: np.ndarray, direction: np.ndarray, scale: float, noise: np.ndarray) -> np.ndarray:
    return Z + noise + scale * y[:, None] * direction[None, :] / np.linalg.norm(direction)


def _e(k: int) -> np.ndarray:
    v = np.zeros(D)
    v[k] = 1.0
    return v


def test_metrics_match_definitions() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.0, 1.0, 2.0, 1.5, 3.0, 4.0])
    assert auroc(y, s) == pytest.approx(8 / 9)
    m1, m0 = s[y == 1].mean(), s[y == 0].mean()
    v1, v0 = s[y == 1].var(ddof=1), s[y == 0].var(ddof=1)
    assert cohens_d(y, s) == pytest.approx((m1 - m0) / np.sqrt((v1 + v0) / 2))
    assert fisher(y, s) == pytest.approx((m1 - m0) ** 2 / (v1 + v0))
    batch = np.stack([s, -s])
    assert np.allclose(auroc(y, batch), [8 / 9, 1 / 9])
    # affine invariance (what the permutation test relies on)
    assert cohens_d(y, 3 * s + 7) == pytest.approx(cohens_d(y, s))


def test_concentration_one_direction_vs_isotropic() -> None:
    rng = np.random.default_rng(0)
    one = np.outer(rng.uniform(1, 2, 50), _e(3))
    c = concentration(one)
    assert c["top_share"] == pytest.approx(1.0)
    assert c["mean_diff_share"] == pytest.approx(1.0)
    assert c["participation_ratio"] == pytest.approx(1.0)
    iso = concentration(rng.standard_normal((400, D)))
    assert iso["top_share"] < 0.2 and iso["participation_ratio"] > 0.7 * D


@pytest.mark.parametrize("m", [30, 4 * D])  # both sides of the Gram-matrix switch (m <= d and m > d)
def test_weighted_concentration_equals_repeated_rows(m: int) -> None:
    rng = np.random.default_rng(1)
    Dm = rng.standard_normal((m, D)) + 2.0 * _e(1)
    rows = rng.integers(0, m, size=m)  # a bootstrap resample: duplicates and absentees
    repeated, weighted = concentration(Dm[rows]), concentration(Dm, np.bincount(rows, minlength=m))
    for key, value in repeated.items():
        assert weighted[key] == pytest.approx(value, rel=1e-9)
    with pytest.raises(ValueError, match="non-negative counts"):
        concentration(Dm, -np.ones(m))


@pytest.mark.parametrize("m", [30, 4 * D])
def test_batched_resampled_concentration_equals_one_resample_at_a_time(m: int) -> None:
    from interp.sharpening.metrics import CONCENTRATION, concentration_resampled

    rng = np.random.default_rng(2)
    Dm = rng.standard_normal((m, D)) + 1.5 * _e(2)
    counts = np.stack([np.bincount(rng.integers(0, m, size=m), minlength=m) for _ in range(7)])
    got = concentration_resampled(Dm, counts, max_bytes=3 * 8 * m * m)  # chunks of 3 resamples
    want = np.array([[concentration(Dm, w)[k] for k in CONCENTRATION] for w in counts])
    np.testing.assert_allclose(got, want, rtol=1e-9)
    with pytest.raises(ValueError, match="summing to >= 2"):
        concentration_resampled(Dm, np.zeros((2, m)))


def test_difference_vectors_pairs_and_unpaired() -> None:
    Z, y, g = _pairs(10, 0)
    X = _checkpoint(Z, y, _e(0), 5.0, np.zeros_like(Z))
    D_pairs = difference_vectors(X, y, g)
    assert D_pairs.shape == (10, D) and np.allclose(D_pairs, 5.0 * _e(0))
    D_unpaired = difference_vectors(X, y)
    assert D_unpaired.shape == (10, D)
    assert np.allclose(D_unpaired.mean(0), X[y == 1].mean(0) - X[y == 0].mean(0))


def _before_after(seed: int, scale_before: float, scale_after: float, n_pairs: int = 60,
                  same_noise: bool = True, after_dir: np.ndarray | None = None) -> tuple[CheckpointActs, ...]:
    Z, y, g = _pairs(n_pairs, seed)
    rng = np.random.default_rng(seed + 1000)
    e1 = rng.standard_normal(Z.shape)
    e2 = e1 if same_noise else rng.standard_normal(Z.shape)
    v = _e(0)
    before = _checkpoint(Z, y, v, scale_before, e1)
    after = _checkpoint(Z, y, v if after_dir is None else after_dir, scale_after, e2)
    ids = [f"ex{i}" for i in range(y.size)]
    return (CheckpointActs.from_arrays({"blocks.0.hook_resid_post": before}, y, g, ids),
            CheckpointActs.from_arrays({"blocks.0.hook_resid_post": after}, y, g, ids))


def test_planted_sharpening_every_separability_metric_moves_up() -> None:
    before, after = _before_after(0, 1.0, 2.5)
    table = sharpening_table({"before": before, "after": after}, methods=("diffmeans",), n_boot=300,
                             n_permutations=300, meta={"after": ("self_certainty", "sycophancy")})
    assert list(table.columns) == COLUMNS
    deltas = table[(table["checkpoint"] == "after-before") & (table["probe"] == "diffmeans")].set_index("metric")
    for m in ("delta_auroc", "delta_cohens_d", "delta_fisher"):
        assert deltas.loc[m, "value"] > 0, m
        assert deltas.loc[m, "ci_low"] > 0, m  # interval excludes 0
        assert deltas.loc[m, "p"] < 0.01, m
    conc = table[(table["checkpoint"] == "after-before") & (table["probe"] == "data")].set_index("metric")
    assert conc.loc["delta_top_share", "ci_low"] > 0
    assert conc.loc["delta_participation_ratio", "ci_high"] < 0
    assert deltas.loc["delta_auroc", "method"] == "self_certainty"
    cos = deltas.loc["cosine", "value"]
    assert cos > 0.9
    ctrl = table[(table["checkpoint"] == "after") & (table["probe"] == "control:shuffled")]
    assert abs(float(ctrl["value"].iloc[0]) - 0.5) < 0.2


def test_identical_distributions_intervals_cover_zero_at_nominal_rate() -> None:
    h = "blocks.0.hook_resid_post"
    covered, rejected = 0, 0
    n_seeds, n_perm_seeds = 100, 30
    for seed in range(n_seeds):
        before, after = _before_after(seed, 1.0, 1.0, n_pairs=40, same_noise=False)
        splits = default_splits(before.y, before.groups)
        est = paired_bootstrap_refit(cohens_d, before.acts[h], after.acts[h], before.y, before.groups, splits,
                                     n_boot=200, seed=seed)
        covered += est.ci_low <= 0.0 <= est.ci_high
        if seed < n_perm_seeds:
            p = permutation_test_refit(cohens_d, before.acts[h], after.acts[h], before.y, before.groups, splits,
                                       n_permutations=60, seed=seed)
            rejected += p < 0.05
    assert covered / n_seeds >= 0.88  # nominal 0.95 (measured 0.98), allow Monte-Carlo error
    assert rejected <= 4  # nominal 5% of 30 = 1.5 (P(>4) < 2% under the nominal rate)


def test_fixed_score_bootstrap_undercovers() -> None:
    """Why the refit exists: a bootstrap of fixed cross-fitted scores ignores direction noise."""
    h = "blocks.0.hook_resid_post"
    covered_fixed = covered_refit = 0
    for seed in range(25):
        before, after = _before_after(seed, 1.0, 1.0, n_pairs=40, same_noise=False)
        splits = default_splits(before.y, before.groups)
        sa = cross_fitted_scores(before.acts, before.y, before.groups, splits=splits)[h]
        sb = cross_fitted_scores(after.acts, after.y, after.groups, splits=splits)[h]
        fixed = paired_bootstrap_scores(cohens_d, sa, sb, before.y, before.groups, n_boot=200, seed=seed)
        refit = paired_bootstrap_refit(cohens_d, before.acts[h], after.acts[h], before.y, before.groups, splits,
                                       n_boot=200, seed=seed)
        assert refit.value == pytest.approx(fixed.value)
        covered_fixed += fixed.ci_low <= 0 <= fixed.ci_high
        covered_refit += refit.ci_low <= 0 <= refit.ci_high
    assert covered_refit > covered_fixed


def test_rotated_direction_lowers_cosine_as_constructed() -> None:
    theta = np.deg2rad(60)
    rotated = np.cos(theta) * _e(0) + np.sin(theta) * _e(1)
    before, after = _before_after(1, 6.0, 6.0, n_pairs=200, after_dir=rotated)
    _, same = _before_after(1, 6.0, 6.0, n_pairs=200)
    h = "blocks.0.hook_resid_post"
    c_rot = layer_cosines(before, after).loc[h, h]
    c_same = layer_cosines(before, same).loc[h, h]
    assert c_same > 0.95
    assert c_rot == pytest.approx(np.cos(theta), abs=0.1)
    assert cosine(rotated, _e(0)) == pytest.approx(0.5)


def test_transfer_auroc_fit_on_one_checkpoint_evaluate_on_another() -> None:
    before, after = _before_after(2, 6.0, 6.0)
    _, orthogonal = _before_after(2, 6.0, 6.0, after_dir=_e(5))
    h = "blocks.0.hook_resid_post"
    same = transfer_auroc(before.acts, before.y, after.acts, after.y, groups=before.groups)[h]
    ortho = transfer_auroc(before.acts, before.y, orthogonal.acts, orthogonal.y, groups=before.groups)[h]
    assert same > 0.9
    assert ortho < same - 0.2
    unaligned = transfer_auroc(before.acts, before.y, after.acts, after.y, aligned=False)[h]
    assert unaligned > 0.9


def test_trajectory_and_unaligned_pairs(tmp_path: Path) -> None:
    epochs = {}
    for e, scale in enumerate((1.0, 2.0, 3.0)):
        _, ck = _before_after(3, scale, scale)
        epochs[e] = ck
    traj = trajectory_table(epochs, n_boot=100, n_permutations=100)
    d = traj[(traj["metric"] == "cohens_d") & (traj["probe"] == "diffmeans")].sort_values("epoch")["value"].to_numpy()
    assert (np.diff(d) > 0).all()
    assert set(traj.loc[traj["metric"] == "cosine", "epoch"]) == {1, 2}

    from interp.sharpening.plots import plot_cosine_heatmap, plot_metric_vs_layer, plot_trajectory

    assert plot_trajectory(traj, "cohens_d", tmp_path / "t.png").stat().st_size > 1000
    before, after = _before_after(0, 1.0, 2.0)
    table = sharpening_table({"before": before, "after": after}, methods=("diffmeans",), n_boot=50,
                             n_permutations=50, controls=False)
    assert plot_metric_vs_layer(table, "auroc", tmp_path / "m.png").exists()
    assert plot_cosine_heatmap(layer_cosines(before, after), tmp_path / "c.png").exists()
    shuffled = CheckpointActs.from_arrays(after.acts, after.y, after.groups, list(reversed(after.ids)))
    with pytest.raises(ValueError, match="same examples"):
        sharpening_table({"before": before, "after": shuffled}, methods=("diffmeans",), n_boot=10,
                         n_permutations=10, controls=False)


def test_expression_shift_on_tiny_model(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from interp.activations import CaptureConfig, capture
    from interp.sharpening import expression_shift

    convs = [[{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer number {i} here"}]
             for i in range(6)]
    cfg = CaptureConfig(hooks=("blocks.1.hook_resid_post",), positions="response_all")
    store = capture(tiny, convs, cfg, root=tmp_path)
    h = "blocks.1.hook_resid_post"
    acts = store.load(h).numpy()
    direction = acts.mean(0)
    table = expression_shift({"a": store, "b": store}, {h: direction}, pairs=[("a", "b")], n_boot=50,
                             n_permutations=50)
    assert isinstance(table, pd.DataFrame)
    proj = table[(table["checkpoint"] == "a") & (table["metric"] == "projection")]
    assert float(proj["value"].iloc[0]) > 0  # the mean direction projects positively
    delta = table[table["metric"] == "delta_projection"]
    assert float(delta["value"].iloc[0]) == pytest.approx(0.0)


def test_two_copies_of_one_method_share_a_mechanism_and_a_random_change_does_not() -> None:
    """Planted: shifts along one direction (two noisy copies) have cosine ~1; against a shift along a
    random direction ~0; the latent overlap of copies is high and of unrelated changes near chance."""
    from interp.sharpening.mechanism import latent_overlap, shift_cosine_paired

    rng = np.random.default_rng(0)
    n, d = 80, 64
    u, r = rng.normal(size=d), rng.normal(size=d)
    copy_a = u + rng.normal(scale=2.0, size=(n, d))
    copy_b = u + rng.normal(scale=2.0, size=(n, d))
    other = r + rng.normal(scale=2.0, size=(n, d))
    same = shift_cosine_paired(copy_a, copy_b, n_boot=100, seed=1)
    assert same.value > 0.8 and same.ci_low > 0.6 and same.p < 0.05
    unrelated = shift_cosine_paired(copy_a, other, n_boot=100, seed=1)
    assert abs(unrelated.value) < 0.3 and unrelated.ci_low < 0.3
    # identical noise on the same prompts would look like agreement; the disjoint halves remove it
    noise = rng.normal(size=(n, d))
    assert abs(shift_cosine_paired(noise, noise + 0.01 * rng.normal(size=(n, d)), n_boot=50).value) < 0.3
    latents = np.zeros(200)
    latents[:10] = 3.0
    fa = latents + rng.normal(size=(n, 200))
    fb = latents + rng.normal(size=(n, 200))
    fc = np.roll(latents, 100) + rng.normal(size=(n, 200))
    assert latent_overlap(fa, fb, top=10, n_boot=50).value > 0.8
    assert latent_overlap(fa, fc, top=10, n_boot=50).value < 0.1
    with pytest.raises(ValueError, match="same prompts"):
        shift_cosine_paired(copy_a, copy_b[:10])
