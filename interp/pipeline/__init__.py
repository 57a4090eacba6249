"""Experiments end to end: a YAML config, a graph of keyed units from registered stages, a runner, a Ray sweep.

- :mod:`interp.pipeline.config` — the typed, strict config schema and YAML loading.
- :mod:`interp.pipeline.spec` — what a stage is (:class:`StageSpec`, its tables and typed outputs)
  and the registry :data:`STAGES`; :mod:`interp.pipeline.stages` — one module per stage.
- :mod:`interp.pipeline.execute` — one unit: its key, its inputs, atomic outputs, the context.
- :mod:`interp.pipeline.graph` — the plan (every stage's units), the run order, ``--only``, ``--plan``.
- :mod:`interp.pipeline.run` — the local runner and the run directory; :mod:`interp.pipeline.summary`
  — the end-of-run summary; :mod:`interp.pipeline.sweep` — the same units on Ray.
"""

from interp.pipeline.config import ConfigError, ExperimentConfig, load_config, parse_config
from interp.pipeline.execute import Context, Finished, Inputs, execute
from interp.pipeline.graph import describe, plan
from interp.pipeline.run import RunResult, assemble, run_experiment
from interp.pipeline.spec import STAGES, Outputs, StageSpec, TableSpec, Unit, register_stage
from interp.pipeline.summary import summary_text

__all__ = [
    "STAGES",
    "ConfigError",
    "Context",
    "ExperimentConfig",
    "Finished",
    "Inputs",
    "Outputs",
    "RunResult",
    "StageSpec",
    "TableSpec",
    "Unit",
    "assemble",
    "describe",
    "execute",
    "load_config",
    "parse_config",
    "plan",
    "register_stage",
    "run_experiment",
    "summary_text",
]
