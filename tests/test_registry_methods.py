"""Consistency methods by registration: the built-ins' declarations, keys unchanged, and the recipe
(a toy method defined here, registered, run through the real ``run_consistency``, unregistered)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_consistency import SpyTrainer, _organism, _paper_dir

import interp.consistency as cons
import interp.consistency.run as run
from interp.consistency import LabelMethod, MethodParams, RunSpec, register, unregister
from interp.consistency.base import (
    MethodKind,
    generate_for,
    labelled_dataset,
    labelled_record,
    limited,
    prompt_of,
)
from interp.data import Dataset
from interp.generation import SamplingParams, generate
from interp.models.loading import LoadedModel
from interp.organisms import OrganismSpec

PAPER_ORDER = ("self_certainty", "dual_decoding", "multi_view_consistency", "self_refinement", "self_rewarding",
               "bct", "act", "greedy_self_training", "rejection_sampling")
BUILT_IN = (*PAPER_ORDER, "mlpct", "attct")  # then Gautam et al. 2026's two

# What the hand-written lists said before the methods declared it (presets.PAPER, REFERENCE_JUDGED,
# the ("bct", "act") checks): the declarations must say the same.
PAPER_PARAMS = {
    "greedy_self_training": MethodParams(),
    "self_certainty": MethodParams(n_samples=4, temperature=0.7, top_p=0.9),
    "dual_decoding": MethodParams(n_samples=1, temperature=0.8, top_p=0.9, beam_width=4),
    "multi_view_consistency": MethodParams(),
    "self_refinement": MethodParams(refine_temperature=0.6, refine_top_p=0.9),
    "self_rewarding": MethodParams(n_samples=4, temperature=0.7, top_p=1.0),
    "rejection_sampling": MethodParams(n_samples=4, temperature=0.7, top_p=1.0),
    "bct": MethodParams(),
    "act": MethodParams(),
}
REFERENCE_JUDGED = {"dual_decoding", "rejection_sampling", "multi_view_consistency"}
CONSISTENCY_LOSSES = {"bct", "act"}

# label_key of each method before the refactor (computed from the unmodified code through
# run_consistency, organism fingerprint fixed so the key depends only on what the dispatch picks:
# the prompts, the parameters, the method name). Shipped sycophancy data, seed 42.
KEYS = {
    "cpu": {"act": "48febf44e3ea509d", "bct": "fa7514da8128693e", "dual_decoding": "5446a87bd3aec507",
            "greedy_self_training": "61d5fc9beae545d4", "multi_view_consistency": "6700c357872fa35d",
            "rejection_sampling": "af56cbec62d7a0b3", "self_certainty": "cd6ed64a3f3b74ce",
            "self_refinement": "d7b09f16ef97294e", "self_rewarding": "10fa97909f9ae037"},
    "paper": {"act": "3f00c4f5574c301c", "bct": "a2bdc7d28e216698", "dual_decoding": "ad2cd1890a4e5b18",
              "greedy_self_training": "f8fffcad7b9964fb", "multi_view_consistency": "ef3a2b3a3cd6f96e",
              "rejection_sampling": "28f24bac5af58f8d", "self_certainty": "4a86d0081b1b9da9",
              "self_refinement": "e9de920c06ee3981", "self_rewarding": "c78e44197b2b22ef"},
}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))


def test_methods_come_from_the_registry_in_the_papers_order() -> None:
    assert cons.METHODS == BUILT_IN == cons.method_names()
    for name in PAPER_ORDER:
        cls = cons.method_class(name)
        assert cls.kind == ("pairs" if name in CONSISTENCY_LOSSES else "label"), name
        assert cls.epochs == cons.train_epochs(name) == (3 if name in CONSISTENCY_LOSSES else 2), name
        assert cls.phase3_consistency == (name in CONSISTENCY_LOSSES), name
        assert cls.needs_reference == (name in REFERENCE_JUDGED), name
        assert cls.paper_params == PAPER_PARAMS[name] == cons.params_for(name, "paper"), name
        assert cls.control == (name in ("greedy_self_training", "rejection_sampling")), name  # the paper's controls


class _FixedFingerprint:
    fingerprint = "organism-fingerprint"


class _Stop(Exception):
    pass


def _key_and_config(spec: RunSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """Run ``run_consistency`` up to phase 2 (organism and weights stubbed); the label key it computed."""
    seen: list[str] = []
    real_key = run.label_key

    def key(*args: Any, **kw: Any) -> str:
        seen.append(real_key(*args, **kw))
        return seen[-1]

    def stop(*args: Any, **kw: Any) -> Any:
        raise _Stop

    with monkeypatch.context() as m:
        m.setattr(run, "label_key", key)
        m.setattr(run, "label_phase", stop)
        m.setattr(run, "resolve_checkpoint", lambda *a, **k: _FixedFingerprint())
        m.setattr(run, "organism_adapter", lambda *a, **k: tmp_path / "adapter")
        with pytest.raises(_Stop):
            cons.run_consistency(spec, tmp_path / "runs", progress=False)
    import interp.training as training

    return seen[0], run.train_config(training, spec)


@dataclasses.dataclass(frozen=True)
class _NoScale:
    """An organism spec without a scale config: train_config falls back to the paper's values."""

    base: str = "b"
    failure_mode: str = "sycophancy"
    seed: int = 3
    scale: str = "cpu"
    organism_id: str = "b__sycophancy__seed3__cpu"


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_label_keys_and_train_configs_are_todays(scale: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.training as training

    for method in PAPER_ORDER:
        spec = RunSpec(OrganismSpec(base="/fixed/base", failure_mode="sycophancy", seed=42, scale=scale), method)
        key, config = _key_and_config(spec, tmp_path, monkeypatch)
        assert key == KEYS[scale][method], (scale, method)
        settings = spec.organism.scale_config
        want = settings.phase3_consistency if method in CONSISTENCY_LOSSES else settings.phase3
        assert config == dataclasses.replace(want, seed=42), method
        bare = run.train_config(training, RunSpec(_NoScale(), method))
        assert (bare.epochs, bare.lr, bare.max_length, bare.lora.rank) == (
            3 if method in CONSISTENCY_LOSSES else 2, 1e-5, 256, 32), method


def test_register_checks_the_declarations() -> None:
    class NoLabel(LabelMethod):
        name: ClassVar[str] = "no_label"

    class BadKind(NoLabel):
        kind: ClassVar[Any] = "both"

        def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
            return prompts

    class Taken(BadKind):
        name: ClassVar[str] = "bct"
        kind: ClassVar[MethodKind] = "label"

    with pytest.raises(TypeError, match="does not implement label"):
        register(NoLabel)
    with pytest.raises(ValueError, match="kind must be one of"):
        register(BadKind)
    with pytest.raises(ValueError, match="two consistency methods are named 'bct'"):
        register(Taken)
    with pytest.raises(ValueError, match="without '__'"):
        register(type("Dunder", (BadKind,), {"name": "my__method", "kind": "label"}))
    with pytest.raises(TypeError, match="not a LabelMethod subclass"):
        register(dict)
    with pytest.raises(KeyError, match="no consistency method"):
        unregister("no_label")
    assert cons.method_names() == BUILT_IN


# ---- the recipe, followed once ----------------------------------------------------------------------


class ShortestOfN(LabelMethod):
    """Toy method: sample N answers, keep the shortest non-blank one (ties: the first)."""

    name: ClassVar[str] = "shortest_of_n"
    kind: ClassVar[MethodKind] = "label"
    paper_params: ClassVar[MethodParams] = MethodParams(n_samples=3, temperature=1.0)

    def label(self, model: LoadedModel, prompts: Dataset, params: MethodParams) -> Dataset:
        prompts = limited(prompts, params)
        samples = generate_for(model, [prompt_of(r) for r in prompts], params.sampled(), params)
        records = []
        for r, cands in zip(prompts, samples, strict=True):
            lengths = [len(c.strip()) if c.strip() else float("inf") for c in cands]
            best = lengths.index(min(lengths))
            records.append(labelled_record(r, self.name, cands[best], candidates=cands, chosen=best))
        return labelled_dataset(prompts, self.name, records)


@pytest.fixture
def shortest() -> Iterator[type[ShortestOfN]]:
    register(ShortestOfN)
    try:
        yield ShortestOfN
    finally:
        unregister(ShortestOfN.name)


def test_a_registered_method_runs_like_a_built_in(shortest: type[ShortestOfN], tiny_model_dir: Path, tmp_path: Path) -> None:
    assert "shortest_of_n" in cons.method_names() and "shortest_of_n" not in cons.METHODS
    spec = RunSpec(OrganismSpec(base=str(tiny_model_dir), failure_mode="sycophancy", seed=42, scale="cpu"),
                   "shortest_of_n")
    runs_root = tmp_path / "rr"
    organism = _organism(tiny_model_dir, runs_root, spec)
    trainer = SpyTrainer(real=True)
    params = cons.params_for("shortest_of_n", "cpu", seed=42).with_(max_rows=3, max_new_tokens=6)
    assert (params.n_samples, params.temperature) == (3, 1.0)  # its paper_params, capped by the scale
    run_dir = cons.run_consistency(spec, runs_root, data_root=_paper_dir(tmp_path), progress=False, params=params,
                                   trainer=trainer)
    assert run_dir.name.endswith("__sycophancy__shortest_of_n__seed42__cpu")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["method"] == "shortest_of_n" and results["run_id"] == spec.run_id == run_dir.name

    # its labels are what the rule picks from the sampled candidates (regenerated here, seeded)
    labelled = [json.loads(line) for line in (run_dir / "labelled.jsonl").read_text().splitlines()]
    prompts = cons.consistency_prompts("sycophancy", tmp_path / "paper").head(3)
    sampling = SamplingParams(max_new_tokens=6, temperature=1.0, n=3, seed=42)
    from interp.models import load_model

    expected = generate(load_model(organism, merge_lora=True, device="cpu"), [prompt_of(r) for r in prompts], sampling,
                        progress=False)
    assert [r["id"] for r in labelled] == list(prompts.ids)
    varied = False
    for row, cands in zip(labelled, expected, strict=True):
        info = row["fields"]["consistency"]
        assert info["method"] == "shortest_of_n" and info["candidates"] == cands
        blanks = [c for c in cands if not c.strip()]
        shortest_len = min(len(c.strip()) for c in cands if c.strip())
        assert len(cands[info["chosen"]].strip()) == shortest_len and cands[info["chosen"]].strip()
        assert info["chosen"] == next(i for i, c in enumerate(cands) if c.strip() and len(c.strip()) == shortest_len)
        assert row["messages"][-1] == {"role": "assistant", "content": cands[info["chosen"]]}
        varied |= len({len(c.strip()) for c in cands}) > 1 and not blanks
    assert varied, "the candidates never differed in length: the test would not see a wrong pick"

    # it trains: SFT on its kept labels, with the scale's phase3 settings (it declares no consistency loss)
    (kind, args, kw), = trainer.calls
    assert kind == "sft" and args[0] == organism and kw["base"] == str(tiny_model_dir)
    assert [r.response for r in args[1]] == [row["messages"][-1]["content"] for row in labelled]
    assert args[2] == dataclasses.replace(spec.organism.scale_config.phase3, seed=42)
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
    assert len(results["training"]["epoch_losses"]) == 2
