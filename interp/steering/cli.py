"""The direction commands of the ``interp`` CLI: ``interp export`` (directions out, to the field's steering
tools) and ``interp import`` (the field's direction files in, as :class:`probes.Direction` files)."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_export(args: argparse.Namespace) -> int:
    from interp.steering.export import export_directions
    from probes import Direction

    directions = [Direction.load(p) for p in args.directions]
    for path in export_directions(directions, args.to, args.out, model_type=args.model_type, scale=args.scale,
                                  raw=args.raw):
        print(path)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from interp.steering.export import _fresh
    from interp.steering.imports import import_directions

    directions = import_directions(args.file, layer=args.layer, method=args.method)
    if args.layers is not None:
        keep = {int(x) for x in args.layers.split(",")}
        directions = [d for d in directions if d.layer in keep and str(d.hook_point).endswith("resid_post")]
        if not directions:
            raise ValueError(f"{args.file} has no direction at the outputs of blocks {sorted(keep)}")
    stems = [Path(args.out) / f"{Path(args.file).stem}.{d.hook_point}" for d in directions]
    for stem in stems:  # every file checked before any is written
        for suffix in (".safetensors", ".json"):
            _fresh(stem.with_name(stem.name + suffix))
    for d, stem in zip(directions, stems, strict=True):
        print(f"{d.hook_point:<28} |raw| {float(np.linalg.norm(d.raw)):9.4f}  {d.save(stem)}")
    return 0


def add_direction_commands(sub: Any) -> None:
    """Add ``export`` and ``import`` to the CLI's subparsers."""
    x = sub.add_parser("export", help="directions (probes.Direction files, one per layer) into steering-vectors, "
                                      "repeng, a llama.cpp control-vector GGUF, or numpy")
    x.add_argument("directions", nargs="+", help="saved directions (their .safetensors or .json)")
    x.add_argument("--to", required=True, choices=("steering-vectors", "repeng", "gguf", "numpy"))
    x.add_argument("--out", required=True, help="the file to write (never overwritten)")
    x.add_argument("--model-type", default=None, help="config.model_type of the model (repeng and gguf record it)")
    x.add_argument("--scale", type=float, default=1.0, help="multiply the unit vector (default 1)")
    x.add_argument("--raw", action="store_true", help="export the estimator's unnormalised vector instead")
    x.set_defaults(func=cmd_export)

    im = sub.add_parser("import", help="directions from the field's files (persona-vectors .pt, read without "
                                       "unpickling; GGUF control vectors; interp's exports) as probes.Direction files")
    im.add_argument("file", help="the direction file")
    im.add_argument("--out", required=True, help="the folder to write one Direction per layer into")
    im.add_argument("--layer", type=int, default=None,
                    help="a 1-D persona vector's layer in its own convention (hidden_states index); with a 2-D one, "
                         "that row alone")
    im.add_argument("--layers", default=None, help="keep these blocks' outputs only (interp's convention), e.g. 15,20")
    im.add_argument("--method", default=None, help="the method recorded in each direction (default: the format)")
    im.set_defaults(func=cmd_import)
