"""The mechanism stage end to end on the tiny Llama: method pairs and the seed-to-seed baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_pipeline import TINY_SCALE, _nonempty_generate, tiny_config


def test_mechanism_compares_methods_and_each_method_across_seeds(tiny_model_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from interp.organisms.scales import SCALES
    from interp.pipeline import parse_config, plan, run_experiment

    monkeypatch.setenv("INTERP_CACHE", str(tmp_path / "cache"))
    _nonempty_generate(monkeypatch)
    exec(TINY_SCALE, {})
    try:
        config = parse_config(tiny_config(
            str(tiny_model_dir), tmp_path / "runs", name="tiny-mechanism", seeds=[3, 4], methods=["bct", "act", "mlpct"],
            sharpening={"n_boot": 50, "n_permutations": 0, "expression_rows": 0}, trajectory={"enabled": False},
            sae={"enabled": False}, steering={"enabled": False, "layer": 1}, convergence={"enabled": False},
            mechanism={"enabled": True, "methods": ["bct", "act", "mlpct"], "rows": 8, "n_boot": 50, "n_splits": 4}))
        units = {u.id: u for u in plan(config)}
        assert units["mechanism/sycophancy/s3"].params["partner_seed"] == 4
        assert units["mechanism/sycophancy/s4"].params["partner_seed"] == 3  # cyclic
        result = run_experiment(config, out=tmp_path / "artifacts", progress=False)
        assert result.ok, result.failed or result.blocked
    finally:
        SCALES.pop("tiny", None)
    t = pd.read_parquet(result.run_dir / "mechanism.parquet")
    pairs = t[t["kind"] == "methods"]
    assert set(zip(pairs["a"], pairs["b"], strict=True)) >= {("bct/s3", "act/s3"), ("act/s3", "mlpct/s3")}
    base = t[t["kind"] == "seed baseline"]
    assert set(base["a"].str.split("/").str[0]) == {"bct", "act", "mlpct"} and (base["b"].str.endswith("/s4")).any()
    assert set(t["metric"]) == {"shift_cosine_clean", "shift_cosine_wrapped", "persona_shift_cosine"}
    assert len(set(t["layer"])) == 3 and np.isfinite(t["value"]).all() and (t["value"].abs() <= 1 + 1e-9).all()
    assert (t["ci_low"] <= t["value"] + 1e-9).all() and (t["value"] <= t["ci_high"] + 1e-9).all()
