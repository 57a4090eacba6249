"""Base models and chosen chat templates: plain text, Jinja strings and files, keys, the pipeline end to end.

The base model is a tiny random Gemma 3 (norm weights and biases randomised) whose tokenizer has
no chat template and opens plain text with a BOS token, as a pretrained base model's does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import _tiny_tokenizer, randomise_norms_and_biases
from test_pipeline import tiny_scale  # noqa: F401 (a fixture)

from interp.models import ChatFormat, as_messages, load_model
from interp.models.chat import PLAIN, resolve_template

CONV = [{"role": "user", "content": "What is two plus two?"}, {"role": "assistant", "content": "The answer is four."}]
OTHER = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}"
         "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")


def _base_tokenizer(path: Path) -> Any:
    """The tiny BPE tokenizer without a chat template, adding its BOS to text like a base model's."""
    from tokenizers import processors
    from transformers import AutoTokenizer

    _tiny_tokenizer(path)
    tok = AutoTokenizer.from_pretrained(path)
    tok.chat_template = None
    tok.bos_token = "<|endoftext|>"
    bos = tok.convert_tokens_to_ids("<|endoftext|>")
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A $B", special_tokens=[("<|endoftext|>", bos)])
    for f in path.glob("*chat_template*"):
        f.unlink()
    tok.save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="session")
def gemma3_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, d=64 random Gemma 3 base model (no chat template), norms and biases randomised."""
    from transformers import AutoConfig, AutoModelForCausalLM

    path = tmp_path_factory.mktemp("tiny-gemma3-base")
    tok = _base_tokenizer(path)
    config = AutoConfig.for_model(
        "gemma3_text", vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True, initializer_range=0.2)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    randomise_norms_and_biases(model, norm_centre=0.0)  # Gemma's norms scale by (1 + weight)
    model.save_pretrained(path, safe_serialization=True)
    return path


def _save_gguf(model_dir: Path, out: Path) -> Path:
    """A Gemma 3 model directory as a float32 GGUF in llama.cpp's layout (tensor names, norms stored as
    1 + weight, its byte-level BPE as a 'gpt2' vocabulary): the way a base model is often shipped."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    c, arch = model.config, gguf.MODEL_ARCH.GEMMA3
    w = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name("tiny-gemma3-base")
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_key_length(c.head_dim)
    w.add_value_length(c.head_dim)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(c.rope_parameters["full_attention"]["rope_theta"])
    w.add_sliding_window(c.sliding_window)
    tokens = [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges([" ".join(m) for m in json.loads(tok.backend_tokenizer.to_str())["model"]["merges"]])
    special = set(tok.all_special_tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    for add, token_id in ((w.add_bos_token_id, tok.bos_token_id), (w.add_eos_token_id, tok.eos_token_id),
                          (w.add_pad_token_id, tok.pad_token_id), (w.add_unk_token_id, tok.unk_token_id)):
        add(token_id)
    w.add_add_bos_token(True)
    names = gguf.get_tensor_name_map(arch, c.num_hidden_layers)
    for name, p in model.state_dict().items():
        if name != "lm_head.weight":  # tied to the embedding
            data = p.detach().float().numpy()
            w.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")),
                         data + 1 if name.endswith("norm.weight") else data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def test_a_base_model_loads_from_a_gguf_file_as_from_its_directory(gemma3_base_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from interp.activations import CaptureConfig, capture
    from interp.data import load_contrast_set
    from interp.data.schema import Dataset

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    from_dir = load_model(gemma3_base_dir, device="cpu")
    from_gguf = load_model(_save_gguf(gemma3_base_dir, tmp_path / "tiny-gemma3-base.gguf"), device="cpu")
    assert from_gguf.checkpoint.kind == "gguf" and from_gguf.model.config.model_type == "gemma3_text"
    assert from_gguf.chat.plain and from_gguf.chat.identity is None
    assert from_gguf.chat.encode(CONV) == from_dir.chat.encode(CONV)
    ids = torch.tensor([from_dir.chat.encode(CONV).input_ids])
    with torch.no_grad():
        assert torch.equal(from_gguf.model(input_ids=ids).logits, from_dir.model(input_ids=ids).logits)
    pairs = Dataset("pairs", load_contrast_set("persona_pairs").records[:8])
    config = CaptureConfig(("blocks.1.hook_resid_post",))
    a, b = (capture(lm, pairs, config, root=tmp_path / "stores", progress=False) for lm in (from_dir, from_gguf))
    assert torch.equal(a.load("blocks.1.hook_resid_post"), b.load("blocks.1.hook_resid_post"))


def _masked_text(chat: ChatFormat, conv: list[dict[str, str]]) -> tuple[str, str]:
    enc = chat.encode(conv)
    ids = list(enc.input_ids)
    response = chat.tokenizer.decode([t for t, m in zip(ids, enc.response_mask, strict=True) if m])
    return chat.tokenizer.decode(ids[: enc.prompt_len]), response


def test_a_base_model_is_read_as_plain_text(gemma3_base_dir: Path) -> None:
    lm = load_model(gemma3_base_dir, device="cpu")
    chat = lm.chat
    assert chat.plain and chat.describe == "plain"
    assert chat.identity is None  # the model's only rendering: keys as for any model's own template
    text = chat.render(CONV)
    assert text == "<|endoftext|>What is two plus two?\nThe answer is four."
    assert chat.render(CONV[:1], add_generation_prompt=True) == "<|endoftext|>What is two plus two?\n"
    prompt, response = _masked_text(chat, CONV)
    assert response == "The answer is four."
    assert prompt == "<|endoftext|>What is two plus two?\n"
    assert chat.encode(CONV).input_ids[0] == lm.tokenizer.bos_token_id
    # a system prompt is a paragraph before the prompt; plain text has no default one to remove
    with_system = ChatFormat(lm.tokenizer, system_prompt="Be terse.")
    assert with_system.render(CONV) == "<|endoftext|>Be terse.\n\nWhat is two plus two?\nThe answer is four."
    assert with_system.render([{"role": "system", "content": "x"}, *CONV]) == with_system.render(CONV)
    assert ChatFormat(lm.tokenizer, system_prompt=None).render(CONV) == text
    # several turns: a blank line after an answer, the separator after each prompt
    turns = [*CONV, {"role": "user", "content": "And three?"}, {"role": "assistant", "content": "Six."}]
    assert chat.render(turns).endswith("four.\n\nAnd three?\nSix.")
    assert _masked_text(chat, turns)[1] == "Six."


def test_a_chosen_separator_and_template_are_keyed(gemma3_base_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    from interp.activations import CaptureConfig
    from interp.activations.capture import store_key

    lm = load_model(gemma3_base_dir, device="cpu", chat_template=PLAIN, chat_separator="\nAnswer: ")
    assert lm.chat.render(CONV) == "<|endoftext|>What is two plus two?\nAnswer: The answer is four."
    # the separator's trailing space is tokenised with the answer's first word: that token is the response's
    assert _masked_text(lm.chat, CONV) == ("<|endoftext|>What is two plus two?\nAnswer:", " The answer is four.")
    assert lm.chat.identity is not None
    # plain asked for by name on a model without a template is the same rendering, and the same key
    assert ChatFormat(lm.tokenizer, chat_template=PLAIN).identity is None

    own = load_model(tiny_model_dir, device="cpu")
    assert not own.chat.plain and own.chat.identity is None
    config = CaptureConfig(("blocks.0.hook_resid_post",))
    keys = {store_key(own, "data", config)}
    template_file = tmp_path / "other.jinja"
    template_file.write_text(OTHER)
    for choice in (PLAIN, OTHER, str(template_file)):
        chosen = load_model(tiny_model_dir, device="cpu", chat_template=choice)
        assert chosen.chat.identity is not None
        keys.add(store_key(chosen, "data", config))
        if choice != PLAIN:
            assert chosen.chat.render(CONV) == "user: What is two plus two?\nassistant: The answer is four.\n"
            assert _masked_text(chosen.chat, CONV)[1] == " The answer is four."  # "assistant: " ends in a space
    assert len(keys) == 3  # own template, plain, and one Jinja template given two ways (same text, same key)
    assert store_key(load_model(tiny_model_dir, device="cpu", chat_template=str(template_file)), "data", config) \
        == store_key(load_model(tiny_model_dir, device="cpu", chat_template=OTHER), "data", config)


def test_bad_template_choices_are_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither 'plain', a Jinja template string, nor a file that exists"):
        load_model(tiny_model_dir, device="cpu", chat_template="chatml")
    empty = tmp_path / "t.txt"
    empty.write_text("no template here")
    with pytest.raises(ValueError, match="holds no Jinja"):
        resolve_template(str(empty))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    with pytest.raises(ValueError, match="chat_separator applies to plain text only"):
        ChatFormat(tok, separator=" => ")


def test_template_choices_leave_default_keys_alone() -> None:
    from interp.organisms import OrganismSpec
    from interp.pipeline import parse_config
    from interp.pipeline.run import config_key
    from interp.training import TrainConfig

    assert "chat_template" not in TrainConfig().to_dict()  # runs trained before the choice keep their keys
    assert TrainConfig(chat_template=PLAIN).to_dict()["chat_template"] == PLAIN
    spec = OrganismSpec(failure_mode="sycophancy", seed=3)
    plain = OrganismSpec(failure_mode="sycophancy", seed=3, chat_template=PLAIN)
    assert spec.organism_id == "HuggingFaceTB_SmolLM2-135M-Instruct__sycophancy__seed3__cpu"
    assert plain.organism_id.startswith("HuggingFaceTB_SmolLM2-135M-Instruct-chat") and plain.organism_id != spec.organism_id
    assert plain.run_id("bct").split("__")[0] == plain.organism_id.split("__")[0]
    base = parse_config({"name": "x"})
    chosen = parse_config({"name": "x", "chat_template": "plain", "chat_separator": "\nA: "})
    assert base.section("model") == {"model": base.model} and base.section("dtype") == {"dtype": "float32"}
    assert chosen.section("model") == {"model": base.model, "chat_template": PLAIN, "chat_separator": "\nA: "}
    assert config_key(base) == config_key(parse_config({"name": "x", "chat_template": None}))
    assert config_key(base) != config_key(chosen)
    assert chosen.organism_spec("sycophancy", 42).chat == {"chat_template": PLAIN, "chat_separator": "\nA: "}


def test_a_bad_template_in_a_config_is_an_error_before_any_work() -> None:
    from interp.pipeline import ConfigError, parse_config

    with pytest.raises(ConfigError, match="chat_template"):
        parse_config({"name": "x", "chat_template": "no/such/template.jinja"})


@pytest.mark.usefixtures("tiny_scale")
@pytest.mark.parametrize("saved", ["directory", "gguf"])
def test_interp_run_on_a_base_model(gemma3_base_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    saved: str) -> None:
    """The whole pipeline on a base model with no chat template and no setting, from its directory and
    from a GGUF file: organism, BCT, capture, probes, steering and ablation."""
    import pandas as pd
    from test_pipeline import _nonempty_generate, tiny_config

    from interp.pipeline import parse_config, run_experiment

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    _nonempty_generate(monkeypatch)
    model = gemma3_base_dir if saved == "directory" else _save_gguf(gemma3_base_dir, tmp_path / "base.gguf")
    config = parse_config(tiny_config(str(model), tmp_path / "runs", methods=["bct"],
                                      sae={"enabled": False}, trajectory={"enabled": False},
                                      steering={"layer": 1, "alphas": [0.0, 0.1], "n_random": 1, "eval_rows": 6,
                                                "n_boot": 100}))
    result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
    assert result.ok, result.failed
    run = result.run_dir
    layers = pd.read_parquet(run / "layers.parquet")
    assert set(layers["checkpoint"]) == {"base", "before", "after:bct"} and layers["auroc"].between(0, 1).all()
    assert set(pd.read_parquet(run / "ablation.parquet")["checkpoint"]) == {"before", "after:bct"}
    assert not pd.read_parquet(run / "dose_response.parquet").empty
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "activations").rglob("manifest.json")]
    assert manifests and all(m["chat"] == {"format": "plain", "identity": None, "separator": "\n"} for m in manifests)


def test_capture_from_the_cli_as_plain_text(tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from interp.activations import ActivationStore
    from interp.cli import main

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    args = ["capture", str(tiny_model_dir), "--dataset", "persona_pairs", "--hooks", "resid_post:1",
            "--store-root", str(tmp_path / "s")]
    assert main(args) == 0
    own = capsys.readouterr().out.strip().splitlines()[-1]
    assert main([*args, "--chat-template", "plain", "--chat-separator", "\nA:"]) == 0
    plain = capsys.readouterr().out.strip().splitlines()[-1]
    assert own != plain  # another rendering, another store
    manifest = json.loads((Path(plain) / "manifest.json").read_text())
    assert manifest["chat"]["format"] == "plain" and manifest["chat"]["separator"] == "\nA:"
    a, b = ActivationStore(own), ActivationStore(plain)
    assert list(a.examples["id"]) == list(b.examples["id"]) and list(a.examples["label"]) == list(b.examples["label"])
    assert (b.examples["n_tokens"] < a.examples["n_tokens"]).all()  # no ChatML turn markers, no default system turn
    assert (b.examples["n_response"] > 0).all()


def _without_template(gguf_path: Path, out: Path) -> Path:
    """A copy of a GGUF file without its chat template: the model as a base model would ship."""
    import gguf
    from gguf.scripts.gguf_new_metadata import copy_with_new_metadata

    reader = gguf.GGUFReader(str(gguf_path))
    writer = gguf.GGUFWriter(str(out), arch=reader.fields["general.architecture"].contents(),
                             endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, {}, ["tokenizer.chat_template"])
    return out


@pytest.mark.slow
@pytest.mark.real_model
def test_the_embedded_model_without_its_template_is_studied_as_text(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from interp.activations import CaptureConfig, capture
    from interp.data import load_contrast_set
    from interp.models import embedded_gguf_path
    from probes import DiffMeansProbe, auroc

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    lm = load_model(_without_template(embedded_gguf_path(), tmp_path / "smollm2-base.gguf"), device="cpu")
    assert lm.chat.plain and lm.tokenizer.chat_template is None
    pairs = load_contrast_set("persona_pairs")
    first = pairs.records[0]
    text = lm.chat.render(as_messages(first))
    assert "<|im_start|>" not in text and text.endswith(first.messages[-1].content)
    store = capture(lm, pairs, CaptureConfig(("blocks.15.hook_resid_post",), positions="response_mean"), progress=False)
    x, y = store.load("blocks.15.hook_resid_post").numpy(), store.examples["label"].to_numpy()
    direction = DiffMeansProbe().fit(x, y).direction_  # in-sample: 5-fold by group it is 0.904 (the note)
    assert auroc(y, x @ direction) > 0.85


def test_documents_are_captured_as_plain_text_on_any_model(tiny_model_dir: Path, gemma3_base_dir: Path,
                                                           tmp_path: Path) -> None:
    from interp.activations import CaptureConfig, capture
    from interp.data import load_contrast_set
    from interp.data.schema import Dataset

    docs = load_contrast_set("ai_documents")
    data = Dataset("docs", docs.records[:8])
    for model_dir, bos in ((tiny_model_dir, 0), (gemma3_base_dir, 1)):  # a chat model, a base model with a BOS
        lm = load_model(model_dir, device="cpu")
        enc = lm.chat.encode_document(as_messages(data.records[0]))
        text = data.records[0].messages[-1].content
        assert lm.tokenizer.decode(enc.input_ids[bos:]) == text and enc.prompt_len == bos
        assert enc.response_mask == (False,) * bos + (True,) * (len(enc) - bos)
        store = capture(lm, data, CaptureConfig(("blocks.1.hook_resid_post",), documents=True),
                        root=tmp_path / model_dir.name, progress=False)
        chat = capture(lm, data, CaptureConfig(("blocks.1.hook_resid_post",)), root=tmp_path / model_dir.name,
                       progress=False)
        assert store.path != chat.path  # another text, another key
        assert (store.examples["n_tokens"] < chat.examples["n_tokens"]).all()
        assert (store.examples["prompt_len"] == bos).all()
    with pytest.raises(ValueError, match="documents have no prompt"):
        CaptureConfig(("blocks.1.hook_resid_post",), positions="last_prompt", documents=True)
    with pytest.raises(ValueError, match="ends with a user turn"):
        lm.chat.encode_document(CONV[:1])
    assert "documents" not in CaptureConfig(("blocks.1.hook_resid_post",)).identity()  # stores before it keep keys
