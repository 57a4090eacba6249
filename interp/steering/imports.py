"""Directions in: the field's direction files as :class:`probes.Direction` objects, one per layer, read
without unpickling anything.

Formats, told apart by content:

- **persona vectors** (Chen et al. 2025, ``generate_vec.py``): ``<trait>_response_avg_diff.pt``
  (and ``_prompt_avg_diff`` / ``_prompt_last_diff``), the ``torch.save`` of one float tensor
  ``[n_layers + 1, d]`` whose row ``l`` is a difference of means of ``hidden_states[l]``. Row
  ``l >= 1`` is the output of decoder block ``l - 1`` (their steerer hooks ``model.layers[l - 1]``
  for "layer l"), so it becomes ``blocks.{l-1}.hook_resid_post``; row 0, the embeddings, becomes
  ``blocks.0.hook_resid_pre``. A 1-D tensor (one layer's vector) needs the persona-vectors layer;
- **control vectors** in GGUF (repeng's ``export_gguf``, llama.cpp's ``--control-vector``):
  ``direction.{L}``, added after block ``L``;
- interp's own exports (:mod:`interp.steering.export`): steering-vectors safetensors and ``numpy``
  (``.npy`` + ``.json``).

A ``.pt`` file is a zip of a pickle program and raw storages, and unpickling runs whatever the program
names. interp reads the program's opcodes with :mod:`pickletools` and a small interpreter that knows
tuples, lists, dicts, numbers and strings, and only *names* ``torch._utils._rebuild_tensor_v2``, the
storage types and ``collections.OrderedDict`` (never resolved, never called); it then reads the
storage bytes itself. A program naming anything else is refused, so nothing in the file runs.
"""

from __future__ import annotations

import json
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

FORMATS = ("persona-vectors .pt", "GGUF control vector (repeng, llama.cpp)", "steering-vectors safetensors "
           "(interp export)", "numpy .npy + .json (interp export)")

_STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16"}
_REBUILD = "torch._utils._rebuild_tensor_v2"
_ALLOWED = {_REBUILD, "collections.OrderedDict", *(f"torch.{s}" for s in _STORAGES)}


@dataclass(frozen=True)
class _Name:
    """A global the pickle program names (recorded, never imported)."""

    qualname: str


@dataclass(frozen=True)
class _Call:
    func: _Name
    args: tuple[Any, ...]


@dataclass(frozen=True)
class _Storage:
    kind: str
    key: str
    numel: int


_MARK = object()


def _run_program(program: bytes, where: str) -> Any:
    """The object a pickle program builds, as plain values, :class:`_Call` and :class:`_Storage` records."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        i = len(stack) - 1 - stack[::-1].index(_MARK)
        items = stack[i + 1:]
        del stack[i:]
        return items

    def refuse(what: str) -> ValueError:
        return ValueError(f"{where}: the pickle program {what}, which interp does not run; a persona-vectors .pt "
                          "file holds one tensor. Convert other files to safetensors where they were made "
                          "(safetensors.torch.save_file) and load those")

    for op, value, _ in pickletools.genops(program):
        name, arg = op.name, cast(Any, value)
        if name in ("PROTO", "FRAME"):
            continue
        if name in ("GLOBAL", "STACK_GLOBAL"):
            module, attr = arg.split(" ", 1) if name == "GLOBAL" else (stack.pop(-2), stack.pop())
            qualname = f"{module}.{attr}"
            if qualname not in _ALLOWED and qualname.startswith("torch.") and qualname.endswith("Storage"):
                raise ValueError(f"{where} holds a {qualname[6:-7] or 'typed'} tensor; a direction is floating point "
                                 f"({', '.join(_STORAGES)})")
            if qualname not in _ALLOWED:
                raise refuse(f"names {qualname}")
            stack.append(_Name(qualname))
        elif name == "MARK":
            stack.append(_MARK)
        elif name in ("BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG", "BINFLOAT", "FLOAT", "BINUNICODE",
                      "SHORT_BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING"):
            stack.append(arg)
        elif name in ("NEWTRUE", "NEWFALSE", "NONE"):
            stack.append({"NEWTRUE": True, "NEWFALSE": False, "NONE": None}[name])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = stack[-n:]
            del stack[-n:]
            stack.append(tuple(items))
        elif name == "TUPLE":
            stack.append(tuple(pop_mark()))
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "APPEND":
            item = stack.pop()
            stack[-1].append(item)
        elif name == "APPENDS":
            items = pop_mark()
            stack[-1].extend(items)
        elif name == "EMPTY_DICT":
            stack.append({})
        elif name in ("SETITEM", "SETITEMS"):
            flat = [stack.pop(-2), stack.pop()] if name == "SETITEM" else pop_mark()
            target = stack[-1]
            if not isinstance(target, dict):
                raise refuse("sets items on something other than a dict")
            for k, v in zip(flat[::2], flat[1::2], strict=True):
                target[k] = v
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo[int(arg)])
        elif name == "BINPERSID":
            pid = stack.pop()
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Name)):
                raise refuse(f"refers to a persistent object {pid!r}")
            stack.append(_Storage(pid[1].qualname.rsplit(".", 1)[1], str(pid[2]), int(pid[4])))
        elif name == "REDUCE":
            args, func = stack.pop(), stack.pop()
            if not isinstance(func, _Name):
                raise refuse(f"calls {func!r}")
            stack.append({} if func.qualname == "collections.OrderedDict" else _Call(func, tuple(args)))
        elif name == "STOP":
            return stack.pop()
        else:
            raise refuse(f"uses the opcode {name}")
    raise ValueError(f"{where}: the pickle program has no STOP; the file is truncated")


def _tensor(obj: Any, archive: zipfile.ZipFile, prefix: str, where: str) -> np.ndarray:
    if not (isinstance(obj, _Call) and obj.func.qualname == _REBUILD and isinstance(obj.args[0], _Storage)):
        raise ValueError(f"{where} holds {type(obj).__name__}, not a tensor; a persona-vectors .pt file is one "
                         "tensor [n_layers + 1, d] (or one layer's [d])")
    storage, offset, size, stride = obj.args[:4]
    dtype = _STORAGES[storage.kind]
    try:
        data = archive.read(f"{prefix}data/{storage.key}")
    except KeyError as e:
        raise ValueError(f"{where}: storage {storage.key} is missing from the archive; the file is truncated") from e
    flat: np.ndarray = (  # numpy has no bfloat16: its bits are the high half of a float32's
        (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32) if dtype == "bfloat16"
        else np.frombuffer(data, dtype=dtype))
    if flat.size != storage.numel:
        raise ValueError(f"{where}: storage {storage.key} holds {flat.size} values, its header says {storage.numel}")
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride), writeable=False)
    return np.array(view, dtype=np.float64)


def read_torch_tensor(path: str | Path) -> np.ndarray:
    """The tensor a ``torch.save`` file holds, as float64, read without unpickling (see the module)."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a torch.save zip archive (torch >= 1.6); a legacy .pt file can only be read "
                         "by unpickling it: load it where it was made and save it again with safetensors")
    with zipfile.ZipFile(path) as archive:
        programs = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(programs) != 1:
            raise ValueError(f"{path}: expected one data.pkl in the archive, found {programs}")
        prefix = programs[0][: -len("data.pkl")]
        order = archive.read(f"{prefix}byteorder").decode().strip() if f"{prefix}byteorder" in archive.namelist() \
            else "little"
        if order != "little":
            raise ValueError(f"{path} was saved on a {order}-endian machine; interp reads little-endian storages")
        return _tensor(_run_program(archive.read(programs[0]), str(path)), archive, prefix, str(path))


def import_directions(path: str | Path, *, layer: int | None = None, method: str | None = None) -> list[Any]:
    """The directions in ``path``, one :class:`probes.Direction` per layer, in interp's layer convention
    (``hook_point`` ``blocks.{L}.hook_resid_post``, what is added to block ``L``'s output).

    ``layer``: for a 1-D persona-vectors tensor, the layer it was taken at in *their* convention
    (``hidden_states`` index: 1 is the first block's output). Rows that are all zero are skipped.
    """
    from probes import Direction

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no direction file at {path}")
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        rows = _persona_rows(read_torch_tensor(path), layer, path)
        tag = method or f"persona_vectors:{_trait_kind(path)}"
    elif head == b"GGUF":
        rows = _gguf_rows(path)
        tag = method or "control_vector"
    elif path.suffix == ".safetensors":
        rows = _steering_vectors_rows(path)
        tag = method or "steering_vectors"
    elif path.suffix in (".npy", ".json"):
        rows = _numpy_rows(path)
        tag = method or "interp.directions"
    else:
        raise ValueError(f"{path} is none of the direction formats interp reads: {'; '.join(FORMATS)}")
    out = []
    for hook, v in rows:
        if not np.any(v):
            continue
        out.append(Direction.from_vector(v, method=tag, hook_point=hook, layer=int(hook.split(".")[1]),
                                         extra={"source": str(path.resolve())}))
    if not out:
        raise ValueError(f"{path} holds no non-zero direction")
    return out


def _trait_kind(path: Path) -> str:
    for kind in ("response_avg_diff", "prompt_avg_diff", "prompt_last_diff"):
        if path.stem.endswith(kind):
            return kind
    return path.stem


def _persona_rows(t: np.ndarray, layer: int | None, path: Path) -> list[tuple[str, np.ndarray]]:
    def hook(row: int) -> str:  # hidden_states[row]: the embeddings, then block row - 1's output
        return "blocks.0.hook_resid_pre" if row == 0 else f"blocks.{row - 1}.hook_resid_post"

    if t.ndim == 2:
        if layer is not None:
            if not 0 <= layer < t.shape[0]:
                raise ValueError(f"{path} has rows 0..{t.shape[0] - 1}; layer {layer} is not among them")
            return [(hook(layer), t[layer])]
        return [(hook(i), t[i]) for i in range(t.shape[0])]
    if t.ndim == 1:
        if layer is None:
            raise ValueError(f"{path} holds one vector [{t.shape[0]}]: name the persona-vectors layer it was taken at "
                             "(--layer L: hidden_states index, 1 = the first block's output)")
        return [(hook(layer), t)]
    raise ValueError(f"{path} holds a tensor of shape {list(t.shape)}; persona vectors are [n_layers + 1, d] or [d]")


def _gguf_rows(path: Path) -> list[tuple[str, np.ndarray]]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.get_field("general.architecture")
    if arch is not None and bytes(arch.parts[-1]).decode() != "controlvector":
        raise ValueError(f"{path} is a GGUF file but not a control vector (general.architecture is not "
                         "'controlvector')")
    rows = [(int(t.name.split(".")[1]), np.asarray(t.data, dtype=np.float64).reshape(-1))
            for t in reader.tensors if t.name.startswith("direction.")]
    if not rows:
        raise ValueError(f"{path} has no direction.<layer> tensors")
    return [(f"blocks.{L}.hook_resid_post", v) for L, v in sorted(rows, key=lambda r: r[0])]


def _steering_vectors_rows(path: Path) -> list[tuple[str, np.ndarray]]:
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata() or {}
    if meta.get("format") != "steering_vectors.SteeringVector":
        raise ValueError(f"{path} is a safetensors file but not a steering vector written by interp export (for a "
                         "probes.Direction file use Direction.load)")
    if meta.get("layer_type", "decoder_block") != "decoder_block":
        raise ValueError(f"{path}: layer_type {meta['layer_type']!r}; interp reads decoder-block outputs only")
    tensors = load_file(str(path))
    layers = sorted(int(k.split(".")[1]) for k in tensors)
    return [(f"blocks.{L}.hook_resid_post", tensors[f"layer_activations.{L}"].astype(np.float64)) for L in layers]


def _numpy_rows(path: Path) -> list[tuple[str, np.ndarray]]:
    npy, meta = path.with_suffix(".npy"), path.with_suffix(".json")
    if not (npy.is_file() and meta.is_file()):
        raise FileNotFoundError(f"a numpy export is a pair {npy.name} + {meta.name}; one of them is missing")
    info = json.loads(meta.read_text())
    if info.get("format") != "interp.directions":
        raise ValueError(f"{meta} is not an interp numpy export (format {info.get('format')!r})")
    rows = np.load(npy, allow_pickle=False)
    if rows.ndim != 2 or rows.shape[0] != len(info["hooks"]):
        raise ValueError(f"{npy} holds {list(rows.shape)}, its sidecar names {len(info['hooks'])} hooks")
    return [(str(h), rows[i].astype(np.float64)) for i, h in enumerate(info["hooks"])]
