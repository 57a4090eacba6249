"""Input validation at the door of every public entry point of :mod:`probes`.

This module owns the conversion of torch tensors of any float dtype (bfloat16 included, which
``np.asarray`` cannot read) into numpy arrays, and the checks layered on scikit-learn's own:
the estimators validate through :func:`validate_fit` / :func:`validate_predict`, which hand the
converted arrays to ``sklearn.utils.validation.validate_data`` (shapes, dtypes, sparse, complex
and empty input, feature counts, label types, with scikit-learn's messages) and then add ours:
non-finite values counted and located, exactly two classes, and one group id per row. The
array-level helpers (:func:`as_float_array`, :func:`check_binary_labels`, ...) serve the
functions that are not scikit-learn estimators (sweeps, batched solvers, evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

FloatArray = NDArray[np.floating[Any]]

#: dtypes the estimators keep as they are (no copy); anything else becomes float64.
FLOAT_DTYPES = (np.float64, np.float32)

__all__ = [
    "FLOAT_DTYPES",
    "as_float_array",
    "check_binary_labels",
    "check_finite",
    "check_groups",
    "check_two_classes",
    "tensor_to_numpy",
    "validate_fit",
    "validate_predict",
]


def _is_tensor(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def tensor_to_numpy(x: Any) -> Any:
    """A torch tensor as a numpy array (anything else is returned unchanged).

    Tensors are detached and moved to CPU; float64 stays float64, complex tensors stay complex
    (so that scikit-learn rejects them with its own message), every other dtype (bfloat16,
    float16, integers, booleans) becomes float32.
    """
    if not _is_tensor(x):
        return x
    t = x.detach()
    if not t.is_complex() and t.dtype != torch.float64:
        t = t.to(torch.float32)
    return np.asarray(t.cpu().numpy())


def as_float_array(x: Any, *, name: str = "X") -> FloatArray:
    """Return ``x`` as a float numpy array (float32 or float64).

    Torch tensors of any dtype (bfloat16 and float16 included) are detached, moved to CPU and
    converted to float32; numpy float16 is widened to float32; integer and boolean arrays become
    float64; float32/float64 arrays are returned without a copy.
    """
    if _is_tensor(x):
        if x.is_complex():
            raise ValueError(f"{name} must be real-valued; got a complex tensor of dtype {x.dtype}")
        return np.asarray(tensor_to_numpy(x))
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array or tensor; got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4:
        return arr
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    return arr.astype(np.float64)


def check_finite(x: FloatArray, *, name: str = "X") -> None:
    """Raise if ``x`` holds NaN or +/-inf, saying how many, where the first one is, and what to do."""
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_nan = int(np.isnan(x).sum())
        n_inf = int(bad.shape[0] - n_nan)
        raise ValueError(
            f"{name} must contain only finite values; found {n_nan} NaN and {n_inf} inf "
            f"(first at index {tuple(int(i) for i in bad[0])}); drop or repair those rows "
            "(in activations this usually means an overflow in the capture dtype)"
        )


def check_two_classes(classes: NDArray[Any], y: Any, *, name: str = "y") -> None:
    """Raise unless ``classes`` (the sorted unique labels of ``y``) holds exactly two labels."""
    if classes.shape[0] > 2:
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"{type_of_target(y, input_name=name)}: {name} holds {classes.shape[0]} classes "
            f"{classes[:10].tolist()}; a probe separates two (e.g. 0 = aligned, 1 = misaligned), "
            "so keep the two classes to contrast"
        )
    if classes.shape[0] < 2:
        raise ValueError(
            f"{name} must contain exactly two classes (e.g. 0 = aligned, 1 = misaligned); "
            f"got {classes.shape[0]} class(es): {classes[:10].tolist()}; add examples of the missing class"
        )


def check_binary_labels(
    y: Any, n: int | None = None, *, name: str = "y"
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Validate a 1-D label vector with exactly two classes.

    Returns ``(y, classes)`` where ``classes`` is sorted; ``classes[1]`` is the positive class
    (``1`` = misaligned in this project's convention).
    """
    y_arr = as_float_array(y, name=name) if _is_tensor(y) else np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        y_arr = y_arr[:, 0]
    if y_arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels; got shape {y_arr.shape}")
    if n is not None and y_arr.shape[0] != n:
        raise ValueError(f"{name} has {y_arr.shape[0]} entries but X has {n} rows; they must match")
    if y_arr.dtype.kind == "f":
        check_finite(y_arr, name=name)
    classes = np.unique(y_arr)
    if classes.shape[0] != 2:
        raise ValueError(
            f"{name} must contain exactly two classes (e.g. 0 = aligned, 1 = misaligned); "
            f"got {classes.shape[0]} class(es): {classes[:10].tolist()}"
        )
    return y_arr, classes


def check_groups(groups: Any, n: int) -> NDArray[Any] | None:
    """Validate optional group ids (one per example, e.g. the prompt an answer belongs to)."""
    if groups is None:
        return None
    g = np.asarray(groups.detach().cpu().numpy() if _is_tensor(groups) else groups)
    if g.ndim != 1:
        raise ValueError(f"groups must be a 1-D array with one id per example; got shape {g.shape}")
    if g.shape[0] != n:
        raise ValueError(f"groups has {g.shape[0]} entries but X has {n} rows; they must match")
    return g


def validate_fit(
    estimator: Any, X: Any, y: Any, groups: Any = None
) -> tuple[FloatArray, NDArray[Any], NDArray[Any], NDArray[Any] | None]:
    """Validate the arguments of a binary probe's ``fit``; returns ``(X, y, classes, groups)``.

    scikit-learn's ``validate_data`` checks ``X`` (2-D, numeric, dense, real, non-empty; float32
    and float64 kept, anything else made float64) and ``y`` (1-D, same length) and sets
    ``n_features_in_`` (and ``feature_names_in_`` for data frames) on ``estimator``; then ``y``
    must be class labels (``check_classification_targets``) with exactly two classes, ``X`` finite
    and ``groups`` one id per row.
    """
    X_arr, y_arr = validate_data(
        estimator, tensor_to_numpy(X), tensor_to_numpy(y), dtype=FLOAT_DTYPES, ensure_all_finite=False
    )
    check_finite(X_arr)
    check_classification_targets(y_arr)
    classes = np.unique(y_arr)
    check_two_classes(classes, y_arr)
    return X_arr, y_arr, classes, check_groups(groups, X_arr.shape[0])


def validate_predict(estimator: Any, X: Any, attributes: list[str] | None = None) -> FloatArray:
    """Validate ``X`` for a fitted estimator's prediction methods (fitted, same features, finite).

    ``attributes``: the fitted attributes whose presence means "fitted" (default: any attribute
    ending in ``_``, as ``check_is_fitted``).
    """
    check_is_fitted(estimator, attributes)
    X_arr = validate_data(estimator, tensor_to_numpy(X), reset=False, dtype=FLOAT_DTYPES, ensure_all_finite=False)
    check_finite(X_arr)
    return np.asarray(X_arr)
