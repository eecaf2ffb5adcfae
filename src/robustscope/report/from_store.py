"""Build the HTML report from what the stores hold: no forward pass, seconds of work."""

from __future__ import annotations

import json
from pathlib import Path

from robustscope.config import Workspace
from robustscope.engine import PredictionStore, ResultStore
from robustscope.metrics.classification import reliability_curve, softmax
from robustscope.report.html import write_report

#: Bins of the reliability diagrams when the stored ECE rows do not say.
DEFAULT_RELIABILITY_BINS = 15


def report_from_store(ws: Workspace, out_path: Path, models: list[str] | None = None,
                      title: str = "robustscope report") -> Path:
    """Write the HTML report of every result in the workspace (or of some models).

    Reliability diagrams are recomputed from stored predictions, with the bin count of the
    stored ``ece`` protocol.

    Example:
        >>> from robustscope.config import workspace
        >>> report_from_store(workspace(), Path("report.html"))  # doctest: +SKIP
        PosixPath('report.html')
    """
    results = ResultStore(ws.results_db).query()
    if models:
        results = results[results["model"].isin(models)]
    if results.empty:
        raise FileNotFoundError(
            f"no results in {ws.results_db}; run `robustscope run` or `robustscope demo` first"
        )
    predictions = PredictionStore(ws.predictions)
    curves = []
    whole = results[(results["slice_factor"] == "") & (results["metric"].str.startswith("ece"))]
    for (model, dataset, shift, key), rows in whole.groupby(["model", "dataset", "shift", "prediction_key"]):
        protocol = json.loads(rows["protocol"].iloc[0])
        n_bins = int(protocol.get("parameters", {}).get("n_bins", DEFAULT_RELIABILITY_BINS))
        stored = predictions.load(key)
        curves.append((model, dataset, shift, reliability_curve(softmax(stored.logits), stored.labels, n_bins)))
    return write_report(results, out_path, reliability=curves, title=title)
