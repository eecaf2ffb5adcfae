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
- a single-label dataset with a ``region`` factor (the synthetic geography world's ``synth:geo:test``, suite
  ``geography-offline``) in any role but ``imagenet``: the same rows through the same code, an image being correct
  at top-k if its class is among the top k; its income groups are a categorical ``income`` factor's values
  (``low``/``mid``/``high``; :func:`~robustscope.metrics.geography.income_groups_of`).
- ``imagenet``: the ImageNet reference (``top1`` on ImageNet val), the x axis of the progress gap.
- any other role (``imagenet_r``, ``imagenet_sketch``, …): a standard benchmark (``top1``), whose slope the
  progress gap compares the geographic ones with.

:func:`progress_gap_table` (:mod:`robustscope.suites.progress_gap`) computes the progress gap from every model's
stored rows. Params: :class:`Params`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from robustscope.errors import LabelSpaceError, SpecError
from robustscope.metrics.geography import (
    disparity,
    disparity_ci,
    factor_error_ratio_table,
    geographic_topk_correct,
    group_accuracy,
    income_edges_for,
    income_group,
    income_groups_of,
    max_min_disparity,
)
from robustscope.suites.axis import Axis, Headline

# The progress gap is part of this axis's public face (docs/axes/geography.md imports it from here).
from robustscope.suites.progress_gap import (
    GEOGRAPHIC_BENCHMARKS,
    STANDARD_BENCHMARKS,
    ProgressGapTable,
    progress_gap_table,
    progress_points,
    progress_summary,
)

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = [
    "AXIS",
    "GEOGRAPHIC_BENCHMARKS",
    "STANDARD_BENCHMARKS",
    "Params",
    "ProgressGapTable",
    "geography_axis",
    "progress_gap_table",
    "progress_points",
    "progress_summary",
    "region_order",
]

PAPER = "Richards et al., Does Progress On Object Recognition Benchmarks Improve Real-World Generalization?, 2023"
FACTOR_PAPER = "Gustafson et al., Pinpointing Why Object Recognition Performance Degrades Across Income Levels and Geographies, 2023"  # noqa: E501
DEFAULT_SLICES = ("region", "income_group", "country")


@dataclass(frozen=True)
class Params:
    """Params of the ``geography`` axis.

    Attributes:
        income_edges: income bin edges: ``authors`` (195/685/1963), ``quartiles``, or three increasing numbers
            (default: the dataset's own bins).
        k: the top-k of the disparities and factor error ratios (5, as Richards et al.'s Dollar Street numbers).
        disparity: the two regions of the regional gap.
        slices: factor columns the accuracies are sliced by.
        factor_min_count: factor counts at or below it are zeroed in the factor error ratios.

    Example:
        >>> Params(income_edges=(200.0, 700.0, 2000.0)).k
        5
        >>> Params(income_edges="deciles")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: income_edges='deciles': use 'authors' ...
    """

    income_edges: str | tuple[float, ...] | None = None
    k: int = 5
    disparity: tuple[str, str] = ("Europe", "Africa")
    slices: tuple[str, ...] = DEFAULT_SLICES
    factor_min_count: int = 5

    def __post_init__(self) -> None:
        if self.income_edges is not None:
            income_edges_for(self.income_edges, [0.0])  # a bad value fails at suite load, before any forward pass
        if self.k < 1:
            raise SpecError(f"k={self.k}: top-k needs k >= 1")


def _is_geographic(dataset: Dataset) -> bool:
    return bool(dataset.metadata.get("external_labels")) and "imagenet_indices" in dataset.manifest.columns


def _is_single_label_geographic(role: str, dataset: Dataset) -> bool:
    """A dataset scored by its own classes whose images carry a region (the synthetic geography world)."""
    return role != "imagenet" and not dataset.metadata.get("external_labels") and "region" in dataset.manifest.columns


def _income_binning(params: Params, dataset: Dataset, factors: pd.DataFrame) -> dict[str, Any]:
    """Protocol fields naming the income edges; the ``income_edges`` parameter re-bins ``factors.income_group``."""
    choice = params.income_edges
    if choice is not None and "income" in factors.columns:
        income = pd.to_numeric(factors["income"], errors="coerce").to_numpy(dtype=np.float64)
        edges = income_edges_for(choice, income)
        factors["income_group"] = income_group(income, edges)
        named = {"paper": "authors"}.get(choice, choice) if isinstance(choice, str) else "custom"
        return {"income_edges": list(edges), "income_bins": named}
    if "income_group" in factors.columns and dataset.metadata.get("income_edges"):
        edges = [float(e) for e in dataset.metadata["income_edges"]]
        return {"income_edges": edges, "income_bins": str(dataset.metadata.get("income_bins", ""))}
    groups = income_groups_of(factors)
    if groups is not None and "income_group" not in factors.columns:
        factors["income_group"] = groups
        return {"income_bins": "the dataset's categorical income factor"}
    return {}


def _geographic_rows(ev: Evaluation, role: str, dataset: Dataset, params: Params) -> pd.DataFrame:
    predictions, key = ev.predict(dataset)
    multi_label = _is_geographic(dataset)
    if multi_label and predictions.logits.shape[1] != 1000:
        raise LabelSpaceError(
            f"dataset {dataset.name!r} scores ImageNet-1k index sets, but model {ev.model.name!r} has "
            f"{predictions.logits.shape[1]} outputs ({ev.model.label_space}); evaluate an ImageNet-1k model"
        )
    factors = predictions.factors.copy()
    binning = _income_binning(params, dataset, factors)
    target = {"index_sets": factors["imagenet_indices"].tolist()} if multi_label else {"labels": predictions.labels}
    k_main = params.k
    high, low = params.disparity
    slices = [s for s in params.slices if s in factors.columns]
    ks = sorted({1, 5, k_main})
    correct = {k: geographic_topk_correct(predictions.logits, k, **target).astype(float) for k in ks}
    base = {
        "paper": PAPER,
        "role": role,
        "kind": "geographic",
        "benchmark": dataset.metadata.get("benchmark", ""),
        **({} if multi_label else {"labels": "single label"}),
        **binning,
    }
    correct_if = "any of the top-{k} classes is in the image's ImageNet index set" if multi_label else (
        "the image's class is among the top-{k} classes")
    records: list[dict[str, Any]] = []
    for k in ks:
        protocol = {
            **base,
            "name": f"top{k}",
            "k": k,
            "definition": "correct if " + correct_if.format(k=k),
        }
        values = correct[k]
        records.append(ev.custom_row(f"top{k}", values.mean(), values.size, protocol, ev.bootstrap(np.mean, values)))
        for column in slices:
            table = group_accuracy(values, factors[column].tolist(), ev.n_resamples, ev.seed)
            for row in table.itertuples(index=False):
                records.append(
                    ev.custom_row(
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
        ci = disparity_ci(values, groups, statistic, ev.n_resamples, ev.seed)
        records.append(ev.custom_row(name, value, values.size, protocol, ci))
    records += _factor_rows(ev, factors, values, k_main, base, params)
    return ev.rows(pd.DataFrame(records), dataset, "none", key)


def _factor_rows(
    ev: Evaluation, factors: pd.DataFrame, correct: np.ndarray, k: int, base: dict[str, Any], params: Params
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
    min_count = params.factor_min_count
    groups: list[tuple[str, np.ndarray | None]] = [("", None)]
    for column in ("income_group", "region"):
        if column in factors.columns:
            values = factors[column].astype(str).to_numpy()[annotated]
            groups += [(f"[{column}={v}]", values == v) for v in sorted(set(values) - {"", "nan"})]
    records = []
    for suffix, group in groups:
        result = factor_error_ratio_table(table, mistakes, group, min_count, ev.n_resamples, ev.seed)
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
                    ev.custom_row(
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


def _reference_rows(ev: Evaluation, role: str, dataset: Dataset) -> pd.DataFrame:
    predictions, key = ev.predict(dataset)
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
    record = ev.custom_row("top1", correct.mean(), correct.size, protocol, ev.bootstrap(np.mean, correct))
    return ev.rows(pd.DataFrame([record]), dataset, "none", key)


def geography_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """Accuracy per region, income group and country, disparities, and reference accuracies for the progress gap.

    Richards et al. 2023 (Dollar Street, GeoDE): an image is correct at top-k if any top-k class is in its
    mapped ImageNet index set (a single-label dataset with regions: if its class is in the top k). See the module
    docstring for the roles and rows, :class:`Params` for the params.

    Example:
        >>> # run_suite(model, "geography", data_root="~/data")  → rows of axis "geography"
    """
    out = []
    for role, dataset in datasets.items():
        if _is_geographic(dataset) or _is_single_label_geographic(role, dataset):
            out.append(_geographic_rows(ev, role, dataset, params))
        else:
            out.append(_reference_rows(ev, role, dataset))
    return out


def region_order(values: Sequence[str]) -> list[str]:
    """Regions in a stable display order: Africa first, Europe last, others alphabetical between.

    Example:
        >>> region_order(["Europe", "Asia", "Africa", "Americas"])
        ['Africa', 'Americas', 'Asia', 'Europe']
    """
    rank = {"Africa": 0, "Europe": 2}
    return sorted(set(values), key=lambda v: (rank.get(v, 1), v))


AXIS = Axis(
    name="geography",
    title="Geography and income",
    summary="accuracy per region, income and country, disparities (Dollar Street, GeoDE; Richards et al. 2023)",
    paper=PAPER,
    params=Params,
    run=geography_axis,
    headlines=(
        Headline("top5", "none", "geo top-5"),
        Headline("disparity_europe_africa", "none", "geo Europe-Africa gap"),
    ),
    doc="docs/axes/geography.md",
)


