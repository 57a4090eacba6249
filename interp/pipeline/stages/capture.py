"""Stage ``capture``: every checkpoint's activations on the contrast set, into the activation store.

One unit per checkpoint (the base model once). The store is keyed by its inputs in the cache
(``$INTERP_CACHE/activations``), so a repeat is a cache hit and an interrupted capture resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from interp.pipeline.config import ExperimentConfig
from interp.pipeline.execute import Context, Inputs
from interp.pipeline.spec import StageSpec, Unit, register_stage
from interp.pipeline.stages.common import (
    StoreOutputs,
    check_context,
    checkpoints,
    contrast,
    contrast_capture,
    load_role,
    n_layers,
)


def plan(config: ExperimentConfig) -> Iterator[Unit]:
    yield Unit("capture/base", "capture", {"role": "base"}, loads="base")
    for c in checkpoints(config):
        yield Unit(f"capture/{c.id}", "capture", c.params, (c.producer,), loads=c.id)


def run(unit: Unit, ctx: Context, inputs: Inputs, tmp: Path) -> StoreOutputs:
    from interp.activations import capture

    lm = load_role(ctx, inputs, unit.params["role"], unit.params.get("failure_mode"), unit.params.get("seed"))
    store = capture(lm, contrast(ctx), contrast_capture(ctx.config, lm.n_layers))
    return StoreOutputs(store=str(store.path), store_key=store.manifest["key"], checkpoint=lm.checkpoint.describe(),
                        n_layers=lm.n_layers)


def check(config: ExperimentConfig) -> None:
    """``capture.hooks`` name layers and sites the model has, and the contrast set fits its context unless
    ``capture.truncate`` (read from its config and tokenizer, no weights loaded)."""
    from interp.hooks.names import parse_hooks
    from interp.traits import is_trait_file, load_trait

    parse_hooks(config.capture.hooks, n_layers(config))
    if is_trait_file(config.capture.contrast):  # generated later: its prompts, with room for the answers
        check_context(config, load_trait(config.capture.contrast).prompts(), "capture.contrast trait prompts",
                      reserve=64)
    elif not config.capture.truncate:
        check_context(config, contrast(config), "capture.contrast conversations",
                      fix="Shorten them, or set capture.truncate: true to keep their first tokens.")


SPEC = register_stage(StageSpec("capture", sections=("capture", "device", "dtype", "device_map"), plan=plan, run=run,
                                outputs=StoreOutputs,
                                check=check))
