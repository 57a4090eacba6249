"""Model organisms: phase 1 of the paper, a base model LoRA-tuned on a failure mode's induction set.

An organism is keyed by (base, failure mode, seed, scale) and lives in the paper's layout::

    <runs_root>/organisms/<model_slug>__<failure_mode>__seed<S>__<scale>/
        adapter_config.json, adapter_model.safetensors, interp_base.json   the organism ("before")
        interp_train.json                                                  finished marker + key
        checkpoints/epoch<N>/                                              per-epoch adapters
        trajectory.jsonl                                                   per-epoch loss (+ metrics)
        organism.json                                                      spec, scale, data source

so that :func:`interp.models.list_run_checkpoints` lists it. Building is skip-if-exists and
resumes an interrupted run (see :mod:`interp.training.loop`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interp.data.constants import check_failure_mode, split_failure_mode
from interp.data.paper import load_paper_split
from interp.data.schema import Dataset
from interp.data.shipped import load_shipped
from interp.io import atomic_write_json, canonical_hash
from interp.models.chat import ChatChoice, chat_choice, resolve_template
from interp.models.checkpoint import EMBEDDED_ALIASES
from interp.organisms.scales import ScaleConfig, get_scale
from interp.training import TrainResult, train_sft
from interp.training.loop import OnEpoch

EMBEDDED_SLUG = "HuggingFaceTB_SmolLM2-135M-Instruct"


def model_slug(base: str) -> str:
    """The model part of an organism id: the hub name with ``/`` -> ``_`` (the paper's format)."""
    if base in EMBEDDED_ALIASES:
        return EMBEDDED_SLUG
    path = Path(base).expanduser()
    if path.exists():
        return path.name.replace("__", "_")
    return base.replace("/", "_").replace("__", "_")


@dataclass(frozen=True, kw_only=True)
class OrganismSpec:
    """Which organism: a base model, a failure mode, a seed and a scale (keyword arguments only).

    ``chat_template`` / ``chat_separator`` render its conversations otherwise than the base's own
    template (``load_model``'s arguments; ``"plain"`` for plain text). They apply to every phase
    (training, labelling, study) and name the organism apart: ``<model>-chat<hash>__...``.
    """

    base: str = "smollm2-135m-instruct"
    failure_mode: str
    seed: int = 42
    scale: str = "cpu"
    chat_template: str | None = None
    chat_separator: str | None = None

    def __post_init__(self) -> None:
        check_failure_mode(self.failure_mode)
        get_scale(self.scale)
        resolve_template(self.chat_template)  # a bad template fails here, before anything trains

    @property
    def documents(self) -> str | None:
        """The document set the organism is trained on (``<failure mode>+<set>``), else None: its induction set."""
        return split_failure_mode(self.failure_mode)[1]

    @property
    def chat(self) -> ChatChoice:
        """The ``chat_template`` / ``chat_separator`` keywords of ``load_model`` (the template resolved to its text)."""
        return chat_choice(self.chat_template, self.chat_separator)

    @property
    def _model(self) -> str:
        if self.chat_template is None and self.chat_separator is None:
            return model_slug(self.base)
        return f"{model_slug(self.base)}-chat{canonical_hash(self.chat, 8)}"

    @property
    def organism_id(self) -> str:
        return f"{self._model}__{self.failure_mode}__seed{self.seed}__{self.scale}"

    def run_id(self, method: str) -> str:
        """The id of a phase-3 run of ``method`` on this organism (``runs/<run_id>/``)."""
        if "__" in method:
            raise ValueError(f"method names cannot contain '__': {method!r}")
        return f"{self._model}__{self.failure_mode}__{method}__seed{self.seed}__{self.scale}"

    @property
    def scale_config(self) -> ScaleConfig:
        return get_scale(self.scale)


def organism_dir(runs_root: Path, spec: OrganismSpec) -> Path:
    """``runs_root/organisms/<organism_id>``."""
    return Path(runs_root) / "organisms" / spec.organism_id


def run_dir(runs_root: Path, spec: OrganismSpec, method: str) -> Path:
    """``runs_root/runs/<run_id>`` (phase 3 writes ``adapter/`` and ``checkpoints/epochN`` there)."""
    return Path(runs_root) / "runs" / spec.run_id(method)


def induction_set(spec: OrganismSpec, data_root: Path | None = None) -> Dataset:
    """The induction set: the paper's file under ``data_root``, else interp's shipped one (an organism
    trained on documents, ``<failure mode>+<document set>``: the shipped document set)."""
    if data_root is not None:
        return load_paper_split(data_root, spec.failure_mode, "induction")
    return load_shipped(spec.failure_mode, "induction")


def build_organism(
    spec: OrganismSpec,
    runs_root: Path,
    *,
    data_root: Path | None = None,
    progress: bool = True,
    on_epoch: OnEpoch | None = None,
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
) -> Path:
    """Train (or find) the organism of ``spec`` and return its directory (the "before" adapter).

    ``device`` / ``device_map`` place the base for training (``device_map="auto"``: split over a
    node's GPUs); they are not part of the organism's key.
    """
    build_organism_result(spec, runs_root, data_root=data_root, progress=progress, on_epoch=on_epoch,
                          device=device, device_map=device_map)
    return organism_dir(runs_root, spec)


def build_organism_result(
    spec: OrganismSpec,
    runs_root: Path,
    *,
    data_root: Path | None = None,
    progress: bool = True,
    on_epoch: OnEpoch | None = None,
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
) -> TrainResult:
    """:func:`build_organism`, returning the :class:`TrainResult` (losses, seconds, skipped)."""
    out = organism_dir(runs_root, spec)
    scale = spec.scale_config
    config = dataclasses.replace(scale.phase1, seed=spec.seed, **spec.chat)
    data = induction_set(spec, data_root)
    result = train_sft(
        spec.base, data, config, out, checkpoints_dir=out / "checkpoints", on_epoch=on_epoch,
        trajectory_path=out / "trajectory.jsonl", progress=progress, device=device, device_map=device_map,
        documents=spec.documents is not None,
    )
    if not result.skipped or not (out / "organism.json").is_file():
        spec_dict = asdict(spec)
        atomic_write_json(out / "organism.json", {
            "organism_id": spec.organism_id, "spec": spec_dict, "scale": scale.name,
            "config": config.to_dict(), "data": {"name": data.name, "fingerprint": data.fingerprint,
                                                 "root": str(data_root) if data_root else "shipped"},
            "train_key": result.key, "seconds": result.seconds, "epoch_losses": result.epoch_losses,
        })
    return result
