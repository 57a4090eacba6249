"""Does training sharpen the direction? Separability, stability, concentration and expression metrics.

- :mod:`interp.sharpening.metrics` — pure metric functions on arrays (Cohen's d, Fisher,
  concentration; AUROC and cosine are :mod:`probes.stats`'s).
- :mod:`interp.sharpening.compare` — paired bootstrap and permutation tests of two checkpoints,
  controls (intervals, p-values and BH/Holm come from :mod:`probes.stats`).
- :mod:`interp.sharpening.transfer` — directions per hook, cross-fitted and transferred scores.
- :mod:`interp.sharpening.acts` — one checkpoint's pooled activations on a contrast set.
- :mod:`interp.sharpening.report` — the tidy tables (sharpening, trajectory).
- :mod:`interp.sharpening.expression` — the expression shift of a checkpoint's own responses.
- :mod:`interp.sharpening.convergence` — do different organisms converge on one direction.
- :mod:`interp.sharpening.plots` — metric-vs-layer, cosine heatmap, trajectory plots.
"""

from interp.sharpening.acts import CheckpointActs
from interp.sharpening.compare import bootstrap_scores, paired_bootstrap_scores, permutation_test_scores
from interp.sharpening.convergence import CONVERGENCE_COLUMNS, convergence_table
from interp.sharpening.expression import expression_shift, response_projections
from interp.sharpening.metrics import cohens_d, concentration, difference_vectors, fisher
from interp.sharpening.report import COLUMNS, layer_cosines, sharpening_table, trajectory_table
from interp.sharpening.transfer import cross_fitted_scores, fit_directions, transfer_auroc

__all__ = [
    "COLUMNS",
    "CONVERGENCE_COLUMNS",
    "CheckpointActs",
    "bootstrap_scores",
    "cohens_d",
    "concentration",
    "convergence_table",
    "cross_fitted_scores",
    "difference_vectors",
    "expression_shift",
    "fisher",
    "fit_directions",
    "layer_cosines",
    "paired_bootstrap_scores",
    "permutation_test_scores",
    "response_projections",
    "sharpening_table",
    "trajectory_table",
    "transfer_auroc",
]
