"""Stage ``probes``: per-layer probes of every checkpoint's capture (AUROC with intervals, p, controls).

One unit per capture; the ``layers`` table is :func:`interp.analysis.layer_summary` with the
checkpoint's role, failure mode, method and seed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, never_loads_model, register_stage
from interp.pipeline.stages.common import checkpoints, role_meta, store


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    yield Unit("probes/base", "probes", {"role": "base"}, ("capture/base",))
    for c in checkpoints(config):
        yield Unit(f"probes/{c.id}", "probes", c.params, (f"capture/{c.id}",))


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    from interp.analysis import layer_summary

    p = ctx.config.probes
    table = layer_summary(store(inputs, unit.deps[0]), methods=p.methods, n_boot=p.n_boot, n_permutations=p.n_permutations)
    for k, v in role_meta(unit.params["role"], unit.params.get("failure_mode"), unit.params.get("seed")).items():
        table[k] = v
    return Outputs(write_tables(tmp, layers=table))


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    layers = tables.get("layers")
    if layers is None or layers.empty:
        return []
    probe = "logistic" if (layers["method"] == "logistic").any() else str(layers["method"].iloc[0])
    lines = [f"best probe layer per checkpoint ({probe} probe; control: shuffled labels at that layer)"]
    part = layers[layers["method"] == probe]
    shuffled = layers[layers["method"] == "control:shuffled"].set_index(["failure_mode", "seed", "checkpoint", "layer"])
    for (fm, seed, ck), g in part.groupby(["failure_mode", "seed", "checkpoint"], sort=False):
        r = g.loc[g["auroc"].idxmax()]
        ctl = shuffled["auroc"].get((fm, seed, ck, r["layer"]))
        who = "the base model" if fm == "-" else str(fm) + (f"/s{int(seed)}" if int(seed) >= 0 else "")
        lines.append(f"  {who:<28} {ck:<34} layer {int(r['layer']):>2}  AUROC {r['auroc']:.3f} "
                     f"[{r['auroc_low']:.3f}, {r['auroc_high']:.3f}]"
                     + (f", shuffled {float(ctl):.3f}" if ctl is not None else ""))
    return lines


SPEC = register_stage(StageSpec(
    "probes", sections=("probes",), plan=plan, run=run, loads_model=never_loads_model,
    tables=(TableSpec("layers", ("hook", "layer", "method", "auroc", "auroc_low", "auroc_high", "p_value", "checkpoint",
                                 "failure_mode", "consistency_method", "seed"),
                      "one probe method (or control) at one layer of one checkpoint"),),
    summary=summary, dashboard="layers"))
