"""``robustscope explore`` and ``robustscope serve``: the results explorer folder, and serving it on localhost.

``explore`` writes the static folder (:func:`robustscope.report.explorer.build_explorer`); ``serve`` serves
that folder read-only with ``/api/query`` over the result store, on 127.0.0.1 unless ``--host`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from robustscope.cli_args import positive_int

__all__ = ["add_explore_commands", "cmd_explore", "cmd_serve"]


def _folder(args: argparse.Namespace) -> Path:
    from robustscope.config import workspace

    return Path(args.out) if args.out else workspace(args.workspace).reports / "explorer"


def cmd_explore(args: argparse.Namespace) -> int:
    """Build the explorer folder of the workspace's results and print where it is.

    Example:
        >>> cmd_explore(argparse.Namespace(workspace="/nonexistent", out=None, model=None, quiet=True,
        ...             max_samples=40, max_shifts=32, n_resamples=1000))
        Traceback (most recent call last):
        ...
        robustscope.errors.RobustscopeError: no results at /nonexistent/results.duckdb; run `robustscope run` or \
`robustscope demo` first
    """
    from robustscope.config import workspace
    from robustscope.report.explorer import GalleryLimits, build_explorer

    limits = GalleryLimits(max_samples=args.max_samples, max_shifts=args.max_shifts)
    built = build_explorer(workspace(args.workspace), _folder(args), models=args.model or None, limits=limits,
                           n_resamples=args.n_resamples, progress=not args.quiet)  # fmt: skip
    print(f"explorer: {built.index} ({built.thumbnails_encoded} thumbnails encoded, "
          f"{built.thumbnails_copied} copied); open it in a browser, no server needed")  # fmt: skip
    for note in built.notes:
        print(f"  note: {note}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the explorer folder on ``--host``:``--port`` until Ctrl-C (a non-loopback host only when explicit).

    Example:
        >>> cmd_serve(argparse.Namespace(workspace="/nonexistent", out=None, host=None, port=8765))
        Traceback (most recent call last):
        ...
        robustscope.errors.RobustscopeError: no explorer at /nonexistent/reports/explorer; build it first with \
`robustscope explore --out /nonexistent/reports/explorer`
    """
    from robustscope.config import workspace
    from robustscope.report.explorer import serve_explorer
    from robustscope.report.explorer.server import make_server

    host = args.host or "127.0.0.1"
    folder = _folder(args)
    db = workspace(args.workspace).results_db
    make_server(folder, db, host, 0, allow_remote=args.host is not None).server_close()  # fails early, one line
    print(f"serving {folder} on http://{host}:{args.port}/ (read-only; Ctrl-C stops)")
    serve_explorer(folder, db, host, args.port, allow_remote=args.host is not None)
    return 0


def add_explore_commands(sub: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``explore`` and ``serve`` through the CLI's ``sub(name, help, example)`` helper.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> commands = parser.add_subparsers()
        >>> add_explore_commands(lambda name, help_text, example: commands.add_parser(name))
        >>> parser.parse_args(["serve"]).host is None, parser.parse_args(["explore"]).max_samples
        (True, 40)
    """
    explore = sub("explore", "write the interactive results explorer (a folder that opens offline from file://)",
                  "robustscope explore --out explorer/")  # fmt: skip
    explore.add_argument("--out", help="folder (default: WORKSPACE/reports/explorer)")
    explore.add_argument("--model", nargs="*", help="only these models")
    explore.add_argument("--max-samples", type=positive_int, default=40,
                         help="misclassified samples with thumbnails per model and dataset (default 40)")
    explore.add_argument("--max-shifts", type=positive_int, default=32,
                         help="shifts drawn per model and dataset, clean first (default 32)")
    explore.add_argument("--n-resamples", type=positive_int, default=1000,
                         help="paired-bootstrap resamples of the model comparisons (default 1000)")
    explore.set_defaults(func=cmd_explore)
    serve = sub("serve", "serve the explorer folder on localhost, with DuckDB queries of the result store",
                "robustscope serve --port 8765")  # fmt: skip
    serve.add_argument("--out", help="explorer folder (default: WORKSPACE/reports/explorer)")
    serve.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; another one must be given "
                       "explicitly)")  # fmt: skip
    serve.add_argument("--port", type=positive_int, default=8765, help="port (default 8765)")
    serve.set_defaults(func=cmd_serve)
