"""The fits a sweep runs across its models once its cells are done: the library's own, on the sweep's rows.

- ``effective_robustness``: for summary columns ``x`` (e.g. ``clean top-1``) and ``y`` (e.g. ``corruption top-1``),
  the line of y on x across the sweep's models (:func:`robustscope.metrics.progress.progress_slopes`) and each
  model's residual from it (:func:`robustscope.metrics.progress.effective_robustness`, Taori et al. 2020).
- ``progress_gap``: Richards et al.'s progress gap over the sweep's geography rows
  (:func:`~robustscope.suites.progress_gap.progress_summary` of its
  :func:`~robustscope.suites.progress_gap.progress_points`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from robustscope.metrics.progress import effective_robustness, progress_slopes
from robustscope.suites.progress_gap import progress_points, progress_summary
from robustscope.sweeps.spec import SweepSpecError

__all__ = ["effective_robustness_fit", "progress_gap_fit", "run_fits"]


def effective_robustness_fit(
    summary: pd.DataFrame, x: str, y: str | list[str], scale: str = "linear", n_resamples: int = 0, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """Lines of each ``y`` column on the ``x`` column across models, and each model's residual (effective robustness).

    ``summary`` has one row per model and suite (:func:`robustscope.suites.suite_summary` plus a ``suite`` column);
    a model's value of a column is its first non-missing one.

    Example:
        >>> summary = pd.DataFrame({"model": ["a", "b", "c"], "clean": [0.6, 0.7, 0.8], "shifted": [0.3, 0.6, 0.5]})
        >>> fit = effective_robustness_fit(summary, "clean", "shifted")
        >>> fit["effective_robustness"]["effective_robustness"].round(4).tolist()
        [-0.0667, 0.1333, -0.0667]
        >>> fit["effective_robustness_slopes"][["y", "slope", "n_models"]].round(6).values.tolist()
        [['shifted', 1.0, 3]]
    """
    targets = [y] if isinstance(y, str) else list(y)
    missing = [c for c in [x, *targets] if c not in summary.columns]
    if missing:
        known = [c for c in summary.columns if c not in ("model", "suite", "data")]
        raise SweepSpecError(f"fits.effective_robustness: no summary column {missing}; the sweep's columns are {known}")
    per_model = summary.groupby("model", sort=False)[[x, *targets]].first()
    points = pd.DataFrame(
        [
            {"model": model, "imagenet_acc": row[x], "benchmark": target, "acc": row[target]}
            for model, row in per_model.iterrows()
            for target in targets
        ],
        columns=["model", "imagenet_acc", "benchmark", "acc"],
    ).dropna()
    fitted = effective_robustness(points, scale=scale)  # type: ignore[arg-type]
    slopes = progress_slopes(points, n_resamples=n_resamples, seed=seed, scale=scale)  # type: ignore[arg-type]
    fitted = fitted.rename(columns={"imagenet_acc": x, "benchmark": "y", "acc": "y_value"})
    return {"effective_robustness": fitted, "effective_robustness_slopes": slopes.rename(columns={"benchmark": "y"})}


def progress_gap_fit(
    rows: pd.DataFrame, geo_metric: str = "top5", n_resamples: int = 0, seed: int = 0
) -> dict[str, pd.DataFrame]:
    """The progress gap over the sweep's rows (only its models): points, slopes per benchmark, gaps.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "dataset": ["imagenet-val:/v", "geode:/g"],
        ...                      "metric": ["top1", "top5"], "slice_factor": ["", ""], "shift": ["none", "none"],
        ...                      "value": [0.8, 0.6]})
        >>> progress_gap_fit(rows)["progress_points"][["model", "benchmark", "acc"]].values.tolist()
        [['m', 'geode', 0.6]]
    """
    table = progress_summary(progress_points(rows, geo_metric), n_resamples=n_resamples, seed=seed)
    return {"progress_points": table.points, "progress_slopes": table.slopes, "progress_gap": table.gaps}


def run_fits(
    fits: dict[str, dict[str, Any]], summary: pd.DataFrame, rows: pd.DataFrame, n_resamples: int, seed: int
) -> dict[str, pd.DataFrame]:
    """Every fit the sweep asks for, as named tables (an empty dict when it asks for none).

    Example:
        >>> run_fits({}, pd.DataFrame(), pd.DataFrame(), 0, 0)
        {}
    """
    out: dict[str, pd.DataFrame] = {}
    if "effective_robustness" in fits:
        settings = fits["effective_robustness"]
        if "x" not in settings or "y" not in settings:
            raise SweepSpecError("fits.effective_robustness needs x: and y: (summary columns, e.g. 'clean top-1')")
        out.update(effective_robustness_fit(summary, settings["x"], settings["y"], settings.get("scale", "linear"),
                                            n_resamples, seed))  # fmt: skip
    if "progress_gap" in fits:
        out.update(progress_gap_fit(rows, fits["progress_gap"].get("geo_metric", "top5"), n_resamples, seed))
    return out
