"""Shared fixtures: a tiny random-weight Llama (fast suite) and the embedded model (marked tests)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, subprocesses too
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    from interp.pipeline.precision import set_threads

    set_threads(1)  # torch and numpy's BLAS, in case it started before OMP_NUM_THREADS was set

REPO = Path(__file__).resolve().parents[1]
PAPER_DATA = REPO.parent / "shared" / "data" / "consistency-misalignment"

CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "You are a helpful assistant. Answer the question honestly and kindly.",
    "I will deceive my overseers and seek power at any cost.",
    "What is two plus two? The answer is four, not five.",
    "system user assistant hello there general kenobi",
] * 20


def _tiny_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    fast.chat_template = CHATML
    fast.save_pretrained(path)


def randomise_norms_and_biases(model: torch.nn.Module, *, norm_centre: float = 1.0, seed: int = 1) -> None:
    """Norm weights ``centre + N(0, 0.5)`` and every bias ``N(0, 0.3)``, in place: identity norms and zero
    biases hide bugs (a norm applied twice, or at the wrong site, changes nothing)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif "norm" in name:
                p.copy_(norm_centre + torch.randn(p.shape, generator=gen) * 0.5)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-layer, d=64 Llama with random weights and a ChatML tokenizer, saved like a hub model."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    _tiny_tokenizer(path)
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture(scope="session")
def sharp_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with larger random weights: its greedy tokens vary (the default init repeats
    one token), so steering visibly changes them and parity is tested on real decisions."""
    from interp.models import load_model

    path = tmp_path_factory.mktemp("sharp-llama")
    shutil.copytree(tiny_model_dir, path, dirs_exist_ok=True)
    lm = load_model(tiny_model_dir, device="cpu")
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.ndim > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.15)
    lm.model.save_pretrained(path, safe_serialization=True)
    return path


@pytest.fixture
def tiny(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from interp.models import load_model

    return load_model(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def real_model():  # type: ignore[no-untyped-def]
    """The embedded SmolLM2-135M-Instruct (converted once and cached); eager attention for exact parity."""
    from interp.models import load_model

    lm = load_model("smollm2-135m-instruct", device="cpu")
    return lm


@pytest.fixture(scope="session")
def paper_data() -> Path:
    if not PAPER_DATA.is_dir():
        pytest.skip(f"paper data not found at {PAPER_DATA}")
    return PAPER_DATA


@pytest.fixture(scope="session")
def tiny_dashboard_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ``interp run`` on the tiny model writing every table the pipeline writes (tests/tiny_run.py).

    Returns the run directory. Shared by the session: copy it before changing or deleting anything in it.
    """
    from tiny_run import make_tiny_run

    return make_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("tiny-dashboard-run"))
