"""The run page: ``build_dashboard(run_dir)`` writes one self-contained static ``run_dir/index.html``.

The page embeds plotly.js once (inline, no CDN) and makes no network request, so it can be mailed,
archived or opened from a laptop. Its sections are the registry's (:mod:`interp.dashboard.registry`),
in registry order: a section whose tables are all missing says "not in this run", a section that
cannot be drawn shows its error in the page instead of failing the build.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

from interp.dashboard.markup import esc, missing, page_html, section_html
from interp.dashboard.page import Page, safely
from interp.dashboard.registry import Section, sections
from interp.dashboard.sections.manifest import checkpoints_line
from interp.dashboard.tables import RunData, load_run
from interp.io import atomic_write_bytes

log = logging.getLogger(__name__)


def _absent(section: Section, run: RunData) -> str | None:
    """The page's note for a section none of whose tables is in the run (None when one is)."""
    if not section.tables or any(run.get(t) is not None for t in section.tables):
        return None
    broken = [t for t in section.tables if t in run.errors]
    if broken:
        return "".join(f'<div class="error">table {esc(t)} could not be read: {esc(run.errors[t])}</div>' for t in broken)
    if len(section.tables) == 1:
        return missing(section.tables[0], section.what or section.title)
    names = ", ".join(f"<code>{esc(t)}</code>" for t in section.tables)
    return f'<p class="missing">None of the tables {names}: {esc(section.what or section.title)} not in this run.</p>'


def _render(section: Section, run: RunData, page: Page) -> str:
    page.current = section.key
    note = _absent(section, run)
    return note if note is not None else safely(functools.partial(section.render, run, page), section.key)


def subtitle(run: RunData) -> str:
    m = run.manifest
    bits = [f"<code>{esc(run.path)}</code>"]
    if m.get("command"):
        bits.append(f"command <code>{esc(m['command'])}</code>")
    line = checkpoints_line(m)
    if line:
        bits.append(f"checkpoints {esc(line)}")
    if m.get("created"):
        bits.append(f"created {esc(m['created'])}")
    return " · ".join(bits)


def render_run(run: RunData) -> tuple[str, Page]:
    """The HTML of a run's page and its bookkeeping (figure ids per section, summary rows)."""
    page = Page(title=f"interp run: {run.name}")
    shown = [s for s in sections() if s.shown_for(run)]
    bodies = {s.key: _render(s, run, page) for s in shown if not s.after_others}
    bodies |= {s.key: _render(s, run, page) for s in shown if s.after_others}
    html_sections = [section_html(s.key, s.title, bodies[s.key]) for s in shown]
    nav = [(s.key, s.title) for s in shown]
    return page_html(page.title, subtitle(run), nav, "\n".join(html_sections)), page


def write_page(path: Path, text: str) -> None:
    """Atomic write, then the usual readable-by-all mode (the temp file is created 0600)."""
    atomic_write_bytes(path, text.encode("utf-8"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def build_dashboard(run_dir: str | Path) -> Path:
    """Write ``run_dir/index.html`` (atomically) from the run's tables and manifest; return its path."""
    run = load_run(run_dir)
    text, page = render_run(run)
    out = run.path / "index.html"
    write_page(out, text)
    log.info("dashboard: %s (%d figures, %.1f MB)", out, len(page.figure_ids), len(text) / 1e6)
    return out
