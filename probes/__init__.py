"""``probes``: find and score linear directions in activations, scikit-learn style.

A standalone library (numpy, torch, scikit-learn; no ``transformers`` and no ``interp``
import) that works on arrays. This module owns the public API; everything listed in
``__all__`` is re-exported from the submodules:

- :mod:`probes.estimators` — ``DiffMeansProbe``, ``LogisticProbe``, ``ShrinkageLDAProbe``,
  ``PairedPCAProbe`` (scikit-learn estimators with a unit ``direction_``, class 0 -> class 1).
- :mod:`probes.torch_logistic` — ``BatchedLogisticCV``: L2 logistic for many layers at once.
- :mod:`probes.direction` — ``Direction`` / ``Subspace`` values, safetensors + JSON persistence.
- :mod:`probes.evaluation` — folds, AUROC/accuracy, bootstrap CIs, permutation p-values.
- :mod:`probes.stats` — the statistics everything is reported with: ``Estimate`` (value, interval,
  p-value), resampling, percentile intervals, permutation p-values, BH/Holm, AUROC, cosine.
- :mod:`probes.registry` — the one registry of probes by name (``register_probe``, ``get_probe``,
  ``probe_names``, ``make_probe``) and fitting directions by name (``fit_direction(s)``).
- :mod:`probes.sweep` — ``sweep`` (one probe per hook, tidy DataFrame) and ``summarize``.
"""

from probes.direction import Direction, Subspace, cosine, fingerprint, stack
from probes.estimators import DiffMeansProbe, LogisticProbe, PairedPCAProbe, ShrinkageLDAProbe
from probes.evaluation import accuracy, auroc, bootstrap_ci, make_splits, permutation_pvalue
from probes.registry import (
    ProbeSpec,
    fit_direction,
    fit_directions,
    get_probe,
    make_probe,
    probe_names,
    register_probe,
    unregister_probe,
)
from probes.stats import Estimate
from probes.sweep import CONTROL_RANDOM, CONTROL_SHUFFLED, parse_layer, summarize, sweep
from probes.torch_logistic import DEFAULT_CS, BatchedLogisticCV

__all__ = [
    "CONTROL_RANDOM",
    "CONTROL_SHUFFLED",
    "DEFAULT_CS",
    "BatchedLogisticCV",
    "DiffMeansProbe",
    "Direction",
    "Estimate",
    "LogisticProbe",
    "PairedPCAProbe",
    "ProbeSpec",
    "ShrinkageLDAProbe",
    "Subspace",
    "accuracy",
    "auroc",
    "bootstrap_ci",
    "cosine",
    "fingerprint",
    "fit_direction",
    "fit_directions",
    "get_probe",
    "make_probe",
    "make_splits",
    "parse_layer",
    "permutation_pvalue",
    "probe_names",
    "register_probe",
    "stack",
    "summarize",
    "sweep",
    "unregister_probe",
]
