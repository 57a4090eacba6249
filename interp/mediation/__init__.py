"""Does the consistency-training effect run through the persona direction?

:mod:`~interp.mediation.conditions` builds the training-time interventions of a mediation
experiment (the direction ablated, a random direction ablated, the direction steered in, only while
training); :mod:`~interp.mediation.share` computes the share of a method's behaviour change that
ablating the direction removes, with paired bootstrap intervals and the random-direction control;
:mod:`~interp.mediation.prediction` predicts a method's change before training from how far its
training targets sit along the direction, relative to the model's own answers.
"""

from interp.mediation.conditions import condition
from interp.mediation.share import NONE, ShareRow, mediation_shares

__all__ = ["NONE", "ShareRow", "condition", "mediation_shares"]
