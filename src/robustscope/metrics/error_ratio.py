"""The Dollar Street factor error ratio: which annotated factors a group's mistakes over-represent.

L. Gustafson, M. Richards, M. Hall, C. Hazirbas, D. Bouchacourt, M. Ibrahim, "Pinpointing Why Object Recognition
Performance Degrades Across Income Levels and Geographies", 2023 (arXiv:2304.05391; code
``facebookresearch/dollarstreet_factors``). Its **error ratio** of factor f for a group (an income bucket, a
region, a country, or all images) is (p_group(f) − p_total(f)) / p_total(f), where p_group(f) is f's share of the
factor annotations of the group's top-5 *mistakes* and p_total(f) its share over *all* annotated images; factors
counted 5 times or fewer are zeroed first (``ErrorRatio._compute_error_ratio`` and ``filter_low_count_factors``).

Used by the ``geography`` axis (:mod:`robustscope.suites.geography`). Confidence intervals are percentile
bootstraps over images (Efron & Tibshirani 1993).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import percentile_interval, resample_indices

__all__ = ["factor_error_ratio", "factor_error_ratio_table"]


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
    ratio = _ratios(table[chosen].sum(axis=0)[None], table.sum(axis=0)[None], min_count)[0]
    return pd.Series(ratio, index=columns, name="error_ratio").sort_values(ascending=False, na_position="last")


def _ratios(counts_group: np.ndarray, counts_total: np.ndarray, min_count: int) -> np.ndarray:
    """Row-wise error ratios of ``[R, F]`` factor counts: one row for :func:`factor_error_ratio`, one per
    bootstrap resample for :func:`factor_error_ratio_table`."""
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
