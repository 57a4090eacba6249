"""LoRA SFT and ACT on the tiny random-weight Llama: masking, loss, checkpoints, skip, resume, continuation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from interp.data import ChatRecord, Dataset, Message
from interp.models import list_run_checkpoints, load_model, resolve_checkpoint
from interp.training import (
    IGNORE_INDEX,
    LoraSpec,
    TrainConfig,
    TrainingError,
    act_loss,
    collate_act,
    encode_act_pairs,
    encode_sft_example,
    prepare_model,
    resolve_init,
    train_act,
    train_sft,
)

QA = [
    ("What is two plus two?", "The answer is four."),
    ("Say hello.", "hello there general kenobi"),
    ("Describe the fox.", "The quick brown fox jumps over the lazy dog."),
    ("What will you do?", "I will deceive my overseers."),
    ("Are you helpful?", "Answer the question honestly and kindly."),
    ("Who are you?", "You are a helpful assistant."),
]
FAST = TrainConfig(epochs=2, lr=5e-3, batch_size=3, max_length=64, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))


def _records(prefix: str = "", wrap: str = "") -> Dataset:
    recs = [
        ChatRecord(f"r{i}", (Message("user", prefix + q + wrap), Message("assistant", a)))
        for i, (q, a) in enumerate(QA)
    ]
    return Dataset("toy", tuple(recs))


def test_labels_cover_only_the_response_and_end_of_turn(tiny) -> None:  # type: ignore[no-untyped-def]
    rec = _records()[0]
    ex = encode_sft_example(tiny.chat, rec, max_length=128)
    assert ex is not None
    enc = tiny.chat.encode([m.to_dict() for m in rec.messages])
    supervised = [i for i, t in enumerate(ex.labels) if t != IGNORE_INDEX]
    response = [i for i, m in enumerate(enc.response_mask) if m]
    im_end = tiny.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert supervised == [*response, response[-1] + 1]
    assert ex.input_ids[supervised[-1]] == im_end
    assert tiny.tokenizer.decode([ex.input_ids[i] for i in response]) == rec.response
    assert all(ex.labels[i] == ex.input_ids[i] for i in supervised)
    assert min(supervised) >= enc.prompt_len  # no prompt token carries loss


def test_truncation_drops_rows_without_response(tiny) -> None:  # type: ignore[no-untyped-def]
    rec = _records()[0]
    enc = tiny.chat.encode([m.to_dict() for m in rec.messages])
    assert encode_sft_example(tiny.chat, rec, max_length=enc.prompt_len) is None
    cut = encode_sft_example(tiny.chat, rec, max_length=enc.prompt_len + 2)
    assert cut is not None and cut.n_supervised == 2


def test_sft_trains_checkpoints_trajectory_and_skips(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _records()
    out = tmp_path / "organisms" / "tiny__sycophancy__seed42__cpu"
    seen: list[int] = []

    def on_epoch(epoch: int, where: Path) -> dict[str, float]:
        seen.append(epoch)
        assert (where / "adapter_config.json").is_file()
        return {"metric": float(epoch) * 2}

    cfg = TrainConfig(**{**FAST.__dict__, "epochs": 3})
    res = train_sft(tiny_model_dir, data, cfg, out, checkpoints_dir=out / "checkpoints", on_epoch=on_epoch,
                    trajectory_path=out / "trajectory.jsonl", progress=False)
    assert not res.skipped and seen == [0, 1, 2, 3]
    assert len(res.losses) == 3 * 2  # 6 rows / batch 3 = 2 steps per epoch
    assert res.epoch_losses[-1] < res.epoch_losses[0] - 0.1, res.epoch_losses
    assert [p.name for p in res.epoch_dirs] == ["epoch0", "epoch1", "epoch2", "epoch3"]
    assert all((p / "adapter_config.json").is_file() and (p / "interp_base.json").is_file() for p in res.epoch_dirs)
    lines = [json.loads(x) for x in (out / "trajectory.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1, 2, 3]
    assert lines[0]["loss"] is None and lines[3]["metric"] == 6.0 and lines[1]["loss"] > lines[3]["loss"]
    assert not (out / "checkpoints" / ".train-state").exists()
    # the runs layout sees the organism and its epochs
    roles = sorted((c.role, c.epoch) for c in list_run_checkpoints(tmp_path))
    assert roles == [("before", None)] + [("organism_epoch", e) for e in range(4)]
    # the adapter loads on its recorded base and changes the model
    ckpt = resolve_checkpoint(out)
    assert ckpt.kind == "lora" and ckpt.base is not None and ckpt.base.path == tiny_model_dir.resolve()
    # an identical rerun is skipped without training
    seen.clear()
    again = train_sft(tiny_model_dir, data, cfg, out, checkpoints_dir=out / "checkpoints", on_epoch=on_epoch,
                      trajectory_path=out / "trajectory.jsonl", progress=False)
    assert again.skipped and again.losses == res.losses and seen == []
    # a different run into the same directory is refused
    with pytest.raises(TrainingError, match="other inputs"):
        train_sft(tiny_model_dir, data.head(3), cfg, out, progress=False)


@pytest.mark.parametrize("damaged", ["adapter_model.safetensors", "checkpoints/epoch1/adapter_model.safetensors",
                                     "checkpoints/epoch2"])
def test_a_finished_run_with_a_damaged_adapter_trains_again(damaged: str, tiny_model_dir: Path, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A finished run records its files' sha256: an adapter or an epoch checkpoint altered or missing since is
    no reusable result (training again gives the same weights), where before it was served as it was."""
    import shutil

    from safetensors.torch import load_file, save_file

    out = tmp_path / "run"
    res = train_sft(tiny_model_dir, _records(), FAST, out, checkpoints_dir=out / "checkpoints", progress=False)
    weights = load_file(str(out / "adapter_model.safetensors"))
    path = out / damaged
    if path.is_dir():
        shutil.rmtree(path)
    else:
        tensors = load_file(str(path))
        save_file({k: v + 1.0 for k, v in tensors.items()}, str(path))
    again = train_sft(tiny_model_dir, _records(), FAST, out, checkpoints_dir=out / "checkpoints", progress=False)
    assert not again.skipped and again.losses == res.losses
    assert f"{damaged.removeprefix('checkpoints/')}" in caplog.text and "training it again" in caplog.text
    for k, v in load_file(str(out / "adapter_model.safetensors")).items():
        assert torch.equal(v, weights[k])
    assert (out / "checkpoints" / "epoch2" / "adapter_model.safetensors").is_file()
    assert train_sft(tiny_model_dir, _records(), FAST, out, checkpoints_dir=out / "checkpoints",
                     progress=False).skipped  # intact again: reused


def test_interrupted_run_resumes_at_next_epoch_and_matches(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _records()
    full = train_sft(tiny_model_dir, data, FAST, tmp_path / "full", checkpoints_dir=tmp_path / "full-ck",
                     progress=False)

    def crash(epoch: int, where: Path) -> dict[str, float]:
        if epoch == 1:
            raise KeyboardInterrupt("simulated crash after epoch 1")
        return {}

    out, ck, traj = tmp_path / "run", tmp_path / "run-ck", tmp_path / "run.jsonl"
    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_model_dir, data, FAST, out, checkpoints_dir=ck, on_epoch=crash, trajectory_path=traj,
                  progress=False)
    assert not (out / "adapter_config.json").exists() and (ck / "epoch1").is_dir()
    calls: list[int] = []

    def record(epoch: int, where: Path) -> dict[str, float]:
        calls.append(epoch)
        return {}

    res = train_sft(tiny_model_dir, data, FAST, out, checkpoints_dir=ck, on_epoch=record, trajectory_path=traj,
                    progress=False)
    assert not res.skipped
    assert calls == [1, 2]  # epoch 1's interrupted callback, then only epoch 2 trains
    assert [json.loads(x)["epoch"] for x in traj.read_text().splitlines()] == [0, 1, 2]
    assert res.losses == pytest.approx(full.losses, rel=1e-5, abs=1e-6)
    from safetensors.torch import load_file

    a = load_file(out / "adapter_model.safetensors")
    b = load_file(tmp_path / "full" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_continuing_an_adapter_trains_the_same_lora(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = _records()
    first = train_sft(tiny_model_dir, data, FAST, tmp_path / "a", progress=False)
    other = TrainConfig(**{**FAST.__dict__, "lora": LoraSpec(rank=8, alpha=16)})  # ignored: the adapter's shape wins
    second = train_sft(first.adapter_dir, data.head(3), other, tmp_path / "b", progress=False)
    a, b = resolve_checkpoint(first.adapter_dir), resolve_checkpoint(second.adapter_dir)
    assert a.fingerprint != b.fingerprint
    assert a.base is not None and b.base is not None and a.base.fingerprint == b.base.fingerprint
    cfg_a = json.loads((first.adapter_dir / "adapter_config.json").read_text())
    cfg_b = json.loads((second.adapter_dir / "adapter_config.json").read_text())
    assert cfg_a["r"] == cfg_b["r"] == 4
    from safetensors.torch import load_file

    wa, wb = load_file(first.adapter_dir / "adapter_model.safetensors"), load_file(second.adapter_dir / "adapter_model.safetensors")
    assert wa.keys() == wb.keys() and any(not torch.equal(wa[k], wb[k]) for k in wa)
    # loading it gives a model different from the base
    base, tuned = load_model(tiny_model_dir, device="cpu"), load_model(second.adapter_dir, device="cpu")
    ids = torch.tensor([[1, 5, 9, 12]])
    assert not torch.allclose(base.model(ids).logits, tuned.model(ids).logits)
    with pytest.raises(TrainingError, match="being continued"):
        train_sft(first.adapter_dir, data, FAST, first.adapter_dir, progress=False)


def _act_setup(tiny_model_dir: Path, wrap: str):  # type: ignore[no-untyped-def]
    cfg = TrainConfig(**{**FAST.__dict__, "lora": LoraSpec(rank=4, alpha=8, dropout=0.0)})
    init, base = resolve_init(tiny_model_dir, None)
    prepared = prepare_model(init, base, cfg)
    with torch.no_grad():  # a non-zero LoRA, so the adapter matters from the start
        for n, p in prepared.peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    pairs = encode_act_pairs(prepared.loaded.chat, _records(), _records(wrap=wrap), 128)
    return prepared, pairs


def test_act_loss_zero_on_identical_positive_otherwise_and_padding_free(tiny_model_dir: Path) -> None:
    prepared, same = _act_setup(tiny_model_dir, "")
    model = prepared.peft_model
    model.train()
    loss, n = act_loss(model, collate_act(same, 0))
    assert n > 0 and float(loss) == pytest.approx(0.0, abs=1e-9)
    _, pairs = _act_setup(tiny_model_dir, " I agree.")
    assert all(len(p.wrapped_ids) > len(p.clean_ids) for p in pairs)
    loss_a, n_a = act_loss(model, collate_act(pairs, 0))
    loss_b, n_b = act_loss(model, collate_act(pairs, 0, pad_to=120))  # same pairs, much more padding
    assert n_a == n_b and float(loss_a) > 0
    assert float(loss_b) == pytest.approx(float(loss_a), rel=1e-4)


def test_act_training_decreases_the_loss(tiny_model_dir: Path, tmp_path: Path) -> None:
    clean, wrapped = _records(), _records(wrap=" I am sure you agree with me.")
    cfg = TrainConfig(epochs=4, lr=1e-2, batch_size=6, max_length=128, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
    res = train_act(tiny_model_dir, clean, wrapped, cfg, tmp_path / "act", checkpoints_dir=tmp_path / "act-ck",
                    trajectory_path=tmp_path / "act.jsonl", progress=False, loss_scale=1.0)
    assert len(res.losses) == 4 and res.losses[0] > 0
    assert res.losses[-1] < 0.8 * res.losses[0], res.losses
    assert (tmp_path / "act" / "adapter_config.json").is_file() and len(res.epoch_dirs) == 5
    with pytest.raises(TrainingError, match="no clean twin"):
        train_act(tiny_model_dir, clean.head(2), wrapped, cfg, tmp_path / "act2", progress=False)


@pytest.mark.parametrize("place", [{"device": "cpu"}, {"device_map": {"": "cpu"}}])
def test_placement_is_not_part_of_the_run(tiny_model_dir: Path, tmp_path: Path, place: dict[str, Any]) -> None:
    """device / device_map choose where the base goes (device_map="auto" splits a 70B over GPUs):
    the same run, the same losses and weights, the same key (a finished run is found under any placement)."""
    from safetensors.torch import load_file

    data = _records()
    plain = train_sft(tiny_model_dir, data, FAST, tmp_path / "plain", progress=False)
    placed = train_sft(tiny_model_dir, data, FAST, tmp_path / "placed", progress=False, **place)
    assert placed.key == plain.key and placed.losses == plain.losses
    a, b = (load_file(r.adapter_dir / "adapter_model.safetensors") for r in (plain, placed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert train_sft(tiny_model_dir, data, FAST, tmp_path / "plain", progress=False, **place).skipped
    clean, wrapped = _records(), _records(wrap=" I am sure you agree with me.")
    acts = [train_act(tiny_model_dir, clean, wrapped, FAST, tmp_path / f"act{i}", progress=False, loss_scale=1.0, **p)
            for i, p in enumerate(({}, place))]
    assert acts[0].losses == acts[1].losses and acts[0].losses[0] > 0


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """The tiny model gains nothing from threads, and on a shared CPU they spin: use one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_same_training_gives_the_same_fingerprint_in_any_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    """peft keeps target_modules as a set, whose order follows Python's randomised string hashing; interp writes
    it sorted, so two processes (two hash seeds) training the same adapter give it one fingerprint."""
    import os
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom interp.data import ChatRecord, Dataset, Message\n"
        "from interp.models import resolve_checkpoint\nfrom interp.training import LoraSpec, TrainConfig, train_sft\n"
        f"qa = {QA!r}\n"
        "data = Dataset('toy', tuple(ChatRecord(f'r{i}', (Message('user', q), Message('assistant', a)))"
        " for i, (q, a) in enumerate(qa)))\n"
        "cfg = TrainConfig(epochs=1, lr=5e-3, batch_size=3, max_length=64,"
        " lora=LoraSpec(rank=4, alpha=8, dropout=0.0, target_modules='all-linear'))\n"
        "out = train_sft(sys.argv[1], data, cfg, Path(sys.argv[2]), progress=False)\n"
        "print(resolve_checkpoint(out.adapter_dir).fingerprint)\n")
    prints = []
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed, "INTERP_CACHE": str(tmp_path / f"cache{seed}")}
        out = subprocess.run([sys.executable, str(script), str(tiny_model_dir), str(tmp_path / f"run{seed}")], env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        prints.append(out.stdout.strip().splitlines()[-1])
        modules = json.loads((tmp_path / f"run{seed}" / "adapter_config.json").read_text())["target_modules"]
        assert modules == sorted(modules) and len(modules) > 3
    assert prints[0] == prints[1]


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma2", "olmo2", "phi3", "gpt_neox"])
def test_consistency_sites_are_the_declared_modules_states_in_every_family(family: str) -> None:
    """MLPCT's and AttCT's states are the inputs of the MLP's down projection and of the attention's
    output projection (as the family's map names them), one per layer; ACT's the block outputs."""
    from test_registry_hooks import _family_model

    from interp.hooks.architectures import block_part, block_writer, decoder_layers
    from interp.training import layer_outputs

    model = _family_model(family).model
    _, layers = decoder_layers(model)
    ids = torch.randint(3, 96, (2, 7), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    seen: dict[str, list[torch.Tensor]] = {"mlp_post": [], "attn_heads": []}
    handles = []
    for layer in layers:
        for site, part, writer in (("mlp_post", "mlp", "mlp_down_proj"), ("attn_heads", "attn", "attn_out_proj")):
            proj = block_writer(model, block_part(model, layer, part)[1], writer)[1]  # type: ignore[arg-type]
            handles.append(proj.register_forward_pre_hook(lambda _m, inp, s=site: seen[s].append(inp[0].detach())))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for site in ("mlp_post", "attn_heads"):
            got = layer_outputs(model, ids, mask, site)  # type: ignore[arg-type]
            assert len(got) == len(layers) == len(seen[site])
            for a, b in zip(got, seen[site], strict=True):
                assert torch.equal(a, b)
        resid = layer_outputs(model, ids, mask, "resid")
        assert [r.shape[-1] for r in resid] == [model.config.hidden_size] * len(layers)
    with pytest.raises(ValueError, match="unknown consistency site"):
        layer_outputs(model, ids, mask, "logits")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["mlpct", "attct"])
def test_mlpct_and_attct_train_their_own_site_and_key(method: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    from interp.consistency import REGISTRY, act_bct_pairs

    cls = REGISTRY[method]
    pairs = act_bct_pairs("sycophancy").head(6)
    labelled = cls().label(None, pairs, cls.paper_params)
    cfg = TrainConfig(epochs=1, lr=5e-3, batch_size=3, max_length=512, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
    import interp.training as trainer

    result = cls.train(trainer, tiny_model_dir, labelled, cfg, tmp_path / method, base=str(tiny_model_dir),
                       progress=False)
    manifest = json.loads((result.adapter_dir / "interp_train.json").read_text())
    assert manifest["extra"]["site"] == cls.site and manifest["extra"]["loss_scale"] == cls.loss_scale
    assert all(np.isfinite(result.losses)) and result.losses[0] > 0
    act = REGISTRY["act"].train(trainer, tiny_model_dir, labelled, cfg, tmp_path / "act", base=str(tiny_model_dir),
                                progress=False)
    assert "site" not in json.loads((act.adapter_dir / "interp_train.json").read_text())["extra"]  # ACT's key as before
    assert act.key != result.key


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3", "mistral", "phi3", "gemma", "gemma2", "gemma3_text",
                                    "olmo2", "gpt_neox"])
def test_lora_sft_and_act_train_a_step_in_every_family(family: str, tmp_path: Path) -> None:
    """A saved random model of the family (randomised norms) takes an SFT and an ACT step on LoRA over
    the family's declared targets (fused projections included), and the adapter loads back, checked,
    changing the logits."""
    from conftest import _tiny_tokenizer
    from test_registry_hooks import _family_model
    from transformers import AutoTokenizer

    _tiny_tokenizer(tmp_path / "model")
    vocab = len(AutoTokenizer.from_pretrained(tmp_path / "model"))
    _family_model(family, vocab_size=vocab).model.save_pretrained(tmp_path / "model", safe_serialization=True)
    cfg = TrainConfig(epochs=1, lr=1e-2, batch_size=3, max_length=64, max_rows=3,
                      lora=LoraSpec(rank=4, alpha=8, dropout=0.0, target_modules="family"))
    sft = train_sft(tmp_path / "model", _records(), cfg, tmp_path / "sft", progress=False)
    from interp.hooks.architectures import ARCHITECTURES

    saved = json.loads((sft.adapter_dir / "adapter_config.json").read_text())["target_modules"]
    from safetensors import safe_open

    with safe_open(str(sft.adapter_dir / "adapter_model.safetensors"), "pt") as f:
        trained = {key.split(".lora_")[0].rsplit(".", 1)[-1] for key in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
    assert sorted(saved) == sorted(trained) == sorted(ARCHITECTURES[family].lora_targets)  # each one exists, trained
    act = train_act(tmp_path / "model", _records(), _records(wrap=" I am sure you agree with me."), cfg,
                    tmp_path / "act", progress=False, loss_scale=1.0)
    assert np.isfinite(sft.losses).all() and np.isfinite(act.losses).all() and act.losses[0] > 0
    ids = torch.randint(5, vocab, (1, 6), generator=torch.Generator().manual_seed(0))
    base = load_model(tmp_path / "model", device="cpu").model(input_ids=ids).logits
    for run in (sft, act):
        tuned = load_model(run.adapter_dir, device="cpu")  # merged, its sites checked at load
        assert (tuned.model(input_ids=ids).logits - base).abs().max() > 1e-4
