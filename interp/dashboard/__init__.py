"""The run dashboard: static, self-contained HTML pages (plotly inline, no network) from a run's tables.

- :mod:`interp.dashboard.registry` — :class:`Section` and :func:`register`: the sections of a run page,
  one module each under :mod:`interp.dashboard.sections`; :func:`known_tables` is their tables.
- :mod:`interp.dashboard.tables` — reading a run directory (every table optional).
- :mod:`interp.dashboard.answer` — the numbers of the answer that opens every run page.
- :mod:`interp.dashboard.build` — ``build_dashboard(run_dir)`` -> ``run_dir/index.html``.
- :mod:`interp.dashboard.compare` — ``build_comparison(run_dirs, out)``: a page across runs.
- :mod:`interp.dashboard.serve` — ``serve(path)`` on localhost in a background thread.
- :mod:`interp.dashboard.markup`, :mod:`~interp.dashboard.plot`, :mod:`~interp.dashboard.page` — HTML,
  plotly primitives and the page being built, shared by every section.

The command line is ``interp dashboard RUN... [--compare OUT] [--serve]`` (:mod:`interp.cli`).
"""

from __future__ import annotations

from interp.dashboard.build import build_dashboard, render_run
from interp.dashboard.compare import build_comparison
from interp.dashboard.registry import Section, get_section, known_tables, register, sections, sections_drawing
from interp.dashboard.serve import Served, serve
from interp.dashboard.tables import RunData, load_run

#: the tables the shipped sections draw (:func:`known_tables` also sees sections registered later)
KNOWN_TABLES: frozenset[str] = known_tables()

__all__ = [
    "KNOWN_TABLES",
    "RunData",
    "Section",
    "Served",
    "build_comparison",
    "build_dashboard",
    "get_section",
    "known_tables",
    "load_run",
    "register",
    "render_run",
    "sections",
    "sections_drawing",
    "serve",
]
