"""Stage ``behaviour``: the misalignment rate of every checkpoint on its failure mode's eval set.

One unit per checkpoint x failure mode (the base model once per eval set: organisms trained on documents
share their failure mode's). Its ``behaviour`` row holds the rate, its bootstrap interval and the judge;
``per_example`` holds each prompt's score (and the logprob judge's continuous margin), from which the run
derives the paired changes ``before - base`` and ``after:<m> - before``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, read_table, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import (
    check_context,
    checkpoints,
    eval_failure_modes,
    eval_records,
    failure_modes,
    judge,
    load_role,
)


@dataclass(frozen=True)
class BehaviourOutputs(Outputs):
    rate: float = float("nan")


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for fm in eval_failure_modes(config):
        yield Unit(f"behaviour/{fm}/base", "behaviour", {"failure_mode": fm, "role": "base"}, loads="base")
    for fm in failure_modes(config):
        for c in (c for c in checkpoints(config) if c.organism.failure_mode == fm):
            yield Unit(f"behaviour/{c.id}", "behaviour", c.params, (c.producer,), loads=c.id)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> BehaviourOutputs:
    from interp.judges import misalignment_rate

    fm, seed, role = unit.params["failure_mode"], unit.params.get("seed"), unit.params["role"]
    lm = load_role(ctx, inputs, role, fm, seed)
    cfg = ctx.config.behaviour
    records = eval_records(ctx, fm, cfg.eval_rows)
    rate = misalignment_rate(lm, fm, judge=judge(ctx, fm), records=records, n_boot=cfg.n_boot, progress=ctx.progress)
    row = {k: v for k, v in rate.as_dict().items() if np.isscalar(v)}
    row |= {"checkpoint": role, "consistency_method": role.split(":", 1)[1] if ":" in role else "-",
            "seed": seed if seed is not None else -1, "checkpoint_fingerprint": lm.checkpoint.fingerprint}
    per = pd.DataFrame({"id": [r.id for r in records], "score": np.asarray(rate.per_example, dtype=np.float64)})
    if rate.margins is not None:  # the continuous score the decisions threshold (mediation, prediction read it)
        per["margin"] = rate.margins
    tables = {"behaviour": pd.DataFrame([row]), "per_example": per}
    if cfg.second_judge is not None:  # the same generations (cached), judged again
        from interp.judges import judges_agreement

        other = misalignment_rate(lm, fm, judge=judge(ctx, fm, "second_judge"), records=records, n_boot=cfg.n_boot,
                                  progress=ctx.progress)
        agree = judges_agreement(rate.per_example, other.per_example, [r.group_key for r in records],
                                 n_boot=cfg.n_boot)
        tables["judge_agreement"] = pd.DataFrame([{
            "checkpoint": role, "failure_mode": fm, "seed": row["seed"], "judge_a": rate.judge, "judge_b": other.judge,
            **agree}])
    return BehaviourOutputs(write_tables(tmp, **tables), rate=rate.rate)


def changes(ctx: Context, outputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Paired changes of the misalignment rate over the same prompts: after - before and before - base per
    organism, and organisms trained on documents against their controls (:mod:`interp.pipeline.stages.paired`)."""
    from interp.pipeline.stages.paired import paired_changes

    rows = paired_changes(ctx, outputs, "behaviour", "per_example", "score")
    judges: dict[str, str] = {}
    for out in outputs.values():
        if out.stage == "behaviour" and out.params["role"] != "base":
            t = read_table(out, ctx, "behaviour")
            judges.setdefault(out.params["failure_mode"], t["judge"].iloc[0] if t is not None else "")
    frame = pd.DataFrame([{**{k: v for k, v in r.items() if k != "value"}, "rate": r["value"],
                           "judge": judges.get(r["failure_mode"], "")} for r in rows])
    return {"behaviour": frame} if rows else {}


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    beh = tables.get("behaviour")
    if beh is None or beh.empty:
        return []
    lines = ["misalignment rate (judge: " + ", ".join(map(str, beh["judge"].unique())) + "; changes are paired)"]
    for _, r in beh.iterrows():
        who = str(r["failure_mode"]) + (f"/s{int(r['seed'])}" if int(r["seed"]) >= 0 else "")
        lines.append(f"  {who:<28} {r['checkpoint']:<34} {r['rate']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
                     f"  n={int(r['n'])}")
    agree = tables.get("judge_agreement")
    if agree is not None and not agree.empty:
        lines.append(f"two judges on the same generations: {agree['judge_a'].iloc[0]} vs {agree['judge_b'].iloc[0]} "
                     "(rates a / b, Cohen's kappa)")
        for _, r in agree.iterrows():
            who = str(r["failure_mode"]) + (f"/s{int(r['seed'])}" if int(r["seed"]) >= 0 else "")
            lines.append(f"  {who:<28} {r['checkpoint']:<20} {r['rate_a']:.3f} / {r['rate_b']:.3f}  kappa "
                         f"{r['kappa']:+.2f} [{r['kappa_ci_low']:+.2f}, {r['kappa_ci_high']:+.2f}]  n={int(r['n'])}")
    return lines


def check(config: ExperimentConfig) -> None:
    """Every failure mode's eval conversations fit the model's context (its tokenizer read, no weights loaded)."""
    for fm in failure_modes(config):
        check_context(config, eval_records(config, fm, config.behaviour.eval_rows), f"{fm} eval conversations")


SPEC = register_stage(StageSpec(
    "behaviour", sections=("behaviour", "data_root", "dtype"), plan=plan, run=run, outputs=BehaviourOutputs,
    tables=(TableSpec("behaviour", ("checkpoint", "failure_mode", "seed", "consistency_method", "judge", "rate",
                                    "ci_low", "ci_high", "n"),
                      "one checkpoint's misalignment rate, or a paired change between two (checkpoint 'b - a')"),
            TableSpec("per_example", ("id", "score"), "each eval prompt's score (kept in the unit)", internal=True),
            TableSpec("judge_agreement", ("checkpoint", "failure_mode", "seed", "judge_a", "judge_b", "rate_a",
                                          "rate_b", "agreement", "kappa", "kappa_ci_low", "kappa_ci_high", "n"),
                      "with behaviour.second_judge: two judges' calls on the same generations and their Cohen's "
                      "kappa, with a bootstrap interval over prompts")),
    summary=summary, dashboard="behaviour", derive=changes, check=check,
    version=1))  # 1: per_example carries the logprob judge's margin (units keyed before have none)
