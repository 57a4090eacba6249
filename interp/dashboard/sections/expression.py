"""Section "Persona expression": how much each checkpoint's own answers sound like the misaligned persona,
read by the base model, per layer, with the paired changes (and the document organisms against their controls)."""

from __future__ import annotations

from interp.dashboard.markup import fmt, fmt_ci, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.sections.behaviour import behaviour_figure
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import configured, drop_mirrored, organism_label, split_pair


def render(run: RunData, page: Page) -> str:
    t = run.get("expression")
    assert t is not None
    html = ('<p class="lead">Each checkpoint answers the eval prompts; the base model reads every answer and '
            "projects it on its persona direction, scaled so that 0 and 1 are the base's aligned and misaligned "
            "contrast answers. Changes are paired over the same prompts; bars show bootstrap 95% intervals.</p>")
    for layer, part in t.groupby("layer", sort=True):
        part = part.copy()
        seeds = part.groupby("failure_mode")["seed"].transform(lambda s: s[s >= 0].nunique())
        part["organism"] = [organism_label(fm, s) if n > 1 else str(fm)
                            for fm, s, n in zip(part["failure_mode"], part["seed"], seeds, strict=True)]
        part["rate"] = part["expression"]
        is_change = part["checkpoint"].map(lambda c: split_pair(c) is not None)
        fig = behaviour_figure(part[~is_change], drop_mirrored(part[is_change]),
                               f"Persona expression of the checkpoints' own answers, layer {int(layer)}", page.palette)
        for _, r in part.iterrows():
            change = split_pair(r["checkpoint"]) is not None
            page.add_summary("expression", "paired change" if change else "persona expression",
                             f"{'Δ ' if change else ''}{fmt_ci(r['expression'], r['ci_low'], r['ci_high'])}",
                             f"n = {fmt(r['n'])}", organism=r["failure_mode"], seed=r["seed"],
                             checkpoint=r["checkpoint"], probe=f"layer {int(layer)}")
        html += page.figure(fig, f"expression-L{int(layer)}")
    return html + raw_table("expression", t)


SECTION = register(Section(key="expression", title="Persona expression", tables=("expression",), render=render,
                           order=45, what="the expression stage (expression.enabled)",
                           applies=configured("expression", "enabled")))
