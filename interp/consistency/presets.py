"""Per-method generation parameters at each scale: the paper's values, and a small CPU scale.

``paper`` is each method's ``paper_params`` (the paper's code: N = 4 samples at temperature 0.7
for self-certainty, self-rewarding and rejection sampling; 1 nucleus sample at 0.8 / top-p 0.9
plus a width-4 beam for dual decoding; refinement at 0.6 / top-p 0.9; 256 new tokens; every
prompt). The smaller scales (``cpu``, ``quick``; see :mod:`interp.organisms.scales`) keep the
same selection rules and sample counts with short answers and few prompts, so each method
labels in minutes on the embedded model.
"""

from __future__ import annotations

from interp.consistency.base import MethodParams, method_class


def params_for(method: str, scale: str, *, seed: int = 0) -> MethodParams:
    """The generation parameters of ``method`` at ``scale`` (a name in :data:`interp.organisms.scales.SCALES`).

    The paper's sampling rules (the method's ``paper_params``); a scale's ``consistency_rows`` and
    ``max_new_tokens`` cap the prompts labelled and the answer length.
    """
    from interp.organisms.scales import get_scale

    config = get_scale(scale)
    params = method_class(method).paper_params.with_(seed=seed)
    changes: dict[str, object] = {}
    if config.max_new_tokens is not None:
        changes["max_new_tokens"] = config.max_new_tokens
    if config.consistency_rows is not None:
        changes["max_rows"] = config.consistency_rows
    return params.with_(**changes) if changes else params


def train_epochs(method: str) -> int:
    """Phase-3 epochs in the paper (the method's ``epochs``: 3 for BCT and ACT, 2 for label methods)."""
    return method_class(method).epochs
