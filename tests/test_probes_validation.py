"""Inputs are validated at the door: each malformed input gives a clear ValueError."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probes import BatchedLogisticCV, DiffMeansProbe, LogisticProbe, ShrinkageLDAProbe, make_splits, sweep

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 6))
Y = np.tile([0, 1], 10)
EST = [DiffMeansProbe(), LogisticProbe(Cs=1.0), ShrinkageLDAProbe()]


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_wrong_shapes(est: object) -> None:
    with pytest.raises(ValueError, match=r"shape \(n_examples, d\); got an array of shape \(20,\)"):
        est.fit(X[:, 0], Y)
    with pytest.raises(ValueError, match=r"shape \(n_examples, d\); got an array of shape \(2, 10, 6\)"):
        est.fit(X.reshape(2, 10, 6), Y)
    with pytest.raises(ValueError, match="y must be a 1-D array"):
        est.fit(X, np.stack([Y, Y], axis=1))


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_single_class(est: object) -> None:
    with pytest.raises(ValueError, match=r"exactly two classes .* got 1 class\(es\): \[1\]"):
        est.fit(X, np.ones(20, dtype=int))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_non_finite(est: object, bad: float) -> None:
    Xb = X.copy()
    Xb[3, 2] = bad
    with pytest.raises(
        ValueError, match=r"only finite values; found \d NaN and \d inf \(first at index \(3, 2\)\)"
    ):
        est.fit(Xb, Y)
    fitted = DiffMeansProbe().fit(X, Y)
    with pytest.raises(ValueError, match="finite"):
        fitted.predict(Xb)


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_mismatched_lengths(est: object) -> None:
    with pytest.raises(ValueError, match="y has 19 entries but X has 20 rows"):
        est.fit(X, Y[:19])
    with pytest.raises(ValueError, match="groups has 5 entries but X has 20 rows"):
        est.fit(X, Y, np.arange(5))


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_feature_dimension_mismatch_at_predict(est: object) -> None:
    fitted = est.fit(X, Y)
    with pytest.raises(ValueError, match=r"X has 7 features but .* has d=6"):
        fitted.decision_function(np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"X has 5 features but .* has d=6"):
        fitted.predict_proba(torch.zeros(3, 5))


def test_not_fitted_and_bad_params() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffMeansProbe().predict(X)
    with pytest.raises(ValueError, match="backend must be one of"):
        LogisticProbe(backend="jax").fit(X, Y)
    with pytest.raises(ValueError, match="Cs must be"):
        LogisticProbe(Cs=(-1.0,)).fit(X, Y)
    with pytest.raises(ValueError, match="shrinkage must be"):
        ShrinkageLDAProbe(shrinkage=2.0).fit(X, Y)
    with pytest.raises(ValueError, match="numeric"):
        DiffMeansProbe().fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])


def test_batched_and_sweep_validation() -> None:
    with pytest.raises(ValueError, match=r"shape \(L, n, d\) or \(n, d\)"):
        BatchedLogisticCV().fit(np.zeros((2, 2, 2, 2)), [0, 1])
    Xn = np.stack([X, X])
    Xn[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        BatchedLogisticCV(device="cpu").fit(Xn, Y)
    with pytest.raises(ValueError, match="same number of examples"):
        sweep({"a": X, "b": X[:10]}, Y)
    with pytest.raises(ValueError, match=r"activations\['a'\] contains NaN or inf"):
        sweep({"a": np.where(X > 2, np.inf, X)}, Y)
    with pytest.raises(ValueError, match="unknown method"):
        sweep({"a": X}, Y, methods=["svm"])
    with pytest.raises(ValueError, match="y has 19 entries"):
        sweep({"a": X}, Y[:19])
    with pytest.raises(ValueError, match="needs at least 5 examples of each class"):
        make_splits([0, 0, 0, 1, 1, 1, 1, 1], n_splits=5)
