"""Named metrics with their protocols, and :func:`compute_metrics`, which turns logits into result rows.

Each :class:`Metric` carries the protocol its number follows (parameters, paper, direction), and
that protocol travels into every result row as JSON together with how its confidence interval was
computed, so a stored number always says what it means.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

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
from robustscope.metrics.classification import (
    accuracy,
    brier,
    brier_per_sample,
    calibration_bins,
    correct_topk,
    ece,
    ece_batched,
    nll,
    nll_per_sample,
    softmax,
    validate_scores,
)
from robustscope.metrics.slicing import natural_key
from robustscope.registry import Registry

__all__ = ["METRICS", "METRIC_COLUMNS", "Metric", "compare_metric", "compute_metrics", "get_metric"]

METRIC_COLUMNS = ["metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high", "n", "protocol"]
"""The columns :func:`compute_metrics` returns: the metric part of a result row (the whole row is
:data:`robustscope.engine.RESULT_COLUMNS`, completed by :class:`robustscope.engine.evaluation.Evaluation`)."""

PerSample = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Metric:
    """A named metric: ``fn(inputs, labels) -> float`` where ``inputs`` are ``probs`` or ``logits``.

    ``protocol`` holds ``name``, ``parameters``, ``paper`` and ``higher_is_better``. The optional
    ``per_sample``/``batched`` pair makes the bootstrap fast: ``per_sample(inputs, labels)`` returns
    1-D per-sample arrays, and ``batched`` maps those arrays resampled to ``[R, N]`` to ``R`` values.
    Without them the bootstrap calls ``fn`` once per resample.

    Example:
        >>> m = get_metric("top1")
        >>> m.input, m.protocol["higher_is_better"]
        ('logits', True)
        >>> m.fn(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
        0.5
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    input: Literal["probs", "logits"]
    protocol: Mapping[str, Any] = field(hash=False)
    summary: str = ""
    per_sample: PerSample | None = field(default=None, compare=False)
    batched: Callable[..., np.ndarray] | None = field(default=None, compare=False)

    def for_num_classes(self, num_classes: int) -> Metric:
        """This metric adapted to ``num_classes`` classes: a top-k with ``k > num_classes`` clips ``k``.

        The clipping is recorded in the protocol (``k``, ``k_requested``) so that a "top5" on a
        3-class problem is never mistaken for a real top-5.

        Example:
            >>> get_metric("top5").for_num_classes(3).protocol["parameters"]["k"]
            3
        """
        params = dict(self.protocol.get("parameters", {}))
        k = params.get("k")
        if k is None or k <= num_classes:
            return self
        params.update(k=num_classes, k_requested=k, note=f"k clipped to the number of classes ({num_classes})")
        return replace(
            self,
            fn=partial(accuracy, k=num_classes),
            protocol={**self.protocol, "parameters": params},
            per_sample=partial(_correct_per_sample, k=num_classes),
        )


def _rows_mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def _correct_per_sample(scores: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    return (correct_topk(scores, labels, k).astype(np.float64),)


def _ece_per_sample(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    pred = probs.argmax(axis=1)
    conf = probs[np.arange(probs.shape[0]), pred]
    return calibration_bins(conf, n_bins), conf, (pred == labels).astype(np.float64)


def _nll_per_sample(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    return (nll_per_sample(probs, labels),)


def _brier_per_sample(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, ...]:
    return (brier_per_sample(probs, labels),)


_IMAGENET = "Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 2015"
_GUO = "Guo et al., On Calibration of Modern Neural Networks, ICML 2017"
_ECE_BINNING = (
    "equal-width bins over top-1 confidence, left-closed [lo, hi), confidence exactly 1.0 in its own "
    "slot (as torchmetrics MulticlassCalibrationError, norm='l1')"
)


def _topk(k: int) -> Metric:
    name = f"top{k}"
    return Metric(
        name=name,
        fn=partial(accuracy, k=k),
        # Ranking raw logits avoids ties that a saturated float softmax would create.
        input="logits",
        protocol={
            "name": name,
            "parameters": {"k": k, "ties": "lower class index ranks first"},
            "paper": _IMAGENET,
            "higher_is_better": True,
        },
        summary=f"top-{k} accuracy",
        per_sample=partial(_correct_per_sample, k=k),
        batched=_rows_mean,
    )


def _ece(name: str, n_bins: int, paper: str) -> Metric:
    return Metric(
        name=name,
        fn=partial(ece, n_bins=n_bins),
        input="probs",
        protocol={
            "name": name,
            "parameters": {"n_bins": n_bins, "norm": "l1", "binning": _ECE_BINNING},
            "paper": paper,
            "higher_is_better": False,
        },
        summary=f"expected calibration error, {n_bins} equal-width bins",
        per_sample=partial(_ece_per_sample, n_bins=n_bins),
        batched=partial(ece_batched, n_bins=n_bins),
    )


def _nll() -> Metric:
    return Metric(
        name="nll",
        fn=nll,
        input="probs",
        protocol={
            "name": "nll",
            "parameters": {"clip": 1e-12, "reduction": "mean", "log": "natural"},
            "paper": _GUO,
            "higher_is_better": False,
        },
        summary="negative log-likelihood of the true class",
        per_sample=_nll_per_sample,
        batched=_rows_mean,
    )


def _brier() -> Metric:
    return Metric(
        name="brier",
        fn=brier,
        input="probs",
        protocol={
            "name": "brier",
            "parameters": {"convention": "mean over samples of sum over classes (p_k - y_k)^2, range [0, 2]"},
            "paper": "Brier, Verification of Forecasts Expressed in Terms of Probability, Monthly Weather Review 1950",
            "higher_is_better": False,
        },
        summary="multi-class Brier score",
        per_sample=_brier_per_sample,
        batched=_rows_mean,
    )


def _binned_calibration(name: str, fn: Callable[..., float], n_bins: int, binning: str, paper: str,
                        summary: str) -> Metric:
    # No per-sample decomposition: the bootstrap calls ``fn`` once per resample.
    return Metric(
        name=name,
        fn=partial(fn, n_bins=n_bins),
        input="probs",
        protocol={"name": name, "parameters": {"n_bins": n_bins, "binning": binning}, "paper": paper,
                  "higher_is_better": False},
        summary=summary,
    )


METRICS: Registry[Metric] = Registry("metric")
"""Metric name -> zero-argument factory returning the :class:`Metric`."""

METRICS.add("top1", partial(_topk, 1), summary="top-1 accuracy")
METRICS.add("top5", partial(_topk, 5), summary="top-5 accuracy (k clipped to the number of classes)")
METRICS.add("ece", partial(_ece, "ece", 15, _GUO + "; 15 bins as in ImageNet-X (Idrissi et al., ICLR 2023)"),
            summary="expected calibration error, 15 bins")
METRICS.add(
    "ece20",
    partial(
        _ece,
        "ece20",
        20,
        _GUO + "; 20 bins as in 'Is Synthetic Data all We Need? Benchmarking the Robustness of Models "
        "Trained with Synthetic Images' (CVPR 2024 Workshop SyntaGen)",
    ),
    summary="expected calibration error, 20 bins (synthetic-clone benchmark)",
)
_NIXON = "Nixon et al., Measuring Calibration in Deep Learning, CVPR Workshops 2019"
_KULL = "Kull et al., Beyond temperature scaling, NeurIPS 2019"
for _bins, _suffix in ((15, ""), (20, "20")):  # 20 bins: the synthetic-clone benchmark's setting
    METRICS.add(
        f"adaptive_ece{_suffix}",
        partial(_binned_calibration, f"adaptive_ece{_suffix}", adaptive_ece, _bins,
                f"{_bins} equal-mass bins over top-1 confidence", _NIXON, f"adaptive (equal-mass) ECE, {_bins} bins"),
        summary=f"adaptive (equal-mass) ECE, {_bins} bins",
    )
    METRICS.add(
        f"classwise_ece{_suffix}",
        partial(_binned_calibration, f"classwise_ece{_suffix}", classwise_ece, _bins,
                f"per class, {_bins} equal-width bins over that class's probability", _KULL,
                f"class-wise ECE, {_bins} bins"),
        summary=f"class-wise ECE, {_bins} bins",
    )
METRICS.add("nll", _nll, summary="negative log-likelihood")
METRICS.add("brier", _brier, summary="multi-class Brier score")


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
