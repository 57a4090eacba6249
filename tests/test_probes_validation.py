"""Inputs are validated at the door: each malformed input gives a clear ValueError.

The estimators validate through scikit-learn (``validate_data``, ``_parameter_constraints``), so
shape, length, feature-count and parameter errors carry scikit-learn's wording; the checks we add
on top (non-finite values located, exactly two classes, one group id per row, both classes in
every group for PairedPCAProbe) carry ours.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.utils._param_validation import InvalidParameterError

from probes import (
    BatchedLogisticCV,
    DiffMeansProbe,
    LogisticProbe,
    PairedPCAProbe,
    ShrinkageLDAProbe,
    make_splits,
    sweep,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 6))
Y = np.tile([0, 1], 10)
EST = [
    DiffMeansProbe(),
    LogisticProbe(Cs=1.0),
    LogisticProbe(Cs=1.0, backend="torch", device="cpu"),
    ShrinkageLDAProbe(),
    PairedPCAProbe(),
]


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_wrong_shapes(est: object) -> None:
    with pytest.raises(ValueError, match=r"(?s)Expected 2D array, got 1D array instead.*Reshape your data"):
        est.fit(X[:, 0], Y)
    with pytest.raises(ValueError, match=r"Found array with dim 3, while dim <= 2 is required by \w+"):
        est.fit(X.reshape(2, 10, 6), Y)
    with pytest.raises(ValueError, match=r"y should be a 1d array, got an array of shape \(20, 2\)"):
        est.fit(X, np.stack([Y, Y], axis=1))


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_single_class_and_more_than_two(est: object) -> None:
    with pytest.raises(ValueError, match=r"exactly two classes .* got 1 class\(es\): \[1\]; add examples"):
        est.fit(X, np.ones(20, dtype=int))
    y3 = np.arange(20) % 3
    with pytest.raises(
        ValueError, match=r"Only binary classification is supported\. .*multiclass: y holds 3 classes \[0, 1, 2\]"
    ):
        est.fit(X, y3)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        est.fit(X, np.linspace(0.0, 1.0, 20))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_non_finite(est: object, bad: float) -> None:
    Xb = X.copy()
    Xb[3, 2] = bad
    with pytest.raises(
        ValueError, match=r"only finite values; found \d NaN and \d inf \(first at index \(3, 2\)\); drop or repair"
    ):
        est.fit(Xb, Y)
    with pytest.raises(ValueError, match=r"first at index \(3, 2\)"):
        est.fit(torch.tensor(Xb, dtype=torch.bfloat16), Y)
    fitted = DiffMeansProbe().fit(X, Y)
    with pytest.raises(ValueError, match="finite"):
        fitted.predict(Xb)


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_mismatched_lengths(est: object) -> None:
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[20, 19\]"):
        est.fit(X, Y[:19])
    with pytest.raises(ValueError, match="groups has 5 entries but X has 20 rows; they must match"):
        est.fit(X, Y, np.arange(5))
    with pytest.raises(ValueError, match="groups must be a 1-D array with one id per example"):
        est.fit(X, Y, np.zeros((20, 2)))


@pytest.mark.parametrize("est", EST, ids=lambda e: type(e).__name__)
def test_feature_dimension_mismatch_at_predict(est: object) -> None:
    fitted = est.fit(X, Y)
    with pytest.raises(ValueError, match=r"X has 7 features, but \w+ is expecting 6 features as input"):
        fitted.decision_function(np.zeros((3, 7)))
    with pytest.raises(ValueError, match=r"X has 5 features, but \w+ is expecting 6 features as input"):
        fitted.predict_proba(torch.zeros(3, 5))


def test_not_fitted_and_bad_params() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffMeansProbe().predict(X)
    with pytest.raises(InvalidParameterError, match=r"'backend' parameter of LogisticProbe must be a str among"):
        LogisticProbe(backend="jax").fit(X, Y)
    with pytest.raises(InvalidParameterError, match=r"'Cs' parameter of LogisticProbe must be"):
        LogisticProbe(Cs=-1.0).fit(X, Y)
    # our check on top of the constraints: every C of a list positive, the list not empty
    with pytest.raises(ValueError, match="Cs must be a positive float or a non-empty list of them"):
        LogisticProbe(Cs=(-1.0,)).fit(X, Y)
    with pytest.raises(ValueError, match="Cs must be a positive float or a non-empty list of them"):
        LogisticProbe(Cs=()).fit(X, Y)
    with pytest.raises(InvalidParameterError, match=r"'shrinkage' parameter of ShrinkageLDAProbe must be"):
        ShrinkageLDAProbe(shrinkage=2.0).fit(X, Y)
    with pytest.raises(InvalidParameterError, match=r"'n_components' parameter of PairedPCAProbe must be"):
        PairedPCAProbe(n_components=0).fit(X, Y)
    with pytest.raises(ValueError, match=r"n_components must be between 1 and 6"):
        PairedPCAProbe(n_components=7).fit(X, Y)
    with pytest.raises(ValueError, match="could not convert string to float"):
        DiffMeansProbe().fit(np.array([["a", "b"], ["c", "d"]]), [0, 1])
    with pytest.raises(ValueError, match="Complex data not supported"):
        DiffMeansProbe().fit(torch.tensor(X, dtype=torch.complex64), Y)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        DiffMeansProbe().fit(sparse.csr_matrix(X), Y)


def test_paired_pca_groups_need_both_classes() -> None:
    g = np.repeat(np.arange(10), 2)
    PairedPCAProbe().fit(X, Y, g)
    bad = g.copy()
    bad[0] = 99  # row 0 alone in its group
    with pytest.raises(ValueError, match=r"both classes in every group; 2 of 11 groups have only one \(pass"):
        PairedPCAProbe().fit(X, Y, bad)


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
