"""Causal tests of directions: steering, directional ablation, weight orthogonalisation."""

from interp.steering.coherence import Coherence, CoherenceProbe
from interp.steering.experiments import (
    ablation_effect,
    dose_response,
    neutral_texts,
    random_directions,
    residual_norm,
    select_direction,
)
from interp.steering.orthogonalize import orthogonalize_weights, save_orthogonalized
from interp.steering.plots import plot_ablation, plot_dose_response

__all__ = [
    "Coherence",
    "CoherenceProbe",
    "ablation_effect",
    "dose_response",
    "neutral_texts",
    "orthogonalize_weights",
    "plot_ablation",
    "plot_dose_response",
    "random_directions",
    "residual_norm",
    "save_orthogonalized",
    "select_direction",
]
