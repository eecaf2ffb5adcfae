"""``robustscope study mixing``: the synthetic-clone paper's question — does adding diverse rendered data help?

For each fraction ``p`` and seed, :func:`robustscope.train.mixing.train_mixed` trains the clean recipe's network
on the world's narrow split plus ``round(p · |narrow|)`` diverse images (``p = only``: diverse images alone, as
many as the narrow split has); each model runs the ``synthetic-clones-offline`` suite (its rows land in the
workspace's result store) and every axis's headline number, with its CI, is drawn against ``p``: a CSV, a
Markdown table, and a PNG when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from robustscope.studies.base import Study, print_summary
from robustscope.studies.headline_cells import format_cell, headline_cells, markdown_table
from robustscope.train.mixing import (
    DEFAULT_FRACTIONS,
    MIX_FILE,
    Fraction,
    fraction_label,
    parse_fraction,
    train_mixed,
)

__all__ = [
    "MIXING_SUITE",
    "STUDY",
    "MixingResult",
    "add_mix_arguments",
    "cmd_mitigate_mix",
    "run_mixing",
    "write_mixing",
]

MIXING_SUITE = "synthetic-clones-offline"
_ORDER_ONLY = 1e9  # "only" sorts after every number


@dataclass
class MixingResult:
    """The curve of a mixing study.

    Attributes:
        cells: one row per (fraction, seed, headline column): ``fraction, seed, model, n_narrow, n_diverse,
            train_seconds, eval_seconds`` and :data:`~robustscope.studies.headline_cells.CELL_COLUMNS`.
        seconds: wall time of the whole study.
    """

    cells: pd.DataFrame
    seconds: float

    def wide(self) -> pd.DataFrame:
        """One row per (fraction, seed) and one ``value [CI]`` column per headline: the Markdown table.

        Example:
            >>> cells = pd.DataFrame({"fraction": ["0"], "seed": [0], "n_narrow": [8], "n_diverse": [0],
            ...     "column": ["shape bias"], "value": [0.5], "ci_low": [0.4], "ci_high": [0.6]})
            >>> MixingResult(cells, 1.0).wide().values.tolist()
            [['0', 0, 8, 0, '0.500 [0.400, 0.600]']]
        """
        keys = ["fraction", "seed", "n_narrow", "n_diverse"]
        if self.cells.empty:
            return pd.DataFrame(columns=keys)
        frame = self.cells.assign(cell=[format_cell(v, lo, hi) for v, lo, hi in
                                        zip(self.cells["value"], self.cells["ci_low"], self.cells["ci_high"],
                                            strict=True)])  # fmt: skip
        wide = frame.pivot_table(index=keys, columns="column", values="cell", aggfunc="first", sort=False)
        columns = list(pd.unique(self.cells["column"]))
        return wide.reindex(columns=columns).reset_index().rename_axis(columns=None)


def _order(label: str) -> float:
    return _ORDER_ONLY if label == "only" else float(label)


def run_mixing(
    world: str = "demo",
    fractions: Sequence[Fraction | str] = DEFAULT_FRACTIONS,
    seeds: Sequence[int] = (0,),
    *,
    store: object = None,
    epochs: int | None = None,
    axes: Sequence[str] | None = None,
    n_resamples: int = 1000,
    workers: int | None = None,
    progress: bool = True,
) -> MixingResult:
    """Train one mixed model per (fraction, seed), run :data:`MIXING_SUITE` on each, collect the headline cells.

    Args:
        world: a world with ``train-narrow`` and ``train-diverse`` splits (``demo``, ``tiny``).
        fractions: numbers ≥ 0 and/or ``"only"`` (see :mod:`robustscope.train.mixing`).
        seeds: training seeds (also the diverse subset's).
        store: the workspace (a :class:`~robustscope.config.Workspace`, a folder, or None: the current one).
        epochs: the clean recipe's epochs for every model (default 20).
        axes: run only these axes of the suite (default: all seven).
        n_resamples: bootstrap resamples of every CI.

    Example:
        >>> result = run_mixing("tiny", [0, 1], epochs=1, axes=["calibration"], progress=False)  # doctest: +SKIP
        >>> result.wide().columns.tolist()  # doctest: +SKIP
        ['fraction', 'seed', 'n_narrow', 'n_diverse', 'ECE (20 bins)']
    """
    from robustscope.config import Workspace, workspace
    from robustscope.suites.run import run_suite

    started = time.perf_counter()
    ws = store if isinstance(store, Workspace) else workspace(store)  # type: ignore[arg-type]
    parsed = sorted({parse_fraction(p) for p in fractions}, key=lambda p: _order(fraction_label(p)))
    tables = []
    for seed in seeds:
        for p in parsed:
            folder = train_mixed(world, p, seed=seed, epochs=epochs, models_dir=ws.models, renders=ws.renders,
                                 content_index=ws.content_index, workers=workers, progress=progress)  # fmt: skip
            config = json.loads((folder / "config.json").read_text())
            composition = json.loads((folder / MIX_FILE).read_text())
            result = run_suite(f"file:{folder}", MIXING_SUITE, world=world, axes=list(axes) if axes else None,
                               store=ws, progress=progress, n_resamples=n_resamples)  # fmt: skip
            cells = headline_cells(result.table)
            tables.append(cells.assign(
                fraction=fraction_label(p), seed=int(seed), n_narrow=composition["n_narrow"],
                n_diverse=composition["n_diverse"], train_seconds=float(config["training"].get("seconds", "nan")),
                eval_seconds=round(result.seconds, 2), model_folder=str(folder),
            ))  # fmt: skip
    columns = ["fraction", "seed", "n_narrow", "n_diverse", "train_seconds", "eval_seconds", "model_folder"]
    cells = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(cells):
        cells = cells[columns + [c for c in cells.columns if c not in columns]]
    return MixingResult(cells, time.perf_counter() - started)


def write_mixing(result: MixingResult, out: str | Path, command: str = "") -> list[Path]:
    """Write ``mixing_curve.csv``, ``mixing_curve.md`` and (with matplotlib) ``mixing_curve.png`` into ``out``.

    Example:
        >>> import tempfile
        >>> cells = pd.DataFrame({"fraction": ["0"], "seed": [0], "n_narrow": [8], "n_diverse": [0],
        ...     "train_seconds": [1.0], "eval_seconds": [2.0], "column": ["shape bias"], "value": [0.5],
        ...     "ci_low": [0.4], "ci_high": [0.6]})
        >>> [p.name for p in write_mixing(MixingResult(cells, 3.0), tempfile.mkdtemp())][:2]
        ['mixing_curve.csv', 'mixing_curve.md']
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "mixing_curve.csv", out / "mixing_curve.md"]
    result.cells.to_csv(written[0], index=False)
    times = (result.cells.groupby(["fraction", "seed"], sort=False)[["train_seconds", "eval_seconds"]].first()
             .reset_index() if len(result.cells) else pd.DataFrame())  # fmt: skip
    text = [f"# Synthetic-data mixing: each axis's headline [95% CI] against p ({MIXING_SUITE})", ""]
    if command:
        text += [f"Command: `{command}`", ""]
    text += [markdown_table(result.wide()), "", "Wall times (s, 2 cores; training is read from the model's config, "
             "so a cached model shows its original time):", "", markdown_table(times), "",
             f"Study wall time: {result.seconds:.0f} s."]  # fmt: skip
    plot = _plot(result, out / "mixing_curve.png")
    if plot is None:
        text += ["", "(matplotlib is not installed: table only.)"]
    else:
        written.append(plot)
    written[1].write_text("\n".join(text) + "\n", encoding="utf-8")
    return written


def _plot(result: MixingResult, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    columns = list(pd.unique(result.cells["column"]))
    if not columns:
        return None
    labels = sorted(pd.unique(result.cells["fraction"]), key=_order)
    position = {label: i for i, label in enumerate(labels)}  # categorical x: "only" has no number
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        for seed, group in result.cells[result.cells["column"] == column].groupby("seed"):
            group = group.sort_values("fraction", key=lambda s: s.map(_order))
            x = group["fraction"].map(position)
            err = [group["value"] - group["ci_low"], group["ci_high"] - group["value"]]
            ax.errorbar(x, group["value"], yerr=err, marker="o", capsize=3, label=f"seed {seed}")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel("p (diverse per narrow image)")
        ax.set_title(column, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fraction_argument(text: str) -> Fraction:
    """argparse type of ``--fractions``: a usage error that says what a fraction is."""
    from robustscope.errors import OptionError

    try:
        return parse_fraction(text)
    except OptionError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="a world with train-narrow and train-diverse splits")
    parser.add_argument("--fractions", nargs="+", type=_fraction_argument, default=list(DEFAULT_FRACTIONS),
                        help="diverse images per narrow image (numbers >= 0) and/or 'only' (default: 0 0.1 0.25 "
                        "0.5 1 only)")  # fmt: skip
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs of every model (default: the clean recipe's)")
    parser.add_argument("--axes", nargs="+", help="run only these axes of synthetic-clones-offline")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of every CI")
    parser.add_argument("--workers", type=int, default=None, help="render processes")
    parser.add_argument("--out", required=True, help="folder for mixing_curve.csv/.md(/.png)")


def _run(args: argparse.Namespace) -> int:
    import sys

    from robustscope.config import workspace

    result = run_mixing(args.world, args.fractions, args.seeds, store=workspace(args.workspace), epochs=args.epochs,
                        axes=args.axes, n_resamples=args.n_resamples, workers=args.workers,
                        progress=not args.quiet)  # fmt: skip
    command = "robustscope " + " ".join(sys.argv[1:]) if sys.argv and "robustscope" in sys.argv[0] else ""
    written = write_mixing(result, args.out, command)
    print(markdown_table(result.wide()))
    print(f"wrote {', '.join(str(p) for p in written)} ({result.seconds:.0f} s)")
    return 0


def add_mix_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``robustscope mitigate mix`` beside the common ones (``--out``, ``--seed``, ``--epochs``, …).

    Mixing trains a new model from a world's splits instead of refitting a given model's head, so the common
    ``--model`` and ``--train-data`` are not needed here (made optional and hidden).

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> for flag in ("--model", "--train-data", "--out"):
        ...     _ = parser.add_argument(flag, required=True)
        >>> add_mix_arguments(parser)
        >>> args = parser.parse_args(["--world", "tiny", "--fraction", "only", "--out", "m"])
        >>> args.world, args.fraction, args.model
        ('tiny', 'only', None)
    """
    for action in parser._actions:  # argparse has no public way to relax an option another function added
        if action.dest in ("model", "train_data"):
            action.required, action.help = False, argparse.SUPPRESS
    parser.add_argument("--world", default="demo", help="a world with train-narrow and train-diverse splits")
    parser.add_argument("--fraction", type=_fraction_argument, required=True,
                        help="diverse images per narrow image (0, 0.1, 0.25, 0.5, 1…) or 'only'")  # fmt: skip


def cmd_mitigate_mix(args: argparse.Namespace) -> int:
    """``robustscope mitigate mix``: train the clean recipe's network on ``--world``'s narrow split plus
    ``--fraction`` diverse images (:func:`~robustscope.train.mixing.train_mixed`) into ``--out``; print a summary.

    Example:
        >>> cmd_mitigate_mix(argparse.Namespace(world="tiny", fraction=0.5, out="m", seed=0, epochs=1,
        ...                  quiet=True))  # doctest: +SKIP
    """
    from robustscope.config import workspace

    started = time.perf_counter()
    ws = workspace(getattr(args, "workspace", None))
    folder = train_mixed(args.world, args.fraction, seed=args.seed, epochs=args.epochs, models_dir=ws.models,
                         renders=ws.renders, content_index=ws.content_index, progress=not args.quiet,
                         out=args.out)  # fmt: skip
    composition = json.loads((Path(folder) / MIX_FILE).read_text())
    rows = [("method", "mix (Singh et al. 2024): narrow data + diverse rendered images"), ("world", args.world),
            ("fraction", fraction_label(args.fraction)),
            ("training set", f"{composition['n_narrow']} narrow + {composition['n_diverse']} diverse images"),
            ("wall time", f"{time.perf_counter() - started:.1f} s"), ("saved to", str(folder))]  # fmt: skip
    print_summary(rows, f"robustscope run --model file:{folder} --suite {MIXING_SUITE} --world {args.world}")
    return 0


STUDY = Study(
    "mixing",
    "train on narrow data plus a fraction p of diverse rendered images; each axis against p (Singh et al. 2024)",
    "robustscope study mixing --world tiny --fractions 0 1 --epochs 1 --out mixing",
    _add_arguments,
    _run,
)
