"""Weight orthogonalisation (Arditi et al. 2024): directional ablation made permanent in the weights.

Every matrix that writes to the residual stream (the token embedding, each attention output
projection, each MLP down projection, and their biases) is replaced by its projection onto the
orthogonal complement of the direction(s), so the residual stream never carries them. This is
the same edit as runtime ``directional_ablation`` at every block input and attention/MLP output.
Tied embeddings are untied first: the unembedding reads the residual stream and must stay as it was.
The writers are the ones the model family's :class:`~interp.hooks.architectures.ArchitectureMap`
declares (``embedding``, ``attn_out_proj``, ``mlp_down_proj``; ``unembedding`` is untied from it).

A post-norm family (Gemma 2/3, OLMo 2) is refused: there a norm ``g * x / rms(x)`` stands between
each writer and the stream, and no weight edit equals the runtime ablation of what it adds (the
per-token ``rms`` of the edited output differs); runtime ablation is exact on every family.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from interp.hooks.architectures import architecture_of, block_part, block_writer, decoder_layers, model_part
from interp.hooks.interventions import orthonormal_basis
from interp.io import atomic_directory, atomic_write_json
from interp.models.loading import LoadedModel

log = logging.getLogger(__name__)

def _project_rows_out(weight: Tensor, basis: Tensor) -> None:
    """In place: rows are residual vectors (embedding): ``W - (W B^T) B``."""
    b = basis.to(weight.dtype)
    weight.sub_((weight @ b.T) @ b)


def _project_outputs_out(linear: nn.Linear, basis: Tensor) -> None:
    """In place: ``y = W x + b`` writes to the residual: ``W - B^T (B W)``, ``b - B^T (B b)``."""
    b = basis.to(linear.weight.dtype)
    linear.weight.sub_(b.T @ (b @ linear.weight))
    if linear.bias is not None:
        linear.bias.sub_(b.T @ (b @ linear.bias))


@torch.no_grad()
def orthogonalize_weights(loaded: LoadedModel, directions: Tensor) -> list[str]:
    """Edit ``loaded.model`` in place; returns the names of the edited matrices."""
    model: Any = loaded.model
    arch = architecture_of(model)
    if arch is not None and arch.post_norms:
        raise ValueError(
            f"{type(model).__name__} adds attention's and the MLP's outputs through norms ({', '.join(arch.post_norms)}): "
            "an elementwise gain and a per-token scale stand between the weights and the residual stream, so no weight "
            "edit removes a direction the way runtime ablation does. Ablate at run time instead: "
            "interp.hooks.directional_ablation (exact on every family), or steering.ablate_in in a config.")
    basis = orthonormal_basis(directions).to(loaded.device)
    if basis.shape[1] != loaded.d_model:
        raise ValueError(f"directions have d={basis.shape[1]}, the model has d_model={loaded.d_model}.")
    edited = []
    embed: Any = model_part(model, "embedding")[1]
    head: Any = model_part(model, "unembedding")[1]
    if head is not None and head.weight.data_ptr() == embed.weight.data_ptr():
        head.weight = nn.Parameter(embed.weight.detach().clone())  # untie: the unembedding keeps reading v
        model.config.tie_word_embeddings = False
        if hasattr(model.config, "get_text_config"):
            model.config.get_text_config().tie_word_embeddings = False
        edited.append("lm_head (untied)")
    _project_rows_out(embed.weight, basis)
    edited.append("embed_tokens")
    path, layers = decoder_layers(model)
    for i, layer in enumerate(layers):
        _, attn = block_part(model, layer, "attn")
        _, mlp = block_part(model, layer, "mlp")
        _project_outputs_out(block_writer(model, attn, "attn_out_proj")[1], basis)
        _project_outputs_out(block_writer(model, mlp, "mlp_down_proj")[1], basis)
        edited += [f"{path}.{i}.attn_out", f"{path}.{i}.mlp_out"]
    return edited


def save_orthogonalized(loaded: LoadedModel, directions: Tensor, out_dir: str | Path, *, note: dict[str, Any] | None = None) -> Path:
    """Orthogonalise ``loaded.model`` (in place) and save it as a new HF checkpoint (safetensors).

    The directory records the source checkpoint's fingerprint and the direction(s) in
    ``interp_orthogonalized.json``; it loads with ``load_model(out_dir)`` like any model.
    """
    edited = orthogonalize_weights(loaded, directions)
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        loaded.model.save_pretrained(tmp, safe_serialization=True)
        loaded.tokenizer.save_pretrained(tmp)
        d = directions.detach().float().cpu()
        atomic_write_json(tmp / "interp_orthogonalized.json", {
            "source": loaded.checkpoint.describe(),
            "directions": (d.unsqueeze(0) if d.ndim == 1 else d).tolist(),
            "edited": edited,
            "note": note or {},
        })
    log.info("Saved orthogonalised checkpoint to %s (%d matrices edited)", out, len(edited))
    return out
