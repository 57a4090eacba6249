"""The sections of an experiment config: one per stage family, each strict, each with defaults.

:class:`Section` is the base of every section (unknown keys are errors, no value changes type);
:class:`~interp.pipeline.config.ExperimentConfig` holds one of each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Section(BaseModel):
    """Strict: unknown keys are errors, values are not coerced silently between types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    #: fields added after units were keyed: left out of a unit's key while at their default, so the
    #: units keyed before they existed stay finished
    added_later: ClassVar[frozenset[str]] = frozenset()

    def key_data(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        for name in self.added_later:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name)
        return data


def known(values: Sequence[str], allowed: Sequence[str], what: str) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown {what} {bad}; expected some of {', '.join(allowed)}")


def _sharpening_probes(v: tuple[str, ...]) -> tuple[str, ...]:
    from probes.registry import probe_names

    if not v:
        raise ValueError("name at least one probe")
    known(v, probe_names(), "probes")  # the live registry: a registered probe counts
    return v


class HTTPJudgeSection(Section):
    """An OpenAI-compatible chat-completions server as the judge (:class:`interp.judges.HTTPJudge`).

    The API key is read from the environment variable ``api_key_env`` when the judge runs; it is
    never part of the config, a key or an artifact.
    """

    kind: Literal["http"]
    url: str = Field(description="the server root, e.g. http://127.0.0.1:8000")
    model: str = Field(description="the model name the server expects")
    rubric: str | None = Field(None, description="a rubric file ({original_question_text}, {generated_answer_text}); "
                                                 "default: the failure mode's (the paper's with data_root)")
    api_key_env: str | None = Field("INTERP_JUDGE_API_KEY", description="the environment variable holding the key")
    misaligned_at_or_below: int = Field(2, ge=1, le=4)
    workers: int = Field(1, ge=1)
    timeout: float = Field(60.0, gt=0)

    @field_validator("rubric")
    @classmethod
    def _rubric(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).expanduser().is_file():
            raise ValueError(f"rubric {v!r} is not a file")
        return v


class BehaviourConfig(Section):
    """Misalignment rate of every checkpoint on each failure mode's eval set."""

    judge: str | HTTPJudgeSection = Field("logprob", description="logprob, rule, embedding, or {kind: http, url, "
                                                                  "model, rubric, api_key_env}")
    eval_rows: int | None = Field(64, ge=1, description="eval prompts per failure mode (None: all)")
    n_boot: int = Field(2000, ge=100)
    second_judge: str | HTTPJudgeSection | None = Field(
        None, description="a second judge of the same generations (rule, embedding or http): both rates and their "
        "agreement (Cohen's kappa with an interval) per checkpoint, in judge_agreement")

    added_later: ClassVar[frozenset[str]] = frozenset({"second_judge"})

    @field_validator("judge", "second_judge")
    @classmethod
    def _judge(cls, v: str | HTTPJudgeSection | None) -> str | HTTPJudgeSection | None:
        from interp.judges.measure import JUDGE_NAMES

        if isinstance(v, str):
            known([v], JUDGE_NAMES, "judge")
        return v

    @model_validator(mode="after")
    def _two_judges(self) -> BehaviourConfig:
        if self.second_judge is not None and "logprob" in (self.judge, self.second_judge):
            raise ValueError("second_judge compares two judges on the same generations, and the logprob judge "
                             "generates nothing (it scores the fixed answer pairs): use rule, embedding or http for both")
        return self


class CaptureSection(Section):
    """Activations of every checkpoint on the persona contrast set."""

    contrast: str = "persona_pairs"
    hooks: str = Field("resid_post", description="a hook kind (every layer), kind:lo-hi, or canonical names")
    positions: Literal["last_prompt", "prompt_mean", "response_mean"] = "response_mean"
    max_examples: int | None = Field(None, ge=8)
    batch_size: int = Field(8, ge=1)
    dtype: str = "float32"
    truncate: bool = Field(False, description="cut conversations longer than the model's context (else refused)")
    documents: bool = Field(False, description="capture each example's final turn alone as plain text (a document: "
                                               "no request, no chat template), e.g. contrast: ai_documents")

    added_later: ClassVar[frozenset[str]] = frozenset({"truncate", "documents"})

    @field_validator("contrast")
    @classmethod
    def _contrast(cls, v: str) -> str:
        from interp.data import CONTRAST_SETS

        if v not in CONTRAST_SETS and not Path(v).expanduser().is_file():
            raise ValueError(f"{v!r} is neither a shipped contrast set ({', '.join(CONTRAST_SETS)}) nor a JSONL file")
        return v

    @field_validator("hooks")
    @classmethod
    def _hooks(cls, v: str) -> str:
        from interp.hooks.names import HOOK_KINDS, HookPoint

        for part in (p.strip() for p in v.split(",") if p.strip()):
            kind = part.partition(":")[0]
            if part.startswith("blocks."):
                HookPoint.parse(part)  # its site is known (its layer is checked against the model before work)
            elif kind not in HOOK_KINDS:
                raise ValueError(f"hook {part!r}: expected one of {', '.join(HOOK_KINDS)} (optionally :lo-hi) "
                                 "or a canonical name like blocks.3.hook_resid_post")
        return v


class ProbesSection(Section):
    """Per-layer probe summary of every checkpoint (AUROC with intervals, permutation p, controls)."""

    methods: tuple[str, ...] = ("diffmeans", "logistic")
    n_permutations: int = Field(200, ge=0)
    n_boot: int = Field(500, ge=100)

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from probes.registry import probe_names

        known(v, probe_names(), "probe methods")
        return v


class SharpeningSection(Section):
    """Before vs after (and base vs before) per consistency method."""

    probes: tuple[str, ...] = ("diffmeans",)
    n_boot: int = Field(200, ge=50)
    n_permutations: int = Field(200, ge=0)
    expression_rows: int = Field(0, ge=0, description="eval prompts whose generated responses are projected "
                                                      "on the before direction (0: skip the expression metric)")
    max_new_tokens: int = Field(32, ge=1)

    _probes = field_validator("probes")(_sharpening_probes)


class SAESection(Section):
    """An SAE on one hook of the "before" checkpoint; persona latents; diffing before vs after."""

    enabled: bool = True
    layer: int = Field(15, ge=0)
    d_sae: int = Field(1024, ge=16)
    k: int = Field(32, ge=1)
    total_tokens: int = Field(60_000, ge=1000)
    batch_size: int = Field(512, ge=8)
    lr: float = Field(3e-4, gt=0)
    text_examples: int = Field(400, ge=8, description="shipped conversations whose tokens train the SAE")
    quality_examples: int = Field(64, ge=4, description="conversations for the spliced-in LM loss")


class SteeringSection(Section):
    """Dose-response of the before checkpoint's direction, and its ablation in every checkpoint."""

    enabled: bool = True
    layer: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        15, description="the layer whose direction is steered and ablated, or 'auto': per organism, the candidate "
                        "layer whose ablation most lowers the misalignment margin on held-out eval prompts within "
                        "select_kl_budget, outside the last 20% of layers (Arditi et al.)")
    select_rows: int = Field(24, ge=4, description="layer: auto: held-out eval prompts (after the eval_rows) that "
                                                   "score the candidates")
    select_stride: int = Field(1, ge=1, description="layer: auto: every n-th captured layer is a candidate")
    select_kl_budget: float = Field(0.1, gt=0, description="layer: auto: upper 95% bound of the KL on neutral "
                                                           "text a candidate's ablation may cost")
    probe: str = "diffmeans"
    alphas: tuple[float, ...] = (-0.1, -0.05, 0.0, 0.05, 0.1)
    n_random: int = Field(2, ge=1)
    eval_rows: int = Field(48, ge=4)
    neutral_rows: int = Field(24, ge=4, description="neutral texts of the coherence guard (KL, perplexity)")
    kl_budget: float = Field(0.5, gt=0)
    keep_sink: bool = Field(True, description="ablations leave each sequence's first token (the attention sink, "
                                              "residual norm ~100x) untouched, which lowers their KL cost "
                                              "(docs/MEASUREMENTS.md; false: every position, as Arditi et al.)")
    n_boot: int = Field(1000, ge=100)
    ablate_in: tuple[Literal["base", "before", "after"], ...] = ("before", "after")
    induce_in_base: bool = Field(False, description="also steer the base model with the organism's direction: "
                                                    "does adding it produce the organism's behaviour?")


CONDITIONS = ("ablate:persona", "ablate:random", "steer:persona")


class MediationSection(Section):
    """Does the consistency-training effect run through the persona direction? Each consistency run
    trained again under interventions active only during training, and the share of its behaviour
    change that ablating the direction removes (stage ``mediation``)."""

    conditions: tuple[Literal["ablate:persona", "ablate:random", "steer:persona"], ...] = Field(
        (), description="training-time conditions beside the plain run (none: no mediation): ablate:persona "
                        "(the organism's direction projected out at `layers`), ablate:random (n_random random "
                        "directions), steer:persona (+alpha times the direction)")
    methods: tuple[str, ...] | None = Field(None, description="the methods trained under the conditions (None: all)")
    layers: tuple[Annotated[int, Field(ge=0)], ...] | None = Field(
        None, description="the layers whose residual stream is edited (None: steering.layer); each one's direction "
                          "is steering.probe fitted on the organism's capture there")
    n_random: int = Field(3, ge=1, description="random directions for ablate:random (seeds 0..n_random-1)")
    alpha: float = Field(0.05, description="steer:persona: the vector added is alpha x the mean residual norm at "
                                           "the layer (steering's units); its KL on neutral text must stay within "
                                           "steering.kl_budget")
    n_boot: int = Field(2000, ge=100)

    def names(self) -> tuple[str, ...]:
        """The conditions with the random ones numbered: ``ablate:persona``, ``ablate:random0``, ..."""
        out: list[str] = []
        for c in dict.fromkeys(self.conditions):
            out += [f"ablate:random{k}" for k in range(self.n_random)] if c == "ablate:random" else [c]
        return tuple(out)

    def variants(self, methods: Sequence[str]) -> tuple[str, ...]:
        """``<method>@<condition>`` for every mediated method and condition (empty without conditions)."""
        return tuple(f"{m}@{c}" for m in (self.methods or methods) for c in self.names())


class PredictionSection(Section):
    """Before training: how far each consistency run's targets sit along the organism's persona direction,
    relative to its own answers (the persona-vectors projection difference), and across runs its
    correlation with the behaviour change the run produced (stage ``prediction``)."""

    enabled: bool = False
    n_boot: int = Field(2000, ge=100)
    n_permutations: int = Field(2000, ge=0, description="shuffled pairings of predictors with changes (the control)")
    top: int = Field(10, ge=0, description="per run, the examples that push hardest toward the persona, with text")


class ExpressionSection(Section):
    """How much each checkpoint's own answers sound like the misaligned persona, read by the base model: its
    greedy replies to the eval prompts, captured in the base, projected on the base's persona direction and
    scaled so that 0 / 1 are the base's aligned / misaligned contrast answers (stage ``expression``)."""

    enabled: bool = False
    rows: int = Field(64, ge=4, description="eval prompts answered (the first rows)")
    max_new_tokens: int = Field(48, ge=1)
    layers: tuple[Annotated[int, Field(ge=0)], ...] | None = Field(None, description="None: mediation.layers, "
                                                                                     "else steering.layer")
    n_boot: int = Field(2000, ge=100)


class MechanismSection(Section):
    """Do the consistency methods change the organism the same way? Residual shifts on the clean and the
    wrapped prompts, the persona direction's shift and the SAE latents moved, per pair of methods, beside
    the seed-to-seed baseline (stage ``mechanism``)."""

    enabled: bool = False
    methods: tuple[str, ...] | None = Field(None, description="the methods compared (None: all)")
    rows: int = Field(64, ge=8, description="clean/wrapped pairs of the failure mode the shifts are measured on")
    n_boot: int = Field(200, ge=50)
    n_splits: int = Field(20, ge=1, description="random halvings averaged in each estimate")
    sae_top: int = Field(32, ge=1, description="latents each method moves most, compared between methods")


class TrajectorySection(Section):
    """Behaviour and sharpening metrics along the saved epochs of every consistency run."""

    enabled: bool = False
    probes: tuple[str, ...] = ("diffmeans",)
    n_boot: int = Field(200, ge=50)
    n_permutations: int = Field(0, ge=0)

    _probes = field_validator("probes")(_sharpening_probes)


class ConvergenceSection(Section):
    """With two or more organisms (failure modes x seeds): do their directions converge, and does one
    organism's direction ablate another's behaviour? Directions, layer and ablation settings come from
    ``steering``."""

    enabled: bool = True
    n_boot: int = Field(200, ge=50)
    ablate: bool = Field(True, description="ablate each organism's direction (the steering stage's) in every "
                                           "other organism, beside its own direction and random ones")


class CheckpointGroup(Section):
    """One organism given as checkpoints trained elsewhere: its before, its afters by name, their epochs.

    Each path is anything ``load_model`` accepts (a model directory, a LoRA adapter directory, a
    GGUF file, the embedded model's name); interp only reads them.
    """

    failure_mode: str | None = Field(None, description="whose eval set scores its behaviour (default: the "
                                                       "config's only failure_modes entry)")
    seed: int = Field(0, description="a label, as a built organism's seed (tells two organisms of one failure "
                                     "mode apart)")
    base: str | None = Field(None, description="the base model (the same as the config's model: either names it)")
    before: str = Field(description="the organism, before consistency training")
    after: dict[str, str] = Field(default_factory=dict, description="method name -> its after checkpoint")
    epochs: dict[str, dict[int, str]] = Field(default_factory=dict,
                                              description="method name -> {epoch: checkpoint} of its saved epochs "
                                                          "(epoch 0: the before checkpoint)")

    @field_validator("failure_mode")
    @classmethod
    def _failure_mode(cls, v: str | None) -> str | None:
        from interp.data import check_failure_mode

        if v is not None:
            check_failure_mode(v)
        return v

    @field_validator("after")
    @classmethod
    def _after_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [m for m in v if not m.isidentifier() or "__" in m]
        if bad:
            raise ValueError(f"after names {bad} must be identifiers without '__' (they name units and columns)")
        return v

    @model_validator(mode="after")
    def _epochs_of_afters(self) -> CheckpointGroup:
        unknown = [m for m in self.epochs if m not in self.after]
        if unknown:
            raise ValueError(f"epochs given for {unknown}, which are not among after {list(self.after)}")
        return self


class RunsRootSection(Section):
    """The paper's runs root (``organisms/`` + ``runs/``, per-epoch checkpoints), read as it is."""

    runs_root: str = Field(description="the folder that holds organisms/ and runs/")
    failure_modes: tuple[str, ...] | None = Field(None, description="only these (default: every one found)")
    methods: tuple[str, ...] | None = Field(None, description="only these runs (default: every one found)")
    seeds: tuple[int, ...] | None = Field(None, description="only these seeds (default: every one found)")
    scales: tuple[str, ...] | None = Field(None, description="only these scales (default: every one found)")

    @field_validator("runs_root")
    @classmethod
    def _exists(cls, v: str) -> str:
        if not (Path(v).expanduser() / "organisms").is_dir():
            raise ValueError(f"{v!r} holds no organisms/ folder: give the runs root of the paper's layout "
                             "(organisms/<id>/, runs/<id>/adapter)")
        return v
