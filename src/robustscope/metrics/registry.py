"""Named metrics (:data:`METRICS`), and :func:`compute_metrics`, which turns logits into result rows.

A name stands for a :class:`~robustscope.metrics.metric.Metric` (a function with the protocol its number
follows; the built-in ones are constructed in :mod:`robustscope.metrics.metric`). That protocol travels into
every result row as JSON together with how its confidence interval was computed, so a stored number always
says what it means. :func:`compare_metric` tests one model against another on a named metric.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import (
    CI_METHOD,
    PairedBootstrapTest,
    bootstrap_ci,
    bootstrap_distribution,
    paired_test_result,
    percentile_interval,
    resample_indices,
)
from robustscope.metrics.calibration import adaptive_ece, classwise_ece
from robustscope.metrics.classification import softmax, validate_scores
from robustscope.metrics.metric import (
    GUO_PAPER,
    Metric,
    binned_calibration_metric,
    brier_metric,
    ece_metric,
    nll_metric,
    topk_metric,
)
from robustscope.metrics.slicing import natural_key
from robustscope.registry import Registry

__all__ = ["METRICS", "METRIC_COLUMNS", "compare_metric", "compute_metrics", "get_metric"]

METRIC_COLUMNS = ["metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high", "n", "protocol"]
"""The columns :func:`compute_metrics` returns: the metric part of a result row (the whole row is
:data:`robustscope.engine.RESULT_COLUMNS`, completed by :class:`robustscope.engine.evaluation.Evaluation`)."""


METRICS: Registry[Metric] = Registry("metric")
"""Metric name -> zero-argument factory returning the :class:`Metric`."""

METRICS.add("top1", partial(topk_metric, 1), summary="top-1 accuracy")
METRICS.add("top5", partial(topk_metric, 5), summary="top-5 accuracy (k clipped to the number of classes)")
METRICS.add("ece", partial(ece_metric, "ece", 15, GUO_PAPER + "; 15 bins as in ImageNet-X (Idrissi et al., ICLR 2023)"),
            summary="expected calibration error, 15 bins")
METRICS.add(
    "ece20",
    partial(
        ece_metric,
        "ece20",
        20,
        GUO_PAPER + "; 20 bins as in 'Is Synthetic Data all We Need? Benchmarking the Robustness of Models "
        "Trained with Synthetic Images' (CVPR 2024 Workshop SyntaGen)",
    ),
    summary="expected calibration error, 20 bins (synthetic-clone benchmark)",
)
_NIXON = "Nixon et al., Measuring Calibration in Deep Learning, CVPR Workshops 2019"
_KULL = "Kull et al., Beyond temperature scaling, NeurIPS 2019"
for _bins, _suffix in ((15, ""), (20, "20")):  # 20 bins: the synthetic-clone benchmark's setting
    METRICS.add(
        f"adaptive_ece{_suffix}",
        partial(binned_calibration_metric, f"adaptive_ece{_suffix}", adaptive_ece, _bins,
                f"{_bins} equal-mass bins over top-1 confidence", _NIXON, f"adaptive (equal-mass) ECE, {_bins} bins"),
        summary=f"adaptive (equal-mass) ECE, {_bins} bins",
    )
    METRICS.add(
        f"classwise_ece{_suffix}",
        partial(binned_calibration_metric, f"classwise_ece{_suffix}", classwise_ece, _bins,
                f"per class, {_bins} equal-width bins over that class's probability", _KULL,
                f"class-wise ECE, {_bins} bins"),
        summary=f"class-wise ECE, {_bins} bins",
    )
METRICS.add("nll", nll_metric, summary="negative log-likelihood")
METRICS.add("brier", brier_metric, summary="multi-class Brier score")


def get_metric(name: str) -> Metric:
    """The registered :class:`Metric` called ``name``; unknown names raise ``UnknownNameError`` with near misses.

    Example:
        >>> get_metric("ece20").protocol["parameters"]["n_bins"]
        20
        >>> try:
        ...     get_metric("tpo1")
        ... except KeyError as err:
        ...     print(err)
        unknown metric 'tpo1'; did you mean 'top1'?
    """
    return METRICS.get(name)()


def _slice_groups(column: pd.Series) -> list[tuple[str, np.ndarray]]:
    """(value as str, row indices) per distinct non-missing value, in natural value order."""
    present = column.notna().to_numpy()
    values = column[present]
    try:
        distinct = sorted(pd.unique(values), key=natural_key)
    except TypeError:  # mixed types: fall back to their string order
        distinct = sorted(pd.unique(values), key=str)
    raw = column.to_numpy()
    groups = []
    for v in distinct:
        rows = np.flatnonzero(present & (raw == v))
        groups.append((str(v), rows))
    # Two values may stringify alike (1 and "1"); merge them so slice_value stays a key.
    merged: dict[str, np.ndarray] = {}
    for key, rows in groups:
        merged[key] = np.union1d(merged[key], rows) if key in merged else rows
    return list(merged.items())


def _shared_bootstrap(
    prepared: list[tuple[Metric, Any, Any, str]],
    fast: dict[int, tuple[np.ndarray, ...]],
    n: int,
    n_resamples: int,
    seed: int,
) -> dict[int, np.ndarray]:
    """Bootstrap distributions of every fast metric on one slice, drawing the resamples once.

    The indices are those :func:`bootstrap_ci` would draw with the same seed, so the intervals
    are identical to bootstrapping each metric separately, at a fraction of the cost.
    """
    dists = {m_i: np.empty(n_resamples) for m_i in fast}
    if not fast or n_resamples == 0:
        return dists
    done = 0
    for idx in resample_indices(n, n_resamples, seed):
        for m_i, arrays in fast.items():
            dists[m_i][done : done + idx.shape[0]] = prepared[m_i][0].batched(*(a[idx] for a in arrays))  # type: ignore[misc]
        done += idx.shape[0]
    return dists


def compute_metrics(
    logits: np.ndarray,
    labels: np.ndarray,
    factors: pd.DataFrame | None,
    metrics: Sequence[str],
    slice_by: Sequence[str] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Compute ``metrics`` on the whole set and on every value of every ``slice_by`` factor.

    Returns the columns ``metric, slice_factor, slice_value, value, ci_low, ci_high, n, protocol``
    of the "Result rows" schema (docs/architecture.md): first the whole set (``slice_factor`` and
    ``slice_value`` empty), then one row per (factor, value), values cast to ``str`` and sorted in
    their natural order; rows whose factor is missing (NaN/None) belong to no slice. The CI is a
    percentile bootstrap (:func:`~robustscope.metrics.bootstrap.bootstrap_ci`) over samples with the
    same ``seed`` for every metric and slice; ``n_resamples=0`` skips it (NaN bounds). ``protocol``
    is the metric's protocol plus a ``ci`` entry, as JSON.

    Example:
        >>> logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
        >>> factors = pd.DataFrame({"pose": ["a", "a", "b", "b"]})
        >>> rows = compute_metrics(logits, np.array([0, 0, 0, 1]), factors, ["top1"], ["pose"], n_resamples=0)
        >>> rows[["slice_factor", "slice_value", "value", "n"]].values.tolist()
        [['', '', 0.75, 4], ['pose', 'a', 0.5, 2], ['pose', 'b', 1.0, 2]]
    """
    logits, labels = validate_scores(logits, labels, what="logits")
    n, num_classes = logits.shape
    chosen = [get_metric(name).for_num_classes(num_classes) for name in metrics]
    slice_by = list(slice_by or [])
    if slice_by:
        if factors is None:
            raise ValueError(f"slice_by={slice_by} needs a factors table, got None")
        if len(factors) != n:
            raise ValueError(f"factors has {len(factors)} rows but logits have {n}")
        missing = [f for f in slice_by if f not in factors.columns]
        if missing:
            raise ValueError(f"unknown factor column(s) {missing}; factors has {list(factors.columns)}")
    if int(n_resamples) != n_resamples or n_resamples < 0:
        raise ValueError(f"n_resamples must be a non-negative integer, got {n_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")

    probs = softmax(logits) if any(m.input == "probs" for m in chosen) else None
    slices: list[tuple[str, str, np.ndarray]] = [("", "", np.arange(n))]
    for factor in slice_by:
        assert factors is not None
        column = factors[factor].reset_index(drop=True)
        slices.extend((factor, value, rows) for value, rows in _slice_groups(column))

    ci_protocol = {
        "method": CI_METHOD,
        "n_resamples": int(n_resamples),
        "confidence": float(confidence),
        "seed": int(seed),
        "resampling": "samples (rows) with replacement, within each slice",
    }
    prepared = []
    for metric in chosen:
        inputs = logits if metric.input == "logits" else probs
        assert inputs is not None
        protocol = json.dumps({**metric.protocol, "ci": ci_protocol}, sort_keys=True)
        # Per-sample arrays are computed once on the full set and then indexed per slice.
        per_sample = metric.per_sample(inputs, labels) if metric.per_sample and metric.batched else None
        prepared.append((metric, inputs, per_sample, protocol))

    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for s_i, (factor, value, rows) in enumerate(slices):
        fast = {m_i: tuple(a[rows] for a in p[2]) for m_i, p in enumerate(prepared) if p[2] is not None}
        dists = _shared_bootstrap(prepared, fast, rows.size, int(n_resamples), seed)
        for m_i, (metric, inputs, per_sample, protocol) in enumerate(prepared):
            low = high = float("nan")
            if per_sample is not None:
                point = float(metric.batched(*(a[None, :] for a in fast[m_i]))[0])  # type: ignore[misc]
                if n_resamples > 0:
                    low, high = percentile_interval(dists[m_i], confidence)
            else:
                sub_in, sub_y = inputs[rows], labels[rows]
                point = float(metric.fn(sub_in, sub_y))
                if n_resamples > 0:
                    low, high = bootstrap_ci(
                        metric.fn, sub_in, sub_y, n_resamples=n_resamples, confidence=confidence, seed=seed
                    )
            cells[(m_i, s_i)] = {
                "metric": metric.name,
                "slice_factor": factor,
                "slice_value": value,
                "value": point,
                "ci_low": low,
                "ci_high": high,
                "n": int(rows.size),
                "protocol": protocol,
            }
    records = [cells[key] for key in sorted(cells)]  # metric-major, whole set first
    table = pd.DataFrame.from_records(records, columns=METRIC_COLUMNS)
    return table.astype({"n": "int64", "value": "float64", "ci_low": "float64", "ci_high": "float64"})


def compare_metric(
    metric: str,
    logits_a: np.ndarray,
    logits_b: np.ndarray,
    labels: np.ndarray,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedBootstrapTest:
    """Paired bootstrap test of model A against model B on one metric, on the same samples.

    ``difference`` is ``metric(A) - metric(B)`` (whether higher is better is the metric's
    ``protocol["higher_is_better"]``); each resample draws sample indices once and scores both models on
    them, so the pairing is kept (Koehn, EMNLP 2004; Berg-Kirkpatrick et al., EMNLP 2012), and the
    p-value is two-sided, from the null-shifted distribution (see
    :func:`~robustscope.metrics.bootstrap.paired_bootstrap_test`). The resamples are those of
    :func:`compute_metrics` with the same seed.

    Args:
        metric: a metric name (``robustscope list metrics``).
        logits_a, logits_b: ``[N, C]`` logits of the two models on the same ``N`` samples, same class order.
        labels: ``[N]`` true class indices.

    Example:
        >>> y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
        >>> a = np.eye(2)[y] * 3.0  # always right
        >>> b = np.eye(2)[[0, 1, 0, 1, 1, 0, 1, 0]] * 3.0  # right on half
        >>> result = compare_metric("top1", a, b, y, n_resamples=2000)
        >>> result.difference, result.ci[0] > 0, result.p_value < 0.05
        (0.5, True, True)
    """
    if np.shape(logits_a) != np.shape(logits_b):
        raise ValueError(f"the two models' logits differ in shape: {np.shape(logits_a)} vs {np.shape(logits_b)}")
    logits_a, labels = validate_scores(logits_a, labels, what="logits_a")
    logits_b, _ = validate_scores(logits_b, labels, what="logits_b")
    chosen = get_metric(metric).for_num_classes(logits_a.shape[1])
    inputs = [x if chosen.input == "logits" else softmax(x) for x in (logits_a, logits_b)]
    observed = float(chosen.fn(inputs[0], labels)) - float(chosen.fn(inputs[1], labels))
    if chosen.per_sample is not None and chosen.batched is not None:
        batched = chosen.batched
        per_a, per_b = (chosen.per_sample(x, labels) for x in inputs)
        split = len(per_a)
        distribution = bootstrap_distribution(
            lambda *r: batched(*r[:split]) - batched(*r[split:]),
            *per_a,
            *per_b,
            n_resamples=n_resamples,
            seed=seed,
            vectorized=True,
        )
    else:
        fn = chosen.fn
        distribution = bootstrap_distribution(
            lambda a, b, y: float(fn(a, y)) - float(fn(b, y)), *inputs, labels, n_resamples=n_resamples, seed=seed
        )
    return paired_test_result(observed, distribution, confidence)
