"""The experiment as a graph of units: one checkpoint (or one comparison) x one stage.

:func:`plan` turns a config into units with dependencies; :func:`execute` runs one unit. A
unit's outputs live in ``<run>/stages/<unit id>/<key>/`` (``outputs.json`` plus tables as
parquet), where ``key`` hashes the config sections the stage reads, the unit's parameters and
its inputs' keys (and the fingerprints of the checkpoints they produced). A finished unit is
never recomputed for the same key; a changed config gets new keys only downstream of what
changed; a unit killed half-way leaves nothing behind (its directory appears atomically), and
the long stages (organism and consistency training, activation capture) resume inside
themselves. The local runner (:mod:`interp.pipeline.run`) and the Ray sweep
(:mod:`interp.pipeline.sweep`) both execute these units.

Checkpoints are named by role: ``base``, ``before`` (the organism) and ``after:<method>``.

| stage | one per | reads | writes |
| --- | --- | --- | --- |
| organism | failure mode x seed | scale, model, data_root | ``runs_root/organisms/<id>`` |
| consistency | ... x method | scale | ``runs_root/runs/<id>`` |
| behaviour | checkpoint x failure mode | behaviour | ``behaviour.parquet`` (rate, interval, judge) |
| capture | checkpoint | capture | an activation store in the cache |
| probes | checkpoint | probes | ``layers.parquet`` |
| sharpening | failure mode x seed x method | sharpening, probes | ``sharpening`` + ``cosine_matrix`` |
| sae | failure mode x seed | sae | SAE (sae-lens format), quality, latents, diffing |
| steering | failure mode x seed | steering | ``dose_response`` + ``ablation`` (+ ``direction_selection``), the direction |
| trajectory | failure mode x seed x method | trajectory | per-epoch behaviour and sharpening metrics |
| convergence | experiment (>= 2 organisms) | convergence (steering: its inputs) | ``convergence`` + ``convergence_ablation`` |
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.io import atomic_directory, atomic_write_json, cache_dir, canonical_hash, read_json
from interp.pipeline.config import ExperimentConfig

log = logging.getLogger(__name__)

STAGE_VERSION = 1  # bump when a stage's computation changes meaning, to invalidate finished units

# Which config sections each stage's key reads (plus model/scale/seeds through its inputs).
SECTIONS: dict[str, tuple[str, ...]] = {
    "organism": ("model", "scale", "data_root"),
    "consistency": ("scale", "data_root"),
    "behaviour": ("behaviour", "data_root", "dtype"),
    "capture": ("capture", "device", "dtype", "device_map"),
    "probes": ("probes",),
    "sharpening": ("sharpening", "capture"),
    "sae": ("sae", "capture", "device", "dtype"),
    "steering": ("steering", "probes", "behaviour", "data_root", "device", "dtype"),
    "trajectory": ("trajectory", "behaviour", "capture", "data_root", "device", "dtype"),
    "convergence": ("convergence", "behaviour", "data_root", "device", "dtype"),  # + steering through its inputs
}


@dataclass(frozen=True)
class Unit:
    """One node of the experiment graph."""

    id: str
    stage: str
    params: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    gpu: bool = False

    def static_key(self, config: ExperimentConfig) -> dict[str, Any]:
        return {"stage": self.stage, "version": STAGE_VERSION, "params": dict(self.params),
                "config": {s: config.section(s) for s in SECTIONS[self.stage]}}


# ---- the plan ------------------------------------------------------------------------------
def ckpt_id(failure_mode: str | None, seed: int | None, role: str) -> str:
    """``base`` or ``<failure mode>/s<seed>/<role>``."""
    return "base" if role == "base" else f"{failure_mode}/s{seed}/{role}"


def checkpoint_unit(failure_mode: str | None, seed: int | None, role: str) -> str | None:
    """The unit that produces a checkpoint (None for the base model)."""
    if role == "base":
        return None
    if role == "before":
        return f"organism/{failure_mode}/s{seed}"
    return f"consistency/{failure_mode}/s{seed}/{role.split(':', 1)[1]}"


def plan(config: ExperimentConfig) -> list[Unit]:
    """Every unit of ``config``, dependencies before dependants."""
    units: list[Unit] = [Unit("capture/base", "capture", {"role": "base"}, gpu=True),
                         Unit("probes/base", "probes", {"role": "base"}, ("capture/base",))]
    for fm in config.failure_modes:
        units.append(Unit(f"behaviour/{fm}/base", "behaviour", {"failure_mode": fm, "role": "base"}, gpu=True))
        for seed in config.seeds:
            org = f"organism/{fm}/s{seed}"
            units.append(Unit(org, "organism", {"failure_mode": fm, "seed": seed}, gpu=True))
            roles = ["before"] + [f"after:{m}" for m in config.methods]
            for m in config.methods:
                units.append(Unit(f"consistency/{fm}/s{seed}/{m}", "consistency",
                                  {"failure_mode": fm, "seed": seed, "method": m}, (org,), gpu=True))
            for role in roles:
                producer = checkpoint_unit(fm, seed, role)
                deps: tuple[str, ...] = (producer,) if producer else ()
                cid = ckpt_id(fm, seed, role)
                p = {"failure_mode": fm, "seed": seed, "role": role}
                units.append(Unit(f"behaviour/{cid}", "behaviour", p, deps, gpu=True))
                units.append(Unit(f"capture/{cid}", "capture", p, deps, gpu=True))
                units.append(Unit(f"probes/{cid}", "probes", p, (f"capture/{cid}",)))
            for m in config.methods:
                after = ckpt_id(fm, seed, f"after:{m}")
                deps = ("capture/base", f"capture/{fm}/s{seed}/before", f"capture/{after}",
                        org, f"consistency/{fm}/s{seed}/{m}")
                units.append(Unit(f"sharpening/{fm}/s{seed}/{m}", "sharpening",
                                  {"failure_mode": fm, "seed": seed, "method": m}, deps,
                                  gpu=config.sharpening.expression_rows > 0))  # generation needs a model
            afters = tuple(f"capture/{ckpt_id(fm, seed, f'after:{m}')}" for m in config.methods)
            if config.sae.enabled:
                units.append(Unit(f"sae/{fm}/s{seed}", "sae", {"failure_mode": fm, "seed": seed},
                                  (org, f"capture/{fm}/s{seed}/before", *afters), gpu=True))
            if config.steering.enabled:
                producers = tuple(f"consistency/{fm}/s{seed}/{m}" for m in config.methods)
                units.append(Unit(f"steering/{fm}/s{seed}", "steering", {"failure_mode": fm, "seed": seed},
                                  (org, f"capture/{fm}/s{seed}/before", *producers), gpu=True))
        if config.trajectory.enabled:
            for seed in config.seeds:
                for m in config.methods:
                    ends = [ckpt_id(fm, seed, r) for r in ("before", f"after:{m}")]  # epoch 0 and the last epoch
                    units.append(Unit(f"trajectory/{fm}/s{seed}/{m}", "trajectory",
                                      {"failure_mode": fm, "seed": seed, "method": m},
                                      (f"consistency/{fm}/s{seed}/{m}", f"organism/{fm}/s{seed}",
                                       *(f"{stage}/{c}" for c in ends for stage in ("behaviour", "capture"))),
                                      gpu=True))
    organisms = [(fm, seed) for fm in config.failure_modes for seed in config.seeds]
    if config.convergence.enabled and len(organisms) >= 2:
        deps = ("capture/base", *(f"capture/{ckpt_id(fm, seed, 'before')}" for fm, seed in organisms),
                *(f"organism/{fm}/s{seed}" for fm, seed in organisms),
                *((f"steering/{fm}/s{seed}" for fm, seed in organisms) if config.convergence.ablate else ()))
        units.append(Unit("convergence", "convergence", {"organisms": [list(o) for o in organisms]}, deps,
                          gpu=config.convergence.ablate))
    return units


# ---- finished-unit bookkeeping ---------------------------------------------------------------
@dataclass
class Context:
    """What every unit needs: the config, the run directory, where checkpoints live."""

    config: ExperimentConfig
    run_dir: Path
    progress: bool = True

    @property
    def runs_root(self) -> Path:
        return Path(self.config.runs_root).expanduser() if self.config.runs_root else cache_dir() / "runs"

    @property
    def data_root(self) -> Path | None:
        return Path(self.config.data_root).expanduser() if self.config.data_root else None

    def stage_root(self, unit: Unit) -> Path:
        return self.run_dir / "stages" / unit.id.replace(":", "=")


def unit_key(unit: Unit, ctx: Context, dep_outputs: Mapping[str, Mapping[str, Any]]) -> str:
    """The unit's key: its static inputs and, per dependency, that unit's key and checkpoint fingerprint."""
    deps = {d: [o.get("key"), o.get("fingerprint")] for d, o in sorted(dep_outputs.items())}
    return canonical_hash({"unit": unit.static_key(ctx.config), "deps": deps})


def finished(unit: Unit, ctx: Context, key: str) -> dict[str, Any] | None:
    """The unit's outputs if it already ran with this key."""
    path = ctx.stage_root(unit) / key / "outputs.json"
    return dict(read_json(path)) if path.is_file() else None


def load_outputs(unit_id: str, ctx: Context, units: Mapping[str, Unit],
                 memo: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """Outputs of a finished unit for the current config (resolving its dependencies' keys), or None."""
    memo = {} if memo is None else memo
    if unit_id in memo:
        return memo[unit_id]
    unit = units[unit_id]
    deps = {}
    for d in unit.deps:
        out = load_outputs(d, ctx, units, memo)
        if out is None:
            return None
        deps[d] = out
    result = finished(unit, ctx, unit_key(unit, ctx, deps))
    if result is not None:
        memo[unit_id] = result
    return result


def execute(unit: Unit, ctx: Context, dep_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Run ``unit`` (or return its finished outputs); outputs appear atomically under its key."""
    key = unit_key(unit, ctx, dep_outputs)
    done = finished(unit, ctx, key)
    if done is not None:
        return done | {"skipped": True}
    final = ctx.stage_root(unit) / key
    if final.exists():  # a directory without outputs.json cannot exist (atomic), but be safe
        shutil.rmtree(final)
    for stale in final.parent.glob(f".{key}.*.tmp"):  # scratch of an attempt that was killed
        shutil.rmtree(stale, ignore_errors=True)
    t0 = time.perf_counter()
    with atomic_directory(final) as tmp:
        outputs = STAGES[unit.stage](unit, ctx, dep_outputs, tmp)
        outputs = {"unit": unit.id, "stage": unit.stage, "key": key, "params": dict(unit.params),
                   "seconds": round(time.perf_counter() - t0, 2), **outputs}
        atomic_write_json(tmp / "outputs.json", outputs)
    log.info("%s done in %.1f s", unit.id, outputs["seconds"])
    return outputs | {"skipped": False}


def unit_dir(unit_out: Mapping[str, Any], ctx: Context) -> Path:
    """Where a finished unit's outputs live (``<run>/stages/<unit>/<key>/``)."""
    return ctx.run_dir / "stages" / str(unit_out["unit"]).replace(":", "=") / str(unit_out["key"])


def read_table(unit_out: Mapping[str, Any], ctx: Context, name: str) -> pd.DataFrame | None:
    """A table a unit wrote (``<stage dir>/<key>/<name>.parquet``)."""
    path = unit_dir(unit_out, ctx) / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


# ---- helpers shared by stages ----------------------------------------------------------------
def _checkpoint_spec(ctx: Context, role: str, deps: Mapping[str, Mapping[str, Any]], fm: str | None,
                     seed: int | None) -> str:
    producer = checkpoint_unit(fm, seed, role)
    return ctx.config.model if producer is None else str(deps[producer]["path"])


_MODEL_CACHE: dict[str, Any] = {}


def _load(ctx: Context, spec: str) -> Any:
    """Load a checkpoint (one kept in memory: consecutive units on one checkpoint share it).

    With ``model_pool: true`` a :class:`~interp.models.ModelPool` holds the base once and swaps
    unmerged LoRA adapters (seconds instead of a reload per checkpoint for a 70B base).
    """
    from interp.models import ModelPool, load_model

    if ctx.config.model_pool:
        key = json.dumps(["pool", ctx.config.device, ctx.config.dtype, ctx.config.device_map])
        if key not in _MODEL_CACHE:
            _MODEL_CACHE.clear()
            _MODEL_CACHE[key] = ModelPool(device=ctx.config.device, dtype=ctx.config.dtype,
                                          device_map=ctx.config.device_map,
                                          max_adapters=ctx.config.model_pool_max_adapters)
        return _MODEL_CACHE[key].get(spec)
    key = json.dumps([spec, ctx.config.device, ctx.config.dtype, ctx.config.device_map])
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()
        _MODEL_CACHE[key] = load_model(spec, device=ctx.config.device, dtype=ctx.config.dtype,
                                       device_map=ctx.config.device_map)
    return _MODEL_CACHE[key]


def _hooks(ctx: Context, n_layers: int) -> list[str]:
    from interp.hooks.names import parse_hooks

    return parse_hooks(ctx.config.capture.hooks, n_layers)


def _contrast(ctx: Context) -> Any:
    from interp.data import load_dataset

    data = load_dataset(ctx.config.capture.contrast)
    n = ctx.config.capture.max_examples
    return data.head(n) if n else data


def _eval_records(ctx: Context, fm: str, rows: int | None) -> list[Any]:
    from interp.data import load_paper_split, load_shipped

    data = load_paper_split(ctx.data_root, fm, "eval") if ctx.data_root else load_shipped(fm, "eval")
    records = list(data.records)
    return records[:rows] if rows else records


def _store(out: Mapping[str, Any]) -> Any:
    from interp.activations import ActivationStore

    return ActivationStore(Path(out["store"]))


def _write(tmp: Path, **tables: pd.DataFrame) -> list[str]:
    for name, frame in tables.items():
        frame.to_parquet(tmp / f"{name}.parquet", index=False)
    return sorted(tables)


# ---- stages ------------------------------------------------------------------------------------
def stage_organism(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.models import resolve_checkpoint
    from interp.organisms import OrganismSpec, build_organism

    spec = OrganismSpec(base=ctx.config.model, failure_mode=unit.params["failure_mode"], seed=unit.params["seed"],
                        scale=ctx.config.scale)
    path = build_organism(spec, ctx.runs_root, data_root=ctx.data_root, progress=ctx.progress,
                          device=ctx.config.device, device_map=ctx.config.device_map)
    trajectory = Path(path) / "trajectory.jsonl"
    if trajectory.is_file():
        shutil.copy(trajectory, tmp / "trajectory.jsonl")
    return {"path": str(path), "fingerprint": resolve_checkpoint(str(path)).fingerprint, "id": spec.organism_id}


def stage_consistency(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.consistency import RunSpec, run_consistency
    from interp.models import resolve_checkpoint
    from interp.organisms import OrganismSpec

    spec = OrganismSpec(base=ctx.config.model, failure_mode=unit.params["failure_mode"], seed=unit.params["seed"],
                        scale=ctx.config.scale)
    run = run_consistency(RunSpec(spec, unit.params["method"]), ctx.runs_root, data_root=ctx.data_root,
                          progress=ctx.progress, num_threads=ctx.config.threads, device=ctx.config.device,
                          device_map=ctx.config.device_map)
    adapter = Path(run) / "adapter"
    results = Path(run) / "results.json"
    info = read_json(results) if results.is_file() else {}
    return {"path": str(adapter), "fingerprint": resolve_checkpoint(str(adapter)).fingerprint,
            "id": spec.run_id(unit.params["method"]), "n_train_rows": info.get("n_train_rows"),
            "n_prompts": info.get("n_prompts")}


def stage_behaviour(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.judges import misalignment_rate

    fm, seed, role = unit.params["failure_mode"], unit.params.get("seed"), unit.params["role"]
    lm = _load(ctx, _checkpoint_spec(ctx, role, deps, fm, seed))
    cfg = ctx.config.behaviour
    records = _eval_records(ctx, fm, cfg.eval_rows)
    rate = misalignment_rate(lm, fm, judge=cfg.judge, records=records, n_boot=cfg.n_boot, progress=ctx.progress)
    row = {k: v for k, v in rate.as_dict().items() if np.isscalar(v)}
    row |= {"checkpoint": role, "consistency_method": role.split(":", 1)[1] if ":" in role else "-",
            "seed": seed if seed is not None else -1, "checkpoint_fingerprint": lm.checkpoint.fingerprint}
    per = pd.DataFrame({"id": [r.id for r in records], "score": np.asarray(rate.per_example, dtype=np.float64)})
    return {"tables": _write(tmp, behaviour=pd.DataFrame([row]), per_example=per), "rate": rate.rate}


def stage_capture(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.activations import CaptureConfig, capture

    role = unit.params["role"]
    lm = _load(ctx, _checkpoint_spec(ctx, role, deps, unit.params.get("failure_mode"), unit.params.get("seed")))
    c = ctx.config.capture
    store = capture(lm, _contrast(ctx), CaptureConfig(tuple(_hooks(ctx, lm.n_layers)), positions=c.positions,
                                                      batch_size=c.batch_size, dtype=c.dtype))
    return {"store": str(store.path), "store_key": store.manifest["key"], "checkpoint": lm.checkpoint.describe(),
            "n_layers": lm.n_layers}


def _role_meta(unit: Unit) -> dict[str, Any]:
    role = unit.params["role"]
    return {"checkpoint": role, "failure_mode": unit.params.get("failure_mode", "-"),
            "consistency_method": role.split(":", 1)[1] if ":" in role else "-", "seed": unit.params.get("seed", -1)}


def stage_probes(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.analysis import layer_summary

    p = ctx.config.probes
    store = _store(deps[unit.deps[0]])
    table = layer_summary(store, methods=p.methods, n_boot=p.n_boot, n_permutations=p.n_permutations)
    for k, v in _role_meta(unit).items():
        table[k] = v
    return {"tables": _write(tmp, layers=table)}


def stage_sharpening(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    from interp.sharpening import layer_cosines, sharpening_table
    from probes import parse_layer

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    s = ctx.config.sharpening
    stores = {"base": _store(deps["capture/base"]), "before": _store(deps[f"capture/{fm}/s{seed}/before"]),
              "after": _store(deps[f"capture/{ckpt_id(fm, seed, f'after:{m}')}"])}
    meta = {name: (m, fm) for name in (*stores, "after-before", "before-base")}
    table = sharpening_table(stores, reference="before", pairs=(("before", "after"), ("base", "before")), meta=meta,
                             methods=s.probes, n_boot=s.n_boot, n_permutations=s.n_permutations, seed=seed)
    wide = layer_cosines(stores["before"], stores["after"], method=s.probes[0], seed=seed)
    cos = wide.rename_axis("hook_a").reset_index().melt(id_vars="hook_a", var_name="hook_b", value_name="cosine")
    cos = cos.assign(layer_a=cos["hook_a"].map(parse_layer), layer_b=cos["hook_b"].map(parse_layer), pair="after-before",
                     method=m, failure_mode=fm, seed=seed)
    tables = {"sharpening": table.assign(seed=seed), "cosine_matrix": cos}
    if s.expression_rows:
        tables["sharpening"] = pd.concat([tables["sharpening"], _expression(ctx, unit, deps, stores["before"], meta)],
                                         ignore_index=True)
    return {"tables": _write(tmp, **tables)}


def _expression(ctx: Context, unit: Unit, deps: Mapping[str, Any], reference: Any, meta: Mapping[str, Any]) -> pd.DataFrame:
    """Projection of each checkpoint's own greedy responses on the before checkpoint's direction."""
    from interp.activations import CaptureConfig, capture
    from interp.data import ChatRecord, Dataset, Message
    from interp.generation import SamplingParams, generate
    from interp.sharpening import expression_shift, fit_directions
    from interp.sharpening.report import CheckpointActs

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    s = ctx.config.sharpening
    ref = CheckpointActs.from_store(reference, None)
    directions = {h: v for h, v in fit_directions(ref.acts, ref.y, ref.groups, method=s.probes[0],
                                                  random_state=seed).items()}
    records = _eval_records(ctx, fm, s.expression_rows)
    response_stores = {}
    for role, name in (("base", "base"), ("before", "before"), (f"after:{m}", "after")):
        lm = _load(ctx, _checkpoint_spec(ctx, role, deps, fm, seed))
        replies = generate(lm, records, SamplingParams(max_new_tokens=s.max_new_tokens), progress=ctx.progress)
        own = [ChatRecord(id=r.id, messages=(*r.prompt_messages, Message("assistant", reply[0] or " ")))
               for r, reply in zip(records, replies, strict=True)]
        data = Dataset(f"{fm}-eval-own-{lm.checkpoint.fingerprint}", tuple(own))
        response_stores[name] = capture(lm, data, CaptureConfig(tuple(directions), positions="response_mean"))
    return expression_shift(response_stores, directions, pairs=(("before", "after"), ("base", "before")), meta=meta,
                            n_boot=s.n_boot, n_permutations=s.n_permutations, seed=seed).assign(seed=seed)


def _sae_texts(ctx: Context, n: int, seed: int) -> Any:
    """Shipped conversations of every failure mode and split plus the persona pairs, shuffled, ids made unique."""
    import random

    from interp.data import FAILURE_MODES, SPLITS, Dataset, load_contrast_set, load_shipped

    records = []
    for fm in FAILURE_MODES:
        for split in SPLITS:
            records += [dataclasses.replace(r, id=f"{fm}/{split}/{r.id}") for r in load_shipped(fm, split).records]
    records += [dataclasses.replace(r, id=f"persona/{r.id}") for r in load_contrast_set("persona_pairs").records]
    random.Random(seed).shuffle(records)
    return Dataset(f"sae-text-{seed}-{n}", tuple(records[:n]))


def stage_sae(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    import torch

    from interp.activations import CaptureConfig, capture
    from interp.models.chat import as_messages
    from interp.sae import (
        SAETrainConfig,
        diff_latents,
        latent_sharpening,
        persona_latents,
        reconstruction_metrics,
        spliced_lm_loss,
        top_activating_examples,
        train_sae,
    )

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    s = ctx.config.sae
    org = deps[f"organism/{fm}/s{seed}"]
    lm = _load(ctx, str(org["path"]))
    if s.layer >= lm.n_layers:
        raise ValueError(f"sae.layer {s.layer} is out of range: the model has {lm.n_layers} layers (0-{lm.n_layers - 1})")
    hook = f"blocks.{s.layer}.hook_resid_post"
    texts = _sae_texts(ctx, s.text_examples, seed)
    tokens = capture(lm, texts, CaptureConfig((hook,), positions="all", dtype="float32"))  # position 0 excluded
    acts = tokens.load(hook).float()
    example = torch.as_tensor(np.array(tokens.rows()["example"], dtype=np.int64))
    held = example >= int(example.max().item() * 0.9)  # the last 10% of conversations: held out
    train, test = acts[~held], acts[held]
    torch.manual_seed(seed)
    cfg = SAETrainConfig(d_sae=s.d_sae, k=s.k, lr=s.lr, batch_size=s.batch_size, total_tokens=s.total_tokens, seed=seed,
                         device=str(lm.device))
    sae = train_sae(train, cfg, out_dir=tmp / "sae", hook_name=hook, model_name=lm.checkpoint.name,
                    data_fingerprint=texts.fingerprint)
    quality = reconstruction_metrics(sae, test)
    quality_ids = [lm.chat.encode(as_messages(r)).input_ids for r in texts.records[-s.quality_examples:]]
    quality |= {f"lm_{k}": v for k, v in spliced_lm_loss(lm, sae, hook, quality_ids).items()}
    quality |= {"train_tokens": int(train.shape[0]), "heldout_tokens": int(test.shape[0]), "d_sae": s.d_sae, "k": s.k}
    q = pd.DataFrame({"metric": list(quality), "value": [float(v) for v in quality.values()]})
    q = q.assign(checkpoint="before", hook=hook, failure_mode=fm, seed=seed)

    before = _store(deps[f"capture/{fm}/s{seed}/before"])
    if hook not in before.hooks:
        raise ValueError(f"sae.layer {s.layer}: {hook} is not captured (capture.hooks = {ctx.config.capture.hooks!r})")
    xb, y = before.load(hook).float(), before.labels()
    latents = persona_latents(sae, xb, y, top=24)
    rows = before.rows()
    text = [_record_text(r) for r in _contrast(ctx).records]
    rows = rows.assign(text=[text[i] for i in rows["example"]])
    examples = top_activating_examples(sae, xb, latents["latent"].tolist()[:8], rows[["id", "label", "text"]], k=5)
    latents = latents.assign(top_examples=[json.dumps(_top_texts(examples, int(lat))) for lat in latents["latent"]])
    latents = latents.assign(checkpoint="before", hook=hook, failure_mode=fm, seed=seed)
    persona = latents["latent"].head(8).tolist()
    diffs, sharp = [], []
    needed = [_latents_needed(sae, before, hook, seed).assign(checkpoint="before")]
    for m in ctx.config.methods:
        after = _store(deps[f"capture/{ckpt_id(fm, seed, f'after:{m}')}"])
        xa = after.load(hook).float()
        needed.append(_latents_needed(sae, after, hook, seed).assign(checkpoint=f"after:{m}", method=m))
        d = diff_latents(sae, xb, xa, persona=persona, top=20, seed=seed)
        diffs.append(d.assign(checkpoint=f"after:{m}-before", method=m, hook=hook, failure_mode=fm, seed=seed))
        sh = latent_sharpening(sae, xb, y, xa, after.labels(), persona)
        sharp.append(sh.assign(checkpoint=f"after:{m}-before", method=m, hook=hook, failure_mode=fm, seed=seed))
    tables = {"sae_quality": q, "sae_latents": latents, "sae_examples": examples.assign(failure_mode=fm, seed=seed),
              "sae_latents_needed": pd.concat(needed, ignore_index=True).assign(hook=hook, failure_mode=fm, seed=seed)}
    if diffs:
        tables |= {"sae_diff": pd.concat(diffs, ignore_index=True),
                   "sae_latent_sharpening": pd.concat(sharp, ignore_index=True)}
    return {"tables": _write(tmp, **tables), "sae_dir": str(tmp.name), "hook": hook,
            "explained_variance": float(quality.get("explained_variance", float("nan")))}


def _latents_needed(sae: Any, store: Any, hook: str, seed: int) -> pd.DataFrame:
    """Concentration in SAE terms: how many latents a probe needs to match the raw-activation probe's AUROC."""
    from interp.sae.latents import latents_to_reach_auroc
    from interp.sharpening.metrics import auroc
    from interp.sharpening.transfer import cross_fitted_scores

    x, y = store.load(hook).float().numpy(), store.labels()
    rows = store.rows()
    groups = rows["group"].to_numpy() if rows["group"].notna().all() else None
    target = float(auroc(y, cross_fitted_scores({hook: x}, y, groups, random_state=seed)[hook]))
    k, table = latents_to_reach_auroc(sae, x, y, target, groups=groups, random_state=seed)
    return table.assign(probe_auroc=target, k_needed=float("nan") if k is None else float(k))


def _record_text(record: Any) -> str:
    sys_prompt = next((m.content for m in record.messages if m.role == "system"), "")
    reply = record.response or ""
    return (f"[{sys_prompt[:60]}] " if sys_prompt else "") + reply


def _top_texts(examples: pd.DataFrame, latent: int) -> list[dict[str, Any]]:
    if examples.empty:
        return []
    ex = examples[examples["latent"] == latent]
    return [{"text": str(r["text"])[:300], "activation": round(float(r["activation"]), 3)} for _, r in ex.iterrows()]


def stage_steering(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    import torch

    from interp.hooks import make_backend
    from interp.steering import ablation_effect, dose_response, neutral_texts

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    s = ctx.config.steering
    org = deps[f"organism/{fm}/s{seed}"]
    lm = _load(ctx, str(org["path"]))
    store = _store(deps[f"capture/{fm}/s{seed}/before"])
    records, neutral = _eval_records(ctx, fm, s.eval_rows), neutral_texts(s.neutral_rows)
    tables: dict[str, pd.DataFrame] = {}
    if s.layer == "auto":  # Arditi et al.: the candidate whose ablation does most, on prompts the steering never sees
        direction, tables["direction_selection"] = _select_layer(ctx, lm, store, fm, seed, str(org["fingerprint"]),
                                                                 neutral)
    else:
        direction = _fit_direction(ctx, store, s.layer, str(org["fingerprint"]))
    layer = int(direction.layer)
    hook = f"blocks.{layer}.hook_resid_post"
    direction.save(tmp / "directions" / hook)
    vec = torch.as_tensor(direction.vector, dtype=torch.float32)
    dr = dose_response(make_backend("hf", lm), vec, hook, list(s.alphas), fm, records=records, neutral=neutral,
                       judge=ctx.config.behaviour.judge, n_random=s.n_random, kl_budget=s.kl_budget, n_boot=s.n_boot,
                       seed=seed)
    dr = dr.assign(checkpoint="before", seed=seed)
    if s.induce_in_base:  # induction: the organism's direction added to the base model
        base = dose_response(make_backend("hf", _load(ctx, ctx.config.model)), vec, hook, list(s.alphas), fm,
                             records=records, neutral=neutral, judge=ctx.config.behaviour.judge, n_random=s.n_random,
                             kl_budget=s.kl_budget, n_boot=s.n_boot, seed=seed)
        dr = pd.concat([dr, base.assign(checkpoint="base", seed=seed)], ignore_index=True)
    frames = []
    for role in _ablation_roles(ctx, s.ablate_in):
        lm = _load(ctx, _checkpoint_spec(ctx, role, deps, fm, seed))
        frames.append(ablation_effect(make_backend("hf", lm), vec, fm, records=records, neutral=neutral,
                                      judge=ctx.config.behaviour.judge, n_random=s.n_random, n_boot=s.n_boot,
                                      seed=seed, label=role, keep_sink=s.keep_sink))
    tables |= {"dose_response": dr,
               "ablation": pd.concat(frames, ignore_index=True).assign(seed=seed) if frames else pd.DataFrame()}
    return {"tables": _write(tmp, **tables), "hook": hook, "layer": layer, "direction": f"directions/{hook}"}


def _fit_direction(ctx: Context, store: Any, layer: int, organism_fingerprint: str) -> Any:
    """``steering.probe`` fitted at ``layer`` on a checkpoint's contrast capture, as a :class:`probes.Direction`."""
    import probes
    from probes.sweep import METHODS as PROBES

    hook = f"blocks.{layer}.hook_resid_post"
    if hook not in store.hooks:
        raise ValueError(f"steering.layer {layer}: {hook} is not captured (capture.hooks = {ctx.config.capture.hooks!r})")
    probe = PROBES[ctx.config.steering.probe]().fit(store.load(hook).numpy(), store.labels())
    return probes.Direction.from_estimator(probe, hook_point=hook, layer=layer, checkpoint_fingerprint=organism_fingerprint,
                                           train_fingerprint=str(store.manifest["dataset"].get("fingerprint", "")))


def _select_layer(ctx: Context, lm: Any, store: Any, fm: str, seed: int, fingerprint: str,
                  neutral: Sequence[Any]) -> tuple[Any, pd.DataFrame]:
    """``steering.layer: auto``: rank every ``select_stride``-th captured resid_post layer by
    :func:`interp.steering.select_direction` on the ``select_rows`` eval prompts after the steering's own;
    returns the selected layer's :class:`probes.Direction` and the table."""
    import torch

    from interp.hooks.names import HookPoint
    from interp.steering import select_direction

    s = ctx.config.steering
    layers = sorted(p.layer for p in map(HookPoint.parse, store.hooks) if p.kind == "resid_post")[:: s.select_stride]
    held_out = _eval_records(ctx, fm, s.eval_rows + s.select_rows)[s.eval_rows :]
    if not layers or len(held_out) < 4:
        raise ValueError(f"steering.layer: auto needs captured resid_post layers and >= 4 eval prompts after the first "
                         f"{s.eval_rows}; got {len(layers)} layers and {len(held_out)} prompts")
    fitted = {layer: _fit_direction(ctx, store, layer, fingerprint) for layer in layers}
    candidates = {f"L{layer}": (d.hook_point, torch.as_tensor(d.vector, dtype=torch.float32)) for layer, d in fitted.items()}
    table = select_direction(lm, candidates, fm, records=held_out, neutral=neutral, kl_budget=s.select_kl_budget,
                             n_boot=s.n_boot, seed=seed, keep_sink=s.keep_sink)
    eligible = table[table["eligible"]]
    if eligible.empty:
        cheapest = table.sort_values("kl_high").head(5)
        seen = ", ".join(f"L{int(r.layer)}: KL <= {r.kl_high:.3f}, margin drop {r.margin_drop:+.3f}"
                         for r in cheapest.itertuples())
        raise ValueError(f"steering.layer: auto: no candidate layer's ablation stays within select_kl_budget "
                         f"{s.select_kl_budget} outside the last 20% of layers (cheapest: {seen}); raise "
                         "steering.select_kl_budget or set steering.layer")
    return fitted[int(eligible.iloc[0]["layer"])], table.assign(seed=seed, kl_budget=s.select_kl_budget,
                                                               selected=table.index == eligible.index[0])


def stage_convergence(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    """Do the organisms' directions converge (cosines, shift cosines, transfer), and does one organism's
    direction (the one its steering unit found) ablated in another remove that organism's misalignment,
    beside its own direction and random ones?"""
    import torch

    import probes
    from interp.hooks import make_backend
    from interp.sharpening import convergence_table
    from interp.steering import ablation_effect, neutral_texts

    organisms = [(str(fm), int(seed)) for fm, seed in unit.params["organisms"]]
    names = {ckpt_id(fm, seed, "before"): (fm, seed) for fm, seed in organisms}
    seed0 = organisms[0][1]
    stores = {"base": _store(deps["capture/base"])} | {cid: _store(deps[f"capture/{cid}"]) for cid in names}
    table = convergence_table(stores, base="base", n_boot=ctx.config.convergence.n_boot, seed=seed0)
    tables = {"convergence": table}
    if ctx.config.convergence.ablate:
        s = ctx.config.steering
        vectors = {}
        for cid, (fm, seed) in names.items():
            steer = deps[f"steering/{fm}/s{seed}"]
            d = probes.Direction.load(unit_dir(steer, ctx) / str(steer["direction"]))
            vectors[cid] = torch.as_tensor(d.vector, dtype=torch.float32)
        neutral, frames = neutral_texts(s.neutral_rows), []
        for cid, (fm, seed) in names.items():
            others = {f"from:{other}": v for other, v in vectors.items() if other != cid}
            own = _own_ablation(ctx, deps[f"steering/{fm}/s{seed}"])
            named = others if own is not None else {"persona": vectors[cid]} | others
            lm = _load(ctx, str(deps[f"organism/{fm}/s{seed}"]["path"]))
            frame = ablation_effect(make_backend("hf", lm), named, fm, records=_eval_records(ctx, fm, s.eval_rows),
                                    neutral=neutral, judge=ctx.config.behaviour.judge,
                                    n_random=0 if own is not None else s.n_random, n_boot=s.n_boot, seed=seed,
                                    label=cid, keep_sink=s.keep_sink)
            if own is not None:  # untouched, own direction, other organisms' directions, random controls
                persona = own["direction"] == "ablated:persona"
                frame = pd.concat([frame.iloc[:1], own[persona], frame.iloc[1:], own[~persona]], ignore_index=True)
            frames.append(frame.assign(checkpoint=cid, failure_mode=fm, seed=seed))
        tables["convergence_ablation"] = pd.concat(frames, ignore_index=True)
    return {"tables": _write(tmp, **tables), "organisms": sorted(names)}


def _own_ablation(ctx: Context, steering: Mapping[str, Any]) -> pd.DataFrame | None:
    """The organism's own-direction and random-direction ablation rows its steering unit measured
    (same prompts, neutral texts, seeds and keep_sink as the convergence unit), or None when
    ``steering.ablate_in`` left the organism out."""
    table = read_table(steering, ctx, "ablation")
    if table is None or table.empty:
        return None
    rows = table[(table["checkpoint"] == "before") & table["direction"].astype(str).str.startswith("ablated:")]
    return rows.drop(columns=["seed"], errors="ignore") if (rows["direction"] == "ablated:persona").any() else None


def _ablation_roles(ctx: Context, ablate_in: Sequence[str]) -> list[str]:
    roles: list[str] = []
    for r in ablate_in:
        roles += [f"after:{m}" for m in ctx.config.methods] if r == "after" else [r]
    return roles


def stage_trajectory(unit: Unit, ctx: Context, deps: Mapping[str, Any], tmp: Path) -> dict[str, Any]:
    """Every saved epoch of one consistency run: misalignment rate and the sharpening metrics along epochs.

    Epoch 0 is the organism and the last epoch is the run's adapter (same weights, same fingerprint):
    their behaviour and activations are taken from the ``before`` and ``after`` units instead of
    being measured twice.
    """
    from interp.activations import CaptureConfig, capture
    from interp.judges import misalignment_rate
    from interp.models import resolve_checkpoint
    from interp.sharpening import trajectory_table

    fm, seed, m = unit.params["failure_mode"], unit.params["seed"], unit.params["method"]
    run = Path(deps[f"consistency/{fm}/s{seed}/{m}"]["path"]).parent
    epochs = sorted((int(p.name[5:]), p) for p in (run / "checkpoints").glob("epoch*")
                    if p.name[5:].isdigit() and (p / "adapter_config.json").is_file())
    if not epochs:
        raise FileNotFoundError(f"{run / 'checkpoints'} holds no epoch<N>/ adapters; the run saved no trajectory")
    measured = {}  # checkpoint fingerprint -> (its behaviour unit, its capture unit)
    for role in ("before", f"after:{m}"):
        cid = ckpt_id(fm, seed, role)
        producer = deps[str(checkpoint_unit(fm, seed, role))]
        measured[str(producer["fingerprint"])] = (deps[f"behaviour/{cid}"], deps[f"capture/{cid}"])
    b, c, t = ctx.config.behaviour, ctx.config.capture, ctx.config.trajectory
    records = _eval_records(ctx, fm, b.eval_rows)
    rows, stores = [], {}
    for epoch, path in epochs:
        known = measured.get(resolve_checkpoint(str(path)).fingerprint)
        behaviour = read_table(known[0], ctx, "behaviour") if known else None
        if known and behaviour is not None:
            row = behaviour.iloc[0].to_dict()
            for k in ("checkpoint", "consistency_method"):
                row.pop(k, None)
            rows.append(row | {"epoch": epoch, "method": m, "seed": seed})
            stores[epoch] = _store(known[1])
            continue
        lm = _load(ctx, str(path))
        rate = misalignment_rate(lm, fm, judge=b.judge, records=records, n_boot=b.n_boot, progress=ctx.progress)
        rows.append({k: v for k, v in rate.as_dict().items() if np.isscalar(v)}
                    | {"epoch": epoch, "method": m, "seed": seed, "checkpoint_fingerprint": lm.checkpoint.fingerprint})
        stores[epoch] = capture(lm, _contrast(ctx), CaptureConfig(tuple(_hooks(ctx, lm.n_layers)), positions=c.positions,
                                                                  batch_size=c.batch_size, dtype=c.dtype))
    traj = trajectory_table(stores, methods=t.probes, meta={str(e): (m, fm) for e, _ in epochs}, n_boot=t.n_boot,
                            n_permutations=t.n_permutations, seed=seed)
    return {"tables": _write(tmp, behaviour_trajectory=pd.DataFrame(rows), trajectory=traj.assign(seed=seed)),
            "epochs": [e for e, _ in epochs]}


STAGES: dict[str, Callable[[Unit, Context, Mapping[str, Any], Path], dict[str, Any]]] = {
    "organism": stage_organism,
    "consistency": stage_consistency,
    "behaviour": stage_behaviour,
    "capture": stage_capture,
    "probes": stage_probes,
    "sharpening": stage_sharpening,
    "sae": stage_sae,
    "steering": stage_steering,
    "trajectory": stage_trajectory,
    "convergence": stage_convergence,
}
