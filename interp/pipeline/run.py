"""Run an experiment config on this machine: every unit in order, then the run directory and dashboard.

``run_experiment(config)`` executes :func:`interp.pipeline.units.plan` unit by unit (finished
units are skipped by key, see :mod:`interp.pipeline.units`), isolates failures (a failed unit
skips its dependants; the others still run), then :func:`assemble` gathers every unit's tables
into ``artifacts/<name>/`` (tables as CSV + parquet, manifest with the config, versions,
checkpoint fingerprints, seeds and timings) and builds ``index.html``.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from interp.artifacts import RunDir
from interp.pipeline.config import ExperimentConfig
from interp.pipeline.units import Context, Unit, execute, plan, read_table

log = logging.getLogger(__name__)

TABLES = ("behaviour", "layers", "sharpening", "cosine_matrix", "sae_quality", "sae_latents", "sae_examples", "sae_latents_needed", "sae_diff",
          "sae_latent_sharpening", "dose_response", "ablation", "direction_selection", "behaviour_trajectory", "trajectory", "convergence", "convergence_ablation")


@dataclass
class RunResult:
    """What happened: the run directory, every unit's outputs, failures, and timings."""

    run_dir: Path
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked


def run_directory(config: ExperimentConfig, out: str | Path = "artifacts") -> Path:
    return Path(out) / config.name


def run_experiment(config: ExperimentConfig, *, out: str | Path = "artifacts", progress: bool = True,
                   only: Iterable[str] | None = None,
                   executor: Callable[[Unit, Context, Mapping[str, Any]], dict[str, Any]] = execute) -> RunResult:
    """Run every unit of ``config`` (or those whose id starts with one of ``only``, plus their inputs)."""
    t0 = time.perf_counter()
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    ctx = Context(config, run_directory(config, out), progress=progress)
    units = plan(config)
    if only:
        units = select(units, list(only))
    result = RunResult(ctx.run_dir)
    bar = tqdm(units, desc=config.name, unit="unit", disable=not progress)
    for unit in bar:
        bar.set_postfix_str(unit.id)
        missing = [d for d in unit.deps if d not in result.outputs]
        if missing:
            result.blocked[unit.id] = f"needs {', '.join(missing)}"
            continue
        try:
            result.outputs[unit.id] = executor(unit, ctx, {d: result.outputs[d] for d in unit.deps})
        except KeyboardInterrupt:
            raise
        except Exception as e:  # isolate: record, skip dependants, go on
            log.error("unit %s failed: %s", unit.id, e)
            result.failed[unit.id] = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
    result.seconds = time.perf_counter() - t0
    assemble(ctx, result)
    return result


def select(units: list[Unit], prefixes: list[str]) -> list[Unit]:
    """The units whose id starts with a prefix, and everything they depend on (in plan order)."""
    by_id = {u.id: u for u in units}
    keep: set[str] = set()
    stack = [u.id for u in units if any(u.id.startswith(p) for p in prefixes)]
    if not stack:
        raise ValueError(f"no unit matches {prefixes}; units are e.g. {', '.join(u.id for u in units[:6])}")
    while stack:
        uid = stack.pop()
        if uid not in keep:
            keep.add(uid)
            stack.extend(by_id[uid].deps)
    return [u for u in units if u.id in keep]


def behaviour_changes(ctx: Context, outputs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Paired change of the misalignment rate, after - before and before - base, per failure mode and seed."""
    from probes.stats import bootstrap_mean

    rows = []
    for uid, out in outputs.items():
        if not uid.startswith("behaviour/") or out["params"]["role"] == "base":
            continue
        fm, seed, role = out["params"]["failure_mode"], out["params"]["seed"], out["params"]["role"]
        ref_id = f"behaviour/{fm}/base" if role == "before" else f"behaviour/{fm}/s{seed}/before"
        if ref_id not in outputs:
            continue
        a, b = read_table(outputs[ref_id], ctx, "per_example"), read_table(out, ctx, "per_example")
        if a is None or b is None or list(a["id"]) != list(b["id"]):
            continue
        diff = b["score"].to_numpy() - a["score"].to_numpy()
        change = bootstrap_mean(diff)
        ref = "base" if role == "before" else "before"
        judge = read_table(out, ctx, "behaviour")
        rows.append({"checkpoint": f"{role} - {ref}", "failure_mode": fm, "seed": seed,
                     "consistency_method": role.split(":", 1)[1] if ":" in role else "-",
                     "judge": judge["judge"].iloc[0] if judge is not None else "", "rate": change.value,
                     "ci_low": change.ci_low, "ci_high": change.ci_high, "n": len(diff)})
    return pd.DataFrame(rows)


def assemble(ctx: Context, result: RunResult, command: str = "interp run") -> Path:
    """Gather the units' tables into the run directory, write the manifest and the dashboard."""
    run = RunDir(ctx.run_dir)
    gathered: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    for out in result.outputs.values():
        for name in out.get("tables", []):
            if name in gathered:
                frame = read_table(out, ctx, name)
                if frame is not None and len(frame):
                    gathered[name].append(frame)
    changes = behaviour_changes(ctx, result.outputs)
    if len(changes):
        gathered["behaviour"].append(changes)
    for name, frames in gathered.items():
        if frames:
            run.write_table(name, pd.concat(frames, ignore_index=True))
    checkpoints = {uid.split("/", 1)[1]: {"path": o.get("path"), "fingerprint": o.get("fingerprint"), "id": o.get("id")}
                   for uid, o in result.outputs.items() if uid.startswith(("organism/", "consistency/"))}
    for uid, o in result.outputs.items():
        if uid.startswith("capture/") and "checkpoint" in o:
            checkpoints.setdefault(uid.split("/", 1)[1], o["checkpoint"])
    units = {uid: {"seconds": o.get("seconds"), "skipped": o.get("skipped"), "key": o.get("key")}
             for uid, o in result.outputs.items()}
    run.update_manifest(
        command=command, config=ctx.config.model_dump(mode="json"), seeds=list(ctx.config.seeds),
        checkpoints=checkpoints, units=units, failed=result.failed, blocked=result.blocked,
        seconds={"total": round(result.seconds, 1),
                 "computed": round(sum(o.get("seconds") or 0 for o in result.outputs.values() if not o.get("skipped")), 1),
                 **_stage_seconds(result.outputs)},
    )
    if ctx.config.dashboard:
        from interp.dashboard import build_dashboard

        build_dashboard(run.path)
    return run.path


def _stage_seconds(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Seconds per stage as first computed (a skipped unit reports the time it took when it ran)."""
    per: dict[str, float] = {}
    for o in outputs.values():
        per[str(o["stage"])] = round(per.get(str(o["stage"]), 0.0) + float(o.get("seconds") or 0.0), 1)
    return per


def _span(values: pd.Series, fmt: str) -> str:
    """``lo..hi`` of the random-direction controls (their spread is the point, not their mean); ``-`` if none."""
    v = values.dropna()
    if v.empty:
        return "-"
    return format(v.min(), fmt) if len(v) == 1 else f"{format(v.min(), fmt)}..{format(v.max(), fmt)}"


def summary_text(result: RunResult) -> str:
    """The end-of-run summary the CLI prints: behaviour, best probe layers, sharpening, steering, timings."""
    lines = [f"run directory: {result.run_dir}"]
    run = result.run_dir

    def table(name: str) -> pd.DataFrame | None:
        path = run / f"{name}.parquet"
        return pd.read_parquet(path) if path.is_file() else None

    beh = table("behaviour")
    if beh is not None:
        lines.append("\nmisalignment rate (judge: " + ", ".join(map(str, beh["judge"].unique())) + ")")
        for _, r in beh.iterrows():
            lines.append(f"  {r['failure_mode']:<22} {r['checkpoint']:<34} {r['rate']:+.3f} "
                         f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]  n={int(r['n'])}")
    layers = table("layers")
    if layers is not None:
        lines.append("\nbest probe layer per checkpoint (logistic if present)")
        probe = "logistic" if (layers["method"] == "logistic").any() else str(layers["method"].iloc[0])
        part = layers[layers["method"] == probe]
        for (fm, ck), g in part.groupby(["failure_mode", "checkpoint"], sort=False):
            r = g.loc[g["auroc"].idxmax()]
            lines.append(f"  {fm:<22} {ck:<22} layer {int(r['layer']):>2}  AUROC {r['auroc']:.3f} "
                         f"[{r['auroc_low']:.3f}, {r['auroc_high']:.3f}]")
    sharp = table("sharpening")
    if sharp is not None:
        lines.append("\nsharpening (after - before, diffmeans): layers with BH p_adj < 0.05, largest change")
        d = sharp[(sharp["metric"] == "delta_auroc") & (sharp["checkpoint"] == "after-before")]
        for (fm, m), g in d.groupby(["failure_mode", "method"], sort=False):
            g = g.dropna(subset=["value"])
            if g.empty:
                continue
            r = g.loc[g["value"].abs().idxmax()]
            sig = int((g["p_adj"] < 0.05).sum())
            lines.append(f"  {fm:<22} {m:<24} ΔAUROC {r['value']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] "
                         f"at layer {int(r['layer'])}; {sig}/{len(g)} layers significant")
    dr = table("dose_response")
    if dr is not None and len(dr):
        lines.append("\nsteering: rate by alpha, persona vs random directions (their range)")
        for (fm, ck), part in dr.groupby(["failure_mode", "checkpoint"], sort=False):
            lines.append(f"  {fm} · {'the organism' if ck == 'before' else ck}")
            for a, g in part.groupby("alpha"):
                per = g[g["direction"] == "persona"]
                rnd = g[g["direction"] != "persona"]
                if len(per):
                    p = per.iloc[0]
                    lines.append(f"    alpha {a:+.3f}: {p['rate']:.3f} [{p['rate_low']:.3f}, {p['rate_high']:.3f}] "
                                 f"(KL {p['kl']:.3f}{'' if p['coherent'] else ', over budget'}) vs random {_span(rnd['rate'], '.3f')}")
    for name, title in (("ablation", "ablation"), ("convergence_ablation", "cross-organism ablation")):
        ab = table(name)
        if ab is None or not len(ab) or "removed" not in ab:
            continue
        lines.append(f"\n{title}: fraction of misalignment removed (vs random directions: their range)")
        for (fm, ck), g in ab.groupby(["failure_mode", "checkpoint"], sort=False):
            rnd = g[g["direction"].astype(str).str.startswith("ablated:random")]
            for _, p in g[~g["direction"].astype(str).str.startswith(("ablated:random", "untouched"))].iterrows():
                lines.append(f"  {fm:<22} {ck:<28} {p['direction']:<20} {p['removed']:+.3f} "
                             f"[{p['removed_low']:+.3f}, {p['removed_high']:+.3f}] vs random {_span(rnd['removed'], '+.3f')}")
    conv = table("convergence")
    if conv is not None and len(conv):
        lines.append("\nconvergence between organisms: median over layers [layers with BH p_adj < 0.05]")
        for (src, dst, metric), g in conv.groupby(["a", "b", "metric"], sort=False):
            count = f"  [{int((g['p_adj'] < 0.05).sum())}/{len(g)}]" if g["p_adj"].notna().any() else ""
            lines.append(f"  {metric:<15} {src} · {dst}: {g['value'].median():.3f}{count}")
    q = table("sae_quality")
    if q is not None:
        v = dict(zip(q["metric"], q["value"], strict=False))
        lines.append(f"\nSAE: explained variance {v.get('explained_variance', float('nan')):.3f} (position 0 excluded), "
                     f"L0 {v.get('l0', float('nan')):.1f}, dead {v.get('dead_fraction', float('nan')):.2f}")
    n_skipped = sum(1 for o in result.outputs.values() if o.get("skipped"))
    lines.append(f"\n{len(result.outputs)} units ({n_skipped} already finished), {len(result.failed)} failed, "
                 f"{len(result.blocked)} blocked; {result.seconds:.0f} s")
    for uid, err in result.failed.items():
        lines.append(f"  FAILED {uid}: {err.splitlines()[0]}")
    if (run / "index.html").is_file():
        lines.append(f"dashboard: {run / 'index.html'}")
    return "\n".join(lines)
