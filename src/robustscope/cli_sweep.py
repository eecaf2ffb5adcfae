"""``robustscope sweep sweep.yaml``: models × suites from one file, every cell cached, fits across the models.

Exit status 0 when every cell produced rows, 1 when any failed (each failure is listed with its one-line reason),
2 for an invalid sweep file or option (like every other error of the command line).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from robustscope.cli_args import add_executor_arguments

__all__ = ["add_sweep_command", "cmd_sweep"]


def add_sweep_command(sub: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``sweep`` through the CLI's ``sub(name, help, example)`` helper.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> commands = parser.add_subparsers()
        >>> add_sweep_command(lambda name, help_text, example: commands.add_parser(name))
        >>> args = parser.parse_args(["sweep", "s.yaml", "--executor", "ray"])
        >>> args.sweep, args.executor, args.func.__name__
        ('s.yaml', 'ray', 'cmd_sweep')
    """
    sweep = sub("sweep", "evaluate models × suites (× worlds or data roots) from one YAML file, every cell cached "
                "and resumable; failed cells are reported at the end (exit 1); fits across the models",
                "robustscope sweep sweep.yaml --executor ray --ray-address auto")  # fmt: skip
    sweep.add_argument("sweep", help="the sweep YAML file (schema: docs/scaling.md)")
    sweep.add_argument("--out", help="folder of cells.csv, summary.csv and the fits' CSVs "
                       "(default: WORKSPACE/sweeps/NAME)")  # fmt: skip
    add_executor_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep)


def _print(frame: Any, title: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else escape(str(v)) for v in row))
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep file; print each cell's status, the summary and the fits; exit 1 if any cell failed."""
    from robustscope.config import workspace
    from robustscope.sweeps import load_sweep, run_sweep

    spec = load_sweep(args.sweep)  # an invalid file fails (exit 2) before any model is loaded
    result = run_sweep(spec, store=workspace(args.workspace), executor=args.executor, ray_address=args.ray_address,
                       out=args.out, progress=not args.quiet)  # fmt: skip
    cells = result.cells_table()
    _print(cells.drop(columns=["error"]), f"sweep {spec.name}: {len(cells)} cells")
    if len(result.summary):
        _print(result.summary, "headline number per model and suite")
    for name, table in result.fits.items():
        _print(table, f"fit: {name}")
    print(f"tables written to {result.out}")
    if result.failed:
        print(f"{len(result.failed)} of {len(cells)} cells failed:", file=sys.stderr)
        for outcome in result.failed:
            print(f"  {outcome.cell.label}: {outcome.error}", file=sys.stderr)
        return 1
    return 0
