"""Input validation at the door of every public entry point of :mod:`probes`.

This module owns the conversion of user inputs (numpy arrays, torch tensors of any float
dtype including bfloat16, lists) into float numpy arrays, and every check that turns a
malformed input into a clear :class:`ValueError` saying what was expected and what arrived:
wrong number of dimensions, mismatched lengths, a single class, non-finite values, and a
feature dimension that differs from the one an estimator or direction was built with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]

__all__ = [
    "as_float_array",
    "check_X",
    "check_X_y",
    "check_binary_labels",
    "check_finite",
    "check_groups",
    "check_n_features",
]


def _is_tensor(x: object) -> bool:
    return isinstance(x, torch.Tensor)


def as_float_array(x: Any, *, name: str = "X") -> FloatArray:
    """Return ``x`` as a float numpy array (float32 or float64).

    Torch tensors of any dtype (bfloat16 and float16 included) are detached, moved to CPU and
    converted to float32; numpy float16 is widened to float32; integer and boolean arrays become
    float64; float32/float64 arrays are returned without a copy.
    """
    if _is_tensor(x):
        t = x.detach()
        if t.is_complex():
            raise ValueError(f"{name} must be real-valued; got a complex tensor of dtype {t.dtype}")
        if t.dtype != torch.float64:
            t = t.to(torch.float32)
        return np.asarray(t.cpu().numpy())
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
    """Raise if ``x`` holds NaN or +/-inf, saying how many and where the first one is."""
    finite = np.isfinite(x)
    if not finite.all():
        bad = np.argwhere(~finite)
        n_nan = int(np.isnan(x).sum())
        n_inf = int(bad.shape[0] - n_nan)
        raise ValueError(
            f"{name} must contain only finite values; found {n_nan} NaN and {n_inf} inf "
            f"(first at index {tuple(int(i) for i in bad[0])})"
        )


def check_X(X: Any, *, name: str = "X", ndim: int = 2, allow_empty: bool = False) -> FloatArray:
    """Validate a feature array of shape ``(n_examples, d)`` (or ``ndim`` dims) and return it."""
    arr = as_float_array(X, name=name)
    if arr.ndim != ndim:
        expected = "(n_examples, d)" if ndim == 2 else f"{ndim} dimensions"
        hint = " (reshape a single example with x[None, :])" if arr.ndim == 1 and ndim == 2 else ""
        raise ValueError(f"{name} must have shape {expected}; got an array of shape {arr.shape}{hint}")
    if not allow_empty and (arr.shape[0] == 0 or arr.shape[-1] == 0):
        raise ValueError(f"{name} must have at least one example and one feature; got shape {arr.shape}")
    check_finite(arr, name=name)
    return arr


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


def check_X_y(X: Any, y: Any, *, name: str = "X") -> tuple[FloatArray, NDArray[Any], NDArray[Any]]:
    """Validate ``X`` (n, d) and binary ``y`` (n,) together; returns ``(X, y, classes)``."""
    arr = check_X(X, name=name)
    y_arr, classes = check_binary_labels(y, arr.shape[0])
    return arr, y_arr, classes


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


def check_n_features(d_expected: int, X: FloatArray, *, what: str) -> None:
    """Raise if the last dimension of ``X`` is not ``d_expected``."""
    if X.shape[-1] != d_expected:
        raise ValueError(f"X has {X.shape[-1]} features but {what} has d={d_expected}; they must match")


def check_choice(value: str, allowed: Sequence[str], *, name: str) -> str:
    """Raise if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
    return value
