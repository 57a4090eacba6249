"""Serving a dashboard on localhost: a stdlib HTTP server in a background thread, loopback only.

The pages need no server (they open from disk); serving is for browsing several runs from one
root, or from a remote machine through an SSH tunnel. What is served is only what was asked for:

- it binds loopback addresses only;
- it answers only requests whose ``Host`` header names a loopback host (a page of another site
  that resolves its own name to 127.0.0.1, DNS rebinding, gets 403);
- it returns files under the directories it was given and nothing else: a path that leaves them
  (``..``, an absolute path, a symlink pointing out) is 404, and directories are never listed.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(host: str) -> None:
    """Refuse any address but loopback: the pages are the user's, for the user's eyes."""
    if not _is_loopback(host):
        raise ValueError(f"refusing to serve on {host!r}: only loopback addresses (127.0.0.1, ::1, localhost)")


def _host_of(header: str) -> str:
    """``localhost:8000`` -> ``localhost``; ``[::1]:8000`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class _Handler(SimpleHTTPRequestHandler):
    """Static files under the allowed directories only; loopback Host headers only; no listings."""

    allowed: tuple[Path, ...] = ()

    def __init__(self, *args: Any, allowed: Sequence[Path], **kwargs: Any) -> None:
        self.allowed = tuple(allowed)
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def send_head(self) -> Any:
        if not _is_loopback(_host_of(self.headers.get("Host", ""))):
            self.send_error(HTTPStatus.FORBIDDEN, "Host header is not a loopback name")
            return None
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        try:
            real = path.resolve(strict=True)
        except (FileNotFoundError, RuntimeError, OSError):
            real = None
        if real is None or not real.is_file() or not any(real.is_relative_to(root) for root in self.allowed):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        self.path = "/" + os.path.relpath(real, self.directory).replace(os.sep, "/")
        return super().send_head()

    def list_directory(self, path: Any) -> Any:
        self.send_error(HTTPStatus.NOT_FOUND, "File not found")
        return None


@dataclass
class Served:
    """A running server: ``url`` of the page; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    url: str
    server: ThreadingHTTPServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __str__(self) -> str:
        return self.url


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 0, *,
          allow: Sequence[str | Path] | None = None) -> Served:
    """Serve ``path`` (a page, or a directory holding ``index.html``) in a daemon thread.

    ``allow``: the directories whose files may be returned (default: the served directory itself);
    URLs are relative to ``path``'s directory, so pages keep their relative links to one another.
    ``port=0`` picks a free port. Returns a :class:`Served` whose ``url`` opens the page.
    """
    check_loopback(host)
    target = Path(path).resolve()
    if not target.exists():
        raise FileNotFoundError(f"nothing to serve at {target}")
    root, page = (target, "index.html") if target.is_dir() else (target.parent, target.name)
    allowed = [Path(a).resolve() for a in allow] if allow is not None else [root]
    outside = [a for a in allowed if not a.is_relative_to(root)]
    if outside:
        raise ValueError(f"cannot allow {outside}: they are not under the served directory {root}")
    handler = functools.partial(_Handler, directory=str(root), allowed=allowed)
    server = ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="interp-dashboard", daemon=True)
    thread.start()
    bound = server.server_address[1]
    netloc = f"[{host}]" if ":" in host else host
    url = f"http://{netloc}:{bound}/{quote(page)}"
    log.info("serving %s (only %s) at %s", root, ", ".join(map(str, allowed)), url)
    return Served(url=url, server=server, thread=thread)
