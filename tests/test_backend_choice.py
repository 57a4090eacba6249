"""The backend as a config choice: `interp run` through nnsight or TransformerLens gives hf's tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_pipeline import (
    _nonempty_generate,
    tiny_config,
    tiny_scale,  # noqa: F401 (a fixture)
)

from interp.pipeline import ConfigError, parse_config, run_experiment
from interp.pipeline.run import config_key

TABLES = ("behaviour", "layers", "dose_response", "ablation", "sae_quality", "sharpening")


def _run(model_dir: Path, root: Path, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> Path:
    """A run with its own cache and runs root, so that nothing is reused between backends."""
    monkeypatch.setenv("INTERP_CACHE", str(root / "cache"))
    config = parse_config(tiny_config(str(model_dir), root / "runs", methods=["bct"], trajectory={"enabled": False},
                                      **changes))
    result = run_experiment(config, out=root / "artifacts", progress=False)
    assert result.ok, result.failed
    return result.run_dir


def _numbers(run: Path, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(run / f"{name}.parquet")
    return frame.drop(columns=[c for c in frame.columns if "seconds" in c or c == "checkpoint_fingerprint"])


@pytest.mark.usefixtures("tiny_scale")
def test_every_backend_gives_the_tables_of_hf(tiny_model_dir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _nonempty_generate(monkeypatch)
    runs = {b: _run(tiny_model_dir, tmp_path / b, monkeypatch, backend=b) for b in ("hf", "nnsight", "transformer_lens")}
    for backend, run in runs.items():  # the captures went through the chosen backend
        stores = list((run.parents[1] / "cache" / "activations").rglob("manifest.json"))
        assert stores and {json.loads(p.read_text())["backend"] for p in stores} == {backend}
        assert json.loads((run / "manifest.json").read_text())["config"]["backend"] == backend
    for backend, tol in (("nnsight", 1e-6), ("transformer_lens", 1e-4)):
        _assert_same_tables(runs["hf"], runs[backend], tol, backend)


def _assert_same_tables(want_run: Path, got_run: Path, tol: float, label: str) -> None:
    for name in TABLES:
        want, got = _numbers(want_run, name), _numbers(got_run, name)
        assert list(got.columns) == list(want.columns) and len(got) == len(want), (label, name)
        for col in want.columns:
            if pd.api.types.is_numeric_dtype(want[col]):
                np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float), rtol=tol, atol=tol,
                                           err_msg=f"{label} {name}.{col}")
            else:
                assert list(got[col]) == list(want[col]), (label, name, col)


@pytest.mark.usefixtures("tiny_scale")
def test_transformer_lens_under_a_model_pool_gives_the_pools_tables(tiny_model_dir: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The bridge patches what it wraps, so it gets each checkpoint on its own, its adapter unmerged as
    in the pool: the pool's numbers (an adapter merged into the base would give others)."""
    _nonempty_generate(monkeypatch)
    runs = {b: _run(tiny_model_dir, tmp_path / b, monkeypatch, backend=b, model_pool=True)
            for b in ("hf", "transformer_lens")}
    assert "the pool's base is not shared" in caplog.text
    _assert_same_tables(runs["hf"], runs["transformer_lens"], 1e-4, "transformer_lens in a pool")


def test_the_backend_is_checked_and_keyed_only_where_inexact() -> None:
    base = parse_config({"name": "x"})
    nns = parse_config({"name": "x", "backend": "nnsight"})
    tl = parse_config({"name": "x", "backend": "transformer_lens"})
    assert base.section("dtype") == nns.section("dtype") == {"dtype": "float32"}  # exact: the same units
    assert tl.section("dtype") == {"dtype": "float32", "backend": "transformer_lens"}
    assert config_key(base) == config_key(nns) == config_key(tl)  # one run directory shows either
    with pytest.raises(ConfigError, match="backend 'jax' is not registered; choose one of hf, transformer_lens, nnsight"):
        parse_config({"name": "x", "backend": "jax"})


