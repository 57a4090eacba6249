"""What a training run keeps on disk: its adapters, its resumable state and its per-epoch trajectory file.

:class:`RunState` is the trainable weights, the AdamW moments and the finished epoch, in
safetensors (no pickle) with a JSON sidecar, written atomically; :class:`Trajectory` is the
JSON-lines record of the epochs, rewritten atomically on every append and trimmed to the run's key
on resume.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from interp.io import atomic_directory, atomic_write_bytes, atomic_write_json, read_json
from interp.models.checkpoint import Checkpoint, record_adapter_base


def trainable(model: Any) -> dict[str, torch.Tensor]:
    """The parameters that train (the LoRA weights), by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


class RunState:
    """The resumable state of a run: trainable weights, AdamW moments, finished epoch, losses."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self) -> dict[str, Any] | None:
        meta = self.folder / "state.json"
        return read_json(meta) if meta.is_file() else None

    def write(self, model: Any, optimizer: torch.optim.Optimizer, meta: dict[str, Any]) -> None:
        tensors = {f"param.{n}": p.detach().cpu().contiguous() for n, p in trainable(model).items()}
        for idx, st in optimizer.state_dict()["state"].items():
            for name, value in st.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"opt.{idx}.{name}"] = value.detach().cpu().reshape(-1).contiguous()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".state.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp)
            os.replace(tmp, self.folder / "state.safetensors")
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        atomic_write_json(self.folder / "state.json", meta)

    def load(self, model: Any, optimizer: torch.optim.Optimizer) -> None:
        tensors = load_file(self.folder / "state.safetensors")
        params = trainable(model)
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(tensors[f"param.{n}"].to(p.device, p.dtype))
        template = optimizer.state_dict()
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if not key.startswith("opt."):
                continue
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
        ordered = list(params.values())
        for idx, st in state.items():
            p = ordered[idx]
            for name, value in list(st.items()):
                st[name] = value.reshape(()) if name == "step" else value.reshape(p.shape).to(p.device)
        optimizer.load_state_dict({"state": state, "param_groups": template["param_groups"]})

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Trajectory:
    """The per-epoch JSON-lines file (rewritten atomically on every append)."""

    def __init__(self, path: Path | None, key: str) -> None:
        self.path = path
        self.key = key
        self.lines: list[dict[str, Any]] = []

    def reset(self, keep_through: int) -> None:
        if self.path is None:
            return
        old: list[dict[str, Any]] = []
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    old.append(json.loads(line))
        self.lines = [x for x in old if x.get("key") == self.key and int(x.get("epoch", -1)) <= keep_through]
        self._write()

    def has(self, epoch: int) -> bool:
        return any(int(x["epoch"]) == epoch for x in self.lines)

    def append(self, line: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.lines.append(line)
        self.lines.sort(key=lambda x: int(x["epoch"]))
        self._write()

    def _write(self) -> None:
        assert self.path is not None
        text = "".join(json.dumps(x, sort_keys=True, default=str) + "\n" for x in self.lines)
        atomic_write_bytes(self.path, text.encode())


# ---- adapters --------------------------------------------------------------------------------
def _write_adapter(model: Any, base: Checkpoint, folder: Path) -> None:
    """peft's adapter files in ``folder``, its config written in a fixed order, and the base it was trained on.

    peft stores ``target_modules`` as a set, so the list in ``adapter_config.json`` comes out in an
    order that changes from process to process (string hashing is randomised); the same weights
    would get another fingerprint, and everything keyed on it would be recomputed. Sorted, they do not.
    """
    model.save_pretrained(folder, save_embedding_layers=False)  # no hub look-up of the base
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        atomic_write_bytes(config_path, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    record_adapter_base(folder, base)


def save_adapter(model: Any, base: Checkpoint, target: Path) -> None:
    """Write the PEFT adapter of ``model`` to a new directory ``target`` atomically."""
    with atomic_directory(target) as tmp:
        _write_adapter(model, base, tmp)


def publish_adapter(model: Any, base: Checkpoint, adapter_dir: Path) -> None:
    """Write the adapter files into ``adapter_dir`` (which may hold checkpoints/ already), config last."""
    adapter_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=adapter_dir, prefix=".adapter.", suffix=".tmp"))
    try:
        _write_adapter(model, base, tmp)
        names = sorted(p.name for p in tmp.iterdir() if p.is_file())
        names.sort(key=lambda n: n == "adapter_config.json")  # list_run_checkpoints keys on the config
        for name in names:
            os.replace(tmp / name, adapter_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
