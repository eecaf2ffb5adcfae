"""The report of a whole workspace: result rows from its ResultStore, curves and histograms from its predictions.

No forward pass happens here: reliability diagrams and the OOD view's score histograms are
recomputed from the stored logits that each result row names through its ``prediction_key``
(an OOD row's key is ``"<id_key>+<ood_key>"``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.config import Workspace
from robustscope.errors import RobustscopeError
from robustscope.metrics.classification import ReliabilityCurve, reliability_curve, softmax
from robustscope.metrics.ood import ood_score
from robustscope.report.html import write_report
from robustscope.report.kit import HEADLINE_OOD_SCORE, ScoreHistogram, score_histogram
from robustscope.report.study_page import load_studies

if TYPE_CHECKING:
    from robustscope.suites.before_after import BeforeAfter

__all__ = [
    "mitigations_from_store",
    "models_from_store",
    "ood_histograms_from_store",
    "reliability_from_store",
    "report_from_store",
]

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
            same_run = (calibration.model == run.model) & (calibration.prediction_key == run.prediction_key)
            n_bins = _n_bins(calibration[same_run])
            curve = reliability_curve(softmax(predictions.logits), predictions.labels, n_bins=n_bins)
        except (RobustscopeError, OSError, ValueError) as err:
            warnings.warn(f"no reliability diagram for {run.model} on {run.dataset}/{run.shift}: {err}", stacklevel=2)
            continue
        curves.append((str(run.model), str(run.dataset), str(run.shift), curve))
    return curves


def ood_histograms_from_store(
    workspace: Workspace,
    rows: pd.DataFrame,
    score: str = HEADLINE_OOD_SCORE,
    bins: int = 40,
    max_charts: int = 48,
) -> list[ScoreHistogram]:
    """Histograms of the ID and OOD scores behind each (model, OOD set) of the suite OOD rows.

    OOD-axis rows (``axis == "ood"``) carry the prediction key ``"<id_key>+<ood_key>"``; both logits are
    read from the workspace's PredictionStore and scored with :func:`robustscope.metrics.ood.ood_score`
    (``score``: the seed benchmark's ``entropy`` by default). A pair whose predictions are gone is
    skipped with a warning. At most ``max_charts`` histograms, in row order.

    Example:
        >>> from robustscope.config import Workspace
        >>> ood_histograms_from_store(Workspace(Path("/nonexistent")), pd.DataFrame(columns=["axis"]))
        []
        >>> ood_histograms_from_store(Workspace(Path(".robustscope")), rows)  # doctest: +SKIP
        [ScoreHistogram(model='m', id_dataset='synth:demo:test-id', ood_dataset='synth:demo:ood', ...)]
    """
    if rows.empty or not {"axis", "prediction_key"} <= set(rows.columns):
        return []
    ood = rows[(rows.axis == "ood") & rows.prediction_key.astype(str).str.contains("+", regex=False)]
    if ood.empty:
        return []
    from robustscope.engine.prediction_store import PredictionStore

    store = PredictionStore(workspace.predictions)
    cache: dict[str, np.ndarray | Exception] = {}

    def scores(key: str) -> np.ndarray | Exception:
        """The key's scores, or the error loading it raised (each key is read once)."""
        if key not in cache:
            try:
                cache[key] = ood_score(store.load(key).logits, score)  # type: ignore[arg-type]
            except (RobustscopeError, OSError, ValueError) as err:
                cache[key] = err
        return cache[key]

    histograms = []
    for run in ood.drop_duplicates(["model", "dataset", "prediction_key"]).head(max_charts).itertuples(index=False):
        id_key, _, ood_key = str(run.prediction_key).partition("+")
        id_scores, ood_scores = scores(id_key), scores(ood_key)
        failed = next((s for s in (id_scores, ood_scores) if isinstance(s, Exception)), None)
        if failed is not None:
            warnings.warn(f"no OOD score histogram for {run.model} on {run.dataset}: {failed}", stacklevel=2)
            continue
        id_name = _protocol_id_dataset(rows, run)
        histograms.append(
            score_histogram(str(run.model), id_name, str(run.dataset), id_scores, ood_scores, score, bins)
        )
    return histograms


def _protocol_id_dataset(rows: pd.DataFrame, run: object) -> str:
    """The ID set an OOD row names in its protocol (``id_dataset``), else ``"ID"``."""
    same = rows[(rows.model == run.model) & (rows.dataset == run.dataset) & (rows.axis == "ood")]
    for protocol in same.protocol if "protocol" in same.columns else []:
        try:
            name = json.loads(protocol).get("id_dataset")
        except (TypeError, ValueError, AttributeError):
            continue
        if name:
            return str(name)
    return "ID"


def models_from_store(workspace: Workspace, rows: pd.DataFrame) -> list[dict[str, object]]:
    """The ``Model.describe()`` record of each model in ``rows``, read from its predictions' metadata.

    One per model fingerprint, in row order; a key whose metadata is gone or unreadable is skipped
    (the report then lists fewer models, its numbers stay valid).

    Example:
        >>> from robustscope.config import Workspace
        >>> models_from_store(Workspace(Path("/nonexistent")), pd.DataFrame(columns=["prediction_key"]))
        []
    """
    if rows.empty or "prediction_key" not in rows.columns:
        return []
    from robustscope.engine.prediction_store import PredictionStore

    store = PredictionStore(workspace.predictions)
    models: dict[str, dict[str, object]] = {}
    keys = rows.drop_duplicates("model_fingerprint") if "model_fingerprint" in rows.columns else rows
    for key in keys["prediction_key"].astype(str):
        first_key = key.split("+")[0]  # an OOD row names "<id_key>+<ood_key>"
        try:
            info = dict(store.read_meta(first_key).get("model") or {})
        except (RobustscopeError, OSError, ValueError):
            continue
        models.setdefault(str(info.get("fingerprint") or info.get("name")), info)
    return list(models.values())


def label_private_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``" (private)"`` appended to the model name of every row computed under MPC.

    A private run of a model writes rows next to its plaintext rows (the protocol is part of their
    identity); views that keep one row per model would otherwise show whichever was written last.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "private": [False, True], "value": [0.9, 0.9]})
        >>> label_private_runs(rows)["model"].tolist()
        ['m', 'm (private)']
    """
    if "private" not in rows.columns:
        return rows
    private = rows["private"].fillna(False).astype(bool)
    if not private.any():
        return rows
    rows = rows.copy()
    rows.loc[private, "model"] = rows.loc[private, "model"].astype(str) + " (private)"
    return rows


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
    rows = label_private_runs(rows)
    suite = rows["suite"].fillna("").astype(str) if "suite" in rows.columns else pd.Series("", index=rows.index)
    axis = rows["axis"].fillna("").astype(str) if "axis" in rows.columns else pd.Series("", index=rows.index)
    in_suite = rows[suite != ""]
    return write_report(
        rows,
        Path(out_path),
        reliability=reliability_from_store(workspace, rows[suite == ""]),
        title=title,
        suite_reliability=reliability_from_store(workspace, in_suite[axis[suite != ""] == "calibration"]),
        score_histograms=ood_histograms_from_store(workspace, in_suite),
        models=models_from_store(workspace, rows),
        mitigations=mitigations_from_store(workspace, in_suite),
        studies=load_studies(workspace.root),
    )


def mitigations_from_store(workspace: Workspace, rows: pd.DataFrame, n_resamples: int = 1000) -> list[BeforeAfter]:
    """The before/after table of every mitigated model in ``rows`` whose base is there too (the mitigation view).

    Read from stored predictions only (:func:`robustscope.suites.before_after.mitigations_in_store`); a store
    without a mitigated model and its base gives ``[]``, and the report is then the same as before.

    Example:
        >>> from robustscope.config import Workspace
        >>> mitigations_from_store(Workspace(Path("/nonexistent")), pd.DataFrame(columns=["prediction_key"]))
        []
    """
    if rows.empty or "prediction_key" not in rows.columns:
        return []
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.suites.before_after import mitigations_in_store

    return mitigations_in_store(rows, PredictionStore(workspace.predictions), n_resamples=n_resamples)
