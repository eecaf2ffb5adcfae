"""The progress gap across models (Richards et al. 2023): do ImageNet gains carry over to geographic benchmarks?

Across many models, each benchmark's accuracy is fitted against ImageNet top-1; the progress gap is the ratio
of the slopes of a standard benchmark (ImageNet-V2, -Sketch, -R, -A) and a geographic one (Dollar Street,
GeoDE). It reads the rows the ``geography`` axis (:mod:`robustscope.suites.geography`) stores for each model;
the fits are :mod:`robustscope.metrics.geography`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.metrics.geography import effective_robustness, progress_gap, progress_slopes

__all__ = [
    "GEOGRAPHIC_BENCHMARKS",
    "REFERENCE_BENCHMARK",
    "STANDARD_BENCHMARKS",
    "ProgressGapTable",
    "progress_gap_table",
    "progress_points",
    "progress_summary",
]

#: Dataset-name prefixes (``scheme:``) of the geographic benchmarks and of the standard ImageNet shifts.
GEOGRAPHIC_BENCHMARKS = ("dollar-street", "geode")
STANDARD_BENCHMARKS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a")
REFERENCE_BENCHMARK = "imagenet-val"


def _kind(dataset: str) -> tuple[str, str]:
    """(benchmark, kind) of a result row's dataset name (``scheme:PATH``): geographic, standard or reference."""
    scheme = str(dataset).split(":", 1)[0]
    if scheme in GEOGRAPHIC_BENCHMARKS:
        return scheme, "geographic"
    if scheme in STANDARD_BENCHMARKS:
        return scheme, "standard"
    if scheme == REFERENCE_BENCHMARK:
        return scheme, "reference"
    return scheme, ""


def _protocol_kind(protocol: Any) -> str:
    try:
        return str(json.loads(protocol).get("kind", ""))
    except (TypeError, ValueError, AttributeError):
        return ""


def progress_points(rows: pd.DataFrame, geo_metric: str = "top5") -> pd.DataFrame:
    """One row per (model, benchmark) with the model's ImageNet top-1: the input of the progress-gap fits.

    From result rows (any axis, whole-set, clean): ImageNet top-1 is ``top1`` on ``imagenet-val:…`` datasets (or
    rows whose protocol says ``kind: reference``); the geographic benchmarks' accuracy is ``geo_metric`` on
    ``dollar-street:…`` and ``geode:…``; the standard ones' is ``top1`` on ImageNet-V2, -Sketch, -R and -A. Where
    a model has several rows for one benchmark (several axes), they are averaged.

    Returns:
        ``model, imagenet_acc, benchmark, kind, acc`` (only models with an ImageNet top-1).

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "dataset": ["imagenet-val:/d/val", "geode:/d/geode"],
        ...     "metric": ["top1", "top5"], "slice_factor": ["", ""], "shift": ["none", "none"], "value": [0.8, 0.6]})
        >>> progress_points(rows).values.tolist()
        [['m', 0.8, 'geode', 'geographic', 0.6]]
    """
    columns = ["model", "imagenet_acc", "benchmark", "kind", "acc"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    whole = rows[(rows["slice_factor"].astype(str) == "") & (rows["shift"].astype(str) == "none")].copy()
    kinds = [_kind(d) for d in whole["dataset"]]
    whole["benchmark"] = [k[0] for k in kinds]
    whole["kind"] = [k[1] for k in kinds]
    if "protocol" in whole.columns:
        by_protocol = [_protocol_kind(p) for p in whole["protocol"]]
        whole["kind"] = [
            p if p in ("reference", "standard") and not k else k
            for p, k in zip(by_protocol, whole["kind"], strict=True)
        ]
    reference = whole[(whole["kind"] == "reference") & (whole["metric"] == "top1")]
    imagenet = reference.groupby("model")["value"].mean()
    chosen = whole[
        ((whole["kind"] == "geographic") & (whole["metric"] == geo_metric))
        | ((whole["kind"] == "standard") & (whole["metric"] == "top1"))
    ]
    if chosen.empty or imagenet.empty:
        return pd.DataFrame(columns=columns)
    points = chosen.groupby(["model", "benchmark", "kind"], sort=False)["value"].mean().reset_index(name="acc")
    points = points[points["model"].isin(imagenet.index)]
    points.insert(1, "imagenet_acc", points["model"].map(imagenet).astype(float))
    return points[columns].reset_index(drop=True)


@dataclass
class ProgressGapTable:
    """The progress gap across models (Richards et al. 2023).

    Attributes:
        points: ``model, imagenet_acc, benchmark, kind, acc, predicted, effective_robustness`` (one per model and
            benchmark; effective robustness = residual from the benchmark's line).
        slopes: per benchmark, ``benchmark, kind, slope, slope_ci_low, slope_ci_high, intercept, r, n_models``.
        gaps: per (standard, geographic) pair, ``standard, geographic, progress_gap, ci_low, ci_high, n_models``
            where progress_gap = slope(standard) / slope(geographic); with several standard benchmarks, the row
            ``standard = "mean"`` uses each model's mean over them (models having all of them).
    """

    points: pd.DataFrame
    slopes: pd.DataFrame
    gaps: pd.DataFrame


def progress_summary(points: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> ProgressGapTable:
    """Slopes per benchmark, gaps per (standard, geographic) pair and effective robustness from progress points.

    Example:
        >>> points = pd.DataFrame({"model": ["a", "b", "c"] * 2, "imagenet_acc": [0.6, 0.7, 0.8] * 2,
        ...     "benchmark": ["imagenet-r"] * 3 + ["geode"] * 3, "kind": ["standard"] * 3 + ["geographic"] * 3,
        ...     "acc": [0.3, 0.5, 0.7, 0.50, 0.52, 0.54]})
        >>> summary = progress_summary(points, n_resamples=0)
        >>> summary.gaps[["standard", "geographic", "progress_gap"]].round(6).values.tolist()
        [['imagenet-r', 'geode', 10.0]]
    """
    slope_columns = ["benchmark", "kind", "slope", "slope_ci_low", "slope_ci_high", "intercept", "r", "n_models"]
    gap_columns = ["standard", "geographic", "progress_gap", "ci_low", "ci_high", "n_models"]
    if points.empty:
        return ProgressGapTable(
            points.assign(predicted=[], effective_robustness=[]),
            pd.DataFrame(columns=slope_columns),
            pd.DataFrame(columns=gap_columns),
        )
    # The fits drop rows without both accuracies; dropping them here keeps the fitted columns aligned.
    table = points.dropna(subset=["imagenet_acc", "acc"]).reset_index(drop=True)
    fitted = effective_robustness(table[["model", "imagenet_acc", "benchmark", "acc"]])
    table = table.assign(
        predicted=fitted["predicted"].to_numpy(), effective_robustness=fitted["effective_robustness"].to_numpy()
    )
    kind_of = dict(zip(table["benchmark"], table["kind"], strict=False))
    slopes = progress_slopes(table, n_resamples=n_resamples, seed=seed)
    slopes.insert(1, "kind", slopes["benchmark"].map(kind_of))
    standard = [b for b in pd.unique(table["benchmark"]) if kind_of[b] == "standard"]
    geographic = [b for b in pd.unique(table["benchmark"]) if kind_of[b] == "geographic"]
    records = []
    for target in geographic:
        pairs = [(s, [s]) for s in standard] + ([("mean", standard)] if len(standard) > 1 else [])
        for name, reference in pairs:
            gap = progress_gap(table, reference, target, n_resamples=n_resamples, seed=seed)
            records.append(
                {
                    "standard": name,
                    "geographic": target,
                    "progress_gap": gap.value,
                    "ci_low": gap.ci[0],
                    "ci_high": gap.ci[1],
                    "n_models": gap.n_models,
                }
            )
    return ProgressGapTable(table, slopes[slope_columns], pd.DataFrame(records, columns=gap_columns))


def progress_gap_table(
    store: Any = None, geo_metric: str = "top5", n_resamples: int = 1000, seed: int = 0
) -> ProgressGapTable:
    """The progress gap across every model in a ResultStore with geographic rows and an ImageNet top-1.

    Richards et al. 2023: across models, fit each benchmark's accuracy against ImageNet top-1 and compare the
    slopes of standard benchmarks (ImageNet-V2, -Sketch, -R, -A) with those of Dollar Street and GeoDE.

    Args:
        store: a :class:`~robustscope.engine.ResultStore`, a ``.duckdb`` path, a workspace folder, or None (the
            current workspace).
        geo_metric: the accuracy of the geographic benchmarks (``top5``, as the authors' Dollar Street
            evaluation reports, or ``top1``).
        n_resamples: bootstrap resamples of models for the slope and gap CIs.

    Example:
        >>> table = progress_gap_table("path/to/results.duckdb")  # doctest: +SKIP
        >>> table.gaps  # doctest: +SKIP
    """
    from robustscope.config import Workspace, workspace
    from robustscope.engine import ResultStore

    if isinstance(store, ResultStore):
        results = store
    elif isinstance(store, Workspace):
        results = ResultStore(store.results_db)
    elif store is not None and Path(store).suffix == ".duckdb":
        results = ResultStore(store)
    else:
        results = ResultStore(workspace(store).results_db)
    rows = results.query(metric=["top1", geo_metric], slice_factor="", shift="none")
    return progress_summary(progress_points(rows, geo_metric), n_resamples=n_resamples, seed=seed)
