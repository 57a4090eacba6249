"""Predict what a consistency run will do before it trains: how far its targets sit along the direction.

Persona vectors (Chen et al. 2025) predict a fine-tune's behaviour shift from the *projection
difference* of its training responses onto a trait direction, relative to the model's own
responses to the same prompts. For consistency training the targets are the model's own selected
outputs, so the natural predictor of a method's run is, at a layer with unit direction ``u``::

    predictor = mean_i  u . h(target_i) - u . h(own_i)

with ``h`` the response-mean residual of the model being trained (the organism) after that layer,
``target_i`` what phase 3 trains on (:meth:`~interp.consistency.base.LabelMethod.training_contrast`:
the labels, BCT's clean answers on the wrapped prompts, ACT's clean-prompt activations) and
``own_i`` the organism's own greedy answer to the same prompt (ACT: the wrapped prompt with the
same answer, the activations ACT moves). Positive: the targets push toward the persona.

:func:`projection_difference` gives the predictor with its interval and every example's
projections (the ranking a user can drop the worst labels from before training);
:func:`correlation` relates predictors to the realised behaviour changes across runs (Pearson and
Spearman, bootstrap intervals over runs, a shuffled-pairing p-value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from probes.stats import Estimate, bootstrap_mean, percentile_interval, permutation_p


@dataclass(frozen=True)
class Projections:
    """The predictor at one hook and the projections it averages (rows paired by example id)."""

    hook: str
    predictor: Estimate
    examples: pd.DataFrame  # id, proj_target, proj_own, diff


def own_answers(model: Any, targets: Any, *, max_new_tokens: int, progress: bool = False) -> Any:
    """The model's own greedy answers to the prompts of ``targets`` (a Dataset), as a Dataset paired by id."""
    from interp.data import ChatRecord, Dataset, Message
    from interp.generation import SamplingParams, generate

    records = list(targets)
    replies = generate(model, records, SamplingParams(max_new_tokens=max_new_tokens), progress=progress)
    own = [ChatRecord(r.id, (*r.prompt_messages, Message("assistant", reply[0] or " ")), r.label, r.group)
           for r, reply in zip(records, replies, strict=True)]
    return Dataset(f"{targets.name}/own-{getattr(getattr(model, 'checkpoint', None), 'fingerprint', 'model')}",
                   tuple(own))


def projection_difference(model: Any, directions: Mapping[str, Any], targets: Any, own: Any, *, n_boot: int = 2000,
                          seed: int = 0, batch_size: int = 8, progress: bool = False) -> list[Projections]:
    """Per hook of ``directions`` (hook -> vector): the predictor and the per-example projections.

    ``targets`` and ``own`` are Datasets of conversations with the same ids; each is captured
    (response mean, position 0 excluded) through ``model`` and projected on the unit directions.
    """
    from interp.activations import CaptureConfig, capture

    t_ids, o_ids = [r.id for r in targets], [r.id for r in own]
    if sorted(t_ids) != sorted(o_ids) or len(set(t_ids)) != len(t_ids):
        raise ValueError("targets and own answers must pair one to one by id")
    if not t_ids:
        raise ValueError("no training targets to project (every labelled row was dropped)")
    config = CaptureConfig(tuple(directions), positions="response_mean", batch_size=batch_size)
    stores = {name: capture(model, data, config, progress=progress) for name, data in (("target", targets), ("own", own))}
    order = {name: {i: k for k, i in enumerate(s.examples["id"])} for name, s in stores.items()}
    out = []
    for hook, vector in directions.items():
        u = np.asarray(vector, dtype=np.float64).reshape(-1)
        u = u / np.linalg.norm(u)
        proj = {name: s.load(hook).numpy().astype(np.float64) @ u for name, s in stores.items()}
        pt = np.array([proj["target"][order["target"][i]] for i in t_ids])
        po = np.array([proj["own"][order["own"][i]] for i in t_ids])
        diff = pt - po
        est = bootstrap_mean(diff, n_boot=n_boot, seed=seed)
        frame = pd.DataFrame({"id": t_ids, "proj_target": pt, "proj_own": po, "diff": diff})
        out.append(Projections(hook, est, frame))
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank().to_numpy()


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def correlation(predictor: Any, change: Any, *, n_boot: int = 2000, n_permutations: int = 2000, seed: int = 0,
                alpha: float = 0.05) -> dict[str, Estimate]:
    """Pearson and Spearman correlation of predictors and realised changes across runs.

    Intervals: percentile bootstrap over runs (resamples with a constant side give no value and
    are dropped). p: the share of random re-pairings of predictors with changes whose correlation
    is at least as far from 0 (the shuffled-predictor control).
    """
    x, y = np.asarray(predictor, dtype=np.float64), np.asarray(change, dtype=np.float64)
    if x.shape != y.shape or x.size < 3:
        raise ValueError(f"a correlation needs >= 3 runs with a predictor and a change each, got {x.size} and {y.size}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    perms = [rng.permutation(x.size) for _ in range(n_permutations)]
    out = {}
    for name, fn in (("pearson", _pearson), ("spearman", lambda a, b: _pearson(_ranks(a), _ranks(b)))):
        value = fn(x, y)
        boot = np.array([fn(x[i], y[i]) for i in idx])
        lo, hi = percentile_interval(boot, alpha)
        null = np.array([fn(x[p], y) for p in perms])
        out[name] = Estimate(value, lo, hi, permutation_p(null[np.isfinite(null)], value), alpha)
    return out


def predict_labels(model: Any, labelled: Any, *, contrast: Any, layer: int, method: str | None = None,
                   probe: str = "diffmeans", max_new_tokens: int = 48, n_boot: int = 2000, seed: int = 0,
                   progress: bool = False) -> tuple[Projections, Any, Any]:
    """The predictor of training ``model`` on ``labelled`` (a Dataset), before any training: the direction
    is ``probe`` fitted on ``model``'s capture of ``contrast`` at ``layer``; ``method`` (a registered
    consistency method) says what its training pulls toward (default: SFT on the records as they are).

    Returns (projections at that layer, targets, own answers), the two Datasets paired by id.
    """
    from interp.activations import CaptureConfig, capture
    from interp.consistency.base import LabelMethod, method_class
    from probes.registry import make_probe

    cls = method_class(method) if method is not None else LabelMethod
    targets, own = cls.training_contrast(labelled)
    if len(targets) == 0:
        raise ValueError(f"{labelled.name}: no record with a non-blank final assistant turn to train on")
    if own is None:
        own = own_answers(model, targets, max_new_tokens=max_new_tokens, progress=progress)
    hook = f"blocks.{layer}.hook_resid_post"
    store = capture(model, contrast, CaptureConfig((hook,), positions="response_mean"), progress=progress)
    fitted = make_probe(probe).fit(store.load(hook).numpy(), store.labels())
    direction = np.asarray(fitted.direction_, dtype=np.float32).ravel()
    [found] = projection_difference(model, {hook: direction}, targets, own, n_boot=n_boot, seed=seed,
                                    progress=progress)
    return found, targets, own
