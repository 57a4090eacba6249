"""Activation consistency training (ACT, and MLPCT / AttCT): make the wrapped prompt's states match the clean one's.

Loss of a batch, with ``h_l(x, t)`` the output of decoder layer ``l`` (of ``L``) at token ``t``::

    loss = loss_scale * mean_{l, (t_c, t_w), j} (h_l(wrapped, t_w)_j - stopgrad(h_l(clean, t_c))_j) ** 2

i.e. the squared L2 distance per matched token divided by ``d_model`` (an element-wise MSE),
averaged over matched tokens (token-weighted across the batch) and over layers, times
``loss_scale`` (1e-4 as in the paper's code, which keeps bf16 squares finite). Matched tokens
are the assistant response (plus its end-of-turn token), paired by their index counted from the
response's end, so they are never mis-aligned by the wrapper's extra prompt tokens or by
padding. The clean targets come from the current model with dropout off and no gradient. Pairs
are matched by record id.

``site`` picks the states that are matched (Gautam et al. 2026 train the same loss on states
inside the block): ``"resid"`` (ACT: the decoder layer's output), ``"mlp_post"`` (MLPCT: the MLP's
post-activation state, the input of its down projection, ``[d_mlp]``) or ``"attn_heads"`` (AttCT:
the per-head attention outputs, the input of the attention output projection, ``[n_heads x
d_head]``), found through the family's :class:`~interp.hooks.architectures.ArchitectureMap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from interp.data.schema import Dataset
from interp.hooks.architectures import block_part, decoder_layers, writer_module
from interp.models.checkpoint import Checkpoint
from interp.models.loading import LoadedModel
from interp.training.batches import ACTPair, collate_act, encode_act_pairs
from interp.training.config import TrainConfig, TrainResult
from interp.training.during import DuringTraining
from interp.training.loop import OnEpoch, train_loop

ACT_LOSS_SCALE = 1e-4
Site = Literal["resid", "mlp_post", "attn_heads"]
SITES: tuple[Site, ...] = ("resid", "mlp_post", "attn_heads")


def _hf_model(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _site_module(hf: Any, layer: nn.Module, site: Site) -> nn.Module:
    """The module whose output (``resid``) or input (the others) is ``site`` in one decoder block."""
    if site == "resid":
        return layer
    if site == "mlp_post":
        return writer_module(hf, block_part(hf, layer, "mlp")[1], "mlp_down_proj")
    return writer_module(hf, block_part(hf, layer, "attn")[1], "attn_out_proj")


def layer_outputs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  site: Site = "resid") -> list[torch.Tensor]:
    """Every decoder layer's ``site`` state ``[batch, seq, width]`` (``resid``: the residual stream after the block)."""
    if site not in SITES:
        raise ValueError(f"unknown consistency site {site!r}; expected one of {SITES}")
    hf = _hf_model(model)
    _, layers = decoder_layers(hf)
    captured: list[torch.Tensor] = []

    def after(_mod: nn.Module, _inp: Any, out: Any) -> None:
        captured.append(out[0] if isinstance(out, tuple) else out)

    def before(_mod: nn.Module, inp: Any) -> None:
        captured.append(inp[0])

    modules = [_site_module(hf, layer, site) for layer in layers]
    handles = [m.register_forward_hook(after) if site == "resid" else m.register_forward_pre_hook(before)
               for m in modules]
    try:
        body = hf.get_decoder() if hasattr(hf, "get_decoder") else hf  # skip the LM head: no logits needed
        body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return captured


def act_loss(model: Any, batch: dict[str, torch.Tensor], loss_scale: float = ACT_LOSS_SCALE,
             site: Site = "resid") -> tuple[torch.Tensor, int]:
    """(sum over matched tokens of the layer-mean, d-normalised squared distance x scale, tokens).

    Each layer's term is computed on that layer's device and summed on the first one, so a base
    split over GPUs (``device_map``) trains as one on a single device does.
    """
    rows, pc, pw = batch["rows"], batch["clean_pos"], batch["wrapped_pos"]

    def at(h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        return h[rows.to(h.device), pos.to(h.device)].float()

    was_training = model.training
    model.eval()
    with torch.no_grad():
        clean = [at(h, pc) for h in layer_outputs(model, batch["clean_ids"], batch["clean_attention_mask"], site)]
    model.train(was_training)
    wrapped = layer_outputs(model, batch["wrapped_ids"], batch["wrapped_attention_mask"], site)
    total = torch.zeros((), device=wrapped[0].device)
    for hc, hw in zip(clean, wrapped, strict=True):
        diff = at(hw, pw) - hc
        total = total + diff.pow(2).mean(dim=-1).sum().to(total.device)
    return total * (loss_scale / len(wrapped)), int(rows.numel())


def train_act(
    init: str | Path | Checkpoint,
    clean: Dataset,
    wrapped: Dataset,
    config: TrainConfig,
    adapter_dir: Path,
    *,
    checkpoints_dir: Path | None = None,
    base: str | Path | Checkpoint | None = None,
    on_epoch: OnEpoch | None = None,
    trajectory_path: Path | None = None,
    progress: bool = True,
    loss_scale: float = ACT_LOSS_SCALE,
    site: Site = "resid",
    device: str | None = None,
    device_map: str | dict[str, Any] | None = None,
    during: DuringTraining | None = None,
) -> TrainResult:
    """Train a LoRA with the ACT loss on (clean, wrapped) pairs; same contract as :func:`train_sft`.

    Both sets need the assistant turn (the same answer under both prompts; phase 3 fills it with
    the organism's answer to the clean prompt). ``config.max_rows`` limits the wrapped records.
    ``site``: which states are matched (see the module docstring; part of the key unless ``resid``).
    """
    rows = wrapped.head(config.max_rows) if config.max_rows is not None else wrapped

    def encode(loaded: LoadedModel) -> list[ACTPair]:
        return encode_act_pairs(loaded.chat, clean, rows, config.max_length)

    def loss_fn(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        return act_loss(model, batch, loss_scale, site)

    return train_loop(
        kind="act", init=init, base=base, data_fingerprints=[clean.fingerprint, wrapped.fingerprint],
        config=config, adapter_dir=adapter_dir, checkpoints_dir=checkpoints_dir, on_epoch=on_epoch,
        trajectory_path=trajectory_path, progress=progress, encode=encode, collate=collate_act, loss_fn=loss_fn,
        extra_key={"loss": "act_layer_mse_response_suffix", "loss_scale": loss_scale}
        | ({"site": site} if site != "resid" else {}),
        device=device, device_map=device_map, during=during,
    )
