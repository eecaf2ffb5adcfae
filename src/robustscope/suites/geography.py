"""The ``geography`` axis: accuracy across regions, incomes and countries, disparities, and the progress gap.

Richards, Kirichenko, Bouchacourt & Ibrahim, "Does Progress On Object Recognition Benchmarks Improve Real-World
Generalization?", 2023 (Dollar Street, GeoDE), and Gustafson et al., "Pinpointing Why Object Recognition
Performance Degrades Across Income Levels and Geographies", 2023 (Dollar Street factor annotations). The metric
functions are in :mod:`robustscope.metrics.geography`; ``docs/axes/geography.md`` gives the protocol.

Roles of the axis's datasets:

- ``dollar_street``, ``geode`` (any dataset with ``external_labels`` and an ``imagenet_indices`` column): the
  geographic benchmarks. Rows: ``top1`` and ``top5`` (multi-label: correct if any top-k class is in the image's
  ImageNet index set), overall and sliced by ``region``, ``income_group`` and ``country`` (the ``slices``
  parameter), ``disparity_europe_africa`` = acc(Europe) − acc(Africa), ``disparity_max_min`` over regions and
  ``disparity_income`` = acc(high) − acc(low) income group, all at top-``k`` (parameter ``k``, default 5, the
  accuracy Richards et al.'s Dollar Street evaluation reports). Income groups: bins at the ``income_edges``
  parameter (default ``authors``: 195 / 685 / 1963), recorded in every row's protocol. With factor annotations:
  ``factor_error_ratio`` per factor (slice ``factor``) over all images and ``factor_error_ratio[GROUP=VALUE]``
  per income group and region, from the top-``k`` mistakes.
- ``imagenet``: the ImageNet reference (``top1`` on ImageNet val), the x axis of the progress gap.
- any other role (``imagenet_r``, ``imagenet_sketch``, …): a standard benchmark (``top1``), whose slope the
  progress gap compares the geographic ones with.

:func:`progress_gap_table` computes the progress gap from every model's stored rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.errors import LabelSpaceError
from robustscope.metrics.geography import (
    disparity,
    disparity_ci,
    effective_robustness,
    factor_error_ratio_table,
    group_accuracy,
    income_edges_for,
    income_group,
    max_min_disparity,
    multilabel_topk_correct,
    progress_gap,
    progress_slopes,
)
from robustscope.suites.axes import AxisContext
from robustscope.suites.spec import AxisSpec

__all__ = [
    "GEOGRAPHIC_BENCHMARKS",
    "HEADLINES",
    "STANDARD_BENCHMARKS",
    "ProgressGapTable",
    "geography_axis",
    "progress_gap_table",
    "progress_points",
    "progress_summary",
]

#: Headline numbers in the suite table (means over the axis's geographic datasets).
HEADLINES: tuple[tuple[str, str, str, str], ...] = (
    ("geography", "top5", "none", "geo top-5"),
    ("geography", "disparity_europe_africa", "none", "geo Europe-Africa gap"),
)
PAPER = "Richards et al., Does Progress On Object Recognition Benchmarks Improve Real-World Generalization?, 2023"
FACTOR_PAPER = "Gustafson et al., Pinpointing Why Object Recognition Performance Degrades Across Income Levels and Geographies, 2023"  # noqa: E501
#: Dataset-name prefixes (``scheme:``) of the geographic benchmarks and of the standard ImageNet shifts.
GEOGRAPHIC_BENCHMARKS = ("dollar-street", "geode")
STANDARD_BENCHMARKS = ("imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a")
REFERENCE_BENCHMARK = "imagenet-val"
DEFAULT_SLICES = ("region", "income_group", "country")


def _is_geographic(dataset: Dataset) -> bool:
    return bool(dataset.metadata.get("external_labels")) and "imagenet_indices" in dataset.manifest.columns


def _income_binning(spec: AxisSpec, dataset: Dataset, factors: pd.DataFrame) -> dict[str, Any]:
    """Protocol fields naming the income edges; the ``income_edges`` parameter re-bins ``factors.income_group``."""
    choice = spec.params.get("income_edges")
    if choice is not None and "income" in factors.columns:
        income = pd.to_numeric(factors["income"], errors="coerce").to_numpy(dtype=np.float64)
        edges = income_edges_for(choice, income)
        factors["income_group"] = income_group(income, edges)
        named = {"paper": "authors"}.get(choice, choice) if isinstance(choice, str) else "custom"
        return {"income_edges": list(edges), "income_bins": named}
    if "income_group" in factors.columns and dataset.metadata.get("income_edges"):
        edges = [float(e) for e in dataset.metadata["income_edges"]]
        return {"income_edges": edges, "income_bins": str(dataset.metadata.get("income_bins", ""))}
    return {}


def _geographic_rows(ctx: AxisContext, role: str, dataset: Dataset, spec: AxisSpec) -> pd.DataFrame:
    predictions, key = ctx.predict(dataset)
    if predictions.logits.shape[1] != 1000:
        raise LabelSpaceError(
            f"dataset {dataset.name!r} scores ImageNet-1k index sets, but model {ctx.model.name!r} has "
            f"{predictions.logits.shape[1]} outputs ({ctx.model.label_space}); evaluate an ImageNet-1k model"
        )
    factors = predictions.factors.copy()
    binning = _income_binning(spec, dataset, factors)
    sets = factors["imagenet_indices"].tolist()
    k_main = int(spec.params.get("k", 5))
    high, low = spec.params.get("disparity", ["Europe", "Africa"])
    slices = [s for s in spec.params.get("slices", DEFAULT_SLICES) if s in factors.columns]
    correct = {k: multilabel_topk_correct(predictions.logits, sets, k).astype(float) for k in sorted({1, 5, k_main})}
    base = {
        "paper": PAPER,
        "role": role,
        "kind": "geographic",
        "benchmark": dataset.metadata.get("benchmark", ""),
        **binning,
    }
    records: list[dict[str, Any]] = []
    for k in sorted({1, 5, k_main}):
        protocol = {
            **base,
            "name": f"top{k}",
            "k": k,
            "definition": f"correct if any of the top-{k} classes is in the image's ImageNet index set",
        }
        values = correct[k]
        records.append(ctx.custom_row(f"top{k}", values.mean(), values.size, protocol, ctx.bootstrap(np.mean, values)))
        for column in slices:
            table = group_accuracy(values, factors[column].tolist(), ctx.n_resamples, ctx.seed)
            for row in table.itertuples(index=False):
                records.append(
                    ctx.custom_row(
                        f"top{k}",
                        row.value,
                        row.n,
                        protocol,
                        (row.ci_low, row.ci_high),
                        slice_factor=column,
                        slice_value=str(row.group),
                    )
                )
    values = correct[k_main]
    gaps = []
    if "region" in factors.columns:
        regions = factors["region"].astype(str).tolist()
        gaps += [
            ("disparity_europe_africa", regions, lambda a: disparity(a, high, low), f"acc({high}) - acc({low})"),
            ("disparity_max_min", regions, max_min_disparity, "max - min accuracy over regions"),
        ]
    if "income_group" in factors.columns:
        incomes = factors["income_group"].astype(str).tolist()
        gaps.append(("disparity_income", incomes, lambda a: disparity(a, "high", "low"), "acc(high) - acc(low) income"))
    for name, groups, statistic, definition in gaps:
        by_group = {str(r.group): r.value for r in group_accuracy(values, groups, 0).itertuples(index=False)}
        value = statistic(by_group)
        if not np.isfinite(value):
            continue
        protocol = {
            **base,
            "name": name,
            "k": k_main,
            "definition": definition,
            "ci_resampling": "images resampled within each group (stratified)",
        }
        ci = disparity_ci(values, groups, statistic, ctx.n_resamples, ctx.seed)
        records.append(ctx.custom_row(name, value, values.size, protocol, ci))
    records += _factor_rows(ctx, factors, values, k_main, base, spec)
    return ctx.rows(pd.DataFrame(records), spec.axis, dataset, "none", key)


def _factor_rows(
    ctx: AxisContext, factors: pd.DataFrame, correct: np.ndarray, k: int, base: dict[str, Any], spec: AxisSpec
) -> list[dict[str, Any]]:
    """Factor error ratios (Gustafson et al. 2023) where the dataset carries ``factor_*`` annotations."""
    names = [c for c in factors.columns if c.startswith("factor_")]
    if not names:
        return []
    table = factors[names].apply(pd.to_numeric, errors="coerce")
    annotated = table.notna().all(axis=1).to_numpy()
    if not annotated.any():
        return []
    table = table[annotated].rename(columns=lambda c: c[len("factor_") :]).reset_index(drop=True)
    mistakes = correct[annotated] == 0
    min_count = int(spec.params.get("factor_min_count", 5))
    groups: list[tuple[str, np.ndarray | None]] = [("", None)]
    for column in ("income_group", "region"):
        if column in factors.columns:
            values = factors[column].astype(str).to_numpy()[annotated]
            groups += [(f"[{column}={v}]", values == v) for v in sorted(set(values) - {"", "nan"})]
    records = []
    for suffix, group in groups:
        result = factor_error_ratio_table(table, mistakes, group, min_count, ctx.n_resamples, ctx.seed)
        protocol = {
            **base,
            "name": "factor_error_ratio",
            "paper": FACTOR_PAPER,
            "k": k,
            "min_count": min_count,
            "definition": "(p_group(f) - p_total(f)) / p_total(f); p_group over the group's top-k mistakes, "
            "p_total over all annotated images; counts <= min_count zeroed",
        }
        for row in result.itertuples(index=False):
            if np.isfinite(row.value):
                records.append(
                    ctx.custom_row(
                        f"factor_error_ratio{suffix}",
                        row.value,
                        row.n_mistakes,
                        protocol,
                        (row.ci_low, row.ci_high),
                        slice_factor="factor",
                        slice_value=str(row.factor),
                    )
                )
    return records


def _reference_rows(ctx: AxisContext, role: str, dataset: Dataset, spec: AxisSpec) -> pd.DataFrame:
    predictions, key = ctx.predict(dataset)
    correct = (predictions.logits.argmax(axis=1) == predictions.labels).astype(float)
    kind = "reference" if role == "imagenet" else "standard"
    protocol = {
        "name": "top1",
        "role": role,
        "kind": kind,
        "paper": PAPER,
        "definition": "top-1 accuracy (in the dataset's own classes where it has label sets)",
        "use": "x axis of the progress gap" if kind == "reference" else "standard benchmark of the gap",
    }
    record = ctx.custom_row("top1", correct.mean(), correct.size, protocol, ctx.bootstrap(np.mean, correct))
    return ctx.rows(pd.DataFrame([record]), spec.axis, dataset, "none", key)


def geography_axis(ctx: AxisContext, datasets: dict[str, Dataset], spec: AxisSpec) -> list[pd.DataFrame]:
    """Accuracy per region, income group and country, disparities, and reference accuracies for the progress gap.

    Richards et al. 2023 (Dollar Street, GeoDE): an image is correct at top-k if any top-k class is in its
    mapped ImageNet index set. See the module docstring for the roles and rows; parameters: ``k`` (the top-k of
    the disparities and factor error ratios, default 5), ``slices`` (default region, income_group, country),
    ``disparity`` (the two regions of the regional gap, default ``[Europe, Africa]``), ``factor_min_count``,
    ``income_edges`` (``authors`` = 195/685/1963, ``quartiles``, or three increasing numbers; checked before any
    forward pass).

    Example:
        >>> # run_suite(model, "geography", data_root="~/data")  → rows of axis "geography"
    """
    if spec.params.get("income_edges") is not None:
        income_edges_for(spec.params["income_edges"], [0.0])  # a bad value fails here, before any forward pass
    out = []
    for role, dataset in datasets.items():
        if _is_geographic(dataset):
            out.append(_geographic_rows(ctx, role, dataset, spec))
        else:
            out.append(_reference_rows(ctx, role, dataset, spec))
    return out


# -- progress gap across models -------------------------------------------------------------------------
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


def region_order(values: Sequence[str]) -> list[str]:
    """Regions in a stable display order: Africa first, Europe last, others alphabetical between.

    Example:
        >>> region_order(["Europe", "Asia", "Africa", "Americas"])
        ['Africa', 'Americas', 'Asia', 'Europe']
    """
    rank = {"Africa": 0, "Europe": 2}
    return sorted(set(values), key=lambda v: (rank.get(v, 1), v))
