"""Sparse autoencoders with sae-lens: training from cached activations, quality, persona latents, diffing.

- :mod:`interp.sae.train` — ``SAETrainConfig``, ``train_sae`` (sae-lens ``SAETrainer`` fed from an
  activation matrix, saved in sae-lens's disk format), ``load_sae``.
- :mod:`interp.sae.quality` — explained variance / L0 / dead latents and the spliced-in LM loss,
  all without position 0.
- :mod:`interp.sae.latents` — persona latents, top-activating examples, latents needed to reach
  a probe's AUROC.
- :mod:`interp.sae.diffing` — model diffing with one SAE (top movers, persona latents among them,
  latent sharpening).
"""

from interp.sae.diffing import diff_latents, latent_sharpening, persona_rank_among_movers
from interp.sae.latents import (
    encode,
    latent_stats,
    latents_to_reach_auroc,
    persona_latents,
    top_activating_examples,
)
from interp.sae.quality import reconstruction_metrics, spliced_lm_loss
from interp.sae.train import SAETrainConfig, activation_batches, build_training_sae, load_sae, train_sae

__all__ = [
    "SAETrainConfig",
    "activation_batches",
    "build_training_sae",
    "diff_latents",
    "encode",
    "latent_sharpening",
    "latent_stats",
    "latents_to_reach_auroc",
    "load_sae",
    "persona_latents",
    "persona_rank_among_movers",
    "reconstruction_metrics",
    "spliced_lm_loss",
    "top_activating_examples",
    "train_sae",
]
