"""Linear probe estimators following the scikit-learn estimator contract.

This module owns the four probe families: :class:`DiffMeansProbe` (difference of class means),
:class:`LogisticProbe` (L2 logistic regression, C chosen by internal cross-validation; a
scikit-learn or a torch backend), :class:`ShrinkageLDAProbe` (LDA with Ledoit-Wolf shrinkage)
and :class:`PairedPCAProbe` (mean-centred PCA of paired differences). Every estimator stores
only its parameters in ``__init__``, returns ``self`` from ``fit``, names learned attributes
with a trailing underscore, works with ``clone``, ``Pipeline``, ``cross_val_score`` and
``GridSearchCV``, and exposes ``decision_function``, ``predict``, ``predict_proba`` and a unit
``direction_`` that points from class 0 (aligned) towards class 1 (misaligned).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.utils._param_validation import Interval, StrOptions

from probes._validation import validate_fit, validate_predict
from probes.torch_logistic import DEFAULT_CS, BatchedLogisticCV, inner_splits

__all__ = ["DiffMeansProbe", "LogisticProbe", "PairedPCAProbe", "ShrinkageLDAProbe"]

logger = logging.getLogger(__name__)


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = float(np.linalg.norm(v))
    if norm == 0.0 or not np.isfinite(norm):
        raise ValueError(
            "the fitted direction has zero (or non-finite) norm; the classes are indistinguishable"
        )
    return v / norm


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


class _LinearProbe(ClassifierMixin, BaseEstimator):
    """Shared prediction code: a fitted linear score ``X @ coef_ + intercept_``."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    coef_: NDArray[np.float64]
    intercept_: float
    classes_: NDArray[Any]
    n_features_in_: int

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Binary only: a probe is one direction from class 0 to class 1; fit raises
        # "Only binary classification is supported" when y holds more than two classes.
        tags.classifier_tags.multi_class = False
        return tags

    def _check_predict_X(self, X: Any) -> NDArray[Any]:
        return validate_predict(self, X, ["coef_", "intercept_"])

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Score per example, larger for ``classes_[1]``; the decision threshold is 0."""
        arr = self._check_predict_X(X)
        return np.asarray(arr.astype(np.float64, copy=False) @ self.coef_ + self.intercept_)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Class probabilities, shape ``(n, 2)`` in the order of ``classes_``."""
        p1 = _sigmoid(self.decision_function(X))
        return np.stack([1.0 - p1, p1], axis=1)

    def predict(self, X: Any) -> NDArray[Any]:
        """Predicted labels (``classes_[1]`` where the decision function is positive)."""
        scores = self.decision_function(X)
        return np.asarray(self.classes_[(scores > 0).astype(int)])

    def project(self, X: Any) -> NDArray[np.float64]:
        """Scalar projection of activations onto the unit ``direction_``."""
        arr = self._check_predict_X(X)
        return np.asarray(arr.astype(np.float64, copy=False) @ self.direction_)

    def _set_fitted(self, X: NDArray[Any], classes: NDArray[Any]) -> None:
        self.classes_ = classes  # n_features_in_ is set by validate_data
        self.n_examples_ = int(X.shape[0])

    def _calibrate_projection(self, X: NDArray[Any], y01: NDArray[np.float64]) -> None:
        """Set ``coef_``/``intercept_`` as a 1-D logistic (Platt) fit on the projections onto ``direction_``."""
        proj = X.astype(np.float64, copy=False) @ self.direction_
        sd = float(proj.std()) or 1.0
        platt = LogisticRegression(C=1e4).fit((proj / sd)[:, None], y01.astype(int))
        a = float(platt.coef_[0, 0]) / sd
        b = float(platt.intercept_[0])
        if a <= 0:  # projections do not order the training classes; keep the sign convention
            logger.warning("%s: the projection does not separate the training classes", type(self).__name__)
            a = 1.0 / sd
            b = -a * 0.5 * float(proj[y01 == 1].mean() + proj[y01 == 0].mean())
        self.coef_ = a * self.direction_
        self.intercept_ = b


class DiffMeansProbe(_LinearProbe):
    """Difference of class means: ``direction_ ∝ mean(X[y == 1]) - mean(X[y == 0])``.

    ``raw_direction_`` is the unnormalised mean difference. ``decision_function`` is a 1-D
    logistic (Platt) calibration of the projection onto ``direction_``, so it ranks examples
    exactly like the projection and ``predict_proba`` is calibrated on the training set.
    """

    def __init__(self) -> None:
        pass

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, groups: Any = None) -> DiffMeansProbe:
        """Fit on activations ``X`` (n, d) and binary labels ``y``; ``groups`` is accepted and ignored."""
        arr, y_arr, classes, _ = validate_fit(self, X, y, groups)
        y01 = (y_arr == classes[1]).astype(np.float64)
        Xd = arr.astype(np.float64, copy=False)
        self.raw_direction_ = Xd[y01 == 1].mean(0) - Xd[y01 == 0].mean(0)
        self.direction_ = _unit(self.raw_direction_)
        self._set_fitted(arr, classes)
        self._calibrate_projection(Xd, y01)
        return self


class LogisticProbe(_LinearProbe):
    """L2 logistic regression on standardised features, C chosen by internal cross-validation.

    Equivalent to ``make_pipeline(StandardScaler(), LogisticRegressionCV(Cs, cv, scoring="neg_log_loss"))``
    with the coefficients mapped back to raw activation units (``coef_``, ``intercept_``).
    ``Cs`` may be a single float (no internal CV). The internal folds are stratified, and
    group-aware when ``groups`` is passed to ``fit``.

    ``backend="torch"`` solves the same problem with :class:`~probes.torch_logistic.BatchedLogisticCV`
    (on ``device``; ``None`` = CUDA if available); ``backend="sklearn"`` uses scikit-learn.
    ``n_iter_`` is the largest number of solver iterations of any of the fits (inner CV included).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "Cs": [Interval(Real, 0, None, closed="neither"), "array-like"],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "standardize": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "backend": [StrOptions({"sklearn", "torch"})],
        "device": [str, torch.device, None],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        Cs: float | Sequence[float] = DEFAULT_CS,
        cv: int = 3,
        standardize: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        backend: str = "sklearn",
        device: str | torch.device | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.Cs = Cs
        self.cv = cv
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.device = device
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, groups: Any = None) -> LogisticProbe:
        """Fit on activations ``X`` (n, d) and labels ``y``; ``groups`` (prompt ids) keep internal folds group-aware."""
        arr, y_arr, classes, g = validate_fit(self, X, y, groups)
        y01 = (y_arr == classes[1]).astype(np.float64)
        Cs = np.atleast_1d(np.asarray(self.Cs, dtype=np.float64))
        if Cs.ndim != 1 or Cs.size == 0 or not (Cs > 0).all():
            raise ValueError(f"Cs must be a positive float or a non-empty list of them; got {self.Cs!r}")
        self._set_fitted(arr, classes)
        if self.backend == "torch":
            m = BatchedLogisticCV(
                Cs=tuple(Cs.tolist()),
                cv=self.cv,
                standardize=self.standardize,
                max_iter=self.max_iter,
                tol=self.tol,
                device=self.device,
                random_state=self.random_state,
            ).fit(arr[None], y01, g)
            self.coef_, self.intercept_, self.C_ = m.coef_[0], float(m.intercept_[0]), float(m.C_[0])
            self.n_iter_ = int(m.n_iter_)
        else:
            Xd = arr.astype(np.float64, copy=False)
            if self.standardize:
                mean, scale = Xd.mean(0), Xd.std(0)
                scale = np.where(scale > 1e-12 * (1 + np.abs(mean)), scale, 1.0)
            else:
                mean, scale = np.zeros(arr.shape[1]), np.ones(arr.shape[1])
            Z = (Xd - mean) / scale
            yi = y01.astype(int)
            if Cs.size == 1:
                lr: Any = LogisticRegression(C=float(Cs[0]), max_iter=self.max_iter, tol=self.tol).fit(Z, yi)
                self.C_ = float(Cs[0])
                self.n_iter_ = int(np.max(lr.n_iter_))
            else:
                folds = inner_splits(y01, g, n_splits=self.cv, random_state=self.random_state)
                lr = LogisticRegressionCV(
                    Cs=Cs.tolist(),
                    cv=folds,
                    scoring="neg_log_loss",
                    max_iter=self.max_iter,
                    tol=self.tol,
                    l1_ratios=(0.0,),
                    use_legacy_attributes=False,
                ).fit(Z, yi)
                self.C_ = float(np.ravel(lr.C_)[0])
            self.n_iter_ = int(np.max(lr.n_iter_))
            self.coef_ = lr.coef_[0] / scale
            self.intercept_ = float(lr.intercept_[0] - self.coef_ @ mean)
        self.raw_direction_ = np.asarray(self.coef_, dtype=np.float64)
        self.direction_ = _unit(self.raw_direction_)
        return self


class ShrinkageLDAProbe(_LinearProbe):
    """Linear discriminant analysis with covariance shrinkage (``"auto"`` = Ledoit-Wolf, or a float in [0, 1]).

    ``direction_ ∝ Σ_shrunk^{-1} (mean_1 - mean_0)``; ``raw_direction_`` is that vector.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "shrinkage": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, shrinkage: float | str = "auto") -> None:
        self.shrinkage = shrinkage

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, groups: Any = None) -> ShrinkageLDAProbe:
        """Fit on activations ``X`` (n, d) and binary labels ``y``; ``groups`` is accepted and ignored."""
        arr, y_arr, classes, _ = validate_fit(self, X, y, groups)
        y01 = (y_arr == classes[1]).astype(int)
        lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=self.shrinkage).fit(
            arr.astype(np.float64, copy=False), y01
        )
        self._set_fitted(arr, classes)
        self.coef_ = np.asarray(lda.coef_[0], dtype=np.float64)
        self.intercept_ = float(lda.intercept_[0])
        self.raw_direction_ = self.coef_.copy()
        self.direction_ = _unit(self.raw_direction_)
        return self


class PairedPCAProbe(_LinearProbe):
    """Mean-centred PCA of paired differences (as in representation engineering).

    For each pair (one class-1 and one class-0 example answering the same prompt) take the
    difference ``x_1 - x_0``; stack the differences with both signs (so the stack is mean-centred
    by construction and the pair order carries no information) and take the top principal
    component. ``direction_`` is that component, signed to point towards class 1;
    ``components_`` holds ``n_components`` of them.

    Pairing: pass ``groups`` (prompt ids) to ``fit``; within a group the difference is
    ``mean(class 1) - mean(class 0)`` and every group must contain both classes. Without
    ``groups`` the rows are paired in order of appearance (k-th class-1 row with k-th class-0
    row, the longer class truncated) — which is right when ``X`` is arranged as paired rows and
    still consistent, if noisier, for unpaired data (e.g. inside ``cross_val_score``).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_components: int = 1) -> None:
        self.n_components = n_components

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any, groups: Any = None) -> PairedPCAProbe:
        """Fit on activations ``X`` (n, d), labels ``y`` and optional pair/prompt ids ``groups``."""
        arr, y_arr, classes, g = validate_fit(self, X, y, groups)
        Xd = arr.astype(np.float64, copy=False)
        pos = y_arr == classes[1]
        if g is None:
            i1, i0 = np.flatnonzero(pos), np.flatnonzero(~pos)
            k = min(i1.size, i0.size)
            diffs = Xd[i1[:k]] - Xd[i0[:k]]
        else:
            uniq, inv = np.unique(g, return_inverse=True)
            n1 = np.bincount(inv, weights=pos.astype(float), minlength=uniq.size)
            n0 = np.bincount(inv, weights=(~pos).astype(float), minlength=uniq.size)
            bad = int(((n1 == 0) | (n0 == 0)).sum())
            if bad:
                raise ValueError(
                    f"PairedPCAProbe needs both classes in every group; {bad} of {uniq.size} groups have only "
                    "one (pass the prompt ids as groups, or drop the unpaired rows)"
                )
            s1 = np.zeros((uniq.size, Xd.shape[1]))
            s0 = np.zeros_like(s1)
            np.add.at(s1, inv[pos], Xd[pos])
            np.add.at(s0, inv[~pos], Xd[~pos])
            diffs = s1 / n1[:, None] - s0 / n0[:, None]
        if not (1 <= self.n_components <= min(diffs.shape)):
            raise ValueError(
                f"n_components must be between 1 and {min(diffs.shape)} (pairs x d = {diffs.shape}); "
                f"got {self.n_components}"
            )
        # PCA of [diffs; -diffs]: its mean is zero, its covariance is diffs.T @ diffs / n_pairs.
        _, svals, Vt = np.linalg.svd(diffs, full_matrices=False)
        comps = Vt[: self.n_components].copy()
        signs = np.sign(comps @ diffs.mean(0))
        comps *= np.where(signs == 0, 1.0, signs)[:, None]
        self.components_ = comps
        self.explained_variance_ = svals[: self.n_components] ** 2 / diffs.shape[0]
        self.n_pairs_ = int(diffs.shape[0])
        self.direction_ = comps[0]
        self.raw_direction_ = comps[0] * float(np.abs(diffs @ comps[0]).mean())
        self._set_fitted(arr, classes)
        self._calibrate_projection(Xd, pos.astype(np.float64))
        return self
