"""``precision:`` in a config: bfloat16 where the device computes it natively, float32 elsewhere, in one field.

``precision: bfloat16`` sets ``dtype: bfloat16``, ``adapter_dtype: bfloat16`` (with ``model_pool``) and the
scale's bf16 variant (``<scale>-bf16``: the frozen base in bf16 during training) where one is registered.
``float32`` sets ``dtype: float32`` with no adapter dtype, and keeps the scale as named. ``auto`` is
``bfloat16`` on a device with native bf16 (a CUDA device with bf16, a CPU with AVX512-BF16 or AMX) and
``float32`` elsewhere, where bf16 is emulated and runs several times slower than float32
(docs/MEASUREMENTS.md). The resolved fields are what the units are keyed by, so ``precision: auto`` on a
bf16 machine computes, and reuses, what the same config with those fields written out does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRECISIONS = ("auto", "bfloat16", "float32")
SET_BY_PRECISION = ("dtype", "adapter_dtype")


def resolve_precision(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The config data with ``precision`` turned into ``dtype``, ``adapter_dtype`` and ``scale``.

    ``auto`` becomes the precision it chose, so a resolved config (a manifest's, a sweep worker's) reads back
    as it was resolved, on any machine: fields that agree with a named precision are accepted.
    """
    from interp.models.loading import native_bf16
    from interp.organisms.scales import SCALES

    data = dict(raw)
    precision = data.get("precision")
    if precision is None:
        return data
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    chosen = precision if precision != "auto" else ("bfloat16" if native_bf16(data.get("device")) else "float32")
    bf16 = chosen == "bfloat16"
    scale = str(data.get("scale", "cpu"))
    base = scale.removesuffix("-bf16")
    want = {"dtype": chosen, "adapter_dtype": "bfloat16" if bf16 and data.get("model_pool") else None,
            "scale": f"{base}-bf16" if bf16 and f"{base}-bf16" in SCALES else base}
    given = [k for k in SET_BY_PRECISION if data.get(k) is not None and (precision == "auto" or data[k] != want[k])]
    if given:
        raise ValueError(f"precision: {precision} sets {' and '.join(SET_BY_PRECISION)} (and the scale's bf16 "
                         f"variant), and {' and '.join(given)} is given too: drop one (--set precision=float32 "
                         "instead of --set dtype=float32)")
    if scale != base and (precision == "auto" or scale != want["scale"]):
        raise ValueError(f"with precision, name the scale without its bf16 variant ({base!r} instead of "
                         f"{scale!r}): precision picks the variant")
    return data | want | {"precision": chosen}


def set_threads(n: int | None) -> None:
    """``threads:`` in a config: torch's CPU threads *and* the BLAS / OpenMP pools that numpy and scikit-learn
    compute in (threadpoolctl), so that a run given one thread uses one core in every stage (the statistics
    of sharpening run in numpy, whose OpenBLAS otherwise takes every core). ``None`` leaves both as they are."""
    if not n:
        return
    import torch
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    torch.set_num_threads(n)
    threadpool_limits(limits=n)  # applied now and kept (not used as a context manager)
