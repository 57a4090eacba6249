"""Where interp keeps its caches, and how it writes files without ever leaving half of one.

Every write in the package goes through these helpers: write to a temporary file in the
destination directory, flush, then ``os.replace`` (atomic on POSIX), so a crash leaves either
the old file or the new one, never a torn one. JSON only; nothing is ever pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENV_CACHE = "INTERP_CACHE"


def cache_dir() -> Path:
    """The root of interp's caches: ``$INTERP_CACHE`` or ``~/.cache/interp``."""
    root = os.environ.get(ENV_CACHE)
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "interp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a scratch directory that is renamed to ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        yield tmp
        if final.exists():  # another process finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def canonical_hash(obj: Any, length: int = 16) -> str:
    """A short, stable sha256 of a JSON-serialisable object (keys sorted)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def first_damaged(root: Path, expected: Mapping[str, str | None]) -> tuple[str, str] | None:
    """The first file of ``expected`` (path under ``root`` -> its recorded sha256; None: presence
    only) that is ``"missing"`` or was ``"altered"``, as ``(name, what)``; None when all are as recorded."""
    for name, sha in expected.items():
        path = root / name
        if not path.is_file():
            return name, "missing"
        if sha and file_sha256(path) != sha:
            return name, "altered"
    return None


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    """sha256 of a file's bytes, memoised in the cache by (path, size, mtime).

    Hashing a 15 GB checkpoint takes tens of seconds; the memo makes it a one-time cost.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = canonical_hash([str(path), st.st_size, st.st_mtime_ns], 32)
    memo = cache_dir() / "sha256" / f"{key}.txt"
    if memo.exists():
        return memo.read_text().strip()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    atomic_write_bytes(memo, digest.encode())
    return digest
