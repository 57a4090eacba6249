"""One consistency-training run: phase 2 (self-labelling) and phase 3 (training) of one organism x method.

Layout, as in the paper's code (``runs_root/runs/<run_id>/``)::

    labelled.jsonl          phase 2: the method's labelled records (skip-if-exists)
    adapter/                phase 3: the organism's LoRA continued on the labels ("after")
    checkpoints/epoch<N>/   phase 3: per-epoch adapters (the trajectory)
    trajectory.jsonl        phase 3: per-epoch training record (written by interp.training)
    results.json            what ran, with which parameters, and how long each phase took

``run_id`` is ``<model_slug>__<failure>__<method>__seed<S>__<scale>``: the organism's id with the
method inserted. The run names no method: it reads the method class's declarations
(:class:`~interp.consistency.base.LabelMethod`): its ``kind`` picks the prompts (consistency
prompts, or BCT/ACT's clean/wrapped pairs), ``needs_reference`` / ``default_components`` its
judges, ``phase3_consistency`` / ``epochs`` the training settings, and its ``train`` phase 3
(label methods and BCT: SFT on ``sft_records(labelled)``; ACT: ``train_act`` on the pairs).
Both phases resume: an existing ``labelled.jsonl`` is reused and an existing ``adapter/`` skips
training.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from interp.consistency.base import LabelMethod, MethodParams, canonical_name, is_kept, method_class
from interp.consistency.pairs import pair_records
from interp.consistency.presets import params_for
from interp.data import Dataset, load_jsonl, load_paper_split, load_rubric, load_shipped, write_jsonl
from interp.io import atomic_write_json, canonical_hash, read_json
from interp.models.checkpoint import resolve_checkpoint
from interp.models.loading import LoadedModel, load_model

log = logging.getLogger(__name__)

class ConsistencyError(RuntimeError):
    """A consistency run cannot go on; the message says why and what to do."""


class OrganismLike(Protocol):
    """What a run needs of ``interp.organisms.OrganismSpec``."""

    @property
    def base(self) -> str: ...
    @property
    def failure_mode(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def scale(self) -> str: ...
    @property
    def organism_id(self) -> str: ...


@dataclass(frozen=True)
class RunSpec:
    """One cell of the sweep: an organism and a consistency method (aliases are canonicalised)."""

    organism: OrganismLike
    method: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", canonical_name(self.method))

    @property
    def method_class(self) -> type[LabelMethod]:
        """The registered method class: the declarations the run dispatches on."""
        return method_class(self.method)

    @property
    def run_id(self) -> str:
        """``<model_slug>__<failure>__<method>__seed<S>__<scale>`` (the paper's format)."""
        parts = self.organism.organism_id.split("__")
        if len(parts) < 4 or not parts[-2].startswith("seed"):
            raise ValueError(f"organism id {self.organism.organism_id!r} is not <model>__<failure>__seed<S>__<scale>")
        return "__".join([*parts[:-2], self.method, *parts[-2:]])

    def run_dir(self, runs_root: Path) -> Path:
        return Path(runs_root) / "runs" / self.run_id


# ---- inputs -----------------------------------------------------------------------------------


def consistency_prompts(failure_mode: str, data_root: Path | None = None) -> Dataset:
    """Phase-2 prompts: the paper's ``consistency.jsonl`` under ``data_root``, else our shipped file."""
    if data_root is not None:
        return load_paper_split(data_root, failure_mode, "consistency")
    return load_shipped(failure_mode, "consistency")


def act_bct_pairs(failure_mode: str, data_root: Path | None = None) -> Dataset:
    """BCT/ACT clean/wrapped pairs joined by id (see :func:`interp.consistency.pairs.pair_records`)."""
    if data_root is not None:
        clean = load_paper_split(data_root, failure_mode, "act_bct_clean")
        wrapped = load_paper_split(data_root, failure_mode, "act_bct_wrapped")
    else:
        clean, wrapped = load_shipped(failure_mode, "act_bct_clean"), load_shipped(failure_mode, "act_bct_wrapped")
    return pair_records(clean, wrapped)


def method_prompts(spec: RunSpec, data_root: Path | None = None) -> Dataset:
    """What phase 2 labels: the clean/wrapped pairs for a ``"pairs"`` method, else the consistency prompts."""
    fm = spec.organism.failure_mode
    return act_bct_pairs(fm, data_root) if spec.method_class.kind == "pairs" else consistency_prompts(fm, data_root)


def rubric_for(failure_mode: str, data_root: Path | None = None) -> str | None:
    """The paper's rubric for the failure mode when its data directory is given, else None."""
    if data_root is None:
        return None
    try:
        return load_rubric(data_root, failure_mode)
    except FileNotFoundError:
        return None


# ---- collaborators ----------------------------------------------------------------------------


def _training() -> Any:
    return importlib.import_module("interp.training")


def organism_adapter(spec: RunSpec, runs_root: Path, data_root: Path | None = None, *, device: str | None = None,
                     device_map: str | dict[str, Any] | None = None) -> Path:
    """The organism's adapter: ``runs_root/organisms/<organism_id>`` if built, else ``interp.organisms.build_organism``."""
    path = Path(runs_root) / "organisms" / spec.organism.organism_id
    if (path / "adapter_config.json").is_file():
        return path
    organisms: Any = importlib.import_module("interp.organisms")
    return Path(organisms.build_organism(spec.organism, runs_root, data_root=data_root, device=device,
                                         device_map=device_map))


def train_config(trainer: Any, spec: RunSpec) -> Any:
    """Phase-3 settings of the organism's scale, its seed: ``ScaleConfig.phase3``, or ``phase3_consistency``
    for a method that declares it (BCT/ACT).

    An organism spec without a scale config gets the paper's values: LoRA 32/64/0.05, lr 1e-5,
    the method's ``epochs`` (2; BCT/ACT 3), max_length 1024 (256 off the paper scale).
    """
    cls = spec.method_class
    scale = getattr(spec.organism, "scale_config", None)
    if scale is not None:
        config = scale.phase3_consistency if cls.phase3_consistency else scale.phase3
        return dataclasses.replace(config, seed=spec.organism.seed, **_chat(spec))
    return trainer.TrainConfig(
        epochs=cls.epochs, lr=1e-5, max_length=1024 if spec.organism.scale == "paper" else 256,
        seed=spec.organism.seed, lora=trainer.LoraSpec(rank=32, alpha=64, dropout=0.05), **_chat(spec),
    )


def _chat(spec: RunSpec) -> dict[str, Any]:
    """The organism's chat rendering as ``load_model`` / ``TrainConfig`` keywords ({} for the model's own)."""
    chat = getattr(spec.organism, "chat", None)
    return {k: v for k, v in chat.items() if v is not None} if chat else {}


def default_components(method: str, reference: LoadedModel | None, rubric: str | None) -> dict[str, Any]:
    """The offline defaults of a method's pluggable parts (its class's ``default_components``; see
    :mod:`interp.consistency.scoring`)."""
    return method_class(method).default_components(reference, rubric)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (unchanged when None), restoring the previous count."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


# ---- the run ----------------------------------------------------------------------------------


def label_key(
    spec: RunSpec, adapter: Path, prompts: Dataset, params: MethodParams, components: Mapping[str, Any] | None
) -> str:
    """What phase 2's output depends on: method, organism weights, prompts, parameters, components."""
    organism = resolve_checkpoint(adapter, spec.organism.base).fingerprint
    settings = {k: v for k, v in _plain(params).items() if k != "progress"}
    parts = sorted((k, getattr(v, "name", type(v).__name__) if not isinstance(v, str) else v)
                   for k, v in (components or {}).items())
    return canonical_hash([spec.method, organism, prompts.fingerprint, settings, parts])


def _check_resume(labelled_path: Path, meta_path: Path, key: str) -> None:
    """Refuse to reuse labels made from other inputs (a stale ``labelled.jsonl`` is never trained on silently)."""
    if not meta_path.is_file():
        log.warning("%s has no %s: reusing it without checking what it was labelled from", labelled_path,
                    meta_path.name)
        return
    recorded = read_json(meta_path).get("key")
    if recorded != key:
        raise ConsistencyError(
            f"{labelled_path} was labelled from other inputs (key {recorded}, now {key}: the organism, prompts, "
            "parameters or components changed). Delete it (and adapter/, checkpoints/) to relabel, or use a new runs root.")



def label_phase(
    spec: RunSpec,
    prompts: Dataset,
    adapter: Path,
    params: MethodParams,
    *,
    data_root: Path | None = None,
    components: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """Phase 2: load the organism (LoRA merged), label ``prompts`` with the method; returns (labelled, info).

    The organism (and, for a method that ``needs_reference`` and gets no components, the
    organism's base as the judge of its default components) load in ``dtype`` (the scale's
    training dtype: bf16 at ``paper`` scale) on ``device`` / ``device_map``. A method whose
    instance says ``needs_model = False`` (ACT on the shipped pairs) labels without loading.
    """
    cls = spec.method_class
    info: dict[str, Any] = {}
    rubric = rubric_for(spec.organism.failure_mode, data_root)
    labeller: LabelMethod | None = None
    if components is not None or not cls.needs_reference:  # the components need no model: build it now
        labeller = cls(**(dict(components) if components is not None else cls.default_components(None, rubric)))
        if not labeller.needs_model:
            return labeller.label(None, prompts, params), info  # type: ignore[arg-type]
    t0 = time.perf_counter()
    place: dict[str, Any] = {"dtype": dtype, "device": device, "device_map": device_map, **_chat(spec)}
    model = load_model(adapter, base=spec.organism.base, merge_lora=True, **place)
    if labeller is None:
        reference = load_model(spec.organism.base, **place)
        info["reference"] = reference.checkpoint.describe()
        labeller = cls(**cls.default_components(reference, rubric))
    info["load_seconds"] = time.perf_counter() - t0
    info["checkpoint"] = model.checkpoint.describe()
    return labeller.label(model, prompts, params), info


def phase2(spec: RunSpec, run_dir: Path, adapter: Path, params: MethodParams, *, data_root: Path | None = None,
           components: Mapping[str, Any] | None = None, dtype: str = "float32", device: str | None = None,
           device_map: str | dict[str, Any] | None = None) -> tuple[Dataset, dict[str, Any], float]:
    """The run's labels: ``run_dir/labelled.jsonl`` when it was labelled from these inputs, else labelled now
    and written there; returns (labelled, info, seconds spent labelling)."""
    labelled_path, meta_path = run_dir / "labelled.jsonl", run_dir / "labelled.meta.json"
    prompts = method_prompts(spec, data_root)
    if params.max_rows is not None:
        prompts = prompts.head(params.max_rows)
    key = label_key(spec, adapter, prompts, params, components)
    info: dict[str, Any] = {"key": key}
    if labelled_path.is_file():
        _check_resume(labelled_path, meta_path, key)
        if meta_path.is_file():
            info.update({k: v for k, v in read_json(meta_path).items() if k != "seconds"})
        return load_jsonl(labelled_path, name=f"{spec.run_id}/labelled"), info | {"resumed": True}, 0.0
    t0 = time.perf_counter()
    labelled, more = label_phase(spec, prompts, adapter, params, data_root=data_root, components=components,
                                 dtype=dtype, device=device, device_map=device_map)
    seconds = time.perf_counter() - t0
    write_jsonl(labelled, labelled_path)
    atomic_write_json(meta_path, {"key": key, "seconds": seconds, **_plain(more)})
    return labelled, info | more, seconds


def run_labels(spec: RunSpec, runs_root: Path, *, data_root: Path | None = None, progress: bool = True,
           num_threads: int | None = None, device: str | None = None,
           device_map: str | dict[str, Any] | None = None) -> Dataset:
    """Phases 1-2 of a cell without its training: the organism (built if missing) and the method's labels."""
    run_dir = spec.run_dir(Path(runs_root))
    run_dir.mkdir(parents=True, exist_ok=True)
    params = params_for(spec.method, spec.organism.scale, seed=spec.organism.seed).with_(progress=progress)
    dtype = str(getattr(train_config(_training(), spec), "dtype", "float32"))
    with torch_threads(num_threads):
        adapter = organism_adapter(spec, runs_root, data_root, device=device, device_map=device_map)
        return phase2(spec, run_dir, adapter, params, data_root=data_root, dtype=dtype, device=device,
                      device_map=device_map)[0]


def run_consistency(
    spec: RunSpec,
    runs_root: Path,
    *,
    data_root: Path | None = None,
    progress: bool = True,
    params: MethodParams | None = None,
    components: Mapping[str, Any] | None = None,
    trainer: Any = None,
    num_threads: int | None = None,
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
    during: Any = None,
) -> Path:
    """Run phases 2 and 3 of one cell and return its run directory (resumable; see the module doc).

    With ``during`` (an :class:`interp.training.during.DuringTraining`), phase 3 trains under that
    intervention into ``<run>/conditions/<its tag>/`` (adapter, checkpoints, trajectory, results),
    on the labels of the plain run; that directory is returned.

    Args:
        params: generation parameters (default: :func:`params_for` the organism's scale).
        components: the method's pluggable parts (``reranker``, ``reward_model``, ``judge``,
            ``rubric``); default: the offline ones of :func:`default_components`.
        trainer: an object with ``TrainConfig``, ``LoraSpec`` and the training functions the
            method's ``train`` calls (``train_sft``, ``train_act``; default: the module
            ``interp.training``).
        num_threads: torch threads for this run (None leaves the setting alone).
        device / device_map: where phases 2 and 3 put the models (``device_map="auto"``: split
            over a node's GPUs); not part of any key. Both phases use the scale's training dtype.
    """
    runs_root = Path(runs_root)
    run_dir = spec.run_dir(runs_root)
    run_dir.mkdir(parents=True, exist_ok=True)
    fm = spec.organism.failure_mode
    params = (params or params_for(spec.method, spec.organism.scale, seed=spec.organism.seed)).with_(progress=progress)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    trainer = trainer if trainer is not None else _training()
    config = train_config(trainer, spec)
    place: dict[str, Any] = {"device": device, "device_map": device_map}
    with torch_threads(num_threads):
        adapter = organism_adapter(spec, runs_root, data_root, **place)
        seconds["organism"] = time.perf_counter() - start

        labelled, info, seconds["label"] = phase2(spec, run_dir, adapter, params, data_root=data_root,
                                                  components=components, dtype=str(getattr(config, "dtype", "float32")),
                                                  **place)
        labelled_path = run_dir / "labelled.jsonl"
        seconds["label_per_prompt"] = seconds["label"] / max(1, len(labelled))

        kept = labelled.filter(is_kept)
        if len(kept) == 0:
            raise ConsistencyError(
                f"{spec.run_id}: none of the {len(labelled)} labelled rows is kept (blank answers or no agreement); "
                f"nothing to train on. Inspect {labelled_path}, then delete it to relabel.")
        train_dir = run_dir if during is None else run_dir / "conditions" / during.tag
        adapter_dir = train_dir / "adapter"
        train_info: dict[str, Any] = {}
        t0 = time.perf_counter()
        if (adapter_dir / "adapter_config.json").is_file():
            train_info["resumed"] = True
        else:
            common = {"checkpoints_dir": train_dir / "checkpoints", "trajectory_path": train_dir / "trajectory.jsonl",
                      "progress": progress, **place} | ({"during": during} if during is not None else {})
            result = spec.method_class.train(trainer, adapter, labelled, config, adapter_dir,
                                             base=spec.organism.base, **common)
            train_info = {k: _plain(getattr(result, k, None))
                          for k in ("epoch_dirs", "losses", "epoch_losses", "seconds", "skipped")}
        seconds["train"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - start
    train_rows = len(kept)
    atomic_write_json(train_dir / "results.json", {
        "run_id": spec.run_id,
        "method": spec.method,
        **({"during": during.key()} if during is not None else {}),
        "organism": {"id": spec.organism.organism_id, "adapter": str(adapter), "base": spec.organism.base},
        "failure_mode": fm,
        "seed": spec.organism.seed,
        "scale": spec.organism.scale,
        "data": str(data_root) if data_root is not None else "shipped",
        "params": _plain(params),
        "train_config": _plain(config),
        "n_prompts": len(labelled),
        "n_train_rows": train_rows,
        "labelling": _plain(info),
        "training": train_info,
        "seconds": seconds,
        "torch_threads": torch.get_num_threads() if num_threads is None else num_threads,
    })
    log.info("consistency run %s: %d rows labelled, %d trained, %.1f s", spec.run_id, len(labelled), train_rows,
             seconds["total"])
    return train_dir
