"""Hooked backends with canonical hook names, and interventions as values.

Three extension points: backends by name (:func:`register_backend`),
model families by ``config.model_type`` (:func:`register_architecture`), and interventions,
an open protocol (:class:`Intervention`: any class with ``hook``, ``width`` and ``apply``).
"""

from __future__ import annotations

from interp.hooks.architectures import (
    ARCHITECTURES,
    ArchitectureMap,
    architecture_of,
    register_architecture,
    unregister_architecture,
)
from interp.hooks.backends import (
    EXACT_BACKENDS,
    backend_for,
    backend_names,
    make_backend,
    register_backend,
    unregister_backend,
)
from interp.hooks.base import Backend, Reducer, RunResult
from interp.hooks.interventions import (
    AddVector,
    Intervention,
    PositionMasks,
    ProjectOut,
    add,
    as_masks,
    directional_ablation,
    orthonormal_basis,
    project_out,
    sink_mask,
)
from interp.hooks.names import HOOK_KINDS, HookPoint, all_layers, hook_name

BACKENDS: tuple[str, ...] = backend_names()
"""The built-in backends at import time; :func:`backend_names` also lists ones registered later."""


__all__ = [
    "ARCHITECTURES",
    "BACKENDS",
    "EXACT_BACKENDS",
    "HOOK_KINDS",
    "AddVector",
    "ArchitectureMap",
    "Backend",
    "HookPoint",
    "Intervention",
    "PositionMasks",
    "ProjectOut",
    "Reducer",
    "RunResult",
    "add",
    "all_layers",
    "architecture_of",
    "as_masks",
    "backend_for",
    "backend_names",
    "directional_ablation",
    "hook_name",
    "make_backend",
    "orthonormal_basis",
    "project_out",
    "register_architecture",
    "register_backend",
    "sink_mask",
    "unregister_architecture",
    "unregister_backend",
]
