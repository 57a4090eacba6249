"""The ``interp`` command: thin wrappers that parse arguments and call the package.

    interp run CONFIG            run an experiment config (experiments/*.yaml): every stage, resumable, dashboard
    interp sweep CONFIG          the same units as Ray tasks on a cluster (--address auto); see docs/CLUSTER.md
    interp quickstart            capture the embedded model on a shipped contrast set, summarise per layer
    interp capture MODEL ...     capture activations of any checkpoint into the store
    interp layers STORE          per-layer probe summary of an existing (pooled, labelled) store
    interp predict MODEL ...     before training: a labels file's projection difference on the persona direction
    interp export DIRECTION...   directions into steering-vectors, repeng, llama.cpp GGUF or numpy
    interp dashboard RUN...      build index.html for run directories (--compare OUT, --serve)
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # nothing heavy at import: `interp --help` answers at once

    from interp.pipeline import ExperimentConfig

log = logging.getLogger("interp")


class UsageError(ValueError):
    """A mistake in the command line itself (an option's value), reported like any known error."""


def _load_dataset(spec: str):  # type: ignore[no-untyped-def]
    from interp.data import load_dataset

    try:
        return load_dataset(spec)
    except ValueError as e:
        raise UsageError(f"--dataset: {e}") from None


def cmd_quickstart(args: argparse.Namespace) -> int:
    from interp.activations import CaptureConfig, capture
    from interp.analysis import format_summary, layer_summary, plot_layer_summary
    from interp.artifacts import RunDir
    from interp.hooks.names import parse_hooks
    from interp.models import load_model

    t0 = time.perf_counter()
    data = _load_dataset(args.dataset)
    lm = load_model(args.model, device=args.device)
    log.info("Loaded %s (%d layers, d=%d, fingerprint %s) in %.1f s", lm.checkpoint.name, lm.n_layers, lm.d_model,
             lm.checkpoint.fingerprint, time.perf_counter() - t0)
    hooks = parse_hooks(args.hooks, lm.n_layers)
    config = CaptureConfig(tuple(hooks), positions=args.positions, batch_size=args.batch_size)
    t1 = time.perf_counter()
    store = capture(lm, data, config, root=args.store_root)
    t_capture = time.perf_counter() - t1
    log.info("Store: %s", store.path)
    t2 = time.perf_counter()
    summary = layer_summary(store, methods=tuple(args.methods.split(",")), n_permutations=args.permutations)
    t_probe = time.perf_counter() - t2
    run = RunDir.create(args.out, args.run or f"quickstart-{time.strftime('%Y%m%d-%H%M%S')}")
    run.write_table("layers", summary)
    plot = plot_layer_summary(summary, run.path / "auroc_by_layer.png",
                              title=f"{data.name} on {lm.checkpoint.name}: {args.positions}")
    run.update_manifest(
        command="quickstart", options=vars(args) | {"func": None},
        checkpoint=lm.checkpoint.describe(), dataset={"name": data.name, "fingerprint": data.fingerprint, "n": len(data)},
        store={"path": str(store.path), "key": store.manifest["key"]},
        seconds={"capture": round(t_capture, 2), "probes": round(t_probe, 2), "total": round(time.perf_counter() - t0, 2)},
    )
    print(f"\n{data.name} ({len(data)} examples, labels 1 = misaligned) on {lm.checkpoint.name}, "
          f"{args.positions}, {store.manifest['dataset']['n_examples']} rows per layer; weights are Q4_1 dequantised.")
    print("AUROC: 5-fold group-aware cross-validation; interval: bootstrap 95%; p: permutation test; "
          "ctl: shuffled labels / random direction.\n")
    print(format_summary(summary))
    best = summary[summary["method"] == "logistic"].sort_values("auroc").iloc[-1] if "logistic" in args.methods else None
    if best is not None:
        print(f"\nBest layer (logistic): {best['layer']}  AUROC {best['auroc']:.3f} "
              f"[{best['auroc_low']:.3f}, {best['auroc_high']:.3f}], p = {best['p_value']:.3g}")
    from interp.dashboard import build_dashboard

    page = build_dashboard(run.path)
    print(f"Run directory: {run.path}  (layers.csv, {plot.name}, manifest.json, {page.name}: open it in a browser)")
    print(f"Time: capture {t_capture:.1f} s, probes {t_probe:.1f} s, total {time.perf_counter() - t0:.1f} s")
    return 0


def _load(args: argparse.Namespace) -> ExperimentConfig:
    """The config of ``interp run`` / ``interp sweep``: the file, ``--set`` overrides, ``--name``."""
    from interp.pipeline import load_config
    from interp.pipeline.config import parse_overrides

    config = load_config(args.config, parse_overrides(args.set))
    return config.model_copy(update={"name": args.name}) if args.name else config


def cmd_run(args: argparse.Namespace) -> int:
    """``interp run``: 0 when every unit finished, 1 when some failed or were blocked, 2 for a bad config."""
    from interp.pipeline import describe, load_config, run_experiment, summary_text
    from interp.pipeline.run import run_directory
    from interp.pipeline.spec import check_config

    config = _load(args)
    baseline = load_config(args.config) if args.set and args.plan else None
    if args.plan:
        check_config(config)  # run_experiment checks it itself
        baseline = baseline.model_copy(update={"name": config.name}) if baseline is not None else None
        print(describe(config, run_directory(config, args.out), only=args.only, baseline=baseline))
        return 0
    result = run_experiment(config, out=args.out, progress=not args.no_progress, only=args.only or None,
                            force=args.force)
    print(summary_text(result))
    if args.profile:
        import pandas as pd

        from interp.pipeline.profile import profile_lines

        print(f"\nprofile ({result.run_dir / 'profile.csv'}):")
        print("\n".join(profile_lines(pd.read_csv(result.run_dir / "profile.csv"))))
    return 0 if result.ok else 1


def cmd_sweep(args: argparse.Namespace) -> int:
    """``interp sweep``: 0 when every unit finished, 1 when some failed or were blocked, 2 for a bad config."""
    from interp.pipeline import summary_text
    from interp.pipeline.run import claim_run_dir, run_directory
    from interp.pipeline.spec import check_config
    from interp.pipeline.sweep import require_ray, run_setup, run_sweep

    try:
        run_setup(args.setup)
        require_ray()
    except (ImportError, AttributeError) as e:
        raise UsageError(str(e)) from e
    config = _load(args)
    check_config(config)
    claim_run_dir(config, run_directory(config, args.out), force=args.force)
    result = run_sweep(config, out=args.out, address=args.address, max_retries=args.max_retries,
                       gpus_per_unit=args.gpus_per_unit, cpus_per_unit=args.cpus_per_unit,
                       progress=not args.no_progress, setup=args.setup, only=args.only or None)
    print(summary_text(result))
    return 0 if result.ok else 1


def _experiment_arguments(p: argparse.ArgumentParser, example: str) -> None:
    """What ``interp run`` and ``interp sweep`` share."""
    p.add_argument("config", help=f"a YAML file, e.g. {example}")
    p.add_argument("--out", default="artifacts", help="runs go to OUT/<config name>/")
    p.add_argument("--name", default=None, help="override the config's name (the run directory)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set steering.layer=12 --set sae.enabled=false")
    p.add_argument("--only", action="append", default=[], metavar="UNIT",
                   help="run only units whose id starts with this (and their inputs), e.g. --only steering/")
    p.add_argument("--force", action="store_true",
                   help="run into a directory that holds another config's run, moving its tables aside "
                        "(to previous/<time>/; the keyed unit outputs are kept and reused)")
    p.add_argument("--no-progress", action="store_true")


def cmd_capture(args: argparse.Namespace) -> int:
    import interp.models
    from interp.activations import CaptureConfig, capture
    from interp.activations.examples import check_contrast
    from interp.hooks.names import parse_hooks
    from interp.models import parse_dtype
    from interp.traits import generated_spec

    generated = generated_spec(args.dataset)  # answered by the model below
    data = None if generated else _load_dataset(args.dataset)  # the data and options first: a typo costs no load
    if data is not None:
        check_contrast(data)
    parse_dtype(args.dtype)
    CaptureConfig(("blocks.0.hook_resid_post",), positions=args.positions, dtype=args.store_dtype or args.dtype,
                  documents=args.documents)
    lm = interp.models.load_model(args.model, device=args.device, dtype=args.dtype, base=args.base,
                                  system_prompt=None if args.no_system_prompt else (args.system_prompt or "default"),
                                  chat_template=args.chat_template, chat_separator=args.chat_separator)
    if generated is not None:
        made = generated(lm)
        log.info("%s: %d answers generated, %d kept (%s)", args.dataset, made.n_generated, made.n_kept, made.filter)
        data = made.dataset
    assert data is not None
    config = CaptureConfig(tuple(parse_hooks(args.hooks, lm.n_layers)), positions=args.positions,
                           batch_size=args.batch_size, dtype=args.store_dtype or args.dtype, truncate=args.truncate,
                           documents=args.documents)
    store = capture(lm, data, config, root=args.store_root)
    print(store.path)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import interp.models
    from interp.mediation.prediction import predict_labels

    labelled, contrast = _load_dataset(args.labels), _load_dataset(args.contrast)  # before the model loads
    lm = interp.models.load_model(args.model, device=args.device, dtype=args.dtype, base=args.base)
    found, targets, own = predict_labels(lm, labelled, contrast=contrast, layer=args.layer, method=args.method,
                                         probe=args.probe, max_new_tokens=args.max_new_tokens)
    e = found.predictor
    print(f"{found.hook}: predictor {e.value:+.4f} [{e.ci_low:+.4f}, {e.ci_high:+.4f}] over {len(found.examples)} "
          "targets (projection of the targets minus the model's own answers; > 0: toward the persona)")
    text, mine = {r.id: r.response for r in targets}, {r.id: r.response for r in own}
    for _, r in found.examples.sort_values("diff", ascending=False).head(args.top).iterrows():
        print(f"  {r['diff']:+.3f}  {r['id']}: target {text[r['id']]!r:.80}  own {mine[r['id']]!r:.60}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from interp.activations import ActivationStore
    from interp.analysis import format_summary, layer_summary

    summary = layer_summary(ActivationStore(args.store), methods=tuple(args.methods.split(",")))
    print(format_summary(summary))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interp", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error instead of its message alone")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run an experiment config (YAML): stages keyed and resumable, then the dashboard")
    _experiment_arguments(r, "experiments/quickstart.yaml")
    r.add_argument("--plan", action="store_true",
                   help="print the unit graph (what each unit reads, which are finished under their keys, which "
                        "the --set changes would redo) and run nothing")
    r.add_argument("--profile", action="store_true",
                   help="after the summary, print where the time went: per unit seconds, share, forward positions "
                        "and their rate, model loads (always written to the run directory's profile.csv)")
    r.set_defaults(func=cmd_run)

    w = sub.add_parser("sweep", help="run an experiment config's units as Ray tasks: a cluster (--address auto) "
                                     "or every GPU of this machine; the same run directory as `interp run`")
    _experiment_arguments(w, "experiments/paper.yaml")
    w.add_argument("--address", default=None,
                   help='a Ray cluster to join: "auto" (this node is part of one, see `ray start`) or '
                        "ray://HOST:10001; default: start a Ray instance on this machine")
    w.add_argument("--max-retries", type=int, default=2, help="resubmissions of a failed unit (default 2)")
    w.add_argument("--gpus-per-unit", type=float, default=None,
                   help="GPUs for each unit that runs a model (default: 1 if the cluster has GPUs, else 0)")
    w.add_argument("--cpus-per-unit", type=float, default=1.0, help="CPUs reserved per unit (default 1)")
    w.add_argument("--setup", default=None, metavar="MODULE:FUNCTION",
                   help="called here and in every worker before any unit (e.g. registers a scale or a stage)")
    w.set_defaults(func=cmd_sweep)

    q = sub.add_parser("quickstart", help="the README's main job on the embedded model")
    q.add_argument("--model", default="smollm2-135m-instruct")
    q.add_argument("--dataset", default="persona_pairs")
    q.add_argument("--hooks", default="resid_post")
    q.add_argument("--positions", default="response_mean")
    q.add_argument("--methods", default="diffmeans,logistic")
    q.add_argument("--permutations", type=int, default=1000)
    q.add_argument("--batch-size", type=int, default=8)
    q.add_argument("--device", default=None)
    q.add_argument("--out", default="artifacts")
    q.add_argument("--run", default=None, help="run directory name (default: quickstart-<time>)")
    q.add_argument("--store-root", default=None, help="activation store root (default: $INTERP_CACHE/activations)")
    q.set_defaults(func=cmd_quickstart)

    c = sub.add_parser("capture", help="capture activations into the store")
    c.add_argument("model")
    c.add_argument("--base", default=None, help="base model of a LoRA adapter")
    c.add_argument("--dataset", required=True, help="a shipped contrast set, a file (JSONL, YAML questions), a persona-"
                                                    "vectors trait file or own:<failure mode> (both answered by the model)")
    c.add_argument("--hooks", default="resid_post", help="e.g. resid_post, resid_post:10-20, blocks.3.hook_mlp_out")
    c.add_argument("--positions", default="response_mean")
    c.add_argument("--batch-size", type=int, default=8)
    c.add_argument("--device", default=None)
    c.add_argument("--dtype", default="float32")
    c.add_argument("--store-dtype", default=None)
    c.add_argument("--system-prompt", default=None)
    c.add_argument("--no-system-prompt", action="store_true")
    c.add_argument("--chat-template", help="'plain', a Jinja template or file (default: the model's own; plain if none)")
    c.add_argument("--chat-separator", help="with plain text: between a prompt and its response")
    c.add_argument("--store-root", default=None)
    c.add_argument("--truncate", action="store_true", help="cut conversations past the model's context (else refused)")
    c.add_argument("--documents", action="store_true", help="each final turn alone, as plain text (a document)")
    c.set_defaults(func=cmd_capture)

    pr = sub.add_parser("predict", help="before training: how far a labels file's targets sit along a checkpoint's "
                                       "persona direction, relative to its own answers (persona vectors' projection "
                                       "difference), and the labels that push hardest")
    pr.add_argument("model")
    pr.add_argument("--labels", required=True, help="a JSONL file of conversations ending with the target answer "
                                                   "(or a consistency run's labelled.jsonl)")
    pr.add_argument("--method", default=None, help="the consistency method the labels are for (what it trains on)")
    pr.add_argument("--contrast", default="persona_pairs", help="the contrast set the direction is fitted on")
    pr.add_argument("--layer", type=int, required=True)
    pr.add_argument("--probe", default="diffmeans")
    pr.add_argument("--base", default=None, help="base model of a LoRA adapter")
    pr.add_argument("--device", default=None)
    pr.add_argument("--dtype", default="float32")
    pr.add_argument("--max-new-tokens", type=int, default=48, help="length of the model's own answers")
    pr.add_argument("--top", type=int, default=10)
    pr.set_defaults(func=cmd_predict)

    from interp.steering.cli import add_direction_commands

    add_direction_commands(sub)

    s = sub.add_parser("layers", help="per-layer probe summary of a store")
    s.add_argument("store")
    s.add_argument("--methods", default="diffmeans,logistic")
    s.set_defaults(func=cmd_layers)

    from pathlib import Path

    d = sub.add_parser("dashboard", help="static HTML dashboard of run directories (and a comparison page)")
    d.add_argument("runs", nargs="+", type=Path, help="run directories (artifacts/<run>/)")
    d.add_argument("--compare", type=Path, default=None, metavar="OUT",
                   help="also write a page comparing the runs (OUT.html, or OUT/index.html for a folder)")
    d.add_argument("--serve", action="store_true", help="serve the page(s) on localhost until Ctrl-C")
    d.add_argument("--host", default="127.0.0.1", help="loopback address to serve on")
    d.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    d.set_defaults(func=cmd_dashboard)
    return p


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Build every run's page (and the comparison page); serve them when asked. Prints the paths / URL."""
    import os
    from pathlib import Path

    from interp.dashboard import build_comparison, build_dashboard, serve
    from interp.dashboard.serve import check_loopback

    if args.serve:
        check_loopback(args.host)  # before any page is written
    pages = [build_dashboard(r) for r in args.runs]
    for page in pages:
        print(page)
    target = pages[0]
    if args.compare is not None:
        target = build_comparison(args.runs, args.compare)
        print(target)
    if args.serve:
        dirs = [p.parent for p in [*pages, target]]  # only these are served, whatever their common parent holds
        root = Path(os.path.commonpath(dirs))
        with serve(root, host=args.host, port=args.port, allow=dirs) as served:
            base = served.url.rsplit("/", 1)[0]
            print(f"serving {root} at {base}/{target.relative_to(root).as_posix()}  (Ctrl-C to stop)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    return 0


def _known(error: BaseException) -> bool:
    """An error with a message meant for the user: bad input, a missing or damaged file, a full disk.

    Every ``ValueError`` (our ConfigError, DataError, StoreError, CheckpointError... derive from it)
    and ``OSError``, and the RuntimeErrors interp raises itself (training, judges). Anything else is a
    bug and keeps its traceback.
    """
    if isinstance(error, (ValueError, OSError)):
        return True
    return isinstance(error, RuntimeError) and type(error).__module__.split(".")[0] in ("interp", "probes")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command: 0 done, 1 some units failed (run/sweep), 2 a known error, printed as one message."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "transformers", "transformer_lens", "nnsight"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except Exception as e:
        if args.debug or not _known(e):
            raise
        print(f"interp {args.command}: {e}\n(run `interp --debug {args.command} ...` for the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
