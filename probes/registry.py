"""The one registry of probes: a name -> how to fit that probe's direction.

A probe is any estimator that meets the scikit-learn contract (``get_params``/``set_params``,
``fit(X, y)`` returning ``self``, validation, ``decision_function``) and exposes a unit
``direction_`` after ``fit``, pointing from class 0 (aligned) to class 1 (misaligned). This
module owns the name -> :class:`ProbeSpec` mapping that sweeps, sharpening, transfer and
steering look names up in, and the two functions that fit directions by name,
:func:`fit_direction` and :func:`fit_directions`. A spec may carry one fast path:

- ``fit_batched`` fits every hook of one width at once (logistic: :class:`BatchedLogisticCV`);
  it returns a linear model per hook, which sweeps score and :func:`fit_directions` normalises;
- ``closed_form`` computes the direction alone, skipping work the estimator does for its
  predictions (:class:`DiffMeansProbe` calibrates ``predict_proba`` with a logistic fit that
  costs far more than the mean difference); only :func:`fit_directions` uses it.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from probes._validation import check_binary_labels, check_groups, tensor_to_numpy
from probes.estimators import DiffMeansProbe, LogisticProbe, PairedPCAProbe, ShrinkageLDAProbe
from probes.torch_logistic import BatchedLogisticCV

__all__ = [
    "BatchedFit",
    "ProbeSpec",
    "UnknownProbeError",
    "fit_direction",
    "fit_directions",
    "fit_estimator",
    "get_probe",
    "make_probe",
    "probe_names",
    "register_probe",
    "unregister_probe",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


class BatchedFit(Protocol):
    """What a ``fit_batched`` fast path returns: one linear model per hook of an ``[L, n, d]`` stack."""

    coef_: NDArray[np.float64]  # [L, d] in activation units; the direction of hook i is coef_[i] / |coef_[i]|
    intercept_: NDArray[np.float64]  # [L]; the score of hook i is X @ coef_[i] + intercept_[i]


#: ``fit_batched(X [L, n, d] float32 tensor, y [n] in {0, 1}, groups [n] | None, *, random_state,
#: device, **options) -> BatchedFit``; ``options`` are the caller's settings (the sweep passes
#: ``Cs`` and ``cv``): use the ones you know, ignore the rest.
BatchedFitter = Callable[..., BatchedFit]
#: ``closed_form(X [n, d] float64, y [n] in {0, 1}, groups [n] | None) -> unnormalised direction [d]``.
ClosedForm = Callable[[FloatArray, NDArray[np.int64], NDArray[Any] | None], FloatArray]


class UnknownProbeError(KeyError, ValueError):
    """A probe name that is not registered (a ``KeyError`` for lookups, a ``ValueError`` for validators)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """How to fit one probe: its estimator ``factory`` and, optionally, one fast path (see the module)."""

    name: str
    factory: Callable[[], Any]
    fit_batched: BatchedFitter | None = None
    closed_form: ClosedForm | None = None
    description: str = ""
    needs_groups: bool = False

    def require_groups(self, groups: Any) -> None:
        """Refuse to fit a probe that pairs rows by group on rows that carry none."""
        if self.needs_groups and groups is None:
            raise ValueError(f"probe {self.name!r} pairs each class-1 row with the class-0 rows of its group (the "
                             "prompt both answer), and these rows carry no groups: without pairs its direction is "
                             "noise. Give the contrast set a 'group' per pair, or use a probe that needs none "
                             "(diffmeans, logistic).")

    def make(self, **params: Any) -> Any:
        """A fresh estimator from ``factory``, with those of ``params`` it has as parameters set.

        Callers pass the settings they know (a sweep: ``Cs``, ``cv``, ``random_state``); an
        estimator without a parameter of that name does not receive it.
        """
        est = self.factory()
        known = est.get_params(deep=False)
        use = {k: v for k, v in params.items() if k in known}
        return est.set_params(**use) if use else est


_REGISTRY: dict[str, ProbeSpec] = {}


def register_probe(
    name: str,
    factory: Callable[[], Any],
    *,
    fit_batched: BatchedFitter | None = None,
    closed_form: ClosedForm | None = None,
    description: str = "",
    needs_groups: bool = False,
    replace: bool = False,
) -> ProbeSpec:
    """Register a probe under ``name`` and return its spec.

    ``factory()`` must build an unfitted scikit-learn estimator whose ``fit`` leaves a unit
    ``direction_`` (a class, e.g. ``DiffMeansProbe``, is a factory). Re-registering a name needs
    ``replace=True``. ``needs_groups``: the probe pairs rows by group, and refuses rows without.
    """
    if not isinstance(name, str) or not name or name != name.strip() or name.startswith("control:"):
        raise ValueError(f"probe name must be a non-empty string without surrounding spaces or 'control:'; got {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"probe {name!r} is already registered ({_REGISTRY[name].factory!r}); pass replace=True")
    if fit_batched is not None and closed_form is not None:
        raise ValueError(f"probe {name!r}: give fit_batched or closed_form, not both")
    if not callable(factory):
        raise TypeError(f"probe {name!r}: factory must be callable (an estimator class, say); got {factory!r}")
    est = factory()
    missing = [m for m in ("fit", "get_params", "set_params") if not callable(getattr(est, m, None))]
    if missing:
        raise TypeError(
            f"probe {name!r}: factory() must return a scikit-learn estimator; {type(est).__name__} has no "
            f"{', '.join(missing)} (subclass sklearn.base.BaseEstimator)"
        )
    spec = ProbeSpec(name, factory, fit_batched, closed_form, description, needs_groups)
    _REGISTRY[name] = spec
    return spec


def unregister_probe(name: str) -> ProbeSpec:
    """Remove ``name`` from the registry and return its spec (raises :class:`UnknownProbeError`)."""
    spec = get_probe(name)
    del _REGISTRY[name]
    return spec


def get_probe(name: str) -> ProbeSpec:
    """The spec registered under ``name``; :class:`UnknownProbeError` lists the known names."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownProbeError(
            f"unknown probe {name!r}; registered probes: {', '.join(_REGISTRY)} "
            "(add one with probes.registry.register_probe)"
        ) from None


def probe_names() -> tuple[str, ...]:
    """Registered probe names, in registration order."""
    return tuple(_REGISTRY)


def make_probe(name: str, **params: Any) -> Any:
    """A fresh, unfitted estimator of probe ``name`` (see :meth:`ProbeSpec.make`)."""
    return get_probe(name).make(**params)


def fit_estimator(estimator: Any, X: Any, y: Any, groups: Any = None) -> Any:
    """``estimator.fit(X, y, groups=groups)`` when its ``fit`` takes ``groups``, else ``fit(X, y)``."""
    params = inspect.signature(estimator.fit).parameters
    takes = "groups" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if takes:
        return estimator.fit(X, y, groups=groups)
    if groups is not None:
        logger.debug("%s.fit takes no groups; fitting without them", type(estimator).__name__)
    return estimator.fit(X, y)


def _float64(x: Any) -> FloatArray:
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to(torch.float64).cpu().numpy())
    return np.asarray(x, dtype=np.float64)


def _unit(v: Any, what: str) -> FloatArray:
    a = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    if not (np.isfinite(n).all() and (n > 0).all()):
        raise ValueError(f"{what} has zero or non-finite norm; the classes are indistinguishable there")
    return np.asarray(a / n)


def _checked(direction: Any, d: int, what: str) -> FloatArray:
    u = np.asarray(direction, dtype=np.float64)
    if u.shape != (d,) or not np.isfinite(u).all() or abs(float(np.linalg.norm(u)) - 1.0) > 1e-5:
        raise ValueError(f"{what}: a probe's direction_ must be a finite unit vector of shape ({d},); got shape "
                         f"{u.shape}, norm {float(np.linalg.norm(u)) if u.size else float('nan'):.6g}")
    return u


def fit_directions(
    name: str,
    acts: Mapping[str, Any],
    y: Any,
    groups: Any = None,
    *,
    rows: Any = None,
    random_state: int = 0,
    device: str | torch.device | None = "cpu",
) -> dict[str, FloatArray]:
    """One unit direction (class 0 -> class 1) per hook of ``acts``, fitted on ``rows`` (default: all).

    ``acts`` maps hook names to ``[n, d]`` arrays or tensors (any float dtype); ``y`` holds two
    classes, the larger label being class 1. A spec's ``fit_batched`` fits all hooks of one width
    at once (on ``device``; CPU by default, so directions do not depend on the machine), its
    ``closed_form`` one hook at a time; otherwise each hook gets a fresh estimator
    (``random_state`` set where it has one).
    """
    spec = get_probe(name)
    y_arr, classes = check_binary_labels(y)
    n = y_arr.shape[0]
    y01 = (y_arr == classes[1]).astype(np.int64)
    r = np.arange(n) if rows is None else np.asarray(rows)
    g_all = check_groups(groups, n)
    g = None if g_all is None else g_all[r]
    spec.require_groups(g)
    yr = y01[r]
    if np.unique(yr).shape[0] != 2:
        raise ValueError(f"probe {name!r}: the {r.shape[0]} rows to fit on hold one class only; both are needed")
    for h, X in acts.items():
        if len(X.shape) != 2 or int(X.shape[0]) != n:
            raise ValueError(f"activations[{h!r}] must have shape ({n}, d); got {tuple(X.shape)}")
    out: dict[str, FloatArray] = {}
    if spec.fit_batched is not None:
        by_d: dict[int, list[str]] = {}
        for h, X in acts.items():
            by_d.setdefault(int(X.shape[1]), []).append(h)
        for hooks in by_d.values():
            stacked = torch.stack([torch.as_tensor(_float64(acts[h])[r], dtype=torch.float32) for h in hooks])
            model = spec.fit_batched(stacked, yr, g, random_state=random_state, device=device)
            for i, h in enumerate(hooks):
                out[h] = _unit(model.coef_[i], f"probe {name!r} at {h}")
        return out  # grouped by width, in order of first appearance
    for h, X in acts.items():
        if spec.closed_form is not None:
            out[h] = _unit(spec.closed_form(_float64(X)[r], yr, g), f"probe {name!r} at {h}")
        else:
            est = fit_estimator(spec.make(random_state=random_state), tensor_to_numpy(X)[r], yr, g)
            out[h] = _checked(est.direction_, int(X.shape[1]), f"probe {name!r} at {h}")
    return out


def fit_direction(
    name: str, X: Any, y: Any, groups: Any = None, *, random_state: int = 0, device: str | torch.device | None = "cpu"
) -> FloatArray:
    """The unit direction [d] of probe ``name`` on one activation matrix ``X`` [n, d] (as :func:`fit_directions`)."""
    return fit_directions(name, {"X": X}, y, groups, random_state=random_state, device=device)["X"]


# ---------------------------------------------------------------------------------------- built-in probes
def _diffmeans_direction(X: FloatArray, y: NDArray[np.int64], groups: NDArray[Any] | None) -> FloatArray:
    """The difference of class means (what :class:`DiffMeansProbe` computes, without its calibration)."""
    return np.asarray(X[y == 1].mean(0) - X[y == 0].mean(0))


def _logistic_batched(
    X: torch.Tensor, y: NDArray[Any], groups: NDArray[Any] | None, *, random_state: int,
    device: str | torch.device | None, **options: Any,
) -> BatchedFit:
    """:class:`BatchedLogisticCV` on all hooks of one width (``options``: ``Cs``, ``cv``)."""
    known = {k: v for k, v in options.items() if k in ("Cs", "cv")}
    return BatchedLogisticCV(device=device, random_state=random_state, **known).fit(X, y, groups)


register_probe("diffmeans", DiffMeansProbe, closed_form=_diffmeans_direction,
               description="difference of class means")
register_probe("logistic", LogisticProbe, fit_batched=_logistic_batched,
               description="L2 logistic regression, C by inner CV; batched torch solver over hooks")
register_probe("logistic_sklearn", LogisticProbe, description="L2 logistic regression with scikit-learn, per hook")
register_probe("lda", ShrinkageLDAProbe, description="LDA with Ledoit-Wolf shrinkage")
register_probe("paired_pca", PairedPCAProbe, description="top principal component of paired differences",
               needs_groups=True)
