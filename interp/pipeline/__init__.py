"""Experiments end to end: a YAML config, a graph of keyed units, a local runner and a Ray sweep.

- :mod:`interp.pipeline.config` — the typed, strict config schema and YAML loading.
- :mod:`interp.pipeline.units` — the unit graph (organism, consistency, behaviour, capture,
  probes, sharpening, SAE, steering) and how one unit runs, keyed and atomic.
- :mod:`interp.pipeline.run` — the local runner, the run directory and the end-of-run summary.
"""

from interp.pipeline.config import ConfigError, ExperimentConfig, load_config, parse_config
from interp.pipeline.run import RunResult, assemble, run_experiment, summary_text
from interp.pipeline.units import Context, Unit, execute, plan

__all__ = [
    "ConfigError",
    "Context",
    "ExperimentConfig",
    "RunResult",
    "Unit",
    "assemble",
    "execute",
    "load_config",
    "parse_config",
    "plan",
    "run_experiment",
    "summary_text",
]
