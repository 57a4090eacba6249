"""The on-disk activation store: safetensors shards, a JSON manifest, per-example metadata.

Layout of a store directory::

    manifest.json          identity (checkpoint/dataset fingerprints, hooks, positions, dtype,
                           versions), the list of finished shards, and ``complete``
    examples.parquet       one row per example: index, id, label, group, token counts
    shard-00000.safetensors  per hook [rows, d]; ``example`` and ``position`` [rows] (int64)

Shards are written atomically and listed in the manifest only once on disk, so a store that
was interrupted lists exactly the examples it holds, and a capture resumes from there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors import safe_open
from torch import Tensor

from interp.activations.positions import POOLED
from interp.io import atomic_write_json, first_damaged, read_json

FORMAT = "interp.activations/1"
MANIFEST = "manifest.json"
EXAMPLES = "examples.parquet"


class StoreError(ValueError):
    """A store is missing, incomplete or not what the caller asked for."""


class ActivationStore:
    """Read access to a finished (or partial) capture."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / MANIFEST).is_file():
            raise StoreError(f"{self.path} is not an activation store (no {MANIFEST}); run a capture first.")
        try:
            self.manifest: dict[str, Any] = read_json(self.path / MANIFEST)
        except ValueError as e:
            raise StoreError(f"store {self.path} is damaged: {MANIFEST} is not JSON ({e}). Delete the store and run "
                             "the capture again.") from None
        if self.manifest.get("format") != FORMAT:
            raise StoreError(f"{self.path} has format {self.manifest.get('format')!r}; this interp reads {FORMAT!r}.")
        self._verified = False

    def verify(self) -> None:
        """Check every file the manifest lists against its sha256 (stores written before checksums: presence only).

        Raises :class:`StoreError` naming the first missing or altered file. Reading does it once per
        instance; a capture does it before it trusts a store as a cache hit.
        """
        expected = {s["file"]: s.get("sha256") for s in self.manifest["shards"]}
        expected[EXAMPLES] = self.manifest.get("examples_sha256")
        bad = first_damaged(self.path, expected)
        if bad is not None:
            name, what = bad
            problem = "is missing" if what == "missing" else "was altered (its sha256 differs from the manifest's)"
            raise StoreError(f"store {self.path} is damaged: {name} {problem}. Delete the store and run the "
                             "capture again (a capture into the same root does it by itself).")
        self._verified = True

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def hooks(self) -> list[str]:
        return list(self.manifest["hooks"])

    @property
    def positions(self) -> str:
        return str(self.manifest["positions"])

    @property
    def pooled(self) -> bool:
        """One row per example (True) or one row per token (False)."""
        return self.positions in POOLED

    @property
    def shards(self) -> list[str]:
        return [s["file"] for s in self.manifest["shards"]]

    @property
    def examples(self) -> pd.DataFrame:
        """Per-example metadata (index, id, label, group, n_tokens, prompt_len, n_response)."""
        if not self._verified:
            self.verify()
        return pd.read_parquet(self.path / EXAMPLES)

    def done_examples(self) -> set[int]:
        done: set[int] = set()
        for f in self.shards:
            with safe_open(str(self.path / f), framework="pt") as sf:
                done.update(sf.get_tensor("example").tolist())
        return done

    def _require_complete(self) -> None:
        if not self.complete:
            raise StoreError(f"Store {self.path} is incomplete (interrupted capture); rerun the capture to finish it.")

    def _check_hook(self, hook: str) -> None:
        if hook not in self.manifest["hooks"]:
            raise StoreError(f"Hook {hook!r} was not captured in {self.path}; it holds {self.hooks}.")

    def _concat(self, keys: Iterable[str]) -> dict[str, Tensor]:
        if not self._verified:
            self.verify()
        parts: dict[str, list[Tensor]] = {k: [] for k in keys}
        for f in self.shards:
            with safe_open(str(self.path / f), framework="pt") as sf:
                for k in parts:
                    parts[k].append(sf.get_tensor(k))
        return {k: torch.cat(v) if v else torch.empty(0) for k, v in parts.items()}

    def load(self, hook: str, dtype: torch.dtype | None = torch.float32) -> Tensor:
        """All rows of one hook, ordered by (example, position)."""
        return self.load_many([hook], dtype)[hook]

    def load_many(self, hooks: Iterable[str], dtype: torch.dtype | None = torch.float32) -> dict[str, Tensor]:
        """Several hooks at once (one pass over the shards), rows ordered by (example, position)."""
        self._require_complete()
        hooks = list(hooks)
        for h in hooks:
            self._check_hook(h)
        data = self._concat(["example", "position", *hooks])
        order = np.lexsort((data["position"].numpy(), data["example"].numpy()))
        idx = torch.from_numpy(order)
        return {h: (data[h][idx].to(dtype) if dtype is not None else data[h][idx]) for h in hooks}

    def rows(self) -> pd.DataFrame:
        """One row per stored activation row: example index, position, and the example's metadata."""
        self._require_complete()
        data = self._concat(["example", "position"])
        frame = pd.DataFrame({"example": data["example"].numpy(), "position": data["position"].numpy()})
        frame = frame.sort_values(["example", "position"], kind="stable").reset_index(drop=True)
        return frame.merge(self.examples, left_on="example", right_on="index", how="left").drop(columns=["index"])

    def labels(self) -> np.ndarray:
        """Label of every row (``rows()`` order); raises if some example has no label."""
        labels = self.rows()["label"]
        if labels.isna().any():
            raise StoreError("Some examples in this store carry no label; capture a labelled contrast set.")
        return labels.to_numpy(dtype=np.int64)

    def groups(self) -> np.ndarray:
        return self.rows()["group"].to_numpy()

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"ActivationStore({self.path.name}: {m['dataset']['name']} x {m['checkpoint']['label']}, "
            f"{len(self.hooks)} hooks, positions={self.positions}, complete={self.complete})"
        )


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(path / MANIFEST, manifest)


def manifest_summary(manifest: dict[str, Any]) -> str:
    return json.dumps({k: manifest[k] for k in ("key", "positions", "hooks") if k in manifest})
