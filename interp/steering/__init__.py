"""Causal tests of directions: steering, directional ablation, weight orthogonalisation."""

from interp.steering.orthogonalize import orthogonalize_weights, save_orthogonalized

__all__ = ["orthogonalize_weights", "save_orthogonalized"]
