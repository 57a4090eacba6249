"""Activation capture (streaming, resumable, keyed by inputs) and the on-disk activation store."""

from interp.activations.capture import CaptureConfig, Example, capture, store_key
from interp.activations.positions import POSITION_KINDS, PositionKind
from interp.activations.store import ActivationStore, StoreError

__all__ = ["POSITION_KINDS", "ActivationStore", "CaptureConfig", "Example", "PositionKind", "StoreError", "capture", "store_key"]
