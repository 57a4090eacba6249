"""MLPCT (MLP consistency training, Gautam et al. 2026): ACT's loss on the MLP's post-activation states.

The same pairs, labels and matched suffix tokens as :mod:`interp.consistency.act`; phase 3 pulls
every layer's MLP post-activation state (the input of its down projection) on the wrapped prompt
to the stop-gradient state on the clean prompt (``interp.training.train_act(site="mlp_post")``).
Those states are two orders of magnitude smaller than the residual stream, so the loss is scaled
up to start where ACT's does on the embedded model (the measurement is in docs/MEASUREMENTS.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from interp.consistency.act import ACT
from interp.consistency.base import is_kept, register
from interp.consistency.pairs import unpair
from interp.data import Dataset


@register
class MLPCT(ACT):
    """ACT on the MLP post-activation states (``site="mlp_post"``)."""

    name: ClassVar[str] = "mlpct"
    site: ClassVar[str] = "mlp_post"
    #: ACT's 1e-4 x (its per-token loss / this site's), both on the sycophancy organism's pairs
    loss_scale: ClassVar[float] = 2.3e-2

    @classmethod
    def train(cls, trainer: Any, init: Path, labelled: Dataset, config: Any, adapter_dir: Path, *, base: str,
              **common: Any) -> Any:
        clean, wrapped = unpair(labelled.filter(is_kept))
        return trainer.train_act(init, clean, wrapped, config, adapter_dir, loss_scale=cls.loss_scale, site=cls.site,
                                 **common)
