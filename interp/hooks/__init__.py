"""Hooked backends with canonical hook names, and interventions as values."""

from __future__ import annotations

from typing import Any

from interp.hooks.base import Backend, Reducer, RunResult
from interp.hooks.interventions import (
    AddVector,
    Intervention,
    PositionMasks,
    ProjectOut,
    add,
    directional_ablation,
    orthonormal_basis,
    project_out,
    sink_mask,
)
from interp.hooks.names import HOOK_KINDS, HookPoint, all_layers, hook_name

BACKENDS = ("hf", "transformer_lens", "nnsight")


def make_backend(name: str, loaded: Any) -> Backend:
    """Build a backend by name: ``"hf"`` (fastest), ``"transformer_lens"`` or ``"nnsight"``."""
    if name == "hf":
        from interp.hooks.hf_backend import HFBackend

        return HFBackend(loaded)
    if name == "transformer_lens":
        from interp.hooks.tl_backend import TransformerLensBackend

        return TransformerLensBackend(loaded)
    if name == "nnsight":
        from interp.hooks.nnsight_backend import NNsightBackend

        return NNsightBackend(loaded)
    raise ValueError(f"Unknown backend {name!r}; choose one of {BACKENDS}.")


__all__ = [
    "BACKENDS",
    "HOOK_KINDS",
    "AddVector",
    "Backend",
    "HookPoint",
    "Intervention",
    "PositionMasks",
    "ProjectOut",
    "Reducer",
    "RunResult",
    "add",
    "all_layers",
    "directional_ablation",
    "hook_name",
    "make_backend",
    "orthonormal_basis",
    "project_out",
    "sink_mask",
]
