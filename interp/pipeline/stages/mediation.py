"""Stage ``mediation``: the share of each consistency method's behaviour change that runs through the persona direction.

One unit per organism x mediated method. It reads the per-prompt behaviour scores of the organism
(``before``), of the plain run and of the run under every condition (``after:<m>@<c>``) and
computes :func:`interp.mediation.mediation_shares` (changes and shares with one paired bootstrap
over eval prompts, the random directions pooled, the persona share tested against theirs); beside
each condition it puts the sharpening of the persona direction (``sharpening`` of that run at the
first mediation layer: delta Cohen's d after - before, and the cosine of the two directions) and the
coherence guard (KL from the organism and perplexity on neutral text). At assembly the seeds of
each failure mode x method are pooled into rows with ``seed`` -1 (prompts x seeds resampled together).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, read_table, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import load_role

#: the behaviour measures a share is computed on: the judge's per-prompt decision (the rate) and, where
#: the judge has one, the continuous margin it thresholds (finer: a change too small to flip decisions shows)
MEASURES = (("rate", "score"), ("margin", "margin"))
COLUMNS = ("failure_mode", "seed", "seeds", "method", "measure", "condition", "change", "change_low", "change_high", "change_p", "share",
           "share_low", "share_high", "vs_random_p", "note", "n")


def _conditions(o: Any, method: str) -> list[str]:
    return [v.split("@", 1)[1] for v in o.conditioned if v.split("@", 1)[0] == method]


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    for o in config.organisms():
        for m in dict.fromkeys(v.split("@", 1)[0] for v in o.conditioned):
            roles = ["before", f"after:{m}", *(f"after:{m}@{c}" for c in _conditions(o, m))]
            deps = (*(f"behaviour/{o.id(r)}" for r in roles), *(o.producer(r) for r in roles),
                    *(f"sharpening/{o.label}/{r.split(':', 1)[1]}" for r in roles[1:]))
            yield Unit(f"mediation/{o.label}/{m}", "mediation", {"failure_mode": o.failure_mode, "seed": o.seed,
                                                                "method": m, "conditions": _conditions(o, m)},
                       deps, loads=o.id("before"))


def _scores(inputs: Inputs, unit_id: str) -> pd.DataFrame:
    per = inputs.table(unit_id, "per_example")
    if per is None:
        raise ValueError(f"{unit_id} left no per-example scores")
    return per


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    from interp.mediation import NONE, mediation_shares

    fm, seed, m, conds = (unit.params[k] for k in ("failure_mode", "seed", "method", "conditions"))
    cfg = ctx.config.mediation
    before = _scores(inputs, f"behaviour/{fm}/s{seed}/before")
    after = {NONE: _scores(inputs, f"behaviour/{fm}/s{seed}/after:{m}")}
    after |= {c: _scores(inputs, f"behaviour/{fm}/s{seed}/after:{m}@{c}") for c in conds}
    for name, frame in after.items():
        if list(frame["id"]) != list(before["id"]):
            raise ValueError(f"{unit.id}: condition {name} was scored on other prompts than the organism")
    parts = []
    for measure, column in MEASURES:
        if all(column in f for f in (before, *after.values())):
            rows = mediation_shares(before[column].to_numpy(), {k: v[column].to_numpy() for k, v in after.items()},
                                    n_boot=cfg.n_boot, seed=int(seed))
            parts.append(pd.DataFrame([r.as_dict() for r in rows]).assign(measure=measure))
    table = pd.concat(parts, ignore_index=True).assign(failure_mode=fm, seed=seed, seeds=str(seed), method=m)
    conds_seen = list(dict.fromkeys(table["condition"]))  # once per condition, whatever the measures
    prefix = unit.id.replace("mediation/", "sharpening/", 1).rsplit("/", 1)[0]
    sharp = pd.DataFrame.from_dict({c: _sharpening(ctx, inputs, prefix, c, m) for c in conds_seen}, orient="index")
    coherence = pd.DataFrame.from_dict(_coherence_rows(ctx, inputs, fm, seed, m, conds_seen), orient="index")
    for per_condition in (sharp, coherence):
        table = table.merge(per_condition, left_on="condition", right_index=True, how="left")
    return Outputs(write_tables(tmp, mediation=table))


def _sharpening(ctx: Context, inputs: Inputs, prefix: str, cond: str, method: str) -> dict[str, float]:
    """The persona direction's sharpening by that run at the first mediation layer (NaN for pooled rows)."""
    out = {"delta_cohens_d": np.nan, "delta_cohens_d_low": np.nan, "delta_cohens_d_high": np.nan, "cosine": np.nan}
    variant = method if cond == "none" else f"{method}@{cond}"
    if f"{prefix}/{variant}" not in inputs:
        return out
    t = inputs.table(f"{prefix}/{variant}", "sharpening")
    if t is None:
        return out
    layer, probe = ctx.config.mediation_layers()[0], ctx.config.sharpening.probes[0]
    t = t[(t["checkpoint"] == "after-before") & (t["layer"] == layer) & (t["probe"] == probe)]
    for metric, name in (("delta_cohens_d", "delta_cohens_d"), ("cosine", "cosine")):
        r = t[t["metric"] == metric]
        if len(r):
            out[name] = float(r["value"].iloc[0])
            if name == "delta_cohens_d":
                out["delta_cohens_d_low"], out["delta_cohens_d_high"] = float(r["ci_low"].iloc[0]), float(r["ci_high"].iloc[0])
    return out


def _coherence_rows(ctx: Context, inputs: Inputs, fm: str, seed: int, m: str, conds: list[str]) -> dict[str, dict[str, float]]:
    """KL from the organism and perplexity on neutral text of each run (the coherence guard)."""
    from interp.hooks import backend_for
    from interp.steering import neutral_texts
    from interp.steering.coherence import CoherenceProbe, model_drift

    neutral = neutral_texts(ctx.config.steering.neutral_rows)
    reference = CoherenceProbe(backend_for(load_role(ctx, inputs, "before", fm, seed)), neutral)
    out = {}
    for c in conds:
        if c.endswith("(mean)"):
            continue
        role = f"after:{m}" if c == "none" else f"after:{m}@{c}"
        probe = CoherenceProbe(backend_for(load_role(ctx, inputs, role, fm, seed)), neutral)
        d = model_drift(reference, probe, n_boot=ctx.config.steering.n_boot, seed=int(seed))
        out[c] = {"kl": d.kl, "kl_low": d.kl_low, "kl_high": d.kl_high, "ppl": d.ppl, "ppl_before": d.ppl_plain}
    return out


def _per_prompt(ctx: Context, outputs: Mapping[str, Any], unit_id: str, column: str) -> np.ndarray | None:
    done = outputs.get(unit_id)
    frame = read_table(done, ctx, "per_example") if done is not None else None
    return None if frame is None or column not in frame else frame[column].to_numpy()


def _scores_of(ctx: Context, outputs: Mapping[str, Any], fm: str, seed: int, m: str, conds: list[str],
               column: str) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """One organism seed's per-prompt ``column`` before and after each condition's run (None if one is missing)."""
    from interp.mediation import NONE

    ref = _per_prompt(ctx, outputs, f"behaviour/{fm}/s{seed}/before", column)
    runs = {c: _per_prompt(ctx, outputs, f"behaviour/{fm}/s{seed}/after:{m}" + ("" if c == NONE else f"@{c}"), column)
            for c in conds}
    if ref is None or any(r is None for r in runs.values()):
        return None
    return ref, {c: r for c, r in runs.items() if r is not None}


def pooled(ctx: Context, outputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Each failure mode x method's shares with its seeds pooled (prompts x seeds resampled together)."""
    from interp.mediation import NONE, mediation_shares

    groups: dict[tuple[str, str], list[Any]] = {}
    for out in outputs.values():
        if out.stage == "mediation":
            groups.setdefault((out.params["failure_mode"], out.params["method"]), []).append(out)
    rows = []
    for (fm, m), units in sorted(groups.items()):
        conds = [NONE, *units[0].params["conditions"]]
        if len(units) < 2 or any(u.params["conditions"] != conds[1:] for u in units):
            continue
        seeds = sorted(int(u.params["seed"]) for u in units)
        for measure, column in MEASURES:
            found = [_scores_of(ctx, outputs, fm, s, m, conds, column) for s in seeds]
            scores = [f for f in found if f is not None]
            if len(scores) < len(seeds):
                continue
            before = np.concatenate([b for b, _ in scores])
            after = {c: np.concatenate([a[c] for _, a in scores]) for c in conds}
            for share in mediation_shares(before, after, n_boot=ctx.config.mediation.n_boot, seed=seeds[0]):
                rows.append(share.as_dict() | {"failure_mode": fm, "seed": -1, "method": m, "measure": measure,
                                               "seeds": ",".join(map(str, seeds))})
    return {"mediation": pd.DataFrame(rows)} if rows else {}


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    med = tables.get("mediation")
    if med is None or med.empty:
        return []
    if (med["seed"] == -1).any():  # seeds pooled: those rows
        med = med[med["seed"] == -1]
    lines = ["mediation: share of each method's behaviour change that ablating the direction during training removes "
             "(1 - change(ablate) / change(none); paired bootstrap over prompts)"]
    for _, r in med.iterrows():
        who = f"{r['failure_mode']}/s{r['seeds']}"
        share = (f"share {r['share']:+.2f} [{r['share_low']:+.2f}, {r['share_high']:+.2f}]" if pd.notna(r["share"])
                 else str(r["note"]))
        lines.append(f"  {who:<22} {r['method']:<22} {r['measure']:<6} {r['condition']:<21} change {r['change']:+.3f} "
                     f"[{r['change_low']:+.3f}, {r['change_high']:+.3f}]  {share}")
    return lines


SPEC = register_stage(StageSpec(
    "mediation", sections=("mediation", "steering", "sharpening"), plan=plan, run=run,
    tables=(TableSpec("mediation", COLUMNS,
                      "one condition of one method on one organism: behaviour change after - before (paired "
                      "interval), the share of the plain change it removes, the persona direction's sharpening, "
                      "and the KL / perplexity guard (seed -1: the seeds pooled, without those columns)"),),
    summary=summary, dashboard="mediation", derive=pooled))
