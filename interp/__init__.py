"""interp: mechanistic interpretability of consistency training.

The package is organised by responsibility (see ARCHITECTURE.md):
``interp.models`` loads checkpoints and gives them an identity, ``interp.hooks`` runs them
with canonical hook points and interventions, ``interp.activations`` captures and stores
activations, ``interp.data`` holds datasets. The probe library lives in the separate
top-level package ``probes``.
"""

__version__ = "0.1.0"
