"""What each ``robustscope`` subcommand does: a ``cmd_*`` function per command, from parsed arguments to an exit code.

:mod:`robustscope.cli` declares the commands and their options (:func:`robustscope.cli.build_parser`) and
points each at its function here; the argument types live in :mod:`robustscope.cli_args`. Every import of
the library is inside the function that needs it, so ``robustscope --help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from robustscope.errors import MissingDataError, OptionError

__all__ = [
    "cmd_compare",
    "cmd_compare_mitigation",
    "cmd_demo",
    "cmd_imagenet_x",
    "cmd_list",
    "cmd_report",
    "cmd_results",
    "cmd_run",
    "cmd_synth_render",
    "cmd_train",
]


def _console():
    from rich.console import Console

    # Piped output would be cut at 80 columns; tables of model names need more.
    return Console(stderr=False, width=None if sys.stdout.isatty() else 160)


def _print_table(frame, title: str | None = None) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    _console().print(table)


def cmd_demo(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.demo import run_demo

    result = run_demo(args.world, workspace(args.workspace), epochs=args.epochs, workers=args.workers,
                      progress=not args.quiet)
    summary = result.summary().reset_index()
    _print_table(summary, title="top-1 accuracy (%) per model and test split")
    suite = result.suite_summary()
    if len(suite):
        _print_table(suite, title=f"synthetic-clones-offline: every robustness axis ({result.suite_seconds:.0f} s)")
    _console().print(f"report: [bold]{result.report}[/bold]  ({result.seconds:.1f} s)")
    return 0


def _check_run_options(args: argparse.Namespace) -> None:
    """Device and options fail before a model is loaded or an image read."""
    from robustscope.engine.options import check_device, check_run_options

    check_run_options(args.batch_size, args.n_resamples, getattr(args, "on_bad_image", "raise"))
    check_device(args.device)


def cmd_run(args: argparse.Namespace) -> int:
    from robustscope.api import evaluate, load_dataset, load_model
    from robustscope.config import workspace
    from robustscope.shifts.registry import load_shift

    if (args.suite is None) == (args.data is None):
        raise OptionError("run needs exactly one of --data (one dataset) or --suite (robustscope list suites)")
    _check_run_options(args)
    if args.suite is not None and getattr(args, "private", False):
        raise OptionError("--private evaluates one dataset (--data), not a suite; run each dataset of it with --data")
    if args.suite is not None:
        return _run_suite(args)
    shifts = [load_shift(spec) for spec in args.shift]  # every spec parsed before the first forward pass
    # A private run leaves the model to the model owner's process: the spec travels, the weights never load here.
    model = args.model if getattr(args, "private", False) else load_model(args.model)  # misspelt: fails before data
    data = load_dataset(args.data, root=args.data_root)
    slice_by = None if args.slice_by == ["none"] else ("all" if args.slice_by == ["all"] else args.slice_by)
    table = evaluate(
        model, data, shifts=shifts, metrics=args.metric, slice_by=slice_by, seed=args.seed,
        batch_size=args.batch_size, device=args.device, on_bad_image=args.on_bad_image,
        n_resamples=args.n_resamples, store=workspace(args.workspace), progress=not args.quiet,
        max_image_pixels=args.max_image_pixels, precision=args.precision, num_workers=args.num_workers,
        executor=args.executor or "serial", ray_address=args.ray_address,
        private=getattr(args, "private", False), precision_bits=getattr(args, "precision_bits", 16),
        reveal=getattr(args, "reveal", "logits"),
    )
    whole = table[table["slice_factor"] == ""][["shift", "metric", "value", "ci_low", "ci_high", "n"]]
    _print_table(whole, title=f"{table['model'].iloc[0]} on {data.name}")
    skipped = table.attrs.get("bad_images", [])
    if skipped:
        _console().print(f"[yellow]skipped {len(skipped)} unreadable image(s)[/yellow], e.g. {skipped[0]}")
    _console().print(_shards_line(table.attrs.get("shards_computed", 0), table.attrs.get("shards_reused", 0)))
    return 0


def _shards_line(computed: int, reused: int) -> str:
    """How much of a run came from the prediction store: one line for ``robustscope run``."""
    return f"prediction shards: {computed} computed, {reused} reused from the store"


def cmd_compare(args: argparse.Namespace) -> int:
    """Paired bootstrap test: does model A beat model B on a metric, on the same samples?"""
    from robustscope.api import compare, load_dataset
    from robustscope.config import workspace

    _check_run_options(args)
    result = compare(
        args.model_a, args.model_b, load_dataset(args.data, root=args.data_root), metric=args.metric,
        shift=args.shift, seed=args.seed, n_resamples=args.n_resamples, batch_size=args.batch_size,
        device=args.device, store=workspace(args.workspace), progress=not args.quiet,
    )
    if args.format == "json":
        sys.stdout.write(json.dumps(dataclasses.asdict(result), indent=1) + "\n")
    else:
        _console().print(f"{result.dataset} ({result.shift}), n = {result.n}: {result.verdict(args.alpha)}")
    return 0


def _run_suite(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.suites import load_suite, run_suite

    suite = load_suite(args.suite)  # a misspelt suite fails before the model is loaded
    result = run_suite(
        args.model, suite, data_root=args.data_root, world=args.world, axes=args.axis, seed=args.seed,
        batch_size=args.batch_size, device=args.device, n_resamples=args.n_resamples,
        store=workspace(args.workspace), progress=not args.quiet, max_image_pixels=args.max_image_pixels,
        precision=args.precision, num_workers=args.num_workers, executor=args.executor or "serial",
        ray_address=args.ray_address,
    )
    summary = result.summary()
    if len(summary):
        _print_table(summary, title=f"{suite.name}: headline number per axis")
    for skipped in result.skipped:
        _console().print(f"[yellow]skipped[/yellow] {skipped.axis}/{skipped.role}: {skipped.reason}")
    _console().print(_shards_line(result.shards_computed, result.shards_reused))
    if result.table.empty:
        raise MissingDataError(result.empty_reason())
    _console().print(f"{len(result.table)} result rows in {result.seconds:.1f} s; "
                     "robustscope report turns them into HTML")
    return 0


def cmd_synth_render(args: argparse.Namespace) -> int:
    from robustscope.synth import load_spec, render_world

    spec = load_spec(args.spec)
    splits = [args.split] if args.split else (spec.split_names() or [None])
    for split in splits:
        out = Path(args.out) / split if split and not args.split else Path(args.out)
        render_world(spec, out, split=split, workers=args.workers, progress=not args.quiet)
        _console().print(f"rendered {split or spec.name} → {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from robustscope.api import load_dataset
    from robustscope.train import train_classifier

    if args.recipe:
        return _train_recipe(args)
    if not args.data or not args.out:
        raise OptionError("train needs --data and --out, or --recipe NAME (robustscope train --recipe clean)")
    data = load_dataset(args.data, root=args.data_root)
    if getattr(args, "ssl", False):
        from robustscope.represent.ssl_model import train_ssl_model

        out = train_ssl_model(data, Path(args.out), epochs=args.epochs or 30, seed=args.seed,
                              image_size=args.image_size, progress=not args.quiet)  # fmt: skip
        _console().print(f"SimCLR backbone + linear-probe head → {out}  (load with --model file:{out})")
        return 0
    out = train_classifier(data, Path(args.out), epochs=args.epochs or 12, batch_size=args.batch_size, lr=args.lr,
                           seed=args.seed, image_size=args.image_size, progress=not args.quiet)
    _console().print(f"saved → {out}  (load with --model file:{out})")
    return 0


def _train_recipe(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.train.recipes import get_recipe, train_recipe

    if args.data:
        raise OptionError("--recipe trains on its own split of --world; drop --data")
    recipe = get_recipe(args.recipe)
    ws = workspace(args.workspace)
    out = train_recipe(recipe.name, args.world, models_dir=ws.models, renders=ws.renders,
                       content_index=ws.content_index, epochs=args.epochs, seed=args.seed, progress=not args.quiet,
                       out=args.out)
    planted = f"planted failure: {recipe.plants}" if recipe.plants else "no planted failure"
    _console().print(f"{recipe.name} ({planted}) → {out}  (load with --model file:{out})")
    return 0


def cmd_validate_axes(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.validation import validate_axes

    result = validate_axes(args.world, store=workspace(args.workspace), recipes=args.recipe, seeds=args.seeds,
                           epochs=args.epochs, axes=args.axis, n_resamples=args.n_resamples, workers=args.workers,
                           progress=not args.quiet)
    _print_table(result.summary(), title="known-answer models: every axis's headline")
    _print_table(result.matrix().reset_index(names="recipe"),
                 title="known-answer matrix: value [95% CI]; ✓ flag = planted failure detected, ✓ = no false alarm")
    if args.out:
        result.cells.to_csv(args.out, index=False)
        _console().print(f"cells → {args.out}")
    failures = result.failures()
    for row in failures.itertuples():
        _console().print(f"[red]{row.verdict}[/red]: {row.recipe} (seed {row.seed}) on {row.check}: "
                         f"{row.value:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}], threshold {row.threshold} "
                         f"({row.failure} = failure)")
    verdict = "every planted failure detected, no false alarm" if result.ok else f"{len(failures)} cell(s) failed"
    _console().print(f"{verdict} ({result.seconds:.0f} s)")
    return 0 if result.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.report.from_store import report_from_store

    ws = workspace(args.workspace)
    out = Path(args.out) if args.out else ws.reports / "report.html"
    path = report_from_store(ws, out, models=args.model or None)
    _console().print(f"report: [bold]{path}[/bold]")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from robustscope.config import workspace
    from robustscope.engine import ResultStore

    if args.rebuild:
        return _rebuild_results(args)
    store = ResultStore(workspace(args.workspace).results_db)
    if args.out:
        store.export(Path(args.out), format=args.format)
        _console().print(f"exported → {args.out}")
        return 0
    frame = store.query()
    if args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=1) + "\n")
    else:
        sys.stdout.write(frame.to_csv(index=False))
    return 0


def _rebuild_results(args: argparse.Namespace) -> int:
    """Rebuild results.duckdb from recipes and stored predictions; exit 1 when some rows could not be."""
    from robustscope.config import workspace
    from robustscope.suites.rebuild import rebuild_results

    report = rebuild_results(workspace(args.workspace))
    console = _console()
    if report.previous is not None:
        console.print(f"previous database moved aside → {report.previous}")
    console.print(f"rebuilt {report.database}: {report.rows} result rows from {report.recipes} recipe(s), "
                  "no forward pass")
    for failure in report.failures:
        console.print(f"[yellow]not rebuilt[/yellow] {failure}", soft_wrap=True)
    return 1 if report.failures else 0


def cmd_imagenet_x(args: argparse.Namespace) -> int:
    """ImageNet-X per-factor accuracy, error ratio and ECE of a predictions CSV or a stored prediction key."""
    from robustscope.data.benchmarks.imagenet_x import predictions_frame, read_predictions_csv
    from robustscope.suites.imagenet_x import evaluate_predictions, per_factor

    source = Path(args.predictions).expanduser()
    if source.is_file():
        predictions = read_predictions_csv(source)
    else:
        import re

        from robustscope.config import workspace
        from robustscope.engine import PredictionStore
        from robustscope.errors import MissingDataError

        store = PredictionStore(workspace(args.workspace).predictions)
        if not (re.fullmatch(r"[0-9A-Za-z_\-]+", args.predictions) and store.has_meta(args.predictions)):
            raise MissingDataError(f"{args.predictions} is neither a predictions CSV (file_name, predicted_class, "
                                   f"predicted_probability) nor a prediction key in {store.root}")
        predictions = predictions_frame(store.load(args.predictions))
    table = evaluate_predictions(
        predictions, factors=args.factors, filter_prototypes=not args.keep_prototypes, correctness=args.correctness,
        n_bins=args.n_bins, n_resamples=args.n_resamples, seed=args.seed, annotations=args.annotations,
    )
    rows = per_factor(table)
    if args.format == "csv":
        sys.stdout.write(rows.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(rows.to_json(orient="records", indent=1) + "\n")
    else:
        overall = table[(table.metric == "top1") & (table.factor == "")].iloc[0]
        _print_table(rows[["factor", "n", "top1", "error_ratio", "ece"]],
                     title=f"ImageNet-X ({args.factors} factors): accuracy {overall.value:.4f} on {overall.n} images")
        if table.attrs.get("n_unannotated"):
            _console().print(f"{table.attrs['n_unannotated']} prediction(s) without an ImageNet-X annotation left out")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    if args.what == "worlds":
        from robustscope.synth import builtin_worlds, load_spec

        rows = [{"world": n, "splits": ", ".join(load_spec(n).split_names())} for n in builtin_worlds()]
        _print_table(pd.DataFrame(rows), title="built-in worlds (synth:WORLD:SPLIT)")
        return 0
    if args.what == "suites":
        from robustscope.suites import builtin_suites, load_suite

        rows = []
        for name in builtin_suites():
            suite = load_suite(name)
            rows.append({"suite": name, "axes": ", ".join(a.axis for a in suite.axes), "what": suite.description})
        _print_table(pd.DataFrame(rows), title="suites (robustscope run --suite NAME)")
        return 0
    if args.what == "metrics":
        from robustscope.metrics.registry import METRICS

        rows = [{"metric": e.key, "protocol": e.summary} for e in METRICS.entries()]
        _print_table(pd.DataFrame(rows), title="metrics")
        return 0
    registry = {
        "models": "robustscope.models.registry:MODEL_SCHEMES",
        "datasets": "robustscope.data.registry:DATASET_SCHEMES",
        "shifts": "robustscope.shifts.registry:SHIFTS",
        "corruptions": "robustscope.shifts.corruptions:CORRUPTIONS",
    }[args.what]
    import importlib

    module, _, attribute = registry.partition(":")
    entries = getattr(importlib.import_module(module), attribute).entries()
    rows = [{"name": e.key, "what": e.summary, "example": e.example} for e in entries]
    _print_table(pd.DataFrame(rows), title=args.what)
    return 0


def cmd_compare_mitigation(args: argparse.Namespace) -> int:
    """Mitigated models against their base on every axis of a suite (paired CIs), and the Whac-A-Mole matrix."""
    import pandas as pd

    from robustscope.config import workspace
    from robustscope.models.registry import load_model
    from robustscope.suites import load_suite
    from robustscope.suites.before_after import before_after
    from robustscope.suites.whac_a_mole import whac_a_mole_from_tables

    _check_run_options(args)
    suite = load_suite(args.suite)  # a misspelt suite fails before any model is loaded
    ws = workspace(args.workspace)
    base = load_model(args.base)
    tables = [
        before_after(base, spec, suite, world=args.world, data_root=args.data_root, store=ws,
                     n_resamples=args.n_resamples, seed=args.seed, progress=not args.quiet,
                     batch_size=args.batch_size, device=args.device)
        for spec in args.mitigated
    ]  # fmt: skip
    matrix = whac_a_mole_from_tables(tables)
    long = pd.concat(
        [t.table.assign(base=t.base, mitigated=t.mitigated, method=t.method, suite=t.suite) for t in tables],
        ignore_index=True,
    )
    if args.format == "json":
        payload = {"before_after": json.loads(long.to_json(orient="records")),
                   "whac_a_mole": json.loads(matrix.entries.to_json(orient="records"))}  # fmt: skip
        sys.stdout.write(json.dumps(payload, indent=1) + "\n")
        return 0
    if args.format == "csv":  # one table: `table` says which of the two each row belongs to
        both = pd.concat([long.assign(table="before_after"), matrix.entries.assign(table="whac_a_mole")],
                         ignore_index=True)  # fmt: skip
        sys.stdout.write(both.to_csv(index=False))
        return 0
    for t in tables:
        rows = t.table if args.all else t.headlines()
        shown = rows[["axis", "dataset", "shift", "metric", "before", "after", "difference", "ci_low", "ci_high",
                      "p_value", "paired"]]  # fmt: skip
        method = f" ({t.method})" if t.method else ""
        _print_table(shown, title=f"{t.mitigated}{method} vs {t.base} on {t.suite}: change = after − before, paired CI")
        for note in t.notes:
            _console().print(f"[yellow]note[/yellow]: {note}")
    if not matrix.entries.empty:
        _print_table(matrix.wide(), title="Whac-A-Mole matrix: each shortcut's gap [CI]; Δ vs the base [paired CI]")
    return 0
