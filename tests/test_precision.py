"""``precision:``: bf16 where the device computes it natively, float32 elsewhere, in one field."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from interp.pipeline import ConfigError, parse_config
from interp.pipeline.run import config_key

QUICKSTART = Path(__file__).resolve().parents[1] / "experiments" / "quickstart.yaml"


def _quickstart() -> dict:
    return yaml.safe_load(QUICKSTART.read_text())


def _native(monkeypatch: pytest.MonkeyPatch, native: bool) -> None:
    monkeypatch.setattr("interp.models.loading.native_bf16", lambda device=None: native)


def test_native_bf16_reads_the_cpu() -> None:
    from interp.models.loading import native_bf16

    assert native_bf16("cpu") is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert native_bf16("meta") is False


def test_auto_on_a_bf16_machine_is_the_config_written_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same fields, same keys: the caches of the config before ``precision`` existed are reused."""
    _native(monkeypatch, True)
    auto = parse_config(_quickstart())
    written = _quickstart()
    del written["precision"]
    written |= {"dtype": "bfloat16", "adapter_dtype": "bfloat16", "scale": "quick-bf16"}
    explicit = parse_config(written)
    assert (auto.dtype, auto.adapter_dtype, auto.scale, auto.precision) == ("bfloat16", "bfloat16", "quick-bf16",
                                                                            "bfloat16")
    assert config_key(auto) == config_key(explicit) and auto.section("dtype") == explicit.section("dtype")


def test_auto_without_native_bf16_is_float32_with_the_plain_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    _native(monkeypatch, False)
    auto = parse_config(_quickstart())
    assert (auto.dtype, auto.adapter_dtype, auto.scale, auto.precision) == ("float32", None, "quick", "float32")
    forced = parse_config(_quickstart() | {"precision": "float32"})
    assert config_key(forced) == config_key(auto)
    _native(monkeypatch, True)
    assert parse_config(_quickstart() | {"precision": "float32"}).dtype == "float32"  # named: no detection
    no_pool = parse_config(_quickstart() | {"precision": "bfloat16", "model_pool": False})
    assert (no_pool.dtype, no_pool.adapter_dtype) == ("bfloat16", None)  # adapters merged: no LoRA dtype
    cpu = parse_config(_quickstart() | {"precision": "bfloat16", "scale": "cpu"})
    assert cpu.scale == "cpu"  # a scale without a bf16 variant trains as it is


def test_a_resolved_config_reads_back_as_resolved_on_another_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest's config or a sweep worker's is the driver's choice, wherever it is read."""
    _native(monkeypatch, True)
    resolved = parse_config(_quickstart())
    _native(monkeypatch, False)
    again = parse_config(resolved.model_dump(mode="json"))
    assert (again.dtype, again.adapter_dtype, again.scale) == ("bfloat16", "bfloat16", "quick-bf16")
    assert config_key(again) == config_key(resolved)


@pytest.mark.parametrize(("change", "message"), [
    ({"dtype": "float32"}, r"precision: auto sets dtype and adapter_dtype .* dtype is given too: drop one"),
    ({"precision": "bfloat16", "dtype": "float32"}, "dtype is given too"),
    ({"scale": "quick-bf16"}, r"name the scale without its bf16 variant \('quick' instead of 'quick-bf16'\)"),
    ({"precision": "fp16"}, "precision must be one of auto, bfloat16, float32"),
])
def test_precision_beside_the_fields_it_sets_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_quickstart() | change)


def test_threads_limit_torch_and_the_blas_numpy_computes_in() -> None:
    """``threads: 1`` must hold in the numpy statistics too: OpenBLAS otherwise takes every core beside torch."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]

    from interp.pipeline.precision import set_threads

    before_torch, before_blas = torch.get_num_threads(), {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
        assert pools and all(p["num_threads"] == 1 for p in pools), pools
        set_threads(None)  # no setting: nothing changes
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before_torch)
        threadpool_limits(limits=max(before_blas.values(), default=1))
