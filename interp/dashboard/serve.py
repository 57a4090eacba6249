"""Serving a dashboard on localhost: a stdlib HTTP server in a background thread, loopback only.

The pages need no server (they open from disk); serving is for browsing several runs from one
root, or from a remote machine through an SSH tunnel. Only loopback addresses are accepted.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"refusing to serve on {host!r}: only loopback addresses (127.0.0.1, ::1, localhost)")


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


def serve(path: str | Path, host: str = "127.0.0.1", port: int = 0) -> Served:
    """Serve ``path`` (a page, or a directory holding ``index.html``) in a daemon thread.

    ``port=0`` picks a free port. Returns a :class:`Served` whose ``url`` opens the page.
    """
    _check_loopback(host)
    target = Path(path).resolve()
    if not target.exists():
        raise FileNotFoundError(f"nothing to serve at {target}")
    root, page = (target, "index.html") if target.is_dir() else (target.parent, target.name)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="interp-dashboard", daemon=True)
    thread.start()
    bound = server.server_address[1]
    netloc = f"[{host}]" if ":" in host else host
    url = f"http://{netloc}:{bound}/{quote(page)}"
    log.info("serving %s at %s", root, url)
    return Served(url=url, server=server, thread=thread)
