"""Models and checkpoints: loading, identity (fingerprints), chat formatting, the paper's runs layout."""

from interp.models.chat import ChatFormat, Encoded, as_messages
from interp.models.checkpoint import (
    EMBEDDED_NAME,
    Checkpoint,
    CheckpointError,
    embedded_gguf_path,
    record_adapter_base,
    resolve_checkpoint,
)
from interp.models.loading import LoadedModel, gguf_to_safetensors, load_model, parse_dtype
from interp.models.pool import ModelPool, StaleModelError
from interp.models.runs import RunCheckpoint, list_run_checkpoints

__all__ = [
    "EMBEDDED_NAME",
    "ChatFormat",
    "Checkpoint",
    "CheckpointError",
    "Encoded",
    "LoadedModel",
    "ModelPool",
    "RunCheckpoint",
    "StaleModelError",
    "as_messages",
    "embedded_gguf_path",
    "gguf_to_safetensors",
    "list_run_checkpoints",
    "load_model",
    "parse_dtype",
    "record_adapter_base",
    "resolve_checkpoint",
]
