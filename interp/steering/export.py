"""Directions out: a :class:`probes.Direction` per layer in the formats the field's steering tools read.

Every format indexes layers the same way interp does: layer ``L`` is added to the output of
decoder block ``L`` (``blocks.{L}.hook_resid_post``), at every position:

- ``steering-vectors`` (Chanin's library): a ``SteeringVector(layer_activations={L: v},
  layer_type="decoder_block")``. The library has no file format of its own, so the file is
  safetensors (``layer_activations.{L}`` tensors and the layer type in its metadata), read back by
  :func:`load_steering_vector`;
- ``repeng``: the GGUF its ``ControlVector.import_gguf`` reads (``controlvector.model_hint``,
  tensors ``direction.{L}``);
- ``gguf``: a llama.cpp control vector (``--control-vector``): the same file, which llama.cpp reads
  as 1-D float32 ``direction.{L}`` tensors added after block ``L``. It rejects a file with
  ``direction.0``, so block 0 cannot be exported to it;
- ``numpy``: ``<out>.npy`` ``[layers, d]`` float32 rows in layer order, and ``<out>.json`` naming
  the layers, hooks and where each direction came from.

What is written is ``scale`` times the unit ``vector`` (``raw=True``: the estimator's unnormalised
vector, e.g. the difference of class means); the tools multiply it by their own coefficient. No
file is overwritten; every file is written whole or not at all.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from interp.hooks.names import HookPoint
from interp.io import atomic_write_bytes

FORMATS = ("steering-vectors", "repeng", "gguf", "numpy")


def _layers(directions: Sequence[Any], *, scale: float, raw: bool) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for d in directions:
        hook = d.hook_point
        if hook is None:
            raise ValueError("a direction without a hook_point cannot be placed in another tool; save it with "
                             "hook_point='blocks.{L}.hook_resid_post'")
        point = HookPoint.parse(hook)
        if point.kind != "resid_post":
            raise ValueError(f"{hook}: the steering tools add vectors to block outputs (resid_post); a {point.kind} "
                             "direction has no place in their formats")
        if point.layer in out:
            raise ValueError(f"two directions at layer {point.layer}; export one per layer")
        v = np.asarray(d.raw if raw else d.vector, dtype=np.float64) * float(scale)
        out[point.layer] = v.astype(np.float32)
    if not out:
        raise ValueError("no direction to export")
    widths = {v.shape[0] for v in out.values()}
    if len(widths) != 1:
        raise ValueError(f"the directions have different widths {sorted(widths)}; export one model's directions")
    return dict(sorted(out.items()))


def _fresh(path: Path) -> Path:
    if path.exists():
        raise FileExistsError(f"{path} exists; interp does not overwrite it: choose another --out or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write_gguf(path: Path, layers: dict[int, np.ndarray], model_type: str) -> None:
    import gguf

    tmp = Path(tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")[1])
    try:
        writer = gguf.GGUFWriter(str(tmp), "controlvector")
        writer.add_string("controlvector.model_hint", model_type)
        writer.add_uint32("controlvector.layer_count", len(layers))
        for layer, v in layers.items():
            writer.add_tensor(f"direction.{layer}", np.ascontiguousarray(v, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_directions(directions: Sequence[Any], to: str, out: str | Path, *, model_type: str | None = None,
                      scale: float = 1.0, raw: bool = False) -> list[Path]:
    """Write ``directions`` (one :class:`probes.Direction` per layer) as format ``to``; returns the files written.

    ``model_type``: the model's ``config.model_type`` (``llama``, ``qwen2``...), which repeng's and
    llama.cpp's files record (needed for ``repeng`` and ``gguf``).
    """
    if to not in FORMATS:
        raise ValueError(f"unknown export format {to!r}; choose one of {', '.join(FORMATS)}")
    layers = _layers(directions, scale=scale, raw=raw)
    out = Path(out)
    if to in ("repeng", "gguf"):
        if not model_type:
            raise ValueError(f"--to {to} records the model's type (config.model_type, e.g. 'llama'): pass model_type")
        if to == "gguf" and 0 in layers:
            raise ValueError("llama.cpp rejects a control vector with direction.0 (it cannot steer block 0's output); "
                             "export layers >= 1, or use --to repeng")
        path = _fresh(out if out.suffix == ".gguf" else out.with_name(out.name + ".gguf"))
        _write_gguf(path, layers, model_type)
        return [path]
    if to == "steering-vectors":
        from safetensors.numpy import save

        path = _fresh(out if out.suffix == ".safetensors" else out.with_name(out.name + ".safetensors"))
        blob = save({f"layer_activations.{layer}": v for layer, v in layers.items()},
                    metadata={"format": "steering_vectors.SteeringVector", "layer_type": "decoder_block"})
        atomic_write_bytes(path, blob)
        return [path]
    npy, meta = _fresh(out.with_suffix(".npy")), _fresh(out.with_suffix(".json"))
    buf = io.BytesIO()
    np.save(buf, np.stack(list(layers.values())))
    atomic_write_bytes(npy, buf.getvalue())
    info = {"format": "interp.directions", "layers": list(layers), "hooks": [f"blocks.{L}.hook_resid_post" for L in layers],
            "scale": scale, "raw": raw, "rows": "one per layer, in this order; added to the output of block L",
            "sources": [d.metadata() for d in directions]}
    atomic_write_bytes(meta, (json.dumps(info, indent=2, sort_keys=True, default=str) + "\n").encode())
    return [npy, meta]


def load_steering_vector(path: str | Path) -> Any:
    """The ``steering_vectors.SteeringVector`` of a file written with ``to="steering-vectors"``."""
    from safetensors import safe_open

    try:
        from steering_vectors import SteeringVector  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as e:  # pragma: no cover - the test environment has it
        raise ImportError("load_steering_vector needs the steering-vectors package (pip install --no-deps "
                          "steering-vectors)") from e
    import torch

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != "steering_vectors.SteeringVector":
            raise ValueError(f"{path} is not a steering vector written by interp export")
        names = list(f.keys())
        acts = {int(k.split(".")[1]): f.get_tensor(k).to(torch.float32) for k in names}
    return SteeringVector(layer_activations=acts, layer_type=meta.get("layer_type", "decoder_block"))
