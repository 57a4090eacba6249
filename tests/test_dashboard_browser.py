"""The dashboard in a real browser: headless Chromium (Debian ``chromium``) driven by Playwright.

Checks that every plotly figure rendered (an SVG with traces), that the page logged no console
error and requested nothing outside ``file://``, and saves a full-page screenshot to the test's
tmp dir. Skips when Playwright or a Chromium binary is not installed (``playwright install`` is
never run: the browser comes from the system, ``apt-get install chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interp.dashboard import build_comparison, build_dashboard

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")

CHROMIUM = os.environ.get("INTERP_CHROMIUM") or next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium") if p and Path(p).exists()),
    None,
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium)")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
PLOT_DIV = re.compile(r'<div id="(fig-[^"]+)" class="plotly-graph-div"')


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # a broken browser install is a skip, not a failure of the dashboard
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {exc}")
        yield b
        b.close()


def open_page(browser: Any, page_path: Path) -> tuple[Any, list[str], list[str]]:
    """Open a page with every non-file request blocked and recorded; return (page, errors, requests)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r: Any) -> None:
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    page.wait_for_function("() => window.Plotly !== undefined")
    return page, errors, external


def rendered(page: Any) -> dict[str, dict[str, int]]:
    """Per plot id: the number of plotly SVG layers and of drawn traces (lines, bars, heatmap images)."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(el => [el.id, {
        svg: el.querySelectorAll('svg.main-svg').length,
        traces: el.querySelectorAll('g.trace, .hm image, .heatmaplayer image').length,
    }]))""")


def _copy(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("index.html"))
    return dst


def test_dashboard_renders_every_figure_without_errors(browser: Any, tiny_dashboard_run: Path, tmp_path: Path) -> None:
    index = build_dashboard(_copy(tiny_dashboard_run, tmp_path / "run"))
    expected = PLOT_DIV.findall(index.read_text(encoding="utf-8"))
    page, errors, external = open_page(browser, index)
    try:
        plots = rendered(page)
        assert sorted(plots) == sorted(expected)
        for fig_id, counts in plots.items():
            assert counts["svg"] >= 1 and counts["traces"] >= 1, (fig_id, counts)
        assert page.locator("#section-answer .js-plotly-plot").count() == 2  # one answer figure per organism
        first = page.locator("section").first.get_attribute("id")
        assert first == "section-answer"
        assert page.locator("#section-summary table.data tbody tr").count() >= 30
        assert page.locator(".card").count() == 16  # SAE latent cards: 8 per organism
        assert errors == [], errors
        assert external == [], external
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
    finally:
        page.close()


def test_comparison_page_renders(browser: Any, tiny_dashboard_run: Path, tmp_path: Path) -> None:
    a = _copy(tiny_dashboard_run, tmp_path / "run-a")
    b = tmp_path / "run-b"
    b.mkdir()
    for f in [*a.glob("layers.*"), *a.glob("behaviour.*")]:
        shutil.copy(f, b / f.name)
    out = build_comparison([a, b], tmp_path / "compare.html")
    page, errors, external = open_page(browser, out)
    try:
        plots = rendered(page)
        assert len(plots) == 4 and all(c["traces"] >= 1 for c in plots.values()), plots
        assert errors == [] and external == [], (errors, external)
        page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    finally:
        page.close()
