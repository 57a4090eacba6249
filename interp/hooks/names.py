"""Canonical hook names (TransformerLens vocabulary), used everywhere a site is named.

``blocks.{L}.hook_resid_pre``   input of decoder layer L
``blocks.{L}.hook_resid_mid``   after attention's residual add, before the MLP
``blocks.{L}.hook_attn_out``    attention output written to the residual stream
``blocks.{L}.hook_mlp_out``     MLP output written to the residual stream
``blocks.{L}.hook_resid_post``  output of decoder layer L (before the final norm)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

HookKind = Literal["resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out"]
# In execution order within a block (nnsight needs interventions in this order).
HOOK_KINDS: tuple[HookKind, ...] = ("resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post")
_PATTERN = re.compile(r"^blocks\.(\d+)\.hook_(resid_pre|resid_mid|resid_post|attn_out|mlp_out)$")


@dataclass(frozen=True, order=True)
class HookPoint:
    """A parsed canonical hook name; orders by execution (layer, then site within the block)."""

    layer: int
    order: int
    kind: HookKind

    @property
    def name(self) -> str:
        return f"blocks.{self.layer}.hook_{self.kind}"

    @classmethod
    def parse(cls, name: str, n_layers: int | None = None) -> HookPoint:
        m = _PATTERN.match(name)
        if m is None:
            raise ValueError(
                f"Unknown hook point {name!r}: expected 'blocks.<layer>.hook_<site>' with site one of "
                f"{', '.join(HOOK_KINDS)} (e.g. 'blocks.12.hook_resid_post')."
            )
        layer, kind = int(m.group(1)), m.group(2)
        if n_layers is not None and not 0 <= layer < n_layers:
            raise ValueError(f"Hook point {name!r} names layer {layer}, but the model has layers 0..{n_layers - 1}.")
        return cls(layer, HOOK_KINDS.index(kind), kind)  # type: ignore[arg-type]


def hook_name(layer: int, kind: HookKind = "resid_post") -> str:
    return HookPoint(layer, HOOK_KINDS.index(kind), kind).name


def all_layers(n_layers: int, kind: HookKind = "resid_post") -> list[str]:
    """The canonical names of one site at every layer."""
    return [hook_name(layer, kind) for layer in range(n_layers)]


def layer_of(name: str) -> int:
    return HookPoint.parse(name).layer


def parse_hooks(spec: str, n_layers: int) -> list[str]:
    """``resid_post`` (every layer), ``resid_post:10-20``, or comma-separated canonical names."""
    hooks: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kind, _, span = part.partition(":")
        if kind in HOOK_KINDS:
            names = all_layers(n_layers, kind)
            if span:
                lo_text, _, hi_text = span.partition("-")
                if not lo_text.isdigit() or not (hi_text or lo_text).isdigit():
                    raise ValueError(f"hook range {part!r}: expected {kind}:LO-HI with layer numbers, e.g. {kind}:10-20")
                lo, hi = int(lo_text), int(hi_text or lo_text)
                if not 0 <= lo <= hi < n_layers:
                    raise ValueError(f"hook range {part!r} names layers {lo}..{hi}, but the model has layers "
                                     f"0..{n_layers - 1}")
                names = names[lo : hi + 1]
            hooks.extend(names)
        else:
            HookPoint.parse(part, n_layers)
            hooks.append(part)
    return hooks
