"""The stages of ``interp run``, one module each, registered in :data:`STAGES` on import (in this order).

| stage | one unit per | writes |
| --- | --- | --- |
| organism | failure mode x seed | ``runs_root/organisms/<id>`` (the ``before`` checkpoint) |
| consistency | ... x method | ``runs_root/runs/<id>`` (an ``after`` checkpoint, per-epoch checkpoints) |
| condition | ... x mediated method x condition | ``runs_root/runs/<id>/conditions/<tag>`` (an ``after:<m>@<c>`` checkpoint) |
| checkpoint | given checkpoint | nothing: its path and fingerprint (checkpoints trained elsewhere) |
| behaviour | checkpoint x failure mode | ``behaviour`` (rate, interval, judge; paired changes at assembly) |
| capture | checkpoint | an activation store in the cache |
| probes | checkpoint | ``layers`` |
| sharpening | organism x method | ``sharpening``, ``cosine_matrix`` |
| expression | checkpoint x failure mode | ``expression`` (own answers on the base's persona direction; paired changes at assembly) |
| sae | organism | SAE (sae-lens format), ``sae_quality``, ``sae_latents``, ``sae_diff``, ... |
| steering | organism | ``dose_response``, ``ablation`` (+ ``direction_selection``), the direction |
| mediation | organism x mediated method | ``mediation`` (+ the seeds pooled at assembly) |
| mechanism | organism (>= 2 methods) | ``mechanism`` (shift cosines, latent overlap, the seed baseline) |
| prediction | organism x method | ``prediction``, ``prediction_examples`` (+ ``prediction_runs``, ``prediction_correlation`` at assembly) |
| trajectory | organism x method | ``behaviour_trajectory``, ``trajectory`` |
| convergence | experiment (>= 2 organisms) | ``convergence``, ``convergence_ablation`` |
| paper_results | none (a file read at assembly) | the paper's judged rates in ``behaviour``, ``behaviour_trajectory``; ``paper_results`` |

A new stage is one module here that calls :func:`register_stage` (see CONTRIBUTING.md), imported
in :data:`ORDER` or by the caller before planning.
"""

import importlib

from interp.pipeline.spec import STAGES, Outputs, StageSpec, TableSpec, Unit, register_stage, unregister_stage

ORDER = ("organism", "consistency", "condition", "checkpoint", "behaviour", "capture", "probes", "sharpening",
         "expression", "sae", "steering", "mediation", "prediction", "mechanism", "trajectory", "convergence", "paper_results")
"""The built-in stages in plan order (each module registers its stage when imported)."""

for _name in ORDER:
    importlib.import_module(f"interp.pipeline.stages.{_name}")

__all__ = ["ORDER", "STAGES", "Outputs", "StageSpec", "TableSpec", "Unit", "register_stage", "unregister_stage"]
