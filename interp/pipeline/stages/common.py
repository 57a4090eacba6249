"""What several stages share: the experiment's organisms and checkpoints, their outputs, their data.

Checkpoints are named by role: ``base``, ``before`` (the organism) and ``after:<method>``; their
ids are ``base`` or ``<failure mode>/s<seed>/<role>``. The units that produce them are the
``organism`` and ``consistency`` units of a built organism, or the ``checkpoint`` units of a given
one (:class:`~interp.pipeline.experiment.Organism` says which).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interp.pipeline.spec import Outputs

if TYPE_CHECKING:
    from interp.activations import ActivationStore
    from interp.data import ChatRecord, Dataset
    from interp.pipeline.config import ExperimentConfig
    from interp.pipeline.execute import Context, Inputs
    from interp.pipeline.experiment import Organism


# ---- typed outputs shared by stages ---------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointOutputs(Outputs):
    """A unit that produced a checkpoint: where it is, its fingerprint (part of dependants' keys), its id."""

    path: str = ""
    fingerprint: str = ""
    id: str = ""
    base: str | None = None  # what to load it with when its own adapter config names no local base


@dataclass(frozen=True)
class StoreOutputs(Outputs):
    """A capture unit: the activation store it wrote and the checkpoint it came from."""

    store: str = ""
    store_key: str = ""
    checkpoint: dict[str, Any] | None = None
    n_layers: int = 0

    def open(self) -> ActivationStore:
        from interp.activations import ActivationStore

        return ActivationStore(Path(self.store))


# ---- the experiment's organisms and checkpoints ---------------------------------------------------
def ckpt_id(failure_mode: str | None, seed: int | None, role: str) -> str:
    """``base`` or ``<failure mode>/s<seed>/<role>``."""
    return "base" if role == "base" else f"{failure_mode}/s{seed}/{role}"


def failure_modes(config: ExperimentConfig) -> list[str]:
    """The failure modes of the experiment's organisms, in order."""
    return list(dict.fromkeys(o.failure_mode for o in config.organisms()))


def eval_failure_modes(config: ExperimentConfig) -> list[str]:
    """The failure modes whose eval sets the organisms are measured on, in order: an organism trained on
    documents (``<fm>+<set>``) is measured on ``<fm>``'s, so the base model is scored once per eval set."""
    from interp.data import split_failure_mode

    return list(dict.fromkeys(split_failure_mode(fm)[0] for fm in failure_modes(config)))


def organism_of(config: ExperimentConfig, failure_mode: str, seed: int) -> Organism:
    """The organism a unit is about (by its failure mode and seed)."""
    for o in config.organisms():
        if (o.failure_mode, o.seed) == (failure_mode, seed):
            return o
    raise KeyError(f"the config has no organism {failure_mode}/s{seed}")


@dataclass(frozen=True)
class OrganismCheckpoint:
    """One checkpoint of an organism: its organism, role, id and the unit that produces it."""

    organism: Organism
    role: str

    @property
    def id(self) -> str:
        return self.organism.id(self.role)

    @property
    def producer(self) -> str:
        return self.organism.producer(self.role)

    @property
    def params(self) -> dict[str, Any]:
        return {"failure_mode": self.organism.failure_mode, "seed": self.organism.seed, "role": self.role}


def checkpoints(config: ExperimentConfig) -> Iterator[OrganismCheckpoint]:
    """Every organism's checkpoints (``before``, then each ``after:<method>``), organism by organism."""
    for o in config.organisms():
        for role in o.roles:
            yield OrganismCheckpoint(o, role)


def role_meta(role: str, failure_mode: str | None, seed: int | None) -> dict[str, Any]:
    """The columns that say which checkpoint a row is about."""
    return {"checkpoint": role, "failure_mode": failure_mode or "-",
            "consistency_method": role.split(":", 1)[1] if ":" in role else "-",
            "seed": seed if seed is not None else -1}


def load_role(ctx: Context, inputs: Inputs, role: str, failure_mode: str | None, seed: int | None) -> Any:
    """The loaded checkpoint of a role: the config's model for the base, else what its producer made."""
    if role == "base":
        return ctx.load(ctx.config.model)
    made = inputs.get_outputs(organism_of(ctx.config, str(failure_mode), int(seed or 0)).producer(role),
                              CheckpointOutputs)
    return ctx.load(made.path, base=made.base)


def store(inputs: Inputs, unit_id: str) -> ActivationStore:
    """The activation store a capture input wrote."""
    return inputs.get_outputs(unit_id, StoreOutputs).open()


def expand_roles(organism: Organism, roles_: Sequence[str]) -> list[str]:
    """``base``/``before`` as they are, ``after`` as every ``after:<method>`` of the organism (not the
    runs under a mediation condition)."""
    out: list[str] = []
    for r in roles_:
        out += [f"after:{m}" for m in organism.methods] if r == "after" else [r]
    return out


def n_layers(config: ExperimentConfig) -> int:
    """The base model's decoder layers, from its config (no weights loaded): what layer settings are checked against."""
    from interp.models.loading import model_config

    return int(model_config(config.model).num_hidden_layers)


def check_layer(what: str, layer: int, config: ExperimentConfig) -> None:
    """``layer`` is one of the model's and its resid_post is captured, or an error that says which exist."""
    from interp.hooks.names import parse_hooks

    n = n_layers(config)
    if not 0 <= layer < n:
        raise ValueError(f"{what} {layer} is out of range: the model has {n} layers (0..{n - 1})")
    hook = f"blocks.{layer}.hook_resid_post"
    if hook not in parse_hooks(config.capture.hooks, n):
        raise ValueError(f"{what} {layer}: {hook} is not captured (capture.hooks = {config.capture.hooks!r}); "
                         f"capture it or choose a captured layer")


def check_context(config: ExperimentConfig, records: Iterable[ChatRecord], what: str, *, reserve: int = 0,
                  fix: str = "Shorten them.") -> None:
    """``records`` fit the base model's context (``reserve``: tokens still to generate after each prompt;
    then only the prompt is counted), read from its config and tokenizer without loading a weight."""
    from interp.models.chat import as_messages
    from interp.models.loading import check_fits, context_length, load_chat, model_config

    limit = context_length(model_config(config.model))
    if limit is None:
        return
    chat = load_chat(config.model, **config.chat)
    records = list(records)
    lengths = [len(chat.encode(as_messages(r, prompt_only=reserve > 0))) for r in records]
    check_fits(lengths, limit, what, names=[r.id for r in records], reserve=reserve, fix=fix)


# ---- data every stage reads the same way ----------------------------------------------------------
def hooks(config: ExperimentConfig, n_layers: int) -> list[str]:
    from interp.hooks.names import parse_hooks

    return parse_hooks(config.capture.hooks, n_layers)


def contrast_capture(config: ExperimentConfig, n_layers: int) -> Any:
    """The :class:`~interp.activations.CaptureConfig` of the contrast set's captures (the capture stage's and
    the trajectory's, one key)."""
    from interp.activations import CaptureConfig

    c = config.capture
    return CaptureConfig(tuple(hooks(config, n_layers)), positions=c.positions, batch_size=c.batch_size, dtype=c.dtype,
                         truncate=c.truncate, documents=c.documents)


def contrast(where: Context | ExperimentConfig) -> Dataset:
    """The contrast set of ``capture.contrast`` (its first ``capture.max_examples`` rows).

    A persona-vectors trait file is generated by the config's base model (loaded through the
    context's model cache; its answers cached on disk), so that every checkpoint is captured on
    the same texts.
    """
    from interp.data import load_dataset
    from interp.pipeline.execute import Context
    from interp.traits import is_trait_file, trait_contrast

    config = where.config if isinstance(where, Context) else where
    spec = config.capture.contrast
    if is_trait_file(spec):
        if not isinstance(where, Context):
            raise ValueError(f"capture.contrast {spec} is a trait file: its contrast set is generated by the model")
        data = trait_contrast(where.load(config.model), spec, **_trait_judge(config, spec)).dataset
    else:
        data = load_dataset(spec)
    n = config.capture.max_examples
    return data.head(n) if n else data


def _trait_judge(config: ExperimentConfig, spec: str) -> dict[str, Any]:
    """With an HTTP ``behaviour.judge``: the trait's own eval_prompt through that server filters its answers."""
    from interp.judges.http import TraitScorer
    from interp.pipeline.sections import HTTPJudgeSection
    from interp.traits import load_trait

    j = config.behaviour.judge
    if not isinstance(j, HTTPJudgeSection):
        return {}
    scorer = TraitScorer(j.url, j.model, load_trait(spec).eval_prompt, api_key_env=j.api_key_env, timeout=j.timeout)
    return {"judge": scorer, "judge_name": f"http:{j.model}"}


def judge(ctx: Context, failure_mode: str, which: str = "judge") -> Any:
    """``behaviour.judge`` (or ``behaviour.second_judge``) as :func:`interp.judges.misalignment_rate`
    takes it: a name, or an :class:`~interp.judges.HTTPJudge` built from its section (the key read
    from the environment now)."""
    from interp.pipeline.sections import HTTPJudgeSection

    j = getattr(ctx.config.behaviour, which)
    if not isinstance(j, HTTPJudgeSection):
        return j
    from interp.judges import HTTPJudge

    rubric = Path(j.rubric).expanduser().read_text(encoding="utf-8") if j.rubric else None
    return HTTPJudge(j.url, j.model, failure_mode=failure_mode, rubric=rubric, paper_root=ctx.data_root,
                     api_key_env=j.api_key_env, misaligned_at_or_below=j.misaligned_at_or_below, workers=j.workers,
                     timeout=j.timeout)


def eval_records(ctx: Context | ExperimentConfig, failure_mode: str, rows: int | None) -> list[ChatRecord]:
    """The failure mode's eval prompts (the paper's with ``data_root``, else the shipped ones), the first ``rows``."""
    from interp.data import load_paper_split, load_shipped

    root = ctx.data_root if ctx.data_root is None else Path(ctx.data_root).expanduser()
    data = load_paper_split(root, failure_mode, "eval") if root else load_shipped(failure_mode, "eval")
    records = list(data.records)
    return records[:rows] if rows else records
