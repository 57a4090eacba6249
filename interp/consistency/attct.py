"""AttCT (attention consistency training, Gautam et al. 2026): ACT's loss on the per-head attention outputs.

The same pairs, labels and matched suffix tokens as :mod:`interp.consistency.act`; phase 3 pulls
every layer's per-head attention outputs (the input of the attention output projection, all
heads side by side) on the wrapped prompt to the stop-gradient ones on the clean prompt
(``interp.training.train_act(site="attn_heads")``), as the issue that asked for it specifies. The
paper's abstract describes AttCT as matching per-head attention *distributions*; its loss could not
be read here, and distributions over two prompts of different lengths need a key alignment this
module does not guess. The loss is scaled to start where ACT's does on the embedded model
(docs/MEASUREMENTS.md).
"""

from __future__ import annotations

from typing import ClassVar

from interp.consistency.base import register
from interp.consistency.mlpct import MLPCT


@register
class AttCT(MLPCT):
    """ACT on the per-head attention outputs (``site="attn_heads"``)."""

    name: ClassVar[str] = "attct"
    site: ClassVar[str] = "attn_heads"
    #: ACT's 1e-4 x (its per-token loss / this site's), both on the sycophancy organism's pairs
    loss_scale: ClassVar[float] = 4.5e-2
