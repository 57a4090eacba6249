"""The experiment config: one YAML file, validated by a typed schema before any work starts.

Every section has defaults, so a config names only what differs. The schema is strict: unknown
keys, a key given twice, values of the wrong type (``"64"`` for a number, ``"false"`` for a
boolean, ``1`` for ``true``) and bad names (an unknown failure mode, method, scale, probe, judge,
contrast set, position or hook kind) are errors that name the key and the allowed values, before
any work starts. Example (``experiments/quickstart.yaml``)::

    name: quickstart
    model: smollm2-135m-instruct
    scale: quick
    failure_modes: [sycophancy]
    methods: [greedy_self_training, bct]
    steering: {layer: 15, alphas: [-0.1, -0.05, 0, 0.05, 0.1]}

Which stage reads which section is declared by its spec (:mod:`interp.pipeline.stages`): a
unit's key is the hash of the sections its stage reads and of its inputs' keys, so changing
``steering`` recomputes only the steering units (``interp run CONFIG --plan --set ...`` shows which).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from interp.pipeline.experiment import Organism, organisms
from interp.pipeline.precision import resolve_precision
from interp.pipeline.sections import (
    BehaviourConfig,
    CaptureSection,
    CheckpointGroup,
    ConvergenceSection,
    ExpressionSection,
    MechanismSection,
    MediationSection,
    PredictionSection,
    ProbesSection,
    RunsRootSection,
    SAESection,
    Section,
    SharpeningSection,
    SteeringSection,
    TrajectorySection,
    known,
)

if TYPE_CHECKING:
    from interp.models.chat import ChatChoice


def _checkpoints_form(v: Any) -> str:
    """Which form ``checkpoints:`` takes: a list of groups, a runs root, or one group."""
    if isinstance(v, list | tuple):
        return "groups"
    if isinstance(v, RunsRootSection) or (isinstance(v, dict) and "runs_root" in v):
        return "runs_root"
    return "group"


class ExperimentConfig(Section):
    """One experiment: the organism x method grid to build or use, and what to measure on it."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    model: str = "smollm2-135m-instruct"
    scale: str = "cpu"
    seeds: tuple[int, ...] = (42,)
    failure_modes: tuple[str, ...] = ("sycophancy",)
    methods: tuple[str, ...] = ("greedy_self_training", "bct")
    data_root: Path | None = Field(None, description="the paper's data directory (default: interp's shipped data)")
    runs_root: Path | None = Field(None, description="where organisms/ and runs/ live (default: $INTERP_CACHE/runs)")
    device: str | None = None
    device_map: str | None = Field(None, description="e.g. 'auto' to shard a large model over this node's GPUs")
    dtype: str = "float32"
    precision: str | None = Field(None, description="auto, bfloat16 or float32: sets dtype, adapter_dtype and the "
                                  "scale's bf16 variant at once; auto is bfloat16 where the device computes it "
                                  "natively (interp.pipeline.precision)")
    backend: str = Field("hf", description="the hook backend every stage runs the model through: hf (fastest), "
                         "nnsight or transformer_lens (or one registered with interp.hooks.register_backend)")
    architecture: dict[str, str | list[str] | None] | None = Field(
        None, description="where the model keeps its modules, for a family nobody mapped (interp.hooks.ArchitectureMap "
        "fields: layers, attn, mlp, mid, attn_out_proj, mlp_down_proj, attn_post_norm, mlp_post_norm, embedding, "
        "embedding_scale, final_norm, unembedding, lora_targets)")
    chat_template: str | None = Field(None, description="how conversations become text: None (the model's own "
                                      "template; plain text for a base model without one), 'plain', or a Jinja "
                                      "template string or file")
    chat_separator: str | None = Field(None, description="with plain text: between a prompt and its response "
                                       "(default a newline)")
    threads: int | None = Field(None, ge=1, description="CPU threads of torch and of numpy/scikit-learn's BLAS "
                                                        "(default: their choice)")
    model_pool: bool = Field(False, description="load the base once and swap LoRA adapters (unmerged) between "
                                                "checkpoints, instead of loading and merging each one: for large models")
    model_pool_max_adapters: int | None = Field(8, ge=1, description="with model_pool: adapters kept attached at "
                                                                     "once (least recently used deleted; None: all)")
    adapter_dtype: str | None = Field(None, description="with model_pool: the dtype the LoRA layers compute in (None: "
                                                        "float32); 'bfloat16' beside a bf16 base is faster, and keyed")
    behaviour: BehaviourConfig = BehaviourConfig()
    capture: CaptureSection = CaptureSection()
    probes: ProbesSection = ProbesSection()
    sharpening: SharpeningSection = SharpeningSection()
    sae: SAESection = SAESection()
    steering: SteeringSection = SteeringSection()
    trajectory: TrajectorySection = TrajectorySection()
    mediation: MediationSection = MediationSection()
    prediction: PredictionSection = PredictionSection()
    mechanism: MechanismSection = MechanismSection()
    expression: ExpressionSection = ExpressionSection()
    convergence: ConvergenceSection = ConvergenceSection()
    dashboard: bool = True
    checkpoints: Annotated[Annotated[CheckpointGroup, Tag("group")] | Annotated[tuple[CheckpointGroup, ...], Tag("groups")]
                           | Annotated[RunsRootSection, Tag("runs_root")], Discriminator(_checkpoints_form)] | None = Field(
        None, description="study checkpoints trained elsewhere instead of building the organism x method grid: "
                          "one group {before, after: {name: path}, epochs}, a list of groups, or {runs_root: PATH} "
                          "in the paper's layout")

    results: str | None = Field(None, description="the paper's sweep results JSONL: its judged rates beside ours in "
                                                  "the behaviour and trajectory tables")
    results_base_model: str | None = Field(None, description="the base_model of the results rows to read, when the "
                                                             "file holds several")

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: str) -> str:
        from interp.organisms.scales import SCALES

        if v not in SCALES:
            raise ValueError(f"unknown scale {v!r}; expected one of {', '.join(SCALES)}")
        return v

    @field_validator("failure_modes")
    @classmethod
    def _failure_modes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from interp.data import FAILURE_MODES, check_failure_mode

        if not v:
            raise ValueError(f"failure_modes is empty; expected some of {', '.join(FAILURE_MODES)}")
        for f in v:
            check_failure_mode(f)  # names the failure modes and the document sets (<fm>+<document set>)
        return v

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from interp.consistency import method_names

        known(v, method_names(), "consistency methods")  # the live registry: a registered method counts
        return v

    @field_validator("data_root")
    @classmethod
    def _data_root(cls, v: Path | None) -> Path | None:
        if v is not None and not Path(v).expanduser().is_dir():
            raise ValueError(f"data_root {str(v)!r} is not a directory (give the paper's data directory, or leave "
                             "it out to use interp's shipped data)")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ExperimentConfig:
        if self.checkpoints is not None:
            grid = [k for k in ("scale", "seeds", "methods", "runs_root")  # set to other than the default
                    if getattr(self, k) != type(self).model_fields[k].default]
            if grid:
                raise ValueError(f"checkpoints and {', '.join(grid)} are exclusive: a config either builds organisms "
                                 "(scale, seeds, methods, runs_root) or studies given checkpoints; drop one")
            found = self.organisms()  # raises for a group without a failure mode, an empty runs root
            labels = [o.label for o in found]
            if len(set(labels)) != len(labels):
                raise ValueError(f"two checkpoint groups are both {sorted({x for x in labels if labels.count(x) > 1})}:"
                                 " give each organism its own failure_mode or seed")
        if self.adapter_dtype is not None:
            from interp.models.loading import parse_dtype

            parse_dtype(self.adapter_dtype)  # a clear error for an unknown dtype
            if not self.model_pool:
                raise ValueError(f"adapter_dtype {self.adapter_dtype!r} sets how unmerged LoRA layers compute: it needs "
                                 "model_pool: true (without the pool, adapters are merged into the base)")
        if self.backend != "hf":
            from interp.hooks.backends import backend_names

            if self.backend not in backend_names():
                raise ValueError(f"backend {self.backend!r} is not registered; choose one of {', '.join(backend_names())}")
        if self.architecture is not None:
            from interp.hooks.architectures import as_architecture

            try:
                as_architecture(self.architecture)  # unknown fields and bad paths fail here
            except TypeError as err:
                raise ValueError(f"architecture: {err}") from None
        if self.chat_template is not None:
            self.chat  # noqa: B018 (a template that is no 'plain', Jinja or file fails here, naming the choices)
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError(f"seeds must be distinct and non-empty, got {list(self.seeds)}")
        if self.steering.probe not in self.probes.methods and self.steering.enabled:
            raise ValueError(f"steering.probe {self.steering.probe!r} is not among probes.methods "
                             f"{list(self.probes.methods)}")
        self._check_mediation()
        several = len(self.organisms()) >= 2  # a convergence unit is planned
        if several and self.convergence.enabled and self.convergence.ablate and not self.steering.enabled:
            raise ValueError("convergence.ablate ablates the directions the steering stage found: set "
                             "steering.enabled: true, or convergence.ablate: false")
        return self

    def _check_mediation(self) -> None:
        m = self.mediation
        if self.prediction.enabled and self.checkpoints is not None:
            raise ValueError("prediction reads the labels of the consistency runs interp trains (failure_modes x "
                             "seeds x methods); given checkpoints have none")
        if self.prediction.enabled and not self.mediation_layers():
            raise ValueError("prediction projects on the direction at mediation.layers (default steering.layer, "
                             "'auto' here): name the layers")
        if self.mechanism.enabled and self.checkpoints is None:
            extra = [x for x in (self.mechanism.methods or ()) if x not in self.methods]
            if extra:
                raise ValueError(f"mechanism.methods {extra} are not among methods {list(self.methods)}")
        if not m.conditions:
            return
        if self.checkpoints is not None:
            raise ValueError("mediation.conditions train each consistency run again, so they need organisms built "
                             "here (failure_modes x seeds x methods), not given checkpoints")
        extra = [x for x in (m.methods or ()) if x not in self.methods]
        if extra:
            raise ValueError(f"mediation.methods {extra} are not among methods {list(self.methods)}")
        if m.layers is None and not isinstance(self.steering.layer, int):
            raise ValueError("mediation.layers defaults to steering.layer, which is 'auto' here: name the layers")
        if self.steering.probe not in self.probes.methods:
            raise ValueError(f"mediation fits steering.probe {self.steering.probe!r}, which is not among "
                             f"probes.methods {list(self.probes.methods)}")

    def expression_layers(self) -> tuple[int, ...]:
        """The layers the expression stage reads (``expression.layers``, else :meth:`mediation_layers`)."""
        return self.expression.layers if self.expression.layers is not None else self.mediation_layers()

    def mediation_layers(self) -> tuple[int, ...]:
        """The layers a mediation condition edits (``mediation.layers``, else ``steering.layer``)."""
        if self.mediation.layers is not None:
            return self.mediation.layers
        return (self.steering.layer,) if isinstance(self.steering.layer, int) else ()

    # ---- derived -------------------------------------------------------------------------
    def organisms(self) -> list[Organism]:
        """The organisms the experiment studies, built or given (:mod:`interp.pipeline.experiment`)."""
        return organisms(self)

    @property
    def chat(self) -> ChatChoice:
        """``chat_template`` (resolved to its text) and ``chat_separator``, the keywords of ``load_model``."""
        from interp.models.chat import chat_choice

        return chat_choice(self.chat_template, self.chat_separator)

    def organism_spec(self, failure_mode: str, seed: int) -> Any:
        """The :class:`~interp.organisms.OrganismSpec` of one organism this config builds."""
        from interp.organisms import OrganismSpec

        return OrganismSpec(base=self.model, failure_mode=failure_mode, seed=seed, scale=self.scale,
                            chat_template=self.chat_template, chat_separator=self.chat_separator)

    def section(self, name: str) -> dict[str, Any]:
        """A section (or top-level field) as plain JSON data, for stage keys. ``dtype`` carries
        ``adapter_dtype`` when that is set (the two make the numerics), and only then; ``dtype``
        and ``model`` carry the chat rendering when one is chosen, and only then."""
        value = getattr(self, name)
        chosen: dict[str, Any] = {k: v for k, v in self.chat.items() if v is not None} if name in ("dtype", "model") else {}
        if name == "dtype" and self.backend != "hf":
            from interp.hooks.backends import EXACT_BACKENDS

            if self.backend not in EXACT_BACKENDS:  # exact backends are part of no key
                chosen["backend"] = self.backend
        if name == "dtype" and (self.adapter_dtype is not None or chosen):
            extra = {"adapter_dtype": self.adapter_dtype} if self.adapter_dtype is not None else {}
            return {"dtype": value, **extra, **chosen}
        if name == "model" and self.architecture is not None:
            chosen["architecture"] = dict(sorted(self.architecture.items()))
        if name == "model" and chosen:
            return {"model": value, **chosen}
        if isinstance(value, Section):
            return value.key_data()
        return value.model_dump(mode="json") if isinstance(value, BaseModel) else {name: _jsonable(value)}


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    return v


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice, and reading ``3e-4`` as a number (YAML 1.2)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver(  # floats without a dot, e.g. 3e-4, which YAML 1.1 reads as text
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _model_from_checkpoints_base(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``checkpoints.base`` (or each group's ``base``) names the experiment's ``model``, the base of every checkpoint."""
    given = data.get("checkpoints")
    groups = [given] if isinstance(given, dict) else given if isinstance(given, list) else []
    bases = {str(g["base"]) for g in groups if isinstance(g, dict) and g.get("base") is not None}
    if len(bases) > 1:
        raise ConfigError(f"{source}: checkpoints name several bases {sorted(bases)}; one experiment studies one base")
    if not bases:
        return data
    base = bases.pop()
    if "model" in data and str(data["model"]) != base:
        raise ConfigError(f"{source}: model {data['model']!r} and checkpoints base {base!r} differ; name the base once")
    return {**data, "model": base}


def parse_config(data: Any, *, source: str = "<config>") -> ExperimentConfig:
    """Validate a mapping (a parsed YAML document) into an :class:`ExperimentConfig`.

    Validated as JSON data, strictly: lists become tuples and strings paths, nothing else changes type.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys (name:, model:, ...), "
                          f"got {type(data).__name__}")
    data = _model_from_checkpoints_base(data, source)
    try:
        data = resolve_precision(data)  # precision: -> dtype, adapter_dtype, the scale's bf16 variant
    except ValueError as bad:
        raise ConfigError(f"{source}: {bad}") from None
    try:
        return ExperimentConfig.model_validate_json(json.dumps(data, default=str))
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see interp.pipeline.config for the schema)"
            lines.append(f"  {where}: {msg}" + (f" (got {err['input']!r})" if err["type"] != "extra_forbidden"
                                                and not isinstance(err["input"], dict) else ""))
        raise ConfigError(f"{source}: {len(lines)} problem(s) in the config:\n" + "\n".join(lines)) from None


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["steering.layer=12", ...]`` (the ``--set`` arguments) -> ``{"steering.layer": 12}``; values are YAML."""
    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set steering.layer=12")
        try:
            out[key.strip()] = yaml.load(value, Loader=StrictLoader)  # StrictLoader is a SafeLoader
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {e}") from None
    return out


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a YAML config; ``overrides`` (dotted keys, e.g. ``{"sae.enabled": False}``) win."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist (see experiments/*.yaml for examples)")
    try:
        data = yaml.load(path.read_text(), Loader=StrictLoader)  # StrictLoader is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        return parse_config(data, source=str(path))  # the error says what the top level must be
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"--set {dotted}: {where} is {node!r}, a value, not a section with keys; "
                                  f"set it whole (--set {where}=...)")
        node[leaf] = value
    return parse_config(data, source=str(path))
