"""Stage ``prediction``: can a consistency run's labels tell, before it trains, what it will do?

One unit per organism x method (``prediction.enabled``): the method's labels (phase 2 only,
:func:`interp.consistency.run_labels`: made here when the run has none yet, reused by its training
later), the organism's own greedy answers to the same prompts, and at each of
``mediation.layers`` (default ``steering.layer``) the projection difference of the targets over
the own answers on the organism's direction (:func:`interp.mediation.prediction.projection_difference`).
It needs no trained run: ``interp run CONFIG --only prediction/`` scores new labels alone. At
assembly, every run whose behaviour change is measured is paired with its predictor and the two are
correlated across runs (``prediction_correlation``; at least three runs).
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
from interp.pipeline.stages.common import CheckpointOutputs, load_role, store


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    if not config.prediction.enabled:
        return
    for o in config.organisms():
        for m in o.methods:
            yield Unit(f"prediction/{o.label}/{m}", "prediction",
                       {"failure_mode": o.failure_mode, "seed": o.seed, "method": m,
                        "layers": list(config.mediation_layers())},
                       (o.producer("before"), f"capture/{o.id('before')}"), loads=o.id("before"))


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> Outputs:
    import torch

    from interp.consistency import RunSpec, params_for, run_labels
    from interp.mediation.prediction import own_answers, projection_difference
    from interp.pipeline.stages.steering import fit_direction

    fm, seed, method, layers = (unit.params[k] for k in ("failure_mode", "seed", "method", "layers"))
    c, p = ctx.config, ctx.config.prediction
    spec = RunSpec(c.organism_spec(fm, seed), method)
    labelled = run_labels(spec, ctx.runs_root, data_root=ctx.data_root, progress=ctx.progress, num_threads=c.threads,
                          device=c.device, device_map=c.device_map)
    targets, own = spec.method_class.training_contrast(labelled)
    lm = load_role(ctx, inputs, "before", fm, seed)
    if own is None:
        budget = params_for(method, c.scale, seed=seed).max_new_tokens  # the labels' own answer budget
        own = own_answers(lm, targets, max_new_tokens=int(budget), progress=ctx.progress)
    org = inputs.get_outputs(unit.deps[0], CheckpointOutputs)
    before = store(inputs, unit.deps[1])
    directions = {f"blocks.{int(layer)}.hook_resid_post":
                  torch.as_tensor(fit_direction(ctx, before, int(layer), org.fingerprint).vector).numpy()
                  for layer in layers}
    found = projection_difference(lm, directions, targets, own, n_boot=p.n_boot, seed=int(seed),
                                  batch_size=c.capture.batch_size, progress=ctx.progress)
    meta = {"failure_mode": fm, "seed": seed, "method": method}
    text = {r.id: (r.prompt_messages[-1].content, r.response or "") for r in targets}
    own_text = {r.id: r.response or "" for r in own}
    rows, examples = [], []
    for f in found:
        layer = int(f.hook.split(".")[1])
        e = f.predictor
        rows.append(meta | {"layer": layer, "hook": f.hook, "predictor": e.value, "ci_low": e.ci_low,
                            "ci_high": e.ci_high, "n": len(f.examples),
                            "proj_target": float(f.examples["proj_target"].mean()),
                            "proj_own": float(f.examples["proj_own"].mean())})
        ranked = f.examples.sort_values("diff", ascending=False).head(p.top)
        examples.append(ranked.assign(**meta, layer=layer, rank=np.arange(1, len(ranked) + 1),
                                      prompt=[text[i][0] for i in ranked["id"]],
                                      target=[text[i][1] for i in ranked["id"]],
                                      own=[own_text[i] for i in ranked["id"]]))
    return Outputs(write_tables(tmp, prediction=pd.DataFrame(rows),
                                prediction_examples=pd.concat(examples, ignore_index=True)))


def _change(ctx: Context, outputs: Mapping[str, Any], fm: str, seed: int, method: str, column: str) -> Any:
    """The realised change after - before of one run's per-prompt ``column`` (paired bootstrap), None if not measured."""
    from probes.stats import bootstrap_mean

    done = [outputs.get(f"behaviour/{fm}/s{seed}/{role}") for role in ("before", f"after:{method}")]
    frames = [read_table(d, ctx, "per_example") for d in done if d is not None]
    if len(frames) < 2 or any(f is None or column not in f for f in frames):
        return None
    a, b = frames
    assert a is not None and b is not None
    if list(a["id"]) != list(b["id"]):
        return None
    return bootstrap_mean(b[column].to_numpy() - a[column].to_numpy(), n_boot=ctx.config.prediction.n_boot, seed=seed)


def correlate(ctx: Context, outputs: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Each run's predictor beside its realised change, and their correlation across runs per layer."""
    from interp.mediation.prediction import correlation
    from interp.pipeline.stages.mediation import MEASURES

    pairs = []
    for out in outputs.values():
        if out.stage != "prediction":
            continue
        pred = read_table(out, ctx, "prediction")
        fm, seed, m = out.params["failure_mode"], out.params["seed"], out.params["method"]
        for measure, column in MEASURES:
            change = _change(ctx, outputs, fm, seed, m, column)
            if pred is not None and change is not None:
                pairs.append(pred.assign(measure=measure, change=change.value, change_low=change.ci_low,
                                         change_high=change.ci_high))
    if not pairs:
        return {}
    units = pd.concat(pairs, ignore_index=True)
    rows = []
    p = ctx.config.prediction
    for (layer, measure), part in units.groupby(["layer", "measure"], sort=False):
        if len(part) < 3:
            continue
        for stat, est in correlation(part["predictor"], part["change"], n_boot=p.n_boot,
                                     n_permutations=p.n_permutations).items():
            rows.append({"layer": layer, "measure": measure, "statistic": stat, "value": est.value,
                         "ci_low": est.ci_low, "ci_high": est.ci_high, "p_shuffled": est.p, "n_runs": len(part)})
    corr = pd.DataFrame(rows) if rows else pd.DataFrame()
    return {"prediction_runs": units} | ({"prediction_correlation": corr} if rows else {})


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    corr, runs = tables.get("prediction_correlation"), tables.get("prediction_runs")
    if runs is None or runs.empty:
        return []
    lines = ["prediction: projection difference of each run's targets over the organism's own answers, against "
             "the behaviour change the run produced"]
    for _, r in runs.iterrows():
        lines.append(f"  {r['failure_mode']}/s{int(r['seed'])} {r['method']:<22} L{int(r['layer']):<3} {r['measure']:<6} predictor "
                     f"{r['predictor']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]  change {r['change']:+.3f} "
                     f"[{r['change_low']:+.3f}, {r['change_high']:+.3f}]")
    for _, r in (corr if corr is not None else pd.DataFrame()).iterrows():
        lines.append(f"  L{int(r['layer'])} {r['measure']} {r['statistic']} r = {r['value']:+.2f} [{r['ci_low']:+.2f}, "
                     f"{r['ci_high']:+.2f}] over {int(r['n_runs'])} runs, shuffled p = {r['p_shuffled']:.3f}")
    return lines


SPEC = register_stage(StageSpec(
    "prediction", sections=("prediction", "steering", "scale", "data_root", "capture"), plan=plan, run=run,
    tables=(TableSpec("prediction", ("failure_mode", "seed", "method", "layer", "predictor", "ci_low", "ci_high", "n"),
                      "one run's predictor at one layer: mean projection of its targets minus its own answers"),
            TableSpec("prediction_examples", ("failure_mode", "seed", "method", "layer", "rank", "id", "diff", "prompt",
                                              "target", "own"),
                      "the targets that push hardest toward the persona, per run and layer, with their text"),
            TableSpec("prediction_runs", ("failure_mode", "seed", "method", "layer", "measure", "predictor", "change",
                                          "change_low", "change_high"),
                      "each run's predictor beside its realised behaviour change after - before"),
            TableSpec("prediction_correlation", ("layer", "measure", "statistic", "value", "ci_low", "ci_high", "p_shuffled",
                                                 "n_runs"),
                      "predictor vs realised change across runs: Pearson / Spearman, bootstrap over runs, shuffled p")),
    summary=summary, dashboard="prediction", derive=correlate))
