"""A page being built: its figures (one plotly div each, ids unique on the page) and its summary rows.

Sections render into a :class:`Page`; the page keeps the colour of each checkpoint stable across
figures and collects the key numbers every section reports, each named by its organism, seed and
probe, for the summary table at the top.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import plotly.graph_objects as go
import plotly.io as pio

from interp.dashboard.markup import error_box, slug
from interp.dashboard.plot import FIG_HEIGHT, Palette

log = logging.getLogger(__name__)

PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "svg", "scale": 1}, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
#: the summary table's columns: what a number is, and whose (organism, seed, probe) it is
SUMMARY_COLUMNS = ("area", "organism", "seed", "checkpoint", "probe", "item", "value", "detail")


@dataclass
class Page:
    """Collects figures and summary rows while sections render."""

    title: str
    palette: Palette = field(default_factory=Palette)
    figure_ids: list[str] = field(default_factory=list)
    figures_by_section: dict[str, list[str]] = field(default_factory=dict)
    summary: list[dict[str, str]] = field(default_factory=list)
    current: str = ""

    def figure(self, fig: go.Figure, name: str) -> str:
        """The figure's div (plotly.js is on the page once; the div only calls it)."""
        fig_id = f"fig-{slug(name)}"
        k = 2
        while fig_id in self.figure_ids:
            fig_id = f"fig-{slug(name)}-{k}"
            k += 1
        self.figure_ids.append(fig_id)
        self.figures_by_section.setdefault(self.current, []).append(fig_id)
        height = int(fig.layout.height or FIG_HEIGHT)
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=fig_id, config=PLOT_CONFIG,
                          default_width="100%", default_height=f"{height}px", validate=False)
        return f'<div class="figure">{div}</div>'

    def add_summary(self, area: str, item: str, value: str, detail: str = "", *, organism: object = "–",
                    seed: object = "–", checkpoint: object = "–", probe: object = "–") -> None:
        """One key number: ``organism`` (failure mode, or ``base``), ``seed``, ``checkpoint`` (or the
        comparison ``b - a``) and ``probe`` (or the judge / instrument) say whose number it is."""
        self.summary.append({"area": area, "organism": organism_name(organism), "seed": seed_name(seed),
                             "checkpoint": str(checkpoint), "probe": str(probe), "item": item, "value": value,
                             "detail": detail})


def organism_name(value: object) -> str:
    s = str(value)
    return "base" if s in ("-", "", "nan", "None") else s


def seed_name(value: object) -> str:
    """``-1`` (the base model's rows) and missing seeds print as ``–``."""
    try:
        v = int(float(str(value)))
    except ValueError:
        return str(value)
    return "–" if v < 0 else str(v)


def safely(render: Callable[[], str], what: str) -> str:
    """Run a section renderer; an exception becomes a visible error box (and a log warning)."""
    try:
        return render()
    except Exception as exc:
        log.warning("dashboard: could not render %s: %s", what, exc, exc_info=True)
        return error_box(what, exc)
