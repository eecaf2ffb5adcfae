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

A single-label geographic dataset (the synthetic geography world, ``synth:geo:test``) has one class per image and its
groups as factors: :func:`geographic_topk_correct` scores it with plain top-k correctness, and a categorical
``income`` factor (the world's ``low``/``mid``/``high``) is its income group as it is (:func:`income_groups_of`).

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
from robustscope.metrics.bootstrap import PairedBootstrapTest, bootstrap_ci, paired_test_result, percentile_interval
from robustscope.metrics.classification import correct_topk

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
    "geographic_topk_correct",
    "group_accuracy",
    "group_gap",
    "income_edges_for",
    "income_group",
    "income_groups_of",
    "income_quartile_edges",
    "max_min_disparity",
    "multilabel_topk_correct",
    "paired_disparity_change",
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


def geographic_topk_correct(
    scores: np.ndarray, k: int, *, index_sets: Sequence[object] | None = None, labels: np.ndarray | None = None
) -> np.ndarray:
    """Per-image top-k correctness of a geographic benchmark: through each image's ImageNet index set
    (:func:`multilabel_topk_correct`, Dollar Street and GeoDE) or, for a single-label dataset, its class
    (:func:`~robustscope.metrics.classification.correct_topk`). Exactly one of ``index_sets``, ``labels``.

    Example:
        >>> s = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1]])
        >>> geographic_topk_correct(s, 1, labels=np.array([1, 2])).tolist()
        [True, False]
        >>> geographic_topk_correct(s, 2, index_sets=["2;3", [2]]).tolist()
        [True, False]
    """
    if (index_sets is None) == (labels is None):
        raise ValueError("give exactly one of index_sets (multi-label) or labels (single-label)")
    if index_sets is not None:
        return multilabel_topk_correct(scores, index_sets, k)
    return correct_topk(np.asarray(scores), np.asarray(labels), k)


def income_groups_of(factors: pd.DataFrame) -> pd.Series | None:
    """The income group of every image: the ``income_group`` column, else a categorical (non-numeric) ``income``
    factor taken as it is (the synthetic geography world's ``low``/``mid``/``high``), else None. A numeric
    ``income`` (dollars) is binned by :func:`income_group`, not here.

    Example:
        >>> income_groups_of(pd.DataFrame({"income": ["low", "high"]})).tolist()
        ['low', 'high']
        >>> income_groups_of(pd.DataFrame({"income": [120.0, 3000.0]})) is None
        True
    """
    if "income_group" in factors.columns:
        return factors["income_group"].astype(str)
    if "income" in factors.columns:
        income = factors["income"]
        if pd.to_numeric(income, errors="coerce").isna().all():
            return income.astype(str)
    return None


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


def group_gap(accuracy: np.ndarray, names: list[str], pair: tuple[str, str] | None = None) -> np.ndarray:
    """Max − min over the last axis of group accuracies ``[..., G]`` (``pair=None``) or acc(pair[0]) − acc(pair[1]),
    vectorised over the leading axes; NaN where a group of the pair is absent.

    Example:
        >>> acc = np.array([[0.5, 0.9, 0.7], [0.6, 0.6, 0.8]])
        >>> group_gap(acc, ["Africa", "Europe", "Asia"]).round(6).tolist()
        [0.4, 0.2]
        >>> group_gap(acc, ["Africa", "Europe", "Asia"], ("Europe", "Africa")).round(6).tolist()
        [0.4, 0.0]
    """
    if pair is None:
        return accuracy.max(axis=-1) - accuracy.min(axis=-1)
    if pair[0] not in names or pair[1] not in names:
        return np.full(accuracy.shape[:-1], np.nan)
    return accuracy[..., names.index(pair[0])] - accuracy[..., names.index(pair[1])]


def paired_disparity_change(
    before: np.ndarray,
    after: np.ndarray,
    groups: Sequence[object],
    *,
    pair: tuple[str, str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> PairedBootstrapTest:
    """Change of a disparity between two models on the same images, with a paired, stratified bootstrap CI.

    ``before`` and ``after`` are per-image correctness (``[N]``, or ``[S, N]`` for S pairs of models on the same
    images, e.g. one per training seed). The disparity is max − min group accuracy (``pair=None``) or
    acc(pair[0]) − acc(pair[1]); the change is disparity(after) − disparity(before), averaged over the S pairs.
    Each resample draws every group's images with replacement within the group (as :func:`disparity_ci`) and
    applies the same draw to both models and every pair, so the pairing is kept. CI and p-value as
    :func:`~robustscope.metrics.bootstrap.paired_bootstrap_test`.

    Example:
        >>> groups = ["A"] * 4 + ["B"] * 4
        >>> before = np.array([1, 1, 1, 1, 0, 0, 1, 1.0])   # A 1.0, B 0.5: disparity 0.5
        >>> after = np.array([1, 1, 1, 0, 1, 0, 1, 1.0])    # A 0.75, B 0.75: disparity 0
        >>> paired_disparity_change(before, after, groups, n_resamples=200).difference
        -0.5
    """
    before = np.atleast_2d(np.asarray(before, dtype=np.float64))
    after = np.atleast_2d(np.asarray(after, dtype=np.float64))
    if before.shape != after.shape:
        raise ValueError(f"before {before.shape} and after {after.shape} must score the same images")
    labels = np.array([str(g) for g in groups], dtype=object)
    if labels.size != before.shape[1]:
        raise ValueError(f"{labels.size} group labels for {before.shape[1]} images")
    names = sorted(set(labels) - {"", "nan", "None"})
    members = [np.flatnonzero(labels == name) for name in names]

    def gap(values: np.ndarray, picks: list[np.ndarray]) -> np.ndarray:
        # values [S, N]; picks per group [R, n_g] (or [n_g]) → group accuracies [..., G] → gap per (S[, R]).
        accuracy = np.stack([values[:, pick].mean(axis=-1) for pick in picks], axis=-1)
        return group_gap(accuracy, names, pair)

    observed = float(np.mean(gap(after, members) - gap(before, members)))
    if n_resamples <= 0:
        return PairedBootstrapTest(observed, (float("nan"), float("nan")), float("nan"))
    rng = np.random.default_rng(seed)
    picks = [m[rng.integers(0, m.size, size=(n_resamples, m.size))] for m in members]
    distribution = (gap(after, picks) - gap(before, picks)).mean(axis=0)
    return paired_test_result(observed, distribution)
