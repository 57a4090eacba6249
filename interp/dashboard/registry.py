"""The dashboard's sections as a registry: one :class:`Section` per module of :mod:`interp.dashboard.sections`.

A section names the run tables it draws and renders its part of the page from them. The page
draws the registered sections in ``order``; the tables the dashboard knows are the union of the
sections' ``tables``, so a table the pipeline writes is drawn exactly where a section says it is.
Adding a section is one module under ``interp/dashboard/sections/`` that calls :func:`register`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import interp.dashboard.sections as _sections_package

if TYPE_CHECKING:
    from interp.dashboard.page import Page
    from interp.dashboard.tables import RunData

Render = Callable[["RunData", "Page"], str]


@dataclass(frozen=True)
class Section:
    """One part of a run page.

    Attributes:
        key: the anchor (``section-<key>``) and the name other code refers to it by (a pipeline stage
            names the key of the section that draws its tables).
        title: the heading and the navigation link.
        tables: the run tables it draws (each must also be known to the pipeline or written by it).
        render: ``render(run, page) -> html``; called only when the run has one of ``tables`` (or
            when ``tables`` is empty); a missing table inside it is the renderer's to name.
        order: position on the page (ascending).
        what: what the section shows, for the message of a run that has none of its tables.
        applies: ``applies(run) -> bool``; False leaves the section off the page (not applicable
            to this run's config, e.g. convergence with one organism). Asked only of a run of
            ``interp run`` (its manifest holds the config) that holds none of ``tables``: a section
            with data, or on a page of tables gathered by hand, is always shown. Default: always.
        after_others: render it after every other section (it reads their summary rows), while it
            keeps its ``order`` on the page.
    """

    key: str
    title: str
    tables: tuple[str, ...]
    render: Render
    order: int
    what: str = ""
    applies: Callable[[RunData], bool] | None = None
    after_others: bool = False

    def shown_for(self, run: RunData) -> bool:
        from interp.dashboard.tidy import config_of

        if self.applies is None or any(run.get(t) is not None for t in self.tables) or not config_of(run.manifest):
            return True
        return bool(self.applies(run))


_REGISTRY: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Add ``section`` to the page (a second section under the same key is an error)."""
    if not section.key or not section.key.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"section key {section.key!r}: use letters, digits, '-' and '_' (it is an HTML anchor)")
    old = _REGISTRY.get(section.key)
    if old is not None and old != section:
        raise ValueError(f"dashboard section {section.key!r} is registered twice ({old.render.__module__} and "
                         f"{section.render.__module__}); pick another key")
    _REGISTRY[section.key] = section
    return section


def unregister(key: str) -> Section:
    """Take the section ``key`` off the page (for a test's toy section, or a plugin replacing one)."""
    if key not in _REGISTRY:
        raise KeyError(f"no dashboard section {key!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY.pop(key)


def _discover() -> None:
    """Import every module of :mod:`interp.dashboard.sections` (each registers its section)."""
    for info in pkgutil.iter_modules(_sections_package.__path__):
        importlib.import_module(f"{_sections_package.__name__}.{info.name}")


def sections() -> tuple[Section, ...]:
    """Every registered section, in page order."""
    _discover()
    return tuple(sorted(_REGISTRY.values(), key=lambda s: (s.order, s.key)))


def get_section(key: str) -> Section:
    """The section registered under ``key`` (KeyError naming the known keys otherwise)."""
    by_key = {s.key: s for s in sections()}
    if key not in by_key:
        raise KeyError(f"no dashboard section {key!r}; known: {sorted(by_key)}")
    return by_key[key]


def known_tables() -> frozenset[str]:
    """Every table some section draws (any other table of a run is listed in the Files section)."""
    return frozenset(t for s in sections() for t in s.tables)


def sections_drawing(table: str) -> tuple[str, ...]:
    """The keys of the sections that draw ``table`` (empty when none does)."""
    return tuple(s.key for s in sections() if table in s.tables)
