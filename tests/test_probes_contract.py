"""Every registered probe and public estimator passes scikit-learn's estimator checks, no expected failures.

The only deviation allowed is one the estimator declares in ``__sklearn_tags__`` with its reason:
the probes are binary classifiers (``classifier_tags.multi_class = False``), and scikit-learn then
checks that fitting on three classes raises "Only binary classification is supported".
``BatchedLogisticCV`` is not here: it fits a batch of models from ``[L, n, d]`` input, which the
contract does not describe (see its docstring); ``LogisticProbe(backend="torch")`` is its face.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import probes
from probes import LogisticProbe
from probes.registry import make_probe, probe_names

# Every registered probe (so a newly registered one is checked without editing this file), and
# the LogisticProbe variants that take other code paths: one C (no inner CV), the torch backend.
_CANDIDATES = [
    *(make_probe(name) for name in probe_names()),
    LogisticProbe(Cs=1.0),
    LogisticProbe(backend="torch", device="cpu"),
]
ESTIMATORS = list({repr(e): e for e in _CANDIDATES}.values())


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_every_public_estimator_is_checked() -> None:
    """A new estimator exported by probes must be added to ESTIMATORS (or be the batched solver)."""
    public = {
        name
        for name in probes.__all__
        if isinstance(getattr(probes, name), type) and issubclass(getattr(probes, name), BaseEstimator)
    }
    assert public == {type(e).__name__ for e in ESTIMATORS}
    assert len(ESTIMATORS) == 6  # diffmeans, logistic (= logistic_sklearn), lda, paired_pca, 2 variants
    assert not issubclass(probes.BatchedLogisticCV, BaseEstimator)
    backends = {e.backend for e in ESTIMATORS if isinstance(e, LogisticProbe)}
    assert backends == {"sklearn", "torch"}


@pytest.mark.parametrize("est", ESTIMATORS, ids=lambda e: repr(e))
def test_declared_deviation_is_binary_only(est: Any) -> None:
    tags = get_tags(est)
    assert tags.classifier_tags.multi_class is False
    default = get_tags(BaseEstimator())  # what a plain estimator declares
    assert tags.input_tags == default.input_tags  # no input deviation declared (sparse, NaN, ... rejected)
    X = np.random.default_rng(0).normal(size=(30, 4))
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        type(est)(**est.get_params()).fit(X, np.arange(30) % 3)
