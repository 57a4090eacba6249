"""Section "Convergence across organisms": do the persona directions of different organisms agree, and does one
organism's direction ablate another's behaviour? Shown only where the config has two or more organisms."""

from __future__ import annotations

import re

from interp.dashboard.markup import fmt_ci, groups, raw_table
from interp.dashboard.page import Page
from interp.dashboard.registry import Section, register
from interp.dashboard.sections.sharpening import metric_panels
from interp.dashboard.sections.steering import ablation_figure, random_range, steering_probe
from interp.dashboard.tables import RunData
from interp.dashboard.tidy import config_of


def applies(run: RunData) -> bool:
    """Not with a single organism (nothing to compare); a run that holds the tables shows them anyway."""
    config = config_of(run.manifest)
    organisms = run.manifest.get("organisms")  # interp run writes them (built or given)
    if isinstance(organisms, list):
        return len(organisms) != 1
    return len(config.get("failure_modes") or []) * len(config.get("seeds") or []) != 1


def render(run: RunData, page: Page) -> str:
    conv, ab = run.get("convergence"), run.get("convergence_ablation")
    parts = ['<p class="lead">Per pair of organisms, per layer: the cosine between their persona directions, '
             "the cosine between their <em>changes</em> of it relative to the base model (<code>shift_cosine</code>: "
             "inheriting the base's direction makes the plain cosine high by itself), each organism's cosine to the "
             "base, and the transfer AUROC of one organism's direction on the other's activations. Bands: bootstrap "
             "95% intervals; filled markers: BH p_adj &lt; 0.05 against a random direction.</p>"]
    if conv is not None:
        t = conv.assign(pair=[f"{b} ← {a}" if m == "transfer_auroc" else f"{a} ~ {b}"
                              for a, b, m in zip(conv["a"], conv["b"], conv["metric"], strict=True)])
        metrics = [m for m in ("cosine", "shift_cosine", "cosine_to_base", "transfer_auroc") if m in set(t["metric"])]
        probe = str(t["probe"].iloc[0]) if "probe" in t else "?"
        parts.append(page.figure(metric_panels(t, metrics, f"Convergence of the persona direction ({probe})",
                                               page.palette, series=("pair",), significance=True), "convergence"))
        for pair, g in t[t["metric"] == "shift_cosine"].groupby("pair", sort=False):
            r = g.loc[g["value"].idxmax()]
            page.add_summary("convergence", "largest shift cosine over layers",
                             f"{fmt_ci(r['value'], r['ci_low'], r['ci_high'])} at layer {int(r['layer'])}",
                             f"{int((g['p_adj'] < 0.05).sum())}/{len(g)} layers p_adj < 0.05",
                             organism=str(pair), seed=", ".join(dict.fromkeys(re.findall(r"/s(\d+)/", str(pair)))) or "–", checkpoint="before", probe=r.get("probe", probe))
        parts.append(raw_table("convergence", conv))
    if ab is not None:
        parts.append("<h3>One organism's direction ablated in another</h3><p class=\"lead\">In each organism: its own "
                     "direction (<code>ablated:persona</code>), every other organism's "
                     "(<code>ablated:from:…</code>) and each random direction projected out of every layer.</p>")
        for title, _, part in groups(ab, ("judge",)):
            parts.append(page.figure(ablation_figure(part, f"Cross-organism ablation{' — ' + title if title else ''}"),
                                     f"convergence-ablation-{title}"))
        if "removed" in ab:
            for ck, g in ab.groupby("checkpoint", sort=False):
                rnd = g[g["direction"].astype(str).str.startswith("ablated:random")]["removed"]
                for _, r in g[g["direction"].astype(str).str.startswith(("ablated:from:", "ablated:persona"))].iterrows():
                    page.add_summary("convergence", f"{r['direction']} removes",
                                     fmt_ci(r["removed"], r.get("removed_low"), r.get("removed_high")),
                                     f"random directions remove {random_range(rnd)}",
                                     organism=r.get("failure_mode", ck), seed=r.get("seed", "–"), checkpoint=ck,
                                     probe=steering_probe(run))
        parts.append(raw_table("convergence_ablation", ab))
    return "".join(parts)


SECTION = register(Section(key="convergence", title="Convergence across organisms", order=90, render=render,
                           tables=("convergence", "convergence_ablation"), applies=applies,
                           what="convergence between organisms (needs two or more failure modes or seeds)"))
