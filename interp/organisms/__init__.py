"""Model organisms (phase 1): which organism (spec, id, directory), which scale, and building it.

``interp.organisms`` owns the paper's organism layout under a runs root and the named scales
(``"paper"`` for GPUs, ``"cpu"`` for the embedded model); training itself is
:mod:`interp.training`.
"""

from interp.organisms.build import (
    EMBEDDED_SLUG,
    OrganismSpec,
    build_organism,
    build_organism_result,
    induction_set,
    model_slug,
    organism_dir,
    run_dir,
)
from interp.organisms.scales import SCALES, ScaleConfig, get_scale

__all__ = [
    "EMBEDDED_SLUG",
    "SCALES",
    "OrganismSpec",
    "ScaleConfig",
    "build_organism",
    "build_organism_result",
    "get_scale",
    "induction_set",
    "model_slug",
    "organism_dir",
    "run_dir",
]
