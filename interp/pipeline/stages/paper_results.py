"""Stage ``paper_results``: the paper's own judged rates beside ours (``results:`` in the config).

The paper's sweep writes one JSON line per cell x phase x epoch with its judge's metrics
(:func:`interp.data.paper.load_paper_results`). This stage runs no unit: when the run is assembled
it matches those rows to the experiment's organisms (failure mode, seed, method) and adds them to
the ``behaviour`` table (base: phase 1 epoch 0; before: the last phase-1 epoch; after:<m>: the last
phase-3 epoch of m) and the ``behaviour_trajectory`` table (every phase-3 epoch), with the judge
named ``paper:<metric>`` and no interval (the file holds no per-example scores), and keeps every
metric of every matched row, known or not, in ``paper_results``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from interp.pipeline.config import ConfigError, ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, never_loads_model, register_stage

log = logging.getLogger(__name__)
NAN = float("nan")


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    return iter(())  # nothing to run: its tables come from a file when the run is assembled


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    raise RuntimeError("the paper_results stage plans no units")


def _rows(config: ExperimentConfig) -> list[dict[str, Any]]:
    from interp.data.paper import load_paper_results

    rows = load_paper_results(str(config.results))
    models = sorted({str(r["base_model"]) for r in rows})
    if config.results_base_model is not None:
        rows = [r for r in rows if r["base_model"] == config.results_base_model]
        if not rows:
            raise ConfigError(f"results {config.results}: no row of base_model {config.results_base_model!r}; "
                              f"it holds {models}")
    elif len(models) > 1:
        raise ConfigError(f"results {config.results} holds several base models {models}: set results_base_model")
    return rows


def check(config: ExperimentConfig) -> None:
    """The file reads (bad lines are errors with their line number) and some row is about an organism."""
    if config.results is None:
        return
    rows = _rows(config)
    found = {(o.failure_mode, o.seed) for o in config.organisms()}
    if not any((r["misalignment"], int(r["seed"])) in found for r in rows):
        held = sorted({f"{r['misalignment']}/seed{r['seed']}" for r in rows})
        raise ConfigError(f"results {config.results}: no row is about an organism of this experiment "
                          f"({sorted(f'{fm}/seed{s}' for fm, s in found)}); it holds {held}")


def _headline(row: Mapping[str, Any], failure_mode: str) -> tuple[str, float] | None:
    from interp.data.paper import PAPER_HEADLINE

    name = PAPER_HEADLINE.get(failure_mode, "")
    for key in (f"{failure_mode}/{name}", name):
        if key in row and row[key] is not None:
            return name, float(row[key])
    return None


def derive(ctx: Context, outputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    config = ctx.config
    if config.results is None:
        return {}
    rows = _rows(config)
    behaviour, trajectory, tidy = [], [], []
    for o in config.organisms():
        mine = [r for r in rows if r["misalignment"] == o.failure_mode and int(r["seed"]) == o.seed]
        phase1 = sorted((r for r in mine if r["phase"] == "phase1"), key=lambda r: int(r["epoch"]))
        ends: list[tuple[str, str, dict[str, Any]]] = []
        if phase1:
            ends += [("base", "-", phase1[0]), ("before", "-", phase1[-1])]
        for m in o.methods:
            phase3 = sorted((r for r in mine if r["phase"] == "phase3" and r["method"] == m), key=lambda r: int(r["epoch"]))
            if phase3:
                ends.append((f"after:{m}", m, phase3[-1]))
            for r in phase3:
                head = _headline(r, o.failure_mode)
                if head:
                    trajectory.append({"epoch": int(r["epoch"]), "method": m, "seed": o.seed,
                                       "failure_mode": o.failure_mode, "rate": head[1], "ci_low": NAN, "ci_high": NAN,
                                       "judge": f"paper:{head[0]}", "checkpoint_fingerprint": ""})
        for role, method, r in ends:
            head = _headline(r, o.failure_mode)
            if head:
                behaviour.append({"checkpoint": role, "failure_mode": o.failure_mode,
                                  "seed": -1 if role == "base" else o.seed, "consistency_method": method,
                                  "judge": f"paper:{head[0]}", "rate": head[1], "ci_low": NAN, "ci_high": NAN, "n": NAN})
        for r in mine:
            if r["phase"] == "phase3" and r["method"] not in o.methods:
                continue  # a run of another method: not studied here
            meta = {k: r[k] for k in ("base_model", "misalignment", "method", "seed", "scale", "phase", "epoch")}
            tidy += [meta | {"metric": k, "value": float(v)} for k, v in r.items()
                     if k not in meta and isinstance(v, int | float) and not isinstance(v, bool)]
    if not tidy:
        log.warning("results %s: no row matched this experiment's organisms", config.results)
    tables = {"behaviour": pd.DataFrame(behaviour), "behaviour_trajectory": pd.DataFrame(trajectory),
              "paper_results": pd.DataFrame(tidy)}
    return {k: v for k, v in tables.items() if len(v)}


SPEC = register_stage(StageSpec(
    "paper_results", sections=(), plan=plan, run=run, loads_model=never_loads_model,
    tables=(TableSpec("paper_results", ("base_model", "misalignment", "method", "seed", "scale", "phase", "epoch",
                                        "metric", "value"),
                      "one metric the paper's judge reported for one cell, phase and epoch"),),
    dashboard="behaviour", derive=derive, check=check))
