"""Running a sweep: every cell through :func:`~robustscope.suites.run_suite`, one failure never stopping the rest.

Cells run one after another in this process; within a cell, the prediction shards go to the executor (serial,
or Ray: one executor, so one Ray start, for the whole sweep). Each cell is cached through the workspace's
prediction store, so a rerun only recomputes metrics ("cached" cells) and an interrupted sweep resumes from the
shards it had written. Cells that fail are reported at the end with a one-line reason each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.sweeps.fits import run_fits
from robustscope.sweeps.spec import SweepCell, SweepSpec, load_sweep

if TYPE_CHECKING:
    from robustscope.engine.executors import Executor

__all__ = ["CellOutcome", "SweepResult", "run_sweep"]

#: A cell's status: its shards were computed (some or all), all came from the store, or it failed.
STATUSES = ("computed", "cached", "failed")


@dataclass
class CellOutcome:
    """What one cell did: its status, time, rows, shards computed/reused, and why it failed (one line)."""

    cell: SweepCell
    status: str
    seconds: float = 0.0
    rows: int = 0
    shards_computed: int = 0
    shards_reused: int = 0
    error: str = ""


@dataclass
class SweepResult:
    """The cells' outcomes, the headline summary (model × suite rows), the fits' tables, and where they were written."""

    spec: SweepSpec
    outcomes: list[CellOutcome]
    summary: pd.DataFrame
    fits: dict[str, pd.DataFrame] = field(default_factory=dict)
    out: Path | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        """The cells that failed."""
        return [o for o in self.outcomes if o.status == "failed"]

    def cells_table(self) -> pd.DataFrame:
        """One row per cell: model, suite, world, data root, status, seconds, rows, shards, error.

        Example:
            >>> from robustscope.sweeps.spec import SuiteEntry
            >>> cell = SweepCell("file:m", SuiteEntry("s"), "tiny", None)
            >>> SweepResult(SweepSpec("x", ("file:m",), (SuiteEntry("s"),)), [CellOutcome(cell, "cached")],
            ...             pd.DataFrame()).cells_table()[["model", "status"]].values.tolist()
            [['file:m', 'cached']]
        """
        return pd.DataFrame(
            [
                {"model": o.cell.model, "suite": o.cell.suite.label, "world": o.cell.world,
                 "data_root": o.cell.data_root or "", "status": o.status, "seconds": round(o.seconds, 2),
                 "rows": o.rows, "shards_computed": o.shards_computed, "shards_reused": o.shards_reused,
                 "error": o.error}
                for o in self.outcomes
            ]
        )


class _CellView:
    """The progress view: a line per cell started and finished, with counts of done / failed / left."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.done = self.failed = 0
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True)

    def start(self, index: int, cell: SweepCell) -> None:
        if self.enabled:
            self.console.print(f"[bold]cell {index}/{self.total}[/bold] running: {_plain(cell.label)}")

    def finish(self, index: int, outcome: CellOutcome) -> None:
        if outcome.status == "failed":
            self.failed += 1
        else:
            self.done += 1
        if not self.enabled:
            return
        if outcome.status == "failed":
            what = f"[red]failed[/red]: {_plain(outcome.error)}"
        else:
            what = (f"[green]{outcome.status}[/green] ({outcome.shards_computed} shards computed, "
                    f"{outcome.shards_reused} reused, {outcome.rows} rows)")  # fmt: skip
        left = self.total - self.done - self.failed
        self.console.print(f"cell {index}/{self.total} {what} in {outcome.seconds:.1f} s · "
                           f"{self.done} done, {self.failed} failed, {left} left")  # fmt: skip


def _plain(text: str) -> str:
    """``text`` shown as it is by rich (a suite label's ``[axis,axis]`` is not markup)."""
    from rich.markup import escape

    return escape(text)


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text if text else type(err).__name__


def _run_cell(spec: SweepSpec, cell: SweepCell, ws: Workspace, executor: Executor, progress: bool
              ) -> tuple[CellOutcome, pd.DataFrame]:  # fmt: skip
    from robustscope.suites.run import run_suite

    started = time.perf_counter()
    try:
        result = run_suite(cell.model, cell.suite.suite, data_root=cell.data_root, world=cell.world,
                           axes=cell.suite.axes, seed=spec.seed, batch_size=spec.batch_size, device=spec.device,
                           n_resamples=spec.n_resamples, store=ws, progress=progress, executor=executor)  # fmt: skip
    except Exception as err:  # a failed cell is reported, never stops the others (Ctrl-C still does)
        return CellOutcome(cell, "failed", time.perf_counter() - started, error=_one_line(err)), pd.DataFrame()
    seconds = time.perf_counter() - started
    if result.table.empty:
        return CellOutcome(cell, "failed", seconds, error=result.empty_reason()), pd.DataFrame()
    status = "cached" if result.shards_computed == 0 else "computed"
    outcome = CellOutcome(cell, status, seconds, len(result.table), result.shards_computed, result.shards_reused)
    return outcome, result.table


def run_sweep(
    sweep: str | Path | SweepSpec,
    store: str | Path | Workspace | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run every cell of a sweep, then its fits across the sweep's models; write the tables as CSV.

    Args:
        sweep: a sweep YAML path or a :class:`SweepSpec` (schema: :mod:`robustscope.sweeps.spec`).
        store: the workspace (default: ``$ROBUSTSCOPE_HOME`` or ``./.robustscope``).
        executor, ray_address: override the file's ``executor:``/``ray_address:`` (``"serial"``, ``"ray"`` or an
            executor object).
        out: folder for ``cells.csv``, ``summary.csv`` and one CSV per fit table (default:
            ``WORKSPACE/sweeps/NAME``).

    Example:
        >>> result = run_sweep("sweep.yaml", store="/tmp/ws")  # doctest: +SKIP
        >>> result.cells_table()[["model", "status"]]  # doctest: +SKIP
    """
    from robustscope.engine.executors import resolve_executor
    from robustscope.suites.run import suite_summary

    spec = sweep if isinstance(sweep, SweepSpec) else load_sweep(sweep)
    ws = store if isinstance(store, Workspace) else workspace(store)
    chosen = executor if executor is not None else spec.executor
    address = ray_address if ray_address is not None else (spec.ray_address if chosen == "ray" else None)
    runs_on = resolve_executor(chosen, address)
    cells = spec.cells()
    view = _CellView(len(cells), progress)
    outcomes: list[CellOutcome] = []
    tables: list[pd.DataFrame] = []
    summaries: list[pd.DataFrame] = []
    try:
        for index, cell in enumerate(cells, start=1):
            view.start(index, cell)
            outcome, table = _run_cell(spec, cell, ws, runs_on, progress)
            view.finish(index, outcome)
            outcomes.append(outcome)
            if len(table):
                tables.append(table)
                summary = suite_summary(table)
                summary.insert(1, "suite", cell.suite.label)
                summary.insert(2, "data", cell.world + (f" @ {cell.data_root}" if cell.data_root else ""))
                summaries.append(summary)
    finally:
        shutdown = getattr(runs_on, "shutdown", None)
        if shutdown is not None and runs_on is not executor:  # made here: stop the local Ray it started, if any
            shutdown()
    summary = pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame()
    rows = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    fits = run_fits(spec.fits, summary, rows, spec.n_resamples, spec.seed) if spec.fits and len(summary) else {}
    folder = Path(out) if out is not None else ws.root / "sweeps" / spec.name
    result = SweepResult(spec, outcomes, summary, fits, folder)
    _write(result)
    return result


def _write(result: SweepResult) -> None:
    assert result.out is not None
    result.out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, Any] = {"cells": result.cells_table(), "summary": result.summary, **result.fits}
    for name, table in tables.items():
        table.to_csv(result.out / f"{name}.csv", index=False)
