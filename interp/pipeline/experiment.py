"""What an experiment studies: its organisms and their checkpoints, built by interp or given.

An :class:`Organism` is one failure mode x seed with its checkpoints by role: ``before`` (the
organism) and ``after:<method>`` per consistency method (the base model is the experiment's
``model``). It comes from one of three places:

- the grid (``failure_modes`` x ``seeds`` x ``methods``): interp builds it, the ``organism`` and
  ``consistency`` units produce its checkpoints (and with ``mediation.conditions`` the
  ``condition`` units the same runs trained under each condition, ``after:<method>@<condition>``);
- ``checkpoints:`` groups: a researcher's own checkpoints by path (an adapter made with peft, a
  merged model, a GGUF), their afters named freely, optional per-epoch paths; the ``checkpoint``
  units resolve them (their fingerprints, nothing written where they live);
- ``checkpoints: {runs_root: ...}``: the paper's ``organisms/`` + ``runs/`` layout, read as it is
  (:func:`interp.models.list_run_checkpoints`), filtered by failure mode, method and seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interp.pipeline.config import ExperimentConfig
    from interp.pipeline.sections import RunsRootSection


@dataclass(frozen=True)
class Organism:
    """One organism of the experiment and its checkpoints.

    ``given``: role -> path of checkpoints trained elsewhere (None: interp builds them);
    ``epochs``: method -> {epoch: path} of a given after's saved epochs (epoch 0: the before).
    """

    failure_mode: str
    seed: int
    methods: tuple[str, ...]
    given: Mapping[str, str] | None = None
    epochs: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    conditioned: tuple[str, ...] = ()

    @property
    def variants(self) -> tuple[str, ...]:
        """Every consistency run: each method, then each ``<method>@<condition>`` of a mediation experiment."""
        return (*self.methods, *self.conditioned)

    @property
    def roles(self) -> list[str]:
        """``before``, then ``after:<variant>`` per consistency run (``after:bct``, ``after:bct@ablate:persona``)."""
        return ["before", *(f"after:{m}" for m in self.variants)]

    def id(self, role: str) -> str:
        """The checkpoint id: ``<failure mode>/s<seed>/<role>``."""
        return f"{self.failure_mode}/s{self.seed}/{role}"

    def producer(self, role: str) -> str:
        """The unit that produces (builds or resolves) the checkpoint of ``role``."""
        if self.given is not None:
            return f"checkpoint/{self.id(role)}"
        if role == "before":
            return f"organism/{self.failure_mode}/s{self.seed}"
        variant = role.split(":", 1)[1]
        stage = "condition" if "@" in variant else "consistency"
        return f"{stage}/{self.failure_mode}/s{self.seed}/{variant}"

    @property
    def label(self) -> str:
        return f"{self.failure_mode}/s{self.seed}"


def organisms(config: ExperimentConfig) -> list[Organism]:
    """Every organism of ``config``, in config order (failure mode, then seed, for the grid)."""
    from interp.pipeline.sections import CheckpointGroup, RunsRootSection

    given = config.checkpoints
    if given is None:
        conditioned = config.mediation.variants(config.methods)
        return [Organism(fm, seed, config.methods, conditioned=conditioned)
                for fm in config.failure_modes for seed in config.seeds]
    if isinstance(given, RunsRootSection):
        return runs_root_organisms(given)
    groups = (given,) if isinstance(given, CheckpointGroup) else tuple(given)
    return [Organism(group_failure_mode(g.failure_mode, config), g.seed, tuple(g.after),
                     {"before": g.before} | {f"after:{m}": p for m, p in g.after.items()},
                     {m: dict(e) for m, e in g.epochs.items()}) for g in groups]


def group_failure_mode(named: str | None, config: ExperimentConfig) -> str:
    """A group's failure mode: its own, else the config's only one."""
    if named is not None:
        return named
    if len(config.failure_modes) != 1:
        raise ValueError(f"a checkpoints group without failure_mode needs exactly one failure_modes entry, got "
                         f"{list(config.failure_modes)}; name each group's failure_mode")
    return config.failure_modes[0]


def runs_root_organisms(source: RunsRootSection) -> list[Organism]:
    """The organisms of a runs root in the paper's layout, with every saved epoch of their runs."""
    from interp.models import list_run_checkpoints

    found = list_run_checkpoints(Path(source.runs_root).expanduser())

    def keep(c: Any) -> bool:
        return ((source.failure_modes is None or c.failure_mode in source.failure_modes)
                and (source.seeds is None or c.seed in source.seeds)
                and (source.scales is None or c.scale in source.scales)
                and (c.method is None or source.methods is None or c.method in source.methods))

    found = [c for c in found if keep(c)]
    befores: dict[tuple[str, int], Any] = {}
    for c in (c for c in found if c.role == "before"):
        other = befores.setdefault((c.failure_mode, c.seed), c)
        if other is not c:
            raise ValueError(f"runs root {source.runs_root}: two organisms are {c.failure_mode} seed {c.seed} "
                             f"({other.path.name} and {c.path.name}); keep one with scales: [...]")

    def same(c: Any, before: Any) -> bool:  # a run of that organism (same model, failure mode, seed and scale)
        return (c.model, c.failure_mode, c.seed, c.scale) == (before.model, before.failure_mode, before.seed,
                                                             before.scale)

    out = []
    for (fm, seed), before in sorted(befores.items()):
        afters = {c.method: c for c in found if c.role == "after" and c.method and same(c, before)}
        epochs: dict[str, dict[int, str]] = {}
        for m in afters:
            steps = {c.epoch: str(c.path) for c in found if c.role == "after_epoch" and c.method == m
                     and same(c, before) and c.epoch is not None}
            if steps:
                epochs[m] = {0: str(before.path)} | steps  # epoch 0 of a consistency run: the organism
        methods = tuple(sorted(afters))
        out.append(Organism(fm, seed, methods, {"before": str(before.path)}
                            | {f"after:{m}": str(c.path) for m, c in afters.items()}, epochs))
    if not out:
        held = sorted({f"{c.failure_mode}/{c.method or 'organism'}/seed{c.seed}/{c.scale}"
                       for c in list_run_checkpoints(Path(source.runs_root).expanduser())})
        raise ValueError(f"runs root {source.runs_root} holds nothing that matches failure_modes="
                         f"{source.failure_modes}, methods={source.methods}, seeds={source.seeds}, scales="
                         f"{source.scales}; it holds "
                         f"{', '.join(held) if held else 'no organisms/ or runs/ adapters'}")
    return out


def describe_organisms(found: list[Organism]) -> list[dict[str, Any]]:
    """The organisms as plain data (for the manifest)."""
    return [{"failure_mode": o.failure_mode, "seed": o.seed, "methods": list(o.methods),
             "given": dict(o.given) if o.given is not None else None,
             "epochs": {m: {str(k): v for k, v in e.items()} for m, e in o.epochs.items()}}
            | ({"conditioned": list(o.conditioned)} if o.conditioned else {}) for o in found]
