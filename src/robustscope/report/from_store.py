"""The report of a whole workspace: result rows from its ResultStore, reliability curves from its predictions.

No forward pass happens here: reliability diagrams are recomputed from the stored logits that
each result row names through its ``prediction_key``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustscope.config import Workspace
from robustscope.errors import RobustscopeError
from robustscope.metrics.classification import ReliabilityCurve, reliability_curve, softmax
from robustscope.report.html import write_report

__all__ = ["reliability_from_store", "report_from_store"]

DEFAULT_BINS = 15  # ImageNet-X's choice, and the ``ece`` metric's


def _n_bins(rows: pd.DataFrame) -> int:
    """The bin count of the ECE the rows report (``ece`` before ``ece20``), so diagram and number agree."""
    for metric in sorted(m for m in rows.metric.unique() if str(m).startswith("ece")):
        protocol = rows.loc[rows.metric == metric, "protocol"].iloc[0]
        try:
            return int(json.loads(protocol)["parameters"]["n_bins"])
        except (TypeError, ValueError, KeyError):
            continue
    return DEFAULT_BINS


def reliability_from_store(
    workspace: Workspace, rows: pd.DataFrame, max_curves: int = 48
) -> list[tuple[str, str, str, ReliabilityCurve]]:
    """Reliability curves for each (model, dataset, shift) whose rows include an ECE metric.

    Predictions are read from the workspace's PredictionStore by ``prediction_key``; a key whose
    predictions are gone is skipped with a warning, since the numbers in the table stay valid.
    At most ``max_curves`` curves, in row order (Guo et al., ICML 2017, Fig. 1).

    Example:
        >>> from robustscope.config import Workspace
        >>> reliability_from_store(Workspace(Path("/nonexistent")), pd.DataFrame(columns=["metric"]))
        []
    """
    if rows.empty or "prediction_key" not in rows.columns:
        return []
    calibration = rows[rows.metric.astype(str).str.startswith("ece") & (rows.slice_factor == "")]
    if calibration.empty:
        return []
    from robustscope.engine.prediction_store import PredictionStore

    store = PredictionStore(workspace.predictions)
    curves = []
    runs = calibration.drop_duplicates(["model", "dataset", "shift", "prediction_key"])
    for run in runs.head(max_curves).itertuples(index=False):
        try:
            predictions = store.load(str(run.prediction_key))
            n_bins = _n_bins(calibration[calibration.model == run.model])
            curve = reliability_curve(softmax(predictions.logits), predictions.labels, n_bins=n_bins)
        except (RobustscopeError, OSError, ValueError) as err:
            warnings.warn(f"no reliability diagram for {run.model} on {run.dataset}/{run.shift}: {err}", stacklevel=2)
            continue
        curves.append((str(run.model), str(run.dataset), str(run.shift), curve))
    return curves


def report_from_store(
    workspace: Workspace,
    out_path: Path,
    models: Sequence[str] | None = None,
    title: str = "robustscope report",
) -> Path:
    """Write the HTML report (:func:`~robustscope.report.html.write_report`) of a workspace's results.

    ``models`` restricts the report to those model names. Raises ``RobustscopeError`` when the
    workspace holds no (matching) results.

    Example:
        >>> from robustscope.config import Workspace
        >>> report_from_store(Workspace(Path(".robustscope")), Path("report.html"))  # doctest: +SKIP
        PosixPath('report.html')
    """
    from robustscope.engine.result_store import ResultStore

    db = workspace.results_db
    if not Path(db).exists():
        raise RobustscopeError(f"no results at {db}; run `robustscope run` or `robustscope demo` first")
    store = ResultStore(db)
    rows = store.query(model=list(models)) if models else store.query()
    if rows.empty:
        which = f" for models {list(models)}" if models else ""
        raise RobustscopeError(f"no results{which} in {db}; run `robustscope run` or `robustscope demo` first")
    return write_report(rows, Path(out_path), reliability=reliability_from_store(workspace, rows), title=title)
