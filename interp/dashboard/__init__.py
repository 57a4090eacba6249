"""The run dashboard: static, self-contained HTML pages (plotly inline, no network) from a run's tables.

- :mod:`interp.dashboard.tables` — reading a run directory (every table optional).
- :mod:`interp.dashboard.figures` — plotly figures from tidy tables (bands, grey dashed controls).
- :mod:`interp.dashboard.build` — ``build_dashboard(run_dir)`` -> ``run_dir/index.html`` and
  ``build_comparison(run_dirs, out)``.
- :mod:`interp.dashboard.serve` — ``serve(path)`` on localhost in a background thread.

``main(argv)`` is what ``interp dashboard RUN... [--compare OUT] [--serve] [--port N]`` calls.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

from interp.dashboard.build import build_comparison, build_dashboard
from interp.dashboard.serve import Served, serve
from interp.dashboard.tables import KNOWN_TABLES, RunData, load_run


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``interp dashboard`` options (for the lead's CLI subparser)."""
    p.add_argument("runs", nargs="+", type=Path, help="run directories (artifacts/<run>/)")
    p.add_argument("--compare", type=Path, default=None, metavar="OUT",
                   help="also write a page comparing the runs (OUT.html, or OUT/index.html for a folder)")
    p.add_argument("--serve", action="store_true", help="serve the page(s) on localhost until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    p.add_argument("--port", type=int, default=0, help="port (0: any free port)")


def run_command(args: argparse.Namespace) -> int:
    """Build every run's dashboard (and the comparison page); serve when asked. Prints the paths/URL."""
    pages = [build_dashboard(r) for r in args.runs]
    for page in pages:
        print(page)
    target = pages[0]
    if args.compare is not None:
        target = build_comparison(args.runs, args.compare)
        print(target)
    if args.serve:
        root = Path(os.path.commonpath([p.parent for p in [*pages, target]]))
        served = serve(root, host=args.host, port=args.port)
        base = served.url.rsplit("/", 1)[0]
        print(f"serving {root} at {base}/{target.relative_to(root).as_posix()}  (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            served.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="interp dashboard", description="Build the static dashboard of one or more runs.")
    add_arguments(p)
    return run_command(p.parse_args(argv))


__all__ = [
    "KNOWN_TABLES",
    "RunData",
    "Served",
    "add_arguments",
    "build_comparison",
    "build_dashboard",
    "load_run",
    "main",
    "run_command",
    "serve",
]
