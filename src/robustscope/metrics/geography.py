"""Geographic and income robustness: multi-label top-k, group accuracies, disparities, progress gap, factor error ratio.

Pure numpy/pandas functions behind the ``geography`` axis (:mod:`robustscope.suites.geography`).

* M. Richards, P. Kirichenko, D. Bouchacourt, M. Ibrahim, "Does Progress On Object Recognition Benchmarks
  Improve Real-World Generalization?", 2023 (arXiv:2307.13136; code ``facebookresearch/Geographic_Generalization``).
  An image of Dollar Street or GeoDE carries a *set* of ImageNet-1k indices; it is correct at top-k if any of
  the model's k highest-scoring classes lies in the set (the authors' ``len(set(y) & set(topk)) > 0``).
  Accuracy is reported per region and per income group; the **disparity** between regions is
  acc(Europe) − acc(Africa), and also max − min over regions.
  The **progress gap** compares, across many models, how fast a benchmark's accuracy grows with ImageNet
  accuracy: the slope of a least-squares line of benchmark accuracy on ImageNet accuracy, and the ratio of the
  slope on standard benchmarks (ImageNet-R, -Sketch, …) to the slope on a geographic one ("progress on ImageNet
  results in up to 2.5x more progress on standard generalization benchmarks"). **Effective robustness** is a
  model's residual from that line (Taori et al., NeurIPS 2020, who fit on logit-scaled axes; ``scale="logit"``).
* L. Gustafson, M. Richards, M. Hall, C. Hazirbas, D. Bouchacourt, M. Ibrahim, "Pinpointing Why Object
  Recognition Performance Degrades Across Income Levels and Geographies", 2023 (arXiv:2304.05391; code
  ``facebookresearch/dollarstreet_factors``). Its **error ratio** of factor f for a group (an income bucket, a
  region, a country, or all images) is (p_group(f) − p_total(f)) / p_total(f), where p_group(f) is f's share of
  the factor annotations of the group's top-5 *mistakes* and p_total(f) its share over *all* annotated images;
  factors counted 5 times or fewer are zeroed first (``ErrorRatio._compute_error_ratio`` and
  ``filter_low_count_factors``).

Income groups follow Richards et al.'s paper-time code (``facebookresearch/Geographic_Generalization`` commit
983f5fafc14458c43e0dd17099df4cf2268c3685, ``datasets/dollarstreet_kaggle.py``, ``categorize_income``): monthly
income per person (USD, PPP) in right-closed bins at 195, 685 and 1963 (:data:`PAPER_INCOME_EDGES`), the quartiles
of Dollar Street's ImageNet train and test CSVs together. The authors name the bins Q4 (lowest) … Q1 (highest);
here they are ``low``, ``low-mid``, ``mid-high`` and ``high``. The edges are a parameter (``income_group(...,
edges=)``, the loader's ``income_bins``, the ``geography`` suite's ``income_edges``).

Confidence intervals are percentile bootstraps (Efron & Tibshirani 1993): over images for an accuracy, within
each group separately (stratified) for a disparity between groups, and over models for slopes and the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

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
from robustscope.metrics.bootstrap import bootstrap_ci, percentile_interval, resample_indices

__all__ = [
    "INCOME_GROUPS",
    "PAPER_INCOME_EDGES",
    "LinearFit",
    "ProgressGap",
    "disparity",
    "disparity_ci",
    "effective_robustness",
    "factor_error_ratio",
    "factor_error_ratio_table",
    "format_index_set",
    "group_accuracy",
    "income_edges_for",
    "income_group",
    "income_quartile_edges",
    "linear_fit",
    "max_min_disparity",
    "multilabel_topk_correct",
    "parse_index_set",
    "progress_gap",
    "progress_slopes",
]

#: Columns of a progress table (one row per model and benchmark).
PROGRESS_COLUMNS = ("model", "imagenet_acc", "benchmark", "acc")


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


# -- Dollar Street factor error ratio ------------------------------------------------------------------
def factor_error_ratio(
    factors: pd.DataFrame | np.ndarray,
    mistakes: np.ndarray,
    group: np.ndarray | None = None,
    min_count: int = 5,
    names: Sequence[str] | None = None,
) -> pd.Series:
    """(p_group(f) − p_total(f)) / p_total(f) over factor shares (Gustafson et al. 2023, ``ErrorRatio``).

    p_group(f) is factor f's share of the factor annotations of the *mistakes* in ``group`` (all images when
    ``group`` is None); p_total(f) its share of the annotations of *all* images. Counts of ``min_count`` or less
    are set to 0 before the shares are taken, as the authors' ``filter_low_count_factors`` does (``<= 5``).
    Positive: the factor is over-represented among the group's mistakes. NaN where p_total(f) is 0 or the
    group has no counted factor among its mistakes. Sorted by decreasing ratio, as the authors sort.

    Args:
        factors: ``[N, F]`` 0/1 annotations (a DataFrame's columns are the factor names).
        mistakes: ``[N]`` booleans, ``True`` where the model is wrong (the authors use top-5).
        group: ``[N]`` booleans selecting the group (an income bucket, a region, a country), or None.
        min_count: the low-count filter.
        names: factor names for an array ``factors``.

    Example:
        >>> f = pd.DataFrame({"texture": [1] * 8 + [0] * 8, "pose": [0] * 8 + [1] * 8})
        >>> wrong = np.array([True] * 6 + [False] * 2 + [True] * 2 + [False] * 6)
        >>> factor_error_ratio(f, wrong, min_count=0).round(3).to_dict()
        {'texture': 0.5, 'pose': -0.5}
    """
    if isinstance(factors, pd.DataFrame):
        table = factors.to_numpy(dtype=np.float64)
        columns = [str(c) for c in factors.columns]
    else:
        table = np.asarray(factors, dtype=np.float64)
        if table.ndim != 2:
            raise ValueError(f"factors must be [N, F], got shape {table.shape}")
        columns = [str(n) for n in names] if names is not None else [f"factor_{i}" for i in range(table.shape[1])]
    mistakes = np.asarray(mistakes, dtype=bool)
    if mistakes.shape != (table.shape[0],):
        raise ValueError(f"mistakes must be [N={table.shape[0]}], got shape {mistakes.shape}")
    chosen = mistakes if group is None else mistakes & np.asarray(group, dtype=bool)
    counts_group = table[chosen].sum(axis=0)
    counts_total = table.sum(axis=0)
    counts_group[counts_group <= min_count] = 0.0
    counts_total[counts_total <= min_count] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        share_group = counts_group / counts_group.sum()
        share_total = counts_total / counts_total.sum()
        ratio = (share_group - share_total) / share_total
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    return pd.Series(ratio, index=columns, name="error_ratio").sort_values(ascending=False, na_position="last")


def _ratios(counts_group: np.ndarray, counts_total: np.ndarray, min_count: int) -> np.ndarray:
    """Row-wise error ratios of ``[R, F]`` factor counts (the same arithmetic as :func:`factor_error_ratio`)."""
    counts_group = np.where(counts_group <= min_count, 0.0, counts_group)
    counts_total = np.where(counts_total <= min_count, 0.0, counts_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_group = counts_group / counts_group.sum(axis=1, keepdims=True)
        share_total = counts_total / counts_total.sum(axis=1, keepdims=True)
        ratio = (share_group - share_total) / share_total
    return np.where(np.isfinite(ratio), ratio, np.nan)


def factor_error_ratio_table(
    factors: pd.DataFrame,
    mistakes: np.ndarray,
    group: np.ndarray | None = None,
    min_count: int = 5,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`factor_error_ratio` per factor with a percentile-bootstrap CI over images.

    Each resample draws the annotated images with replacement (as :func:`~robustscope.metrics.bootstrap.
    bootstrap_ci` with the same seed would) and recomputes both shares from the drawn images, so the CI covers
    the group's mistakes and the overall factor distribution together. Returns ``factor, value, ci_low, ci_high,
    n_mistakes`` in the order of :func:`factor_error_ratio` (decreasing ratio).

    Example:
        >>> f = pd.DataFrame({"texture": [1] * 8 + [0] * 8, "pose": [0] * 8 + [1] * 8})
        >>> wrong = np.array([True] * 6 + [False] * 2 + [True] * 2 + [False] * 6)
        >>> t = factor_error_ratio_table(f, wrong, min_count=0, n_resamples=200)
        >>> t["factor"].tolist(), t["value"].round(3).tolist(), bool(t["ci_low"].iloc[0] < 0.5 < t["ci_high"].iloc[0])
        (['texture', 'pose'], [0.5, -0.5], True)
    """
    values = factor_error_ratio(factors, mistakes, group, min_count)
    table = factors.to_numpy(dtype=np.float64)
    chosen = np.asarray(mistakes, dtype=bool) if group is None else np.asarray(mistakes, bool) & np.asarray(group, bool)
    low = pd.Series(np.nan, index=values.index)
    high = pd.Series(np.nan, index=values.index)
    n = table.shape[0]
    if n_resamples > 0 and n > 0:
        draws = []
        for idx in resample_indices(n, int(n_resamples), seed):
            weights = np.zeros((idx.shape[0], n))
            np.add.at(weights, (np.arange(idx.shape[0])[:, None], idx), 1.0)
            draws.append(_ratios((weights * chosen) @ table, weights @ table, min_count))
        dist = np.concatenate(draws, axis=0)
        columns = [str(c) for c in factors.columns]
        for j, name in enumerate(columns):
            low[name], high[name] = percentile_interval(dist[:, j])
    return pd.DataFrame(
        {
            "factor": values.index.tolist(),
            "value": values.to_numpy(),
            "ci_low": low.reindex(values.index).to_numpy(),
            "ci_high": high.reindex(values.index).to_numpy(),
            "n_mistakes": int(chosen.sum()),
        }
    )


# -- progress gap and effective robustness -------------------------------------------------------------
class LinearFit(NamedTuple):
    """A least-squares line ``y = slope · x + intercept`` with its Pearson correlation ``r`` and size ``n``."""

    slope: float
    intercept: float
    r: float
    n: int


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def linear_fit(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x``; NaNs with fewer than two distinct ``x``.

    Example:
        >>> linear_fit([0.5, 0.6, 0.7], [0.2, 0.25, 0.3])
        LinearFit(slope=0.5, intercept=-0.05, r=1.0, n=3)
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.unique(x).size < 2:
        return LinearFit(float("nan"), float("nan"), float("nan"), int(x.size))
    dx, dy = x - x.mean(), y - y.mean()
    slope = float((dx * dy).sum() / (dx * dx).sum())
    intercept = float(y.mean() - slope * x.mean())
    denominator = np.sqrt((dx * dx).sum() * (dy * dy).sum())
    r = float((dx * dy).sum() / denominator) if denominator > 0 else float("nan")
    return LinearFit(round(slope, 12), round(intercept, 12), round(r, 12), int(x.size))


def _check_progress_table(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PROGRESS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"a progress table needs columns {list(PROGRESS_COLUMNS)}; missing {missing}")
    out = table[list(PROGRESS_COLUMNS)].copy()
    out["imagenet_acc"] = pd.to_numeric(out["imagenet_acc"], errors="coerce")
    out["acc"] = pd.to_numeric(out["acc"], errors="coerce")
    return out.dropna(subset=["imagenet_acc", "acc"])


def _per_model(table: pd.DataFrame, benchmarks: Sequence[str]) -> pd.DataFrame:
    """Per model: ImageNet accuracy and the mean accuracy over ``benchmarks`` (models having all of them)."""
    chosen = table[table["benchmark"].isin(benchmarks)]
    wide = chosen.pivot_table(index="model", columns="benchmark", values="acc", aggfunc="mean")
    wide = wide.reindex(columns=list(benchmarks)).dropna()
    imagenet = chosen.groupby("model")["imagenet_acc"].mean()
    return pd.DataFrame({"imagenet_acc": imagenet.reindex(wide.index), "acc": wide.mean(axis=1)})


def _axes(x: np.ndarray, y: np.ndarray, scale: str) -> tuple[np.ndarray, np.ndarray]:
    if scale == "linear":
        return x, y
    if scale == "logit":
        return _logit(x), _logit(y)
    raise ValueError(f"scale must be 'linear' or 'logit', got {scale!r}")


def progress_slopes(
    table: pd.DataFrame, n_resamples: int = 1000, seed: int = 0, scale: Literal["linear", "logit"] = "linear"
) -> pd.DataFrame:
    """Per benchmark, the line of benchmark accuracy on ImageNet accuracy across models (Richards et al. 2023).

    Args:
        table: one row per (model, benchmark): ``model, imagenet_acc, benchmark, acc``.
        n_resamples: bootstrap resamples *of models* for the slope's CI (0: none).
        scale: ``linear`` (accuracies as they are) or ``logit`` (both axes logit-scaled, Taori et al. 2020).

    Returns:
        ``benchmark, slope, slope_ci_low, slope_ci_high, intercept, r, n_models`` (benchmarks in first-seen order).

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b", "c"] * 2, "imagenet_acc": [0.6, 0.7, 0.8] * 2,
        ...                   "benchmark": ["r"] * 3 + ["ds"] * 3, "acc": [0.3, 0.5, 0.7, 0.50, 0.52, 0.54]})
        >>> progress_slopes(t, n_resamples=0)[["benchmark", "slope", "n_models"]].values.tolist()
        [['r', 2.0, 3], ['ds', 0.2, 3]]
    """
    table = _check_progress_table(table)
    records = []
    for benchmark in pd.unique(table["benchmark"]):
        data = _per_model(table, [benchmark])
        x, y = _axes(data["imagenet_acc"].to_numpy(), data["acc"].to_numpy(), scale)
        fit = linear_fit(x, y)
        ci = (np.nan, np.nan)
        if n_resamples > 0 and fit.n >= 2:
            ci = bootstrap_ci(lambda a, b: linear_fit(a, b).slope, x, y, n_resamples=n_resamples, seed=seed)
        records.append(
            {
                "benchmark": str(benchmark),
                "slope": fit.slope,
                "slope_ci_low": ci[0],
                "slope_ci_high": ci[1],
                "intercept": fit.intercept,
                "r": fit.r,
                "n_models": fit.n,
            }
        )
    return pd.DataFrame(
        records, columns=["benchmark", "slope", "slope_ci_low", "slope_ci_high", "intercept", "r", "n_models"]
    )


class ProgressGap(NamedTuple):
    """The ratio of slopes ``slope_reference / slope_target`` with its bootstrap CI over models."""

    value: float
    ci: tuple[float, float]
    slope_reference: float
    slope_target: float
    n_models: int


def progress_gap(
    table: pd.DataFrame,
    reference: str | Sequence[str],
    target: str | Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    scale: Literal["linear", "logit"] = "linear",
) -> ProgressGap:
    """Progress gap = slope(reference) / slope(target) of accuracy vs ImageNet accuracy (Richards et al. 2023).

    With ``reference`` the standard benchmarks (ImageNet-R, -Sketch, …; their per-model mean when several) and
    ``target`` a geographic one (Dollar Street, GeoDE), a gap of 2.5 means a point of ImageNet accuracy buys 2.5
    times more accuracy on the standard benchmarks than on the geographic one. Only models with every named
    benchmark are used; the CI resamples those models (paired: both lines are refitted on the same resample).

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b", "c"] * 2, "imagenet_acc": [0.6, 0.7, 0.8] * 2,
        ...                   "benchmark": ["r"] * 3 + ["ds"] * 3, "acc": [0.3, 0.5, 0.7, 0.50, 0.52, 0.54]})
        >>> round(progress_gap(t, "r", "ds", n_resamples=0).value, 6)
        10.0
    """
    table = _check_progress_table(table)
    ref = [reference] if isinstance(reference, str) else list(reference)
    tgt = [target] if isinstance(target, str) else list(target)
    a, b = _per_model(table, ref), _per_model(table, tgt)
    models = a.index.intersection(b.index)
    xa, ya = _axes(a.loc[models, "imagenet_acc"].to_numpy(), a.loc[models, "acc"].to_numpy(), scale)
    xb, yb = _axes(b.loc[models, "imagenet_acc"].to_numpy(), b.loc[models, "acc"].to_numpy(), scale)

    def ratio(xa_: np.ndarray, ya_: np.ndarray, xb_: np.ndarray, yb_: np.ndarray) -> float:
        bottom = linear_fit(xb_, yb_).slope
        return float(linear_fit(xa_, ya_).slope / bottom) if bottom and np.isfinite(bottom) else float("nan")

    slope_a, slope_b = linear_fit(xa, ya).slope, linear_fit(xb, yb).slope
    value = ratio(xa, ya, xb, yb)
    ci = (np.nan, np.nan)
    if n_resamples > 0 and len(models) >= 2:
        ci = bootstrap_ci(ratio, xa, ya, xb, yb, n_resamples=n_resamples, seed=seed)
    return ProgressGap(value, (float(ci[0]), float(ci[1])), slope_a, slope_b, len(models))


def effective_robustness(table: pd.DataFrame, scale: Literal["linear", "logit"] = "linear") -> pd.DataFrame:
    """Each model's residual from its benchmark's line of accuracy on ImageNet accuracy (fit over all models).

    Effective robustness (Taori et al., NeurIPS 2020; used by Richards et al. 2023): acc − (slope · imagenet_acc +
    intercept), on the chosen ``scale`` (with ``logit`` the residual is in logit units). Positive: more robust
    than ImageNet accuracy predicts. Returns the table with ``predicted`` and ``effective_robustness`` columns.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b", "c"], "imagenet_acc": [0.6, 0.7, 0.8],
        ...                   "benchmark": ["ds"] * 3, "acc": [0.5, 0.6, 0.5]})
        >>> effective_robustness(t)["effective_robustness"].round(4).tolist()
        [-0.0333, 0.0667, -0.0333]
    """
    table = _check_progress_table(table).reset_index(drop=True)
    predicted = np.full(len(table), np.nan)
    residual = np.full(len(table), np.nan)
    for benchmark in pd.unique(table["benchmark"]):
        rows = (table["benchmark"] == benchmark).to_numpy()
        x, y = _axes(table.loc[rows, "imagenet_acc"].to_numpy(), table.loc[rows, "acc"].to_numpy(), scale)
        fit = linear_fit(x, y)
        predicted[rows] = fit.slope * x + fit.intercept
        residual[rows] = y - predicted[rows]
    return table.assign(predicted=predicted, effective_robustness=residual)
