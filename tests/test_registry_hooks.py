"""The hooks' extension points, each followed once: a toy intervention every backend runs, a toy
backend built by name, and the declared architecture maps on tiny random models of each family."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import randomise_norms_and_biases
from test_pipeline import tiny_scale  # noqa: F401 (a fixture)
from torch import Tensor, nn

from interp.hooks import (
    ARCHITECTURES,
    BACKENDS,
    ArchitectureMap,
    PositionMasks,
    architecture_of,
    backend_names,
    make_backend,
    register_architecture,
    register_backend,
    unregister_architecture,
    unregister_backend,
)
from interp.hooks.architectures import (
    as_architecture,
    block_part,
    block_writer,
    decoder_layers,
    set_architecture,
)
from interp.hooks.base import Backend
from interp.hooks.hf_backend import HFBackend
from interp.models import LoadedModel, load_model
from interp.steering.orthogonalize import orthogonalize_weights

SITES = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")


# ---- a new intervention: one class, every backend -----------------------------------------------


@dataclass(frozen=True)
class ClampProjection:
    """Toy operator: set the component of the activation along ``direction`` to ``value``."""

    hook: str
    direction: Tensor
    value: float

    @property
    def width(self) -> int:
        return int(self.direction.shape[-1])

    def apply(self, x: Tensor, masks: PositionMasks | Tensor | None = None) -> Tensor:
        u = (self.direction / self.direction.norm()).to(dtype=x.dtype, device=x.device)
        return x + (self.value - x @ u).unsqueeze(-1) * u


HOOK = "blocks.1.hook_resid_post"


@pytest.fixture(scope="module")
def backends(sharp_model_dir: Path) -> dict[str, Backend]:
    out = {}
    for name in BACKENDS:
        lm = load_model(sharp_model_dir, device="cpu")  # one model per backend: the TL bridge patches its model
        lm.model.set_attn_implementation("eager")
        out[name] = make_backend(name, lm)
    return out


def test_a_new_intervention_runs_unchanged_in_every_backend(backends: dict[str, Backend]) -> None:
    torch.manual_seed(1)
    ids = torch.randint(5, 300, (2, 9))
    attn = torch.ones_like(ids)
    attn[1, 6:] = 0
    direction = torch.randn(64, generator=torch.Generator().manual_seed(3))
    clamp = ClampProjection(HOOK, direction, value=12.0)
    u = direction / direction.norm()
    hf = backends["hf"]
    plain = hf.run(ids, attn).logits
    # reference: the same edit as a plain forward hook on decoder layer 1 of the hf backend's model
    handle = hf.loaded.model.model.layers[1].register_forward_hook(lambda m, a, out: clamp.apply(out))
    try:
        with torch.no_grad():
            manual = hf.loaded.model(input_ids=ids, attention_mask=attn, use_cache=False).logits
    finally:
        handle.remove()
    assert plain is not None and (manual - plain).abs().max() > 1e-2  # the toy bites
    for name, backend in backends.items():
        untouched = backend.run(ids, attn).logits
        with backend.intervene([clamp]):
            got = backend.run(ids, attn, capture=[HOOK, "blocks.2.hook_resid_pre"])
        assert got.logits is not None
        assert (got.logits - manual).abs().max() <= 1e-4, name
        for hook in (HOOK, "blocks.2.hook_resid_pre"):  # layer 1's output is layer 2's input
            proj = got.activations[hook] @ u
            assert torch.allclose(proj, torch.full_like(proj, 12.0), atol=1e-4), (name, hook)
        assert torch.equal(backend.run(ids, attn).logits, untouched), name  # removed on exit


def test_a_new_intervention_steers_generation_in_every_backend(backends: dict[str, Backend]) -> None:
    lm = backends["hf"].loaded
    prompts = [lm.tokenizer(lm.chat.render([{"role": "user", "content": q}], add_generation_prompt=True),
                            add_special_tokens=False)["input_ids"] for q in ("hello there", "What is two plus two?")]
    from interp.models.batching import pad_ids

    ids, attn = pad_ids(prompts, lm.tokenizer.pad_token_id, side="left")
    clamp = ClampProjection(HOOK, torch.randn(64, generator=torch.Generator().manual_seed(4)), value=40.0)
    kw: dict[str, Any] = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": lm.tokenizer.pad_token_id}
    tokens = {}
    for name, backend in backends.items():
        with backend.intervene([clamp]):
            tokens[name] = backend.generate(ids, attn, **kw)[:, ids.shape[1]:]
    plain = backends["hf"].generate(ids, attn, **kw)[:, ids.shape[1]:]
    assert not torch.equal(tokens["hf"], plain)
    for name, got in tokens.items():
        assert torch.equal(got, tokens["hf"]), name


def test_interventions_are_checked_when_installed(tiny: LoadedModel) -> None:
    backend = make_backend("hf", tiny)
    with pytest.raises(ValueError, match="d=32, the model has d_model=64"):
        with backend.intervene([ClampProjection(HOOK, torch.ones(32), 1.0)]):
            pass
    with pytest.raises(TypeError, match="is not an Intervention"):
        with backend.intervene([object()]):  # type: ignore[list-item]
            pass


# ---- a new backend: one class, one registration ---------------------------------------------------


class CountingBackend(HFBackend):
    """Toy backend: the hf backend, counting its forward passes."""

    name = "counting"

    def __init__(self, loaded: Any) -> None:
        super().__init__(loaded)
        self.passes = 0

    def _run(self, *args: Any) -> Any:
        self.passes += 1
        return super()._run(*args)


@pytest.fixture
def counting() -> Iterator[None]:
    register_backend("counting", CountingBackend)
    try:
        yield
    finally:
        unregister_backend("counting")


def test_a_registered_backend_is_built_by_name(counting: None, tiny: LoadedModel) -> None:
    assert backend_names() == (*BACKENDS, "counting") and BACKENDS == ("hf", "transformer_lens", "nnsight")
    backend = make_backend("counting", tiny)
    assert isinstance(backend, CountingBackend)
    ids = torch.randint(5, 300, (1, 6), generator=torch.Generator().manual_seed(0))
    got = backend.run(ids, capture=["blocks.0.hook_resid_post"])
    want = make_backend("hf", tiny).run(ids, capture=["blocks.0.hook_resid_post"])
    assert backend.passes == 1 and got.logits is not None and torch.equal(got.logits, want.logits)
    with pytest.raises(ValueError, match="already registered"):
        register_backend("counting", HFBackend)
    with pytest.raises(ValueError, match="Unknown backend 'jax'; choose one of hf, transformer_lens, nnsight, counting"):
        make_backend("jax", tiny)
    register_backend("broken", lambda loaded: "not a backend")  # type: ignore[arg-type, return-value]
    try:
        with pytest.raises(TypeError, match="returned a str, not a Backend"):
            make_backend("broken", tiny)
    finally:
        unregister_backend("broken")


# ---- architectures: one declaration per family -------------------------------------------------------

PRE_NORM = ("llama", "qwen2", "qwen3", "mistral", "phi3", "gemma")
POST_NORM = ("gemma2", "gemma3_text", "olmo2")  # attention and MLP outputs pass a norm before the residual add
FAMILIES = (*PRE_NORM, *POST_NORM, "gpt_neox")  # GPT-NeoX: parallel attention and MLP


def _family_model(model_type: str, vocab_size: int = 96) -> LoadedModel:
    """A 2-layer, d=32 random model of the family, norm weights and every bias randomised."""
    from transformers import AutoConfig, AutoModelForCausalLM

    extra: dict[str, Any] = {"head_dim": 8} if model_type in ("gemma", "gemma2", "gemma3_text", "qwen3") else {}
    if model_type != "gpt_neox":  # GPT-NeoX has no grouped keys (TransformerLens would read the field anyway)
        extra["num_key_value_heads"] = 2
    config = AutoConfig.for_model(
        model_type, vocab_size=vocab_size, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
        tie_word_embeddings=False, initializer_range=0.2, **extra)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    model.config.architectures = [type(model).__name__]  # as from_pretrained sets it (TransformerLens maps by it)
    randomise_norms_and_biases(model)
    return LoadedModel(model, None, None, None, Path("."))  # type: ignore[arg-type]


def _plain_hooks(model: nn.Module, arch: ArchitectureMap, ids: Tensor) -> dict[str, Tensor]:
    """The same sites from plain PyTorch hooks on the declared modules (no backend involved)."""
    seen: dict[str, Tensor] = {}
    handles = []
    for layer in range(2):
        block = model.get_submodule(f"{arch.layers}.{layer}")

        def keep(key: str, value: Any) -> None:
            seen[key] = (value[0] if isinstance(value, tuple) else value).detach()

        handles += [
            block.register_forward_pre_hook(lambda m, a, kw, k=f"{layer}.resid_pre": keep(k, a[0] if a else kw["hidden_states"]),
                                            with_kwargs=True),
            block.register_forward_hook(lambda m, a, out, k=f"{layer}.resid_post": keep(k, out)),
            # what attention and the MLP add: their outputs, or the outputs of the norms after them
            block.get_submodule(arch.attn_post_norm or arch.attn).register_forward_hook(
                lambda m, a, out, k=f"{layer}.attn_out": keep(k, out)),
            block.get_submodule(arch.mlp_post_norm or arch.mlp).register_forward_hook(
                lambda m, a, out, k=f"{layer}.mlp_out": keep(k, out)),
        ]
    try:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return seen


@pytest.mark.parametrize("model_type", FAMILIES)
def test_each_declared_family_resolves_and_captures_its_residual_stream(model_type: str) -> None:
    lm = _family_model(model_type)
    model: Any = lm.model
    arch = architecture_of(model)
    assert arch is not None and arch is ARCHITECTURES[model_type]
    path, layers = decoder_layers(model)
    assert path == arch.layers and len(layers) == 2
    for layer in layers:
        for part in ("attn", "mlp", "mid"):
            assert block_part(model, layer, part)[1] is layer.get_submodule(getattr(arch, part))
        for part, writer in (("attn", "attn_out_proj"), ("mlp", "mlp_down_proj")):
            linear = block_writer(model, block_part(model, layer, part)[1], writer)[1]  # type: ignore[arg-type]
            assert isinstance(linear, nn.Linear) and linear.out_features == 32

    ids = torch.randint(3, 96, (2, 7), generator=torch.Generator().manual_seed(2))
    names = [f"blocks.{layer}.hook_{site}" for layer in range(2) for site in SITES]
    acts = make_backend("hf", lm).run(ids, capture=names).activations
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False).hidden_states
    plain = _plain_hooks(model, arch, ids)

    def a(layer: int, site: str) -> Tensor:
        return acts[f"blocks.{layer}.hook_{site}"]

    assert (a(0, "resid_post") - hidden[1]).abs().max() <= 1e-5  # the last entry has the final norm applied
    for layer in range(2):
        for site in ("resid_pre", "attn_out", "mlp_out", "resid_post"):
            assert torch.equal(a(layer, site), plain[f"{layer}.{site}"]), (model_type, layer, site)
        # the residual stream adds up: attn_out and mlp_out are what each block adds, on every family
        attn_w, mlp_w = a(layer, "attn_out"), a(layer, "mlp_out")
        assert attn_w.abs().max() > 0.05 and mlp_w.abs().max() > 0.05  # nothing here is trivially small
        if model_type in POST_NORM:  # the sites hold what the norms after attention and the MLP add
            assert arch.post_norms == ("post_attention_layernorm", "post_feedforward_layernorm")
        mid = a(layer, "resid_pre") + (0 if model_type == "gpt_neox" else attn_w)
        assert (a(layer, "resid_mid") - mid).abs().max() <= 1e-5, (model_type, layer)
        total = a(layer, "resid_pre") + attn_w + mlp_w
        assert (a(layer, "resid_post") - total).abs().max() <= 1e-5, (model_type, layer)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_orthogonalisation_edits_the_declared_writers(model_type: str) -> None:
    lm = _family_model(model_type)
    direction = torch.randn(32, generator=torch.Generator().manual_seed(3))
    u = direction / direction.norm()
    ids = torch.randint(3, 96, (2, 7), generator=torch.Generator().manual_seed(2))
    names = ["blocks.0.hook_resid_pre",  # the token embedding
             *(f"blocks.{layer}.hook_{site}" for layer in range(2) for site in ("attn_out", "mlp_out", "resid_post"))]
    before = make_backend("hf", lm).run(ids, capture=names).activations
    if model_type in POST_NORM:  # a norm after each writer: no weight edit is the runtime ablation
        with pytest.raises(ValueError, match="post_attention_layernorm, post_feedforward_layernorm.*Ablate at run time"):
            orthogonalize_weights(lm, direction)
        return
    edited = orthogonalize_weights(lm, direction)
    assert f"{ARCHITECTURES[model_type].layers}.1.mlp_out" in edited
    after = make_backend("hf", lm).run(ids, capture=names).activations
    for name in names:
        assert (before[name] @ u).abs().max() > 1e-2, name
        assert (after[name] @ u).abs().max() <= 1e-4, (model_type, name)


def test_an_unmapped_family_falls_back_to_the_name_search(tiny: LoadedModel) -> None:
    ids = torch.randint(5, 300, (1, 6), generator=torch.Generator().manual_seed(0))
    names = [f"blocks.{layer}.hook_{site}" for layer in range(3) for site in SITES]
    mapped = make_backend("hf", tiny).run(ids, capture=names)
    llama = unregister_architecture("llama")
    try:
        assert architecture_of(tiny.model) is None
        fallback = make_backend("hf", tiny).run(ids, capture=names)
        assert fallback.logits is not None and mapped.logits is not None
        assert torch.equal(fallback.logits, mapped.logits)
        for n in names:
            assert torch.equal(fallback.activations[n], mapped.activations[n]), n
    finally:
        register_architecture("llama", llama)
    assert ARCHITECTURES["llama"] is llama


def test_a_wrong_declaration_says_which_field_to_fix(tiny: LoadedModel) -> None:
    llama = ARCHITECTURES["llama"]
    register_architecture("llama", replace=True, mlp="feed_forward")
    try:
        with pytest.raises(ValueError, match=r"mlp='feed_forward'.*register_architecture\('llama', mlp=\.\.\., replace=True\)"):
            make_backend("hf", tiny).run(torch.ones(1, 3, dtype=torch.long), capture=["blocks.0.hook_mlp_out"])
    finally:
        register_architecture("llama", llama, replace=True)
    with pytest.raises(ValueError, match="already mapped"):
        register_architecture("llama", mlp="feed_forward")
    with pytest.raises(TypeError, match="unknown ArchitectureMap fields"):
        register_architecture("newfam", attention="attn")
    with pytest.raises(ValueError, match="dotted module path"):
        ArchitectureMap(layers="model..layers")
    assert ARCHITECTURES["llama"] == ArchitectureMap()


@pytest.mark.parametrize("model_type", FAMILIES)
def test_each_family_hands_its_unembedding_a_contiguous_input(model_type: str) -> None:
    """``contiguous_head_input`` (which load_model installs) finds every family's output embedding and
    changes no logit of a last-position-only forward."""
    from interp.models.loading import contiguous_head_input

    model = _family_model(model_type).model
    model.requires_grad_(False)
    ids = torch.randint(3, 96, (3, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = model(input_ids=ids).logits[:, -1]
    contiguous_head_input(model)
    seen: list[bool] = []
    model.get_output_embeddings().register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous()))
    with torch.no_grad():
        got = model(input_ids=ids, logits_to_keep=1).logits[:, -1]
    assert seen == [True]
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_directional_ablation_is_one_edit_on_every_backend(model_type: str, tmp_path: Path) -> None:
    """Every site reads the same activation on the three backends, and runtime ablation removes the direction
    from what each block adds (after any post-norm): the same logits, and no layer's output carries it."""
    from conftest import _tiny_tokenizer
    from transformers import AutoTokenizer

    from interp.hooks import directional_ablation

    first = _family_model(model_type).model
    first.save_pretrained(tmp_path, safe_serialization=True)
    _tiny_tokenizer(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    v = torch.randn(32, generator=torch.Generator().manual_seed(4))
    u = v / v.norm()
    ids = torch.randint(3, 96, (2, 7), generator=torch.Generator().manual_seed(2))
    names = [f"blocks.{layer}.hook_resid_post" for layer in range(2)]
    # GPT-NeoX's parallel block has no stream between attention and the MLP (TransformerLens names none)
    sites = [f"blocks.{layer}.hook_{site}" for layer in range(2) for site in SITES
             if not (site == "resid_mid" and model_type == "gpt_neox")]
    logits, leaks, captured = {}, {}, {}
    for name in BACKENDS:  # one model per backend: the TL bridge patches its model
        lm = _family_model(model_type)
        backend = make_backend(name, LoadedModel(lm.model, tokenizer, None, None, tmp_path))  # type: ignore[arg-type]
        captured[name] = backend.run(ids, capture=sites).activations
        with backend.intervene(directional_ablation(v, 2)):
            out = backend.run(ids, capture=names)
        assert out.logits is not None
        logits[name] = out.logits
        leaks[name] = max(float((out.activations[n] @ u).abs().max()) for n in names)
    plain = make_backend("hf", _family_model(model_type)).run(ids).logits
    assert plain is not None and (plain - logits["hf"]).abs().max() > 1e-2  # the ablation does something
    for name in BACKENDS:
        for site in sites:  # every site reads the same activation on every backend
            assert (captured[name][site] - captured["hf"][site]).abs().max() <= 1e-4, (model_type, name, site)
        assert (logits[name] - logits["hf"]).abs().max() <= 1e-4, (model_type, name)
        assert leaks[name] <= 1e-4, (model_type, name, leaks[name])


# ---- the map checked at load: sites resolve, fire, and the residual stream adds up ----------------


@pytest.mark.parametrize("model_type", [*FAMILIES, "gpt2"])  # gpt2: not mapped, found by the name search
def test_every_family_passes_the_check_at_load(model_type: str) -> None:
    from interp.hooks.checks import check_sites

    lm = _family_model(model_type)
    assert (architecture_of(lm.model) is None) == (model_type == "gpt2")
    check_sites(lm, range(2))


def test_a_wrong_map_is_caught_at_load(tiny_model_dir: Path) -> None:
    from interp.hooks.checks import ArchitectureError, check_sites

    gemma = _family_model("gemma2")
    declared = ARCHITECTURES["gemma2"]
    register_architecture("gemma2", dataclasses.replace(declared, attn_post_norm=None, mlp_post_norm=None), replace=True)
    try:  # the post-norms forgotten: what the modules output is not what the block adds
        with pytest.raises(ArchitectureError, match=r"block 0: resid_pre \+ attn_out \+ mlp_out differs from resid_post"
                                                    r".*attn_post_norm / mlp_post_norm.*register_architecture\('gemma2'"):
            check_sites(gemma)
    finally:
        register_architecture("gemma2", declared, replace=True)
    qwen = _family_model("qwen3")
    set_architecture(qwen.model, {"attn": "self_attn.q_norm"})  # exists and runs, but is no residual writer
    with pytest.raises(ArchitectureError, match=r"self_attn.q_norm \(blocks.0.hook_attn_out\) has width 8"):
        check_sites(qwen)
    llama = _family_model("llama")
    for layer in llama.model.model.layers:
        layer.spare = nn.Linear(32, 32)
    set_architecture(llama.model, {"mlp": "spare"})
    with pytest.raises(ArchitectureError, match=r"model.layers.0.spare \(blocks.0.hook_mlp_out\).* never ran"):
        check_sites(llama)
    # the parts around the blocks: the embedding's scale, the final norm, the unembedding
    gemma3 = _family_model("gemma3_text")
    set_architecture(gemma3.model, dataclasses.replace(ARCHITECTURES["gemma3_text"], embedding_scale="1"))
    with pytest.raises(ArchitectureError, match=r"model.embed_tokens's rows times 1 differ from the first block's input"):
        check_sites(gemma3)
    for wrong, match in (({"final_norm": "model.layers.1.input_layernorm"}, "does not read the last block's output"),
                         ({"unembedding": "model.layers.1.mlp.down_proj"}, "cannot read model.norm's output"),
                         ({"unembedding": "model.layers.1.self_attn.o_proj"}, "differs from the logits")):
        mistral = _family_model("mistral")
        set_architecture(mistral.model, wrong)
        with pytest.raises(ArchitectureError, match=match):
            check_sites(mistral)
    # load_model checks whatever map it is given, and keeps a right one for that model alone
    with pytest.raises(ArchitectureError, match="no module for blocks.0.hook_attn_out.*load_model"):
        load_model(tiny_model_dir, device="cpu", architecture={"attn": "attention"})
    own = load_model(tiny_model_dir, device="cpu", architecture=ArchitectureMap(mid="post_attention_layernorm"))
    assert architecture_of(own.model) == ArchitectureMap() and ARCHITECTURES["llama"] is not architecture_of(own.model)


@pytest.mark.usefixtures("tiny_scale")
def test_a_config_maps_its_model_for_every_unit(tiny_model_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from test_pipeline import tiny_config

    from interp.pipeline import ConfigError, parse_config, run_experiment

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match="unknown ArchitectureMap fields"):
        parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", architecture={"attention": "self_attn"}))
    plain = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs"))
    wrong = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", architecture={"mlp": "input_layernorm"}))
    assert "architecture" not in plain.section("model") and wrong.section("model")["architecture"] == {
        "mlp": "input_layernorm"}
    result = run_experiment(wrong, out=tmp_path / "artifacts", only=["capture/base"], progress=False)
    assert "ArchitectureError" in result.failed["capture/base"] and "input_layernorm" in result.failed["capture/base"]
    assert ARCHITECTURES["llama"] == ArchitectureMap()  # declared for the unit only
    fine = parse_config(tiny_config(str(tiny_model_dir), tmp_path / "runs", name="mapped",
                                    architecture={"mid": "post_attention_layernorm"}))
    assert run_experiment(fine, out=tmp_path / "artifacts", only=["capture/base"], progress=False).ok


def test_the_map_declares_the_parts_around_the_blocks() -> None:
    from interp.hooks.architectures import lora_targets, model_part

    neox = _family_model("gpt_neox")
    assert [model_part(neox.model, p)[0] for p in ("embedding", "final_norm", "unembedding")] == [
        "gpt_neox.embed_in", "gpt_neox.final_layer_norm", "lm_head"]
    assert ARCHITECTURES["gpt_neox"].writers == ("gpt_neox.embed_in", "attention.dense", "mlp.dense_4h_to_h")
    assert lora_targets(_family_model("phi3").model) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert ARCHITECTURES["gemma2"].embedding_multiplier(64) == 8.0 and ArchitectureMap().embedding_multiplier(64) == 1.0
    gpt2 = _family_model("gpt2")  # unmapped: the model's own getters, a final norm beside the blocks
    assert [model_part(gpt2.model, p)[0] for p in ("embedding", "final_norm", "unembedding")] == [
        "transformer.wte", "transformer.ln_f", "lm_head"]
    with pytest.raises(ValueError, match="is not mapped, so it has no family LoRA targets: name them"):
        lora_targets(gpt2.model)
    assert as_architecture({"lora_targets": ["q_proj", "v_proj"]}).lora_targets == ("q_proj", "v_proj")  # from YAML
    with pytest.raises(ValueError, match="embedding_scale must be one of"):
        ArchitectureMap(embedding_scale="2")
    with pytest.raises(ValueError, match="lora_targets must be module names"):
        ArchitectureMap(lora_targets=("model.q_proj",))
