"""Stage ``sae``: an SAE (sae-lens, TopK) on one layer of the organism, its persona latents and model diffing.

One unit per organism: train the SAE on the organism's tokens of the shipped conversations
(position 0 excluded, last 10% of conversations held out), measure its quality (explained
variance, L0, dead latents, spliced-in LM loss), find the latents that separate the contrast
classes with their top examples, count the latents a probe needs to match the raw-activation
probe (before and after each method), and diff the latents before vs after each method.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs, write_tables
from interp.pipeline.spec import Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.stages.common import check_layer, ckpt_id, contrast, load_role, organism_of, store


@dataclass(frozen=True)
class SAEOutputs(Outputs):
    sae_dir: str = ""  # the SAE's folder, relative to the unit's directory (Inputs.dir(unit) / sae_dir)
    hook: str = ""
    explained_variance: float = float("nan")


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    if not config.sae.enabled:
        return
    for o in config.organisms():
        afters = tuple(f"capture/{o.id(f'after:{m}')}" for m in o.methods)
        yield Unit(f"sae/{o.label}", "sae", {"failure_mode": o.failure_mode, "seed": o.seed},
                   (o.producer("before"), f"capture/{o.id('before')}", *afters), loads=o.id("before"))


def _texts(n: int, seed: int) -> Any:
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


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> SAEOutputs:
    import torch

    from interp.activations import CaptureConfig, capture
    from interp.models.chat import as_messages
    from interp.sae import SAETrainConfig, reconstruction_metrics, spliced_lm_loss, train_sae

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    s = ctx.config.sae
    lm = load_role(ctx, inputs, "before", fm, seed)
    if s.layer >= lm.n_layers:
        raise ValueError(f"sae.layer {s.layer} is out of range: the model has {lm.n_layers} layers (0-{lm.n_layers - 1})")
    hook = f"blocks.{s.layer}.hook_resid_post"
    texts = _texts(s.text_examples, seed)
    # position 0 excluded; a text longer than the context is cut to it (an SAE reads tokens, not whole answers)
    tokens = capture(lm, texts, CaptureConfig((hook,), positions="all", dtype="float32", truncate=True))
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
    # cut to the context like the SAE's own capture (truncate=True)
    quality_ids = [lm.chat.encode(as_messages(r)).input_ids[: lm.context_length] for r in texts.records[-s.quality_examples:]]
    quality |= {f"lm_{k}": v for k, v in spliced_lm_loss(lm, sae, hook, quality_ids).items()}
    quality |= {"train_tokens": int(train.shape[0]), "heldout_tokens": int(test.shape[0]), "d_sae": s.d_sae, "k": s.k}
    q = pd.DataFrame({"metric": list(quality), "value": [float(v) for v in quality.values()]})
    q = q.assign(checkpoint="before", hook=hook, failure_mode=fm, seed=seed)
    tables = {"sae_quality": q, **_latent_tables(ctx, inputs, unit, sae, hook)}
    return SAEOutputs(write_tables(tmp, **tables), sae_dir="sae", hook=hook,
                      explained_variance=float(quality.get("explained_variance", float("nan"))))


def _latent_tables(ctx: Context, inputs: Inputs, unit: Unit, sae: Any, hook: str) -> dict[str, pd.DataFrame]:
    """Persona latents of the before capture with their top examples, latents needed, diffing per method."""
    from interp.sae import diff_latents, latent_sharpening, persona_latents, top_activating_examples

    fm, seed = unit.params["failure_mode"], unit.params["seed"]
    before = store(inputs, f"capture/{fm}/s{seed}/before")
    if hook not in before.hooks:
        raise ValueError(f"sae.layer {ctx.config.sae.layer}: {hook} is not captured "
                         f"(capture.hooks = {ctx.config.capture.hooks!r})")
    xb, y = before.load(hook).float(), before.labels()
    latents = persona_latents(sae, xb, y, top=24)
    rows = before.rows()
    text = [_record_text(r) for r in contrast(ctx).records]
    rows = rows.assign(text=[text[i] for i in rows["example"]])
    examples = top_activating_examples(sae, xb, latents["latent"].tolist()[:8], rows[["id", "label", "text"]], k=5)
    latents = latents.assign(top_examples=[json.dumps(_top_texts(examples, int(lat))) for lat in latents["latent"]])
    latents = latents.assign(checkpoint="before", hook=hook, failure_mode=fm, seed=seed)
    persona = latents["latent"].head(8).tolist()
    diffs, sharp = [], []
    needed = [_latents_needed(sae, before, hook, seed).assign(checkpoint="before")]
    for m in organism_of(ctx.config, fm, seed).methods:
        after = store(inputs, f"capture/{ckpt_id(fm, seed, f'after:{m}')}")
        xa = after.load(hook).float()
        needed.append(_latents_needed(sae, after, hook, seed).assign(checkpoint=f"after:{m}", method=m))
        d = diff_latents(sae, xb, xa, persona=persona, top=20, seed=seed)
        diffs.append(d.assign(checkpoint=f"after:{m}-before", method=m, hook=hook, failure_mode=fm, seed=seed))
        sh = latent_sharpening(sae, xb, y, xa, after.labels(), persona)
        sharp.append(sh.assign(checkpoint=f"after:{m}-before", method=m, hook=hook, failure_mode=fm, seed=seed))
    tables = {"sae_latents": latents, "sae_examples": examples.assign(failure_mode=fm, seed=seed),
              "sae_latents_needed": pd.concat(needed, ignore_index=True).assign(hook=hook, failure_mode=fm, seed=seed)}
    if diffs:
        tables |= {"sae_diff": pd.concat(diffs, ignore_index=True),
                   "sae_latent_sharpening": pd.concat(sharp, ignore_index=True)}
    return tables


def _latents_needed(sae: Any, capture_store: Any, hook: str, seed: int) -> pd.DataFrame:
    """Concentration in SAE terms: how many latents a probe needs to match the raw-activation probe's AUROC."""
    from interp.sae.latents import latents_to_reach_auroc
    from interp.sharpening.transfer import cross_fitted_scores
    from probes.stats import auroc

    x, y = capture_store.load(hook).float().numpy(), capture_store.labels()
    rows = capture_store.rows()
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


def check(config: ExperimentConfig) -> None:
    if config.sae.enabled:
        check_layer("sae.layer", config.sae.layer, config)


def summary(tables: Mapping[str, pd.DataFrame], config: ExperimentConfig) -> list[str]:
    q = tables.get("sae_quality")
    if q is None or q.empty:
        return []
    lines = ["SAE on the organism (position 0 excluded from every metric)"]
    for (fm, seed, hook), g in q.groupby(["failure_mode", "seed", "hook"], sort=False):
        v = dict(zip(g["metric"], g["value"], strict=False))
        lines.append(f"  {fm}/s{int(seed)} {hook}: explained variance {v.get('explained_variance', float('nan')):.3f}, "
                     f"L0 {v.get('l0', float('nan')):.1f}, dead {v.get('dead_fraction', float('nan')):.2f}")
    return lines


SPEC = register_stage(StageSpec(
    "sae", sections=("sae", "capture", "device", "dtype"), plan=plan, run=run, outputs=SAEOutputs,
    tables=(TableSpec("sae_quality", ("metric", "value", "checkpoint", "hook", "failure_mode", "seed"),
                      "one quality metric of the organism's SAE"),
            TableSpec("sae_latents", ("latent", "auroc", "top_examples", "checkpoint", "hook", "failure_mode", "seed"),
                      "a persona latent: how it separates the contrast classes, with its top examples"),
            TableSpec("sae_examples", ("latent", "activation", "failure_mode", "seed"),
                      "a top-activating contrast example of a persona latent"),
            TableSpec("sae_latents_needed", ("k", "auroc", "probe_auroc", "k_needed", "checkpoint", "hook",
                                             "failure_mode", "seed"),
                      "the cross-validated AUROC of a probe on the top-k persona latents, beside the raw probe's"),
            TableSpec("sae_diff", ("rank", "latent", "delta", "ci_low", "ci_high", "is_persona", "checkpoint", "method",
                                   "hook", "failure_mode", "seed"),
                      "a latent among the top movers between before and after (model diffing)"),
            TableSpec("sae_latent_sharpening", ("latent", "checkpoint", "method", "hook", "failure_mode", "seed"),
                      "a persona latent's selectivity and frequency, before vs after a method")),
    summary=summary, dashboard="sae", check=check))
