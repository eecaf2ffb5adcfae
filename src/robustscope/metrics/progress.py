"""The progress gap and effective robustness: how benchmark accuracy grows with ImageNet accuracy across models.

Pure numpy/pandas functions behind the progress gap of the ``geography`` axis
(:mod:`robustscope.suites.progress_gap`).

M. Richards, P. Kirichenko, D. Bouchacourt, M. Ibrahim, "Does Progress On Object Recognition Benchmarks Improve
Real-World Generalization?", 2023 (arXiv:2307.13136; code ``facebookresearch/Geographic_Generalization``). The
**progress gap** compares, across many models, how fast a benchmark's accuracy grows with ImageNet accuracy: the
slope of a least-squares line of benchmark accuracy on ImageNet accuracy, and the ratio of the slope on standard
benchmarks (ImageNet-R, -Sketch, …) to the slope on a geographic one ("progress on ImageNet results in up to 2.5x
more progress on standard generalization benchmarks"). **Effective robustness** is a model's residual from that
line (Taori et al., NeurIPS 2020, who fit on logit-scaled axes; ``scale="logit"``).

Confidence intervals are percentile bootstraps over models (Efron & Tibshirani 1993).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import bootstrap_ci

__all__ = [
    "PROGRESS_COLUMNS",
    "LinearFit",
    "ProgressGap",
    "effective_robustness",
    "linear_fit",
    "progress_gap",
    "progress_slopes",
]

#: Columns of a progress table (one row per model and benchmark).
PROGRESS_COLUMNS = ("model", "imagenet_acc", "benchmark", "acc")


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
