"""``robustscope search``: worst-case natural shifts of one or more models on a world split (the worst_case axis).

Rows go to the workspace's result store under the suite ``worst-case-offline`` (so ``robustscope report`` draws
them, gallery included) and the whole-box and per-factor accuracies are printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from robustscope.cli_args import positive_int
from robustscope.errors import OptionError

__all__ = ["add_search_arguments", "cmd_search", "read_box"]

SUITE = "worst-case-offline"


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``robustscope search``.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_search_arguments(parser)
        >>> args = parser.parse_args(["--model", "file:m", "--budget", "16", "--methods", "random"])
        >>> args.budget, args.methods, args.world
        (16, ['random'], 'demo')
    """
    parser.add_argument("--model", action="append", required=True, help="model spec (repeat for several)")
    parser.add_argument("--world", default="demo", help="built-in world or world YAML (default demo)")
    parser.add_argument("--split", default="test-id", help="the split whose instances are searched")
    parser.add_argument("--box", help="factor box: a YAML/JSON file or inline JSON (default: yaw ±30°, light ×0.5–2, "
                        "every background, every texture)")  # fmt: skip
    parser.add_argument("--budget", type=positive_int, default=64, help="renders per instance, box and method")
    parser.add_argument("--instances", type=positive_int, default=32, help="instances searched (the split's first)")
    parser.add_argument("--methods", nargs="+", default=["random", "cma"], choices=["random", "cma"])
    parser.add_argument("--gradient", choices=["auto", "never"], default="auto",
                        help="gradient search through the differentiable renderer where it runs")  # fmt: skip
    parser.add_argument("--gradient-instances", type=positive_int, default=4,
                        help="instances the gradient search covers (about 30 s each at 64 px on 2 CPU cores)")
    parser.add_argument("--no-per-factor", action="store_true", help="search the whole box only")
    parser.add_argument("--gallery", type=int, default=3, help="examples stored per box and method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of the CIs")
    parser.add_argument("--out", help="also write the rows as CSV here")


def read_box(text: str | None) -> dict[str, Any] | None:
    """The box from a file (YAML or JSON) or inline JSON; None for the default box.

    Example:
        >>> read_box('{"yaw": {"offset": [-10, 10]}}')
        {'yaw': {'offset': [-10, 10]}}
    """
    if text is None:
        return None
    import yaml

    path = Path(text).expanduser()
    try:
        loaded = yaml.safe_load(path.read_text()) if path.is_file() else json.loads(text)
    except (ValueError, yaml.YAMLError) as err:
        raise OptionError(f"--box: {text!r} is neither a YAML/JSON file nor inline JSON ({err}); "
                          'e.g. --box \'{"yaw": {"offset": [-30, 30]}}\'') from None  # fmt: skip
    if not isinstance(loaded, dict):
        raise OptionError(f"--box: a mapping of factor -> bounds or values, got {loaded!r}")
    return loaded


def cmd_search(args: argparse.Namespace) -> int:
    """Run the worst_case axis for each ``--model`` and print its accuracies."""
    import pandas as pd

    from robustscope.api import load_dataset, load_model
    from robustscope.config import workspace
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.worst_case import Params, worst_case_axis

    box = read_box(args.box)
    params = Params(**({"box": box} if box is not None else {}), budget=args.budget, instances=args.instances,
                    methods=tuple(args.methods), gradient=args.gradient, gradient_instances=args.gradient_instances,
                    per_factor=not args.no_per_factor, gallery=args.gallery)  # fmt: skip
    ws = workspace(args.workspace)
    models = [load_model(spec) for spec in args.model]  # a misspelt model fails before any render
    dataset = load_dataset(f"synth:{args.world}:{args.split}", root=ws.renders, progress=not args.quiet)
    tables = []
    for model in models:
        ev = Evaluation.in_workspace(model, ws, seed=args.seed, n_resamples=args.n_resamples, suite=SUITE,
                                     axis="worst_case", progress=not args.quiet)  # fmt: skip
        table = pd.concat(worst_case_axis(ev, {"instances": dataset}, None, params), ignore_index=True)  # type: ignore[arg-type]
        ev.write(table, None)
        tables.append(table)
    rows = pd.concat(tables, ignore_index=True)
    if args.out:
        rows.to_csv(args.out, index=False)
    _print_summary(rows)
    return 0


def _print_summary(rows: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    shown = rows[rows.metric.isin(["clean_acc", "average_acc", "worst_case_acc", "renders_per_success"])]
    table = Table(title="worst-case search (CIs over instances)")
    for column in ("model", "box", "method", "metric", "value", "95% CI", "n"):
        table.add_column(column)
    for row in shown.itertuples(index=False):
        box = row.slice_value if row.slice_factor == "box" else "all"
        table.add_row(str(row.model), box, str(row.shift), str(row.metric), f"{row.value:.3f}",
                      f"[{row.ci_low:.3f}, {row.ci_high:.3f}]", str(row.n))  # fmt: skip
    Console(width=160).print(table)
    for reason in rows[rows.metric == "gradient_available"].protocol.unique():
        Console(width=160).print(json.loads(reason).get("reason", ""))
