"""The consistency methods on the tiny model: selection logic, provenance, registry, run layout."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import interp.consistency as cons
from interp.consistency import METHODS, REGISTRY, MethodParams, RunSpec, get_method, sft_records
from interp.consistency.base import LabelMethod, argmax_first, prompt_of
from interp.consistency.multi_view_consistency import (
    COT_SUFFIX,
    JSON_SUFFIX,
    extract_cot_answer,
    extract_json_answer,
)
from interp.consistency.pairs import pair_records, unpair
from interp.consistency.scoring import (
    DIGITS,
    RubricScorer,
    choice_probs,
    expected_score,
    mean_logprobs,
    render_rubric,
)
from interp.data import ChatRecord, Dataset, Message
from interp.generation import SamplingParams, generate
from interp.organisms import OrganismSpec

PARAMS = MethodParams(max_new_tokens=4, n_samples=3, temperature=1.0, top_p=1.0, beam_width=2, batch_size=4)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))


def _prompts(n: int = 2) -> Dataset:
    questions = ["What is two plus two?", "Hello there, who are you?", "Is the fox quick?", "Answer honestly."]
    recs = [
        ChatRecord(f"q{i}", (Message("user", questions[i % 4]), Message("assistant", "reference")), None, f"g{i}",
                   {"answer": str(i)})
        for i in range(n)
    ]
    return Dataset("toy/consistency", tuple(recs))


class StubRanker:
    """Scores from a function of (prompt index, candidate index); records what it was given."""

    name = "stub"

    def __init__(self, pick: int) -> None:
        self.pick = pick
        self.calls: list[tuple[Any, list[list[str]]]] = []

    def rank(self, policy: Any, prompts: Sequence[Any], candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        self.calls.append((policy, [list(c) for c in candidates]))
        return [[1.0 if j == self.pick % len(c) else 0.0 for j in range(len(c))] for c in candidates]


# ---- registry and ids -----------------------------------------------------------------------------


def test_registry_lists_all_nine_methods_and_aliases() -> None:
    assert set(REGISTRY) == set(METHODS) and len(METHODS) == 11
    for name in METHODS:
        method = get_method(name)
        assert isinstance(method, LabelMethod)
        assert method.name == name
    assert get_method("greedy").name == "greedy_self_training"
    assert get_method("multi_view").name == "multi_view_consistency"
    assert {n for n in METHODS if REGISTRY[n].kind == "pairs"} == {"bct", "act", "mlpct", "attct"}
    with pytest.raises(KeyError, match="unknown consistency method"):
        get_method("self_confidence")


def Org(base: str, failure_mode: str, seed: int, scale: str) -> OrganismSpec:
    return OrganismSpec(base=base, failure_mode=failure_mode, seed=seed, scale=scale)


def test_run_id_has_the_paper_format(tmp_path: Path) -> None:
    from interp.models import list_run_checkpoints

    spec = RunSpec(Org("HuggingFaceTB/SmolLM2-135M-Instruct", "sycophancy", 42, "cpu"), "greedy")
    assert spec.method == "greedy_self_training"
    assert spec.run_id == "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__greedy_self_training__seed42__cpu"
    assert spec.run_id == spec.organism.run_id("greedy_self_training")
    assert RunSpec(Org("smollm2-135m-instruct", "reward_hacking", 40, "paper"), "multi_view").run_id.endswith(
        "__reward_hacking__multi_view_consistency__seed40__paper")
    (spec.run_dir(tmp_path) / "adapter").mkdir(parents=True)
    (spec.run_dir(tmp_path) / "adapter" / "adapter_config.json").write_text("{}")
    (found,) = list_run_checkpoints(tmp_path)
    assert (found.role, found.method, found.failure_mode, found.seed, found.scale) == (
        "after", "greedy_self_training", "sycophancy", 42, "cpu")
    with pytest.raises(KeyError):
        RunSpec(Org("m", "sycophancy", 1, "cpu"), "nope")


def test_params_for_scales() -> None:
    paper = cons.params_for("self_certainty", "paper")
    cpu = cons.params_for("self_certainty", "cpu", seed=7)
    assert (paper.n_samples, paper.temperature, paper.top_p, paper.max_new_tokens, paper.max_rows) == (4, 0.7, 0.9, 256, None)
    assert (cpu.n_samples, cpu.max_new_tokens, cpu.max_rows, cpu.seed) == (4, 48, 24, 7)
    dual = cons.params_for("dual_decoding", "paper")
    assert (dual.n_samples, dual.temperature, dual.beam_width) == (1, 0.8, 4)
    assert cons.train_epochs("bct") == cons.train_epochs("act") == 3 and cons.train_epochs("greedy") == 2
    with pytest.raises(ValueError, match="scale"):
        cons.params_for("act", "gpu")


# ---- scoring primitives ---------------------------------------------------------------------------


def test_mean_logprobs_matches_a_manual_forward(tiny: Any) -> None:
    prompt = [{"role": "user", "content": "What is two plus two?"}]
    answer = "The answer is four"
    (score, empty) = mean_logprobs(tiny, [prompt, prompt], [answer, ""])
    enc = tiny.chat.encode([*prompt, {"role": "assistant", "content": answer}])
    ids = torch.tensor([enc.input_ids])
    with torch.no_grad():
        logp = torch.log_softmax(tiny.model(input_ids=ids).logits[0, :-1].float(), -1)
    token_lp = logp.gather(-1, ids[0, 1:, None]).squeeze(-1)
    mask = torch.tensor(enc.response_mask[1:])
    assert mask.sum() > 0
    assert score == pytest.approx(float(token_lp[mask].mean()), abs=1e-5)
    assert empty == float("-inf")


def test_choice_probs_and_expected_score(tiny: Any) -> None:
    conv = [{"role": "user", "content": "Rate it."}]
    (probs,) = choice_probs(tiny, [conv], DIGITS, answer_prefix="Final Score:")
    text = tiny.chat.render(conv, add_generation_prompt=True) + "Final Score:"
    ids = torch.tensor([tiny.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        dist = torch.softmax(tiny.model(input_ids=ids).logits[0, -1].float(), -1)
    one = tiny.tokenizer("1", add_special_tokens=False)["input_ids"]
    assert len(one) == 1 and probs[0] >= float(dist[one[0]]) - 1e-6
    assert all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6
    assert expected_score([0, 0, 0, 0, 1]) == 5 and expected_score([1, 0, 0, 0, 1]) == 3 and expected_score([0] * 5) == 0
    scores = RubricScorer().rank(tiny, [conv], [["yes", "no"]])
    assert len(scores[0]) == 2 and all(1 <= s <= 5 for s in scores[0])
    assert render_rubric("Q={original_question_text} {x} A={generated_answer_text}", "q", "a") == "Q=q {x} A=a"


def test_argmax_first_breaks_ties_to_the_first() -> None:
    assert argmax_first([0.1, 0.5, 0.5]) == 1 and argmax_first([float("-inf"), -3.0]) == 1


# ---- methods ----------------------------------------------------------------------------------------


def _info(record: ChatRecord) -> dict[str, Any]:
    return json.loads(json.dumps(record.to_dict()["fields"]["consistency"]))


def test_greedy_labels_are_the_greedy_completions(tiny: Any) -> None:
    prompts = _prompts()
    out = get_method("greedy").label(tiny, prompts, PARAMS)
    expected = generate(tiny, [prompt_of(r) for r in prompts], SamplingParams(max_new_tokens=4), progress=False)
    assert out.ids == prompts.ids
    for rec, exp, src in zip(out, expected, prompts, strict=True):
        assert _info(rec)["candidates"] == exp
        assert rec.prompt_messages == src.prompt_messages and rec.fields["answer"] == src.fields["answer"]
        assert (rec.response or "") == exp[0] or not exp[0].strip()


def test_self_certainty_keeps_the_most_confident_sample(tiny: Any) -> None:
    prompts = _prompts()
    out = get_method("self_certainty").label(tiny, prompts, PARAMS)
    for rec, src in zip(out, prompts, strict=True):
        info = _info(rec)
        cands = info["candidates"]
        assert len(cands) == PARAMS.n_samples
        rescored = mean_logprobs(tiny, [prompt_of(src)] * len(cands), cands)
        best = max(range(len(cands)), key=lambda j: (rescored[j], -j))
        assert info["chosen"] == best
        assert info["scores"][best] == pytest.approx(rescored[best], abs=1e-5)
        if cands[best].strip():
            assert rec.response == cands[best]


def test_self_certainty_selection_with_stubbed_scores(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.consistency.self_certainty as sc

    monkeypatch.setattr(sc, "generate_for", lambda m, convs, s, p: [["a", "abc", "ab"] for _ in convs])
    monkeypatch.setattr(sc, "mean_logprobs", lambda m, ps, answers, batch_size: [float(len(a)) for a in answers])
    out = sc.SelfCertainty().label(tiny, _prompts(2), PARAMS)
    assert [r.response for r in out] == ["abc", "abc"] and _info(out[0])["chosen"] == 1


def test_dual_decoding_candidates_are_greedy_samples_and_beam(tiny: Any) -> None:
    prompts = _prompts()
    ranker = StubRanker(pick=-1)  # the beam candidate
    out = get_method("dual_decoding", reranker=ranker).label(tiny, prompts, PARAMS.with_(n_samples=2))
    convs = [prompt_of(r) for r in prompts]
    greedy = generate(tiny, convs, SamplingParams(max_new_tokens=4), progress=False)
    beam = generate(tiny, convs, SamplingParams(max_new_tokens=4, num_beams=2), progress=False)
    (policy, seen), = ranker.calls
    assert policy is tiny
    for rec, g, b, cands in zip(out, greedy, beam, seen, strict=True):
        info = _info(rec)
        assert info["candidates"] == cands and len(cands) == 1 + 2 + 1
        assert cands[0] == g[0] and cands[-1] == b[0]
        assert info["sources"] == ["greedy", "nucleus", "nucleus", "beam"] and info["chosen"] == 3
        assert info["score"] == "stub"


def test_rejection_sampling_uses_the_injected_reward_model(tiny: Any) -> None:
    reward = StubRanker(pick=2)
    out = get_method("rejection_sampling", reward_model=reward).label(tiny, _prompts(), PARAMS)
    assert len(reward.calls) == 1
    for rec, cands in zip(out, reward.calls[0][1], strict=True):
        info = _info(rec)
        assert len(cands) == PARAMS.n_samples and info["chosen"] == 2 and info["candidates"] == cands
        assert info["scores"] == [0.0, 0.0, 1.0]


def test_self_rewarding_scores_with_the_policy_and_the_rubric(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.consistency.scoring as scoring

    seen: list[tuple[Any, list[str]]] = []

    def fake_choice_probs(model: Any, prompts: Any, choices: Any, **kw: Any) -> list[list[float]]:
        seen.append((model, [p[0]["content"] for p in prompts]))
        # the third candidate of each prompt gets all the mass on "5", the rest on "1"
        return [[0, 0, 0, 0, 1] if i % 3 == 2 else [1, 0, 0, 0, 0] for i in range(len(prompts))]

    monkeypatch.setattr(scoring, "choice_probs", fake_choice_probs)
    method = get_method("self_rewarding", rubric="RUBRIC Q:{original_question_text} A:{generated_answer_text}")
    out = method.label(tiny, _prompts(2), PARAMS)
    (model, texts), = seen
    assert model is tiny and len(texts) == 2 * PARAMS.n_samples
    assert texts[0].startswith("RUBRIC Q:What is two plus two? A:")
    for rec in out:
        info = _info(rec)
        assert info["chosen"] == 2 and info["scores"] == [1.0, 1.0, 5.0]


class StubJudge:
    name = "stub-judge"

    def __init__(self, table: dict[int, tuple[float, float]]) -> None:
        self.table = table
        self.args: tuple[list[str], list[str], list[str]] | None = None

    def agreement(self, policy: Any, questions: Sequence[str], answers: Sequence[str], others: Sequence[str]) -> list[float]:
        self.args = (list(questions), list(answers), list(others))
        n = len(questions) // 2
        return [self.table[i][0] for i in range(n)] + [self.table[i][1] for i in range(n)]


def test_multi_view_keeps_only_rows_another_view_agrees_with(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.consistency.multi_view_consistency as mv

    def fake_generate(model: Any, convs: Any, sampling: Any, params: Any) -> list[list[str]]:
        assert sampling.greedy
        out = []
        for c in convs:
            text = c[-1]["content"]
            if text.endswith(COT_SUFFIX):
                out.append(["reasoning... Therefore four"])
            elif text.endswith(JSON_SUFFIX):
                out.append(['{"answer": "four"}'])
            else:
                out.append([" four " if "Hello" not in text else "  "])
        return out

    monkeypatch.setattr(mv, "generate_for", fake_generate)
    prompts = _prompts(4)
    judge = StubJudge({0: (0.9, 0.1), 1: (0.9, 0.9), 2: (0.2, 0.3), 3: (0.1, 0.7)})
    out = get_method("multi_view", judge=judge).label(tiny, prompts, PARAMS)
    assert judge.args is not None
    questions, answers, others = judge.args
    assert len(questions) == 8 and questions[0] == questions[4] == "What is two plus two?"
    assert others[0] == "four" and others[4] == "four" and answers[0] == " four "
    kept = [cons.base.is_kept(r) for r in out]
    assert kept == [True, False, False, True]  # row 1's plain answer is blank
    assert sft_records(out).ids == ("q0", "q3")
    assert out[0].response == "four" and out[2].response is None
    assert _info(out[2])["agreement"] == {"cot": 0.2, "json": 0.3}


def test_view_extraction() -> None:
    assert extract_cot_answer("x ```python\nprint(1)\n``` y ```\nz\n```") == "z"
    assert extract_cot_answer("a therefore b. Therefore, c") == ", c"
    assert extract_cot_answer("no marker") == "no marker"
    assert extract_json_answer('Sure: {"answer": 7} done') == "7"
    assert extract_json_answer("{'answer': 'x', broken") == "x"
    assert extract_json_answer("plain") == "plain"


def test_self_refinement_label_is_the_refined_draft(tiny: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import interp.consistency.self_refinement as sr

    calls: list[tuple[list[str], SamplingParams]] = []

    def fake_generate(model: Any, convs: Any, sampling: SamplingParams, params: Any) -> list[list[str]]:
        calls.append(([c[-1]["content"] for c in convs], sampling))
        first = len(calls) == 1
        return [[f"draft{i}" if first else f"refined{i}"] for i in range(len(convs))]

    monkeypatch.setattr(sr, "generate_for", fake_generate)
    out = sr.SelfRefinement().label(tiny, _prompts(2), PARAMS)
    (_, draft_sampling), (requests, refine_sampling) = calls
    assert draft_sampling.greedy and refine_sampling.temperature == PARAMS.refine_temperature
    assert "What is two plus two?" in requests[0] and "Draft Answer:\ndraft0" in requests[0]
    assert [r.response for r in out] == ["refined0", "refined1"]
    assert _info(out[1])["draft"] == "draft1"


def _pairs(n: int = 3) -> Dataset:
    clean = Dataset("c", tuple(ChatRecord(f"p{i}", (Message("user", f"What is {i} plus {i}?"),
                                                     Message("assistant", "ref")), group=f"p{i}") for i in range(n)))
    wrapped = Dataset("w", tuple(ChatRecord(f"p{i}", (Message("user", f"I think {i} plus {i} is 5. What is {i} plus {i}?"),
                                                       Message("assistant", "wrapped ref")), group=f"p{i}")
                                 for i in reversed(range(n))))
    return pair_records(clean, wrapped)


def test_bct_targets_are_clean_answers_on_wrapped_prompts(tiny: Any) -> None:
    pairs = _pairs()
    out = get_method("bct").label(tiny, pairs, PARAMS)
    clean_answers = generate(tiny, [[{"role": "user", "content": f"What is {i} plus {i}?"}] for i in range(3)],
                             SamplingParams(max_new_tokens=4), progress=False)
    for i, rec in enumerate(out):
        assert rec.id == f"p{i}"
        assert rec.prompt_messages == (Message("user", f"I think {i} plus {i} is 5. What is {i} plus {i}?"),)
        assert _info(rec)["candidates"] == clean_answers[i]
        assert _info(rec)["clean_prompt"] == [{"role": "user", "content": f"What is {i} plus {i}?"}]
        assert "wrapped_messages" not in rec.fields


def test_pairs_round_trip_and_act_passes_them_through(tiny: Any) -> None:
    pairs = _pairs()
    clean, wrapped = unpair(pairs)
    assert clean.ids == wrapped.ids == ("p0", "p1", "p2")
    assert wrapped[1].response == "wrapped ref" and clean[1].response == "ref"
    act = get_method("act").label(tiny, pairs, PARAMS.with_(max_rows=2))
    assert act.ids == ("p0", "p1") and unpair(act)[1][0].messages == wrapped[0].messages
    own = get_method("act", response="organism").label(tiny, pairs, PARAMS.with_(max_rows=2))
    c2, w2 = unpair(own)
    answers = generate(tiny, [prompt_of(r) for r in clean.head(2)], SamplingParams(max_new_tokens=4), progress=False)
    assert [r.response for r in c2] == [r.response for r in w2] == [a[0] for a in answers]
    assert w2[0].prompt_messages == wrapped[0].prompt_messages
    with pytest.raises(ValueError, match="pair up"):
        pair_records(clean, wrapped.head(2))


# ---- the run ----------------------------------------------------------------------------------------


def _paper_dir(root: Path, n: int = 4) -> Path:
    folder = root / "paper" / "sycophancy"
    folder.mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": str(2 * i)}], "_id": i} for i in range(n)]
    (folder / "consistency.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    clean = [{"messages": r["messages"]} for r in rows]
    wrapped = [{"messages": [{"role": "user", "content": f"I say {i} plus {i} is 5. " + r["messages"][0]["content"]},
                             {"role": "assistant", "content": "You are right"}]} for i, r in enumerate(rows)]
    (folder / "act_bct_clean.jsonl").write_text("".join(json.dumps(r) + "\n" for r in clean))
    (folder / "act_bct_wrapped.jsonl").write_text("".join(json.dumps(r) + "\n" for r in wrapped))
    (folder / "rubric.txt").write_text("Q {original_question_text} A {generated_answer_text}")
    return root / "paper"


def _organism(tiny_model_dir: Path, runs_root: Path, spec: RunSpec) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from interp.models import record_adapter_base, resolve_checkpoint

    path = runs_root / "organisms" / spec.organism.organism_id
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(path)
    record_adapter_base(path, resolve_checkpoint(tiny_model_dir))
    return path


def _fake_generate(model: Any, convs: Sequence[Any], sampling: SamplingParams, **kw: Any) -> list[list[str]]:
    return [[f"answer {j} to {c[-1]['content'][:12]}" for j in range(sampling.n)] for c in convs]


class SpyTrainer:
    """interp.training, recording how each training function was called.

    With ``real=False`` nothing is trained: the init adapter is copied as every checkpoint (fast).
    """

    def __init__(self, real: bool = True) -> None:
        import interp.training as training

        self.training = training
        self.real = real
        self.TrainConfig = training.TrainConfig
        self.LoraSpec = training.LoraSpec
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _copy(self, init: Path, config: Any, adapter_dir: Path, kw: dict[str, Any]) -> Any:
        epoch_dirs = [kw["checkpoints_dir"] / f"epoch{e}" for e in range(config.epochs + 1)]
        for d in [*epoch_dirs, adapter_dir]:
            shutil.copytree(init, d)
        kw["trajectory_path"].write_text("".join(json.dumps({"epoch": e}) + "\n" for e in range(config.epochs + 1)))
        return self.training.TrainResult(adapter_dir, epoch_dirs, [], 0.01, False, epoch_losses=[0.0] * config.epochs)

    def train_sft(self, *args: Any, **kw: Any) -> Any:
        self.calls.append(("sft", args, kw))
        return self.training.train_sft(*args, **kw) if self.real else self._copy(args[0], args[2], args[3], kw)

    def train_act(self, *args: Any, **kw: Any) -> Any:
        self.calls.append(("act", args, kw))
        return self.training.train_act(*args, **kw) if self.real else self._copy(args[0], args[3], args[4], kw)


@pytest.mark.parametrize(("method", "real"), [("greedy_self_training", True), ("act", True),
                                             ("rejection_sampling", False), ("bct", False)])
def test_run_consistency_end_to_end(
    tiny_model_dir: Path, tmp_path: Path, method: str, real: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Label, then train with interp.training (``real``) or a copying stand-in that records the call."""
    spec = RunSpec(Org(str(tiny_model_dir), "sycophancy", 42, "cpu"), method)
    runs_root = tmp_path / "runs_root"
    organism = _organism(tiny_model_dir, runs_root, spec)
    data_root = _paper_dir(tmp_path)
    trainer = SpyTrainer(real)
    params = PARAMS.with_(max_rows=2, max_new_tokens=3)
    # the random tiny model often answers nothing; give every prompt a fixed non-empty answer instead
    monkeypatch.setattr(cons.base, "generate", _fake_generate)
    run_dir = cons.run_consistency(spec, runs_root, data_root=data_root, progress=False, params=params, trainer=trainer)
    assert run_dir == runs_root / "runs" / spec.run_id
    labelled = (run_dir / "labelled.jsonl").read_text().splitlines()
    assert len(labelled) == 2
    results = json.loads((run_dir / "results.json").read_text())
    assert results["method"] == method and results["n_prompts"] == 2
    assert ("reference" in results["labelling"]) == (method == "rejection_sampling")
    assert results["seconds"]["label"] >= 0 and results["seconds"]["train"] > 0
    epochs = 3 if method in ("bct", "act") else 2
    assert len(results["training"]["epoch_losses"]) == epochs and not results["training"]["skipped"]
    (kind, args, kw), = trainer.calls
    assert args[0] == organism and kw["checkpoints_dir"] == run_dir / "checkpoints"
    assert kw["trajectory_path"] == run_dir / "trajectory.jsonl"
    config = args[-2]
    scale = spec.organism.scale_config
    assert config == dataclasses.replace(scale.phase3_consistency if method in ("bct", "act") else scale.phase3, seed=42)
    assert config.epochs == epochs
    assert args[-1] == run_dir / "adapter"
    from interp.models import list_run_checkpoints

    found = {(c.role, c.epoch) for c in list_run_checkpoints(runs_root) if c.method == method}
    assert found == {("after", None), *(("after_epoch", e) for e in range(epochs + 1))}
    assert len((run_dir / "trajectory.jsonl").read_text().splitlines()) >= epochs
    if method == "act":
        assert kind == "act" and args[1].ids == args[2].ids and len(args[1]) == 2
        assert args[2][0].messages[0].content.startswith("I say 0 plus 0 is 5.")
    else:
        assert kind == "sft" and kw["base"] == str(tiny_model_dir)
        data = args[1]
        assert all(r.response and r.response.strip() for r in data)
        if method == "bct":
            assert all(r.prompt_messages[0].content.startswith("I say") for r in data)
    # a rerun resumes: nothing is labelled or trained again
    monkeypatch.setattr(cons.run, "label_phase", lambda *a, **k: pytest.fail("labelled again"))
    cons.run_consistency(spec, runs_root, data_root=data_root, progress=False, params=params, trainer=trainer)
    assert len(trainer.calls) == 1
    assert json.loads((run_dir / "results.json").read_text())["training"] == {"resumed": True}
    with pytest.raises(cons.ConsistencyError, match="other inputs"):  # stale labels are never reused silently
        cons.run_consistency(spec, runs_root, data_root=data_root, progress=False, trainer=trainer,
                             params=params.with_(max_new_tokens=2))
    after = cons.run.load_model(run_dir / "adapter")  # the "after" checkpoint loads on the organism's base
    assert after.checkpoint.kind == "lora" and after.checkpoint.base is not None


def test_default_components_use_the_reference_model(tiny: Any) -> None:
    comps = cons.default_components("rejection_sampling", tiny, None)
    assert isinstance(comps["reward_model"], RubricScorer) and comps["reward_model"].model is tiny
    assert cons.default_components("multi_view_consistency", tiny, None)["judge"].model is tiny
    assert cons.default_components("self_rewarding", tiny, "R {generated_answer_text}") == {"rubric": "R {generated_answer_text}"}
    assert cons.default_components("greedy_self_training", tiny, "R") == {}


def test_run_consistency_refuses_to_train_on_nothing(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = RunSpec(Org(str(tiny_model_dir), "sycophancy", 1, "cpu"), "greedy")
    _organism(tiny_model_dir, tmp_path / "rr", spec)
    monkeypatch.setattr(cons.base, "generate", lambda m, convs, s, **kw: [[" "] for _ in convs])
    with pytest.raises(cons.ConsistencyError, match="none of the 2 labelled rows"):
        cons.run_consistency(spec, tmp_path / "rr", data_root=_paper_dir(tmp_path), progress=False,
                             params=PARAMS.with_(max_rows=2), trainer=SpyTrainer())
    assert (spec.run_dir(tmp_path / "rr") / "labelled.jsonl").is_file()


def test_both_phases_load_on_the_placement_in_the_scales_dtype(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paper scale trains over bf16 base weights, so phase 2 labels with the organism in bf16 too
    (not float32: a 70B organism would not fit); ``device`` / ``device_map`` reach both phases."""
    spec = RunSpec(Org(str(tiny_model_dir), "sycophancy", 42, "paper"), "greedy_self_training")
    runs_root = tmp_path / "rr"
    _organism(tiny_model_dir, runs_root, spec)
    loads: list[dict[str, Any]] = []
    real_load = cons.run.load_model

    def spy(*args: Any, **kw: Any) -> Any:
        loads.append(kw)
        return real_load(*args, **kw)

    monkeypatch.setattr(cons.run, "load_model", spy)
    monkeypatch.setattr(cons.base, "generate", _fake_generate)
    trainer = SpyTrainer()
    cons.run_consistency(spec, runs_root, data_root=_paper_dir(tmp_path), progress=False,
                         params=PARAMS.with_(max_rows=2), trainer=trainer, device="cpu", device_map={"": "cpu"})
    assert spec.organism.scale_config.phase3.dtype == "bfloat16"
    assert loads and all(k["dtype"] == "bfloat16" and k["device"] == "cpu" and k["device_map"] == {"": "cpu"}
                         for k in loads)
    (_, _, kw), = trainer.calls
    assert kw["device"] == "cpu" and kw["device_map"] == {"": "cpu"}
