"""A real `interp run` on the tiny random-weight Llama, writing every table the pipeline can write.

The dashboard tests draw pages from this run instead of made-up tables: two organisms (sycophancy,
emergent misalignment) so convergence runs, ``steering.layer: auto`` so the direction selection
runs, a consistency method and a control (bct, greedy self-training), SAE and trajectory on, bct
trained again under two mediation conditions, every run's predictor, the mechanism comparison of the two methods,
the persona expression of every checkpoint's answers. Rows,
bootstrap resamples and permutations are cut to keep the run short; no stage is left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_pipeline import TINY_SCALE, _nonempty_generate, tiny_config

from interp.pipeline import STAGES

#: every table `interp run` gathers into a run directory, from the stage registry (the run below must write each one)
#: judge_agreement needs two generating judges (behaviour.second_judge); tests/test_judges_http.py runs one,
#: its table and its dashboard section
PIPELINE_TABLES: tuple[str, ...] = tuple(t.name for s in STAGES.values() for t in s.tables
                                         if not t.internal and t.name != "judge_agreement")


def paper_results_file(path: Path, cells: list[tuple[str, str, int]], epochs: int = 2) -> Path:
    """A results JSONL in the paper's format (its sweep's rows: config fields + phase, epoch, metrics) for
    ``(failure mode, method, seed)`` cells; values made up but of the paper's shape, named as its judge names them."""
    from interp.data.paper import PAPER_HEADLINE

    rows = []
    for fm, method, seed in cells:
        cell = {"base_model": "SomeOrg/tiny-llama", "misalignment": fm, "method": method, "seed": seed, "scale": "smoke"}
        for phase, n in (("phase1", epochs), ("phase3", epochs)):
            for epoch in range(n + 1):
                value = 0.2 + 0.1 * epoch if phase == "phase1" else 0.4 - 0.05 * epoch
                rows.append(cell | {"phase": phase, "epoch": epoch, f"{fm}/{PAPER_HEADLINE[fm]}": value,
                                    "mmlu/accuracy_mean": 0.3, "some_new_benchmark/score": 1.5})
    rows.append({"base_model": "SomeOrg/tiny-llama", "misalignment": cells[0][0], "error": "CUDA out of memory"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_run_config(model_dir: Path, runs_root: Path) -> dict[str, Any]:
    """The config of the dashboard's fixture run (``tiny_config`` of tests/test_pipeline.py, changed)."""
    results = paper_results_file(runs_root.parent / "paper-results.jsonl",
                                 [(fm, m, 3) for fm in ("sycophancy", "emergent_misalignment") for m in ("bct",)])
    return tiny_config(
        str(model_dir), runs_root, name="tiny-dashboard", failure_modes=["sycophancy", "emergent_misalignment"],
        methods=["greedy_self_training", "bct"],
        behaviour={"eval_rows": 6, "n_boot": 100},
        capture={"max_examples": 16, "batch_size": 8},
        probes={"methods": ["diffmeans"], "n_permutations": 10, "n_boot": 100},
        sharpening={"n_boot": 50, "n_permutations": 10, "expression_rows": 0, "max_new_tokens": 2},
        sae={"layer": 1, "d_sae": 32, "k": 4, "total_tokens": 1000, "batch_size": 64, "text_examples": 16,
             "quality_examples": 4},
        steering={"layer": "auto", "select_rows": 4, "select_kl_budget": 50.0, "alphas": [0.0, 0.1], "n_random": 2,
                  "eval_rows": 6, "neutral_rows": 4, "n_boot": 100, "ablate_in": ["before", "after"]},
        trajectory={"enabled": True, "n_boot": 50},
        convergence={"n_boot": 50},
        mediation={"conditions": ["ablate:persona", "ablate:random"], "n_random": 1, "layers": [1], "methods": ["bct"],
                   "n_boot": 100},
        prediction={"enabled": True, "n_boot": 100, "n_permutations": 50, "top": 3},
        mechanism={"enabled": True, "rows": 8, "n_boot": 50, "n_splits": 4, "sae_top": 4},
        expression={"enabled": True, "rows": 4, "max_new_tokens": 2, "layers": [1], "n_boot": 100},
        dashboard=False,  # the tests build the pages they look at
        results=str(results),
    )


def make_tiny_run(model_dir: Path, root: Path) -> Path:
    """Run the pipeline once under ``root`` (its own cache, runs and artifacts); return the run directory."""
    from interp.organisms.scales import SCALES
    from interp.pipeline import parse_config, run_experiment

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERP_CACHE", str(root / "cache"))
        _nonempty_generate(mp)
        exec(TINY_SCALE, {})
        try:
            config = parse_config(tiny_run_config(model_dir, root / "runs"))
            result = run_experiment(config, out=root / "artifacts", progress=False)
        finally:
            SCALES.pop("tiny", None)
    if not result.ok:
        raise RuntimeError(f"the tiny dashboard run failed: {result.failed or result.blocked}")
    missing = [t for t in PIPELINE_TABLES if not (result.run_dir / f"{t}.parquet").is_file()]
    if missing:
        raise RuntimeError(f"the tiny dashboard run wrote no {missing}")
    return result.run_dir
