"""Section "Key numbers": every section's key numbers in one table, each row naming the organism, seed,
checkpoint (or comparison) and probe (or judge) of its number. Rendered after the other sections."""

from __future__ import annotations

import pandas as pd

from interp.dashboard.markup import html_table
from interp.dashboard.page import SUMMARY_COLUMNS, Page
from interp.dashboard.registry import Section, register
from interp.dashboard.tables import RunData


def render(run: RunData, page: Page) -> str:
    if not page.summary:
        return '<p class="missing">Nothing to summarise: no known table is in this run.</p>'
    table = pd.DataFrame(page.summary, columns=list(SUMMARY_COLUMNS))
    return (f"<details><summary>{len(table)} key numbers from the sections below, one per row</summary>"
            f"{html_table(table, max_rows=1000)}</details>")


SECTION = register(Section(key="summary", title="Key numbers", tables=(), render=render, order=20, after_others=True))
