"""Geographic and income robustness: multi-label top-k, accuracy per group, disparities between groups.

Pure numpy/pandas functions behind the ``geography`` axis (:mod:`robustscope.suites.geography`); the axis's
other two measures have their own modules: the progress gap and effective robustness across models
(:mod:`robustscope.metrics.progress`) and the Dollar Street factor error ratio
(:mod:`robustscope.metrics.error_ratio`).

M. Richards, P. Kirichenko, D. Bouchacourt, M. Ibrahim, "Does Progress On Object Recognition Benchmarks Improve
Real-World Generalization?", 2023 (arXiv:2307.13136; code ``facebookresearch/Geographic_Generalization``). An image
of Dollar Street or GeoDE carries a *set* of ImageNet-1k indices; it is correct at top-k if any of the model's k
highest-scoring classes lies in the set (the authors' ``len(set(y) & set(topk)) > 0``). Accuracy is reported per
region and per income group; the **disparity** between regions is acc(Europe) − acc(Africa), and also max − min
over regions.

Income groups follow Richards et al.'s paper-time code (``facebookresearch/Geographic_Generalization`` commit
983f5fafc14458c43e0dd17099df4cf2268c3685, ``datasets/dollarstreet_kaggle.py``, ``categorize_income``): monthly
income per person (USD, PPP) in right-closed bins at 195, 685 and 1963 (:data:`PAPER_INCOME_EDGES`), the quartiles
of Dollar Street's ImageNet train and test CSVs together. The authors name the bins Q4 (lowest) … Q1 (highest);
here they are ``low``, ``low-mid``, ``mid-high`` and ``high``. The edges are a parameter (``income_group(...,
edges=)``, the loader's ``income_bins``, the ``geography`` suite's ``income_edges``).

Confidence intervals are percentile bootstraps (Efron & Tibshirani 1993): over images for an accuracy, and within
each group separately (stratified) for a disparity between groups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from robustscope.data.benchmarks.index_sets import (
    INCOME_GROUPS,
    PAPER_INCOME_EDGES,
    format_index_set,
    income_edges_for,
    income_group,
    income_quartile_edges,
    parse_index_set,
)
from robustscope.metrics.bootstrap import bootstrap_ci, percentile_interval

# Re-exported for the suites that import them from here (suites/geography.py, suites/progress_gap.py); new code
# imports them from their own modules.
from robustscope.metrics.error_ratio import factor_error_ratio_table
from robustscope.metrics.progress import effective_robustness, progress_gap, progress_slopes

__all__ = [
    "INCOME_GROUPS",
    "PAPER_INCOME_EDGES",
    "disparity",
    "disparity_ci",
    "effective_robustness",
    "factor_error_ratio_table",
    "format_index_set",
    "group_accuracy",
    "income_edges_for",
    "income_group",
    "income_quartile_edges",
    "max_min_disparity",
    "multilabel_topk_correct",
    "parse_index_set",
    "progress_gap",
    "progress_slopes",
]


# -- per-image index sets ------------------------------------------------------------------------------
def multilabel_topk_correct(scores: np.ndarray, index_sets: Sequence[object], k: int = 1) -> np.ndarray:
    """Per-image correctness at top-k: ``True`` iff one of the ``k`` highest-scoring classes is in the image's set.

    Richards et al. 2023 (Dollar Street, GeoDE): ``len(set(labels) & set(topk)) > 0``. Ties rank the lower class
    index first, as :func:`numpy.argmax` and :func:`robustscope.metrics.classification.correct_topk` do. An image
    with an empty set is never correct; an index outside ``[0, K)`` is an error.

    Args:
        scores: ``[N, K]`` logits or probabilities (the ranking is what matters).
        index_sets: ``N`` sets (or their stored forms, see :func:`parse_index_set`).
        k: how many top classes count.

    Example:
        >>> s = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1]])
        >>> multilabel_topk_correct(s, ["2;3", [2]], k=1).tolist()
        [False, False]
        >>> multilabel_topk_correct(s, ["2;3", [2]], k=2).tolist()
        [True, False]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [N, K], got shape {scores.shape}")
    if len(index_sets) != scores.shape[0]:
        raise ValueError(f"{len(index_sets)} index sets for {scores.shape[0]} score rows")
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    n, n_classes = scores.shape
    member = np.zeros((n, n_classes), dtype=bool)
    for row, value in enumerate(index_sets):
        indices = sorted(parse_index_set(value))
        if indices and (indices[0] < 0 or indices[-1] >= n_classes):
            raise ValueError(
                f"image {row}: ImageNet index set {indices} has an index outside the model's {n_classes} classes; "
                "these index sets need an ImageNet-1k model"
            )
        member[row, indices] = True
    k = min(int(k), n_classes)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(member, top, axis=1).any(axis=1)


# -- accuracy per group and disparities --------------------------------------------------------------
def group_accuracy(
    correct: np.ndarray, groups: Sequence[object], n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Accuracy per group with a percentile-bootstrap CI over the group's images.

    Returns one row per group (sorted by name): ``group, value, ci_low, ci_high, n``. Missing groups
    (None/NaN/empty) are left out.

    Example:
        >>> t = group_accuracy(np.array([1, 0, 1, 1]), ["Africa", "Africa", "Europe", "Europe"], n_resamples=0)
        >>> t[["group", "value", "n"]].values.tolist()
        [['Africa', 0.5, 2], ['Europe', 1.0, 2]]
    """
    correct = np.asarray(correct, dtype=np.float64)
    labels = pd.Series(list(groups), dtype=object)
    if len(labels) != len(correct):
        raise ValueError(f"{len(labels)} group labels for {len(correct)} images")
    keep = labels.notna() & (labels.astype(str) != "") & (labels.astype(str) != "nan")
    records = []
    for name in sorted(set(labels[keep].astype(str))):
        values = correct[(labels.astype(str) == name).to_numpy() & keep.to_numpy()]
        ci = bootstrap_ci(np.mean, values, n_resamples=n_resamples, seed=seed) if n_resamples > 0 else (np.nan, np.nan)
        records.append(
            {"group": name, "value": float(values.mean()), "ci_low": ci[0], "ci_high": ci[1], "n": int(values.size)}
        )
    return pd.DataFrame(records, columns=["group", "value", "ci_low", "ci_high", "n"])


def disparity(accuracy_by_group: Mapping[str, float], high: str = "Europe", low: str = "Africa") -> float:
    """acc(high) − acc(low); Richards et al.'s regional gap is acc(Europe) − acc(Africa). NaN if one is absent.

    Example:
        >>> round(disparity({"Europe": 0.8, "Africa": 0.55, "Asia": 0.7}), 6)
        0.25
    """
    if high not in accuracy_by_group or low not in accuracy_by_group:
        return float("nan")
    return float(accuracy_by_group[high] - accuracy_by_group[low])


def max_min_disparity(accuracy_by_group: Mapping[str, float]) -> float:
    """max − min of the group accuracies (the best-minus-worst region gap); NaN with fewer than two groups.

    Example:
        >>> round(max_min_disparity({"Europe": 0.8, "Africa": 0.55, "Asia": 0.7}), 6)
        0.25
    """
    values = [float(v) for v in accuracy_by_group.values() if np.isfinite(v)]
    return float(max(values) - min(values)) if len(values) >= 2 else float("nan")


def disparity_ci(
    correct: np.ndarray,
    groups: Sequence[object],
    statistic: Callable[[Mapping[str, float]], float],
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of a statistic of group accuracies, resampling images within each group.

    Each resample draws every group's images with replacement from that group only (a stratified
    bootstrap), so every group keeps its size; ``statistic`` maps ``{group: accuracy}`` to a number (e.g.
    :func:`disparity`, :func:`max_min_disparity`). NaN bounds with ``n_resamples=0``.

    Example:
        >>> correct = np.array([1.0] * 8 + [0.0] * 2 + [1.0] * 5 + [0.0] * 5)
        >>> groups = ["Europe"] * 10 + ["Africa"] * 10
        >>> low, high = disparity_ci(correct, groups, disparity, n_resamples=500, seed=0)
        >>> bool(low < 0.3 < high), bool(high - low < 0.9)
        (True, True)
    """
    if n_resamples <= 0:
        return float("nan"), float("nan")
    correct = np.asarray(correct, dtype=np.float64)
    labels = np.array([str(g) for g in groups], dtype=object)
    names = sorted(set(labels) - {"", "nan", "None"})
    rng = np.random.default_rng(seed)
    columns = []
    for name in names:
        values = correct[labels == name]
        columns.append(values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1))
    if not columns:
        return float("nan"), float("nan")
    table = np.stack(columns, axis=1)
    dist = np.array([statistic(dict(zip(names, row, strict=True))) for row in table], dtype=np.float64)
    return percentile_interval(dist)
