"""Causal tests of directions: steering, directional ablation, weight orthogonalisation."""

from interp.steering.coherence import Coherence, CoherenceProbe
from interp.steering.orthogonalize import orthogonalize_weights, save_orthogonalized

__all__ = ["Coherence", "CoherenceProbe", "orthogonalize_weights", "save_orthogonalized"]
