"""The probe registry, and the "how to add a probe" recipe followed once with a toy probe.

The toy (the unit difference of class medians) is defined here, registered in a fixture that
removes it afterwards, and used by name through ``probes.sweep`` and through the sharpening's
``cross_fitted_scores``, exactly as a new built-in probe would be.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import check_estimator
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from interp.sharpening import transfer
from probes import BatchedLogisticCV, DiffMeansProbe, LogisticProbe, cosine, registry, sweep
from probes.registry import UnknownProbeError, fit_direction, fit_directions, get_probe, probe_names


class MedianDiffProbe(ClassifierMixin, BaseEstimator):
    """Toy probe: ``direction_`` is the unit difference of the class medians; scores are the
    projections minus the midpoint of the two medians' projections."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: one direction from class 0 to class 1
        return tags

    def fit(self, X: Any, y: Any) -> MedianDiffProbe:
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(f"Only binary classification is supported; y has {self.classes_.size} class(es)")
        pos = y == self.classes_[1]
        m1, m0 = np.median(X[pos], axis=0), np.median(X[~pos], axis=0)
        self.direction_ = (m1 - m0) / np.linalg.norm(m1 - m0)
        self.threshold_ = float(0.5 * (m1 + m0) @ self.direction_)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(validate_data(self, X, reset=False) @ self.direction_ - self.threshold_)

    def predict(self, X: Any) -> np.ndarray:
        scores = self.decision_function(X)
        return np.asarray(self.classes_[(scores > 0).astype(int)])


def planted(n_prompts: int = 80, d: int = 12, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Paired data: hook "signal" separates the classes by 2 noise sd along u, hook "null" not at all."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n_prompts)
    groups = np.repeat(np.arange(n_prompts), 2)
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    signal = rng.normal(size=(2 * n_prompts, d)) + 2.0 * (y - 0.5)[:, None] * u
    return {"blocks.1.hook_resid_post": signal, "blocks.0.hook_resid_post": rng.normal(size=(2 * n_prompts, d))}, y, groups, u


@pytest.fixture
def median_probe() -> Iterator[registry.ProbeSpec]:
    spec = registry.register_probe("median_diff", MedianDiffProbe, description="toy: difference of class medians")
    try:
        yield spec
    finally:
        registry.unregister_probe("median_diff")
    assert "median_diff" not in probe_names()


def test_recipe_toy_probe_by_name_in_sweep_and_sharpening(median_probe: registry.ProbeSpec) -> None:
    check_estimator(MedianDiffProbe())  # step 1 of the recipe: the estimator meets the contract
    assert "median_diff" in probe_names() and get_probe("median_diff") is median_probe
    acts, y, groups, u = planted()
    sig, null = "blocks.1.hook_resid_post", "blocks.0.hook_resid_post"

    table = sweep(acts, y, groups, methods=["median_diff"], controls=("shuffled",), control_method="median_diff",
                  n_splits=4, device="cpu")
    by = table.groupby(["hook", "method"])["auroc"].mean()
    assert by[(sig, "median_diff")] > 0.85 and by[(null, "median_diff")] < 0.65
    assert by[(sig, "control:shuffled")] < 0.65  # the toy trained on shuffled labels finds nothing

    scores = transfer.cross_fitted_scores(acts, y, groups, method="median_diff")
    assert roc_auc_score(y, scores[sig]) > 0.85 and roc_auc_score(y, scores[null]) < 0.65
    assert cosine(fit_direction("median_diff", acts[sig], y), u) > 0.8
    direct = MedianDiffProbe().fit(acts[sig], y).direction_
    assert np.array_equal(fit_directions("median_diff", {sig: acts[sig]}, y)[sig], direct)


def test_unknown_and_unregistered_names_fail_clearly(median_probe: registry.ProbeSpec) -> None:
    acts, y, groups, _ = planted(n_prompts=20)
    registry.unregister_probe("median_diff")
    try:
        with pytest.raises(ValueError, match=r"unknown method\(s\) \['median_diff'\]; expected some of .*'diffmeans'"):
            sweep(acts, y, methods=["median_diff"], controls=())
        with pytest.raises(UnknownProbeError, match=r"unknown probe 'median_diff'; registered probes: diffmeans, "):
            transfer.cross_fitted_scores(acts, y, groups, method="median_diff")
        with pytest.raises(KeyError):
            get_probe("nope")
        with pytest.raises(ValueError, match="register_probe"):
            get_probe("nope")
        with pytest.raises(UnknownProbeError):
            registry.unregister_probe("median_diff")
    finally:
        registry.register_probe("median_diff", MedianDiffProbe)  # the fixture removes it again


def test_register_rejects_duplicates_and_non_estimators(median_probe: registry.ProbeSpec) -> None:
    with pytest.raises(ValueError, match="'median_diff' is already registered.*replace=True"):
        registry.register_probe("median_diff", MedianDiffProbe)
    assert registry.register_probe("median_diff", MedianDiffProbe, replace=True).factory is MedianDiffProbe
    with pytest.raises(TypeError, match="must return a scikit-learn estimator; object has no fit"):
        registry.register_probe("not_an_estimator", object)
    with pytest.raises(ValueError, match="probe name must be"):
        registry.register_probe("control:mine", MedianDiffProbe)
    assert "not_an_estimator" not in probe_names()


def test_batched_fast_path_is_used_per_width_and_matches_the_estimator(median_probe: registry.ProbeSpec) -> None:
    calls: list[tuple[int, ...]] = []

    def medians_batched(X: torch.Tensor, y: np.ndarray, groups: Any, *, random_state: int, device: Any,
                        **options: Any) -> Any:
        calls.append(tuple(X.shape))
        Xn = X.double().cpu().numpy()
        m1, m0 = np.median(Xn[:, y == 1], axis=1), np.median(Xn[:, y == 0], axis=1)
        coef = (m1 - m0) / np.linalg.norm(m1 - m0, axis=1, keepdims=True)
        return types.SimpleNamespace(coef_=coef, intercept_=-0.5 * np.einsum("ld,ld->l", m1 + m0, coef))

    registry.register_probe("median_batched", MedianDiffProbe, fit_batched=medians_batched)
    try:
        acts, y, groups, _ = planted(n_prompts=40)
        acts["wide"] = np.random.default_rng(5).normal(size=(80, 7))
        table = sweep(acts, y, groups, methods=["median_batched", "median_diff"], controls=(), n_splits=3,
                      device="cpu")
        # one call per fold and width class (hooks of d=12 stacked, L=2), not one per hook
        assert len(calls) == 6 and sorted(c[0] for c in calls) == [1, 1, 1, 2, 2, 2]
        assert {c[2] for c in calls if c[0] == 2} == {12} and {c[2] for c in calls if c[0] == 1} == {7}
        wide = table.pivot_table(index=["hook", "fold"], columns="method", values="auroc")
        assert np.allclose(wide["median_batched"], wide["median_diff"], atol=0.01)
        calls.clear()
        dirs = fit_directions("median_batched", acts, y)
        assert len(calls) == 2 and list(dirs) == ["blocks.1.hook_resid_post", "blocks.0.hook_resid_post", "wide"]
        for h, X in acts.items():
            assert np.allclose(dirs[h], MedianDiffProbe().fit(X.astype(np.float32), y).direction_, atol=1e-6)
    finally:
        registry.unregister_probe("median_batched")


def test_builtin_fast_paths_keep_the_sharpening_arithmetic() -> None:
    """diffmeans: the unit class-mean difference; logistic: BatchedLogisticCV on CPU, coef_ normalised."""
    acts, y, groups, u = planted(n_prompts=60, d=16, seed=3)
    rows = np.arange(0, y.shape[0], 2)
    rows = np.concatenate([rows, rows + 1])
    dm = fit_directions("diffmeans", acts, y, rows=rows)
    for h, X in acts.items():
        v = X[rows][y[rows] == 1].mean(0) - X[rows][y[rows] == 0].mean(0)
        assert np.array_equal(dm[h], v / np.linalg.norm(v, axis=-1, keepdims=True))
        assert np.allclose(dm[h], DiffMeansProbe().fit(X[rows], y[rows]).direction_, atol=1e-12)
    lg = fit_directions("logistic", acts, y, groups, random_state=4)
    stacked = torch.stack([torch.as_tensor(X, dtype=torch.float32) for X in acts.values()])
    model = BatchedLogisticCV(device="cpu", random_state=4).fit(stacked, y, groups)
    for i, h in enumerate(acts):
        c = np.asarray(model.coef_[i], dtype=np.float64)
        assert np.array_equal(lg[h], c / np.linalg.norm(c, axis=-1, keepdims=True))
        ref = LogisticProbe(backend="torch", device="cpu", random_state=4).fit(acts[h], y, groups).direction_
        assert cosine(lg[h], ref) > 0.999
    assert cosine(lg["blocks.1.hook_resid_post"], u) > 0.8


def test_make_probe_forwards_only_known_parameters(median_probe: registry.ProbeSpec) -> None:
    assert registry.make_probe("logistic_sklearn", Cs=(1.0,), cv=4, unknown=1).get_params()["Cs"] == (1.0,)
    assert registry.make_probe("diffmeans", Cs=(1.0,)).get_params() == {}
    assert isinstance(registry.make_probe("median_diff"), MedianDiffProbe) and "median_diff" in registry.probe_names()
    acts, y, _, _ = planted(n_prompts=10)
    with pytest.raises(ValueError, match="rows to fit on hold one class only"):
        fit_directions("diffmeans", acts, y, rows=np.arange(0, 20, 2))
