"""Which factor columns to slice metrics by, and how: categorical values as they are, continuous
factors (pose angles, scale, light intensity…) in equal-width bins.

Pure functions of pandas columns; :func:`robustscope.metrics.registry.compute_metrics` then
computes every metric per slice value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: A factor with more distinct numeric values than this is binned rather than sliced per value.
MAX_EXACT_NUMERIC_VALUES = 12
#: A categorical factor with more distinct values than this is not sliced by ``"all"``.
MAX_CATEGORICAL_VALUES = 32
DEFAULT_NUMERIC_BINS = 6

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def natural_key(value: Any) -> tuple[int, float, str]:
    """Sort key for slice values: numbers by value, bins ``"[a, b)"`` by their lower edge, text by text.

    Example:
        >>> sorted(["10", "2", "[-120, -60)", "[-180, -120)", "sky"], key=natural_key)
        ['[-180, -120)', '[-120, -60)', '2', '10', 'sky']
    """
    text = str(value)
    try:
        return (0, float(text), "")
    except ValueError:
        pass
    if text[:1] in "[(":
        match = _NUMBER.search(text)
        if match:
            return (0, float(match.group()), text)
    return (1, 0.0, text)


def _format_edge(edge: float, decimals: int = 3) -> str:
    text = f"{round(edge, decimals) + 0.0:.{decimals}f}"  # + 0.0 turns -0.0 into 0.0
    return text.rstrip("0").rstrip(".") if "." in text else text


def _label_decimals(low: float, high: float) -> int:
    # Two significant digits of the factor's span: yaw over 360° gets whole degrees, a scale
    # over 0.25 gets hundredths.
    return max(0, 1 - int(np.floor(np.log10(high - low))))


def bin_numeric(values: pd.Series, n_bins: int = DEFAULT_NUMERIC_BINS) -> pd.Series:
    """Equal-width bins between the column's min and max, labelled ``"[low, high)"`` (last bin closed).

    Labels round the edges to two significant digits of the span (the bins themselves use the
    exact edges). Missing values stay missing.

    Example:
        >>> bin_numeric(pd.Series([0.0, 1.0, 2.5, 4.0]), n_bins=2).tolist()
        ['[0, 2)', '[0, 2)', '[2, 4]', '[2, 4]']
        >>> bin_numeric(pd.Series([0.751, 0.8, 0.999]), n_bins=2).tolist()
        ['[0.75, 0.88)', '[0.75, 0.88)', '[0.88, 1]']
    """
    numbers = pd.to_numeric(values, errors="coerce")
    low, high = float(numbers.min()), float(numbers.max())
    if not np.isfinite(low) or low == high:
        return numbers.map(lambda v: None if pd.isna(v) else _format_edge(v))
    edges = np.linspace(low, high, n_bins + 1)
    index = np.clip(np.searchsorted(edges, numbers.to_numpy(), side="right") - 1, 0, n_bins - 1)
    decimals = _label_decimals(low, high)
    shown = [_format_edge(edge, decimals) for edge in edges]
    labels = [f"[{shown[i]}, {shown[i + 1]}{']' if i == n_bins - 1 else ')'}" for i in range(n_bins)]
    return pd.Series([None if pd.isna(v) else labels[i] for v, i in zip(numbers, index, strict=True)],
                     index=values.index, dtype=object)


def _is_numeric(column: pd.Series) -> bool:
    present = column.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().all()


def slicing_frame(factors: pd.DataFrame, columns: Sequence[str] | str | None = "all",
                  n_bins: int = DEFAULT_NUMERIC_BINS) -> pd.DataFrame:
    """The factor table to slice by: chosen columns, continuous ones binned.

    Args:
        factors: one row per sample, one column per factor.
        columns: factor names; ``"all"`` picks every informative factor — at least two distinct
            values, not a copy of an earlier column, and either numeric (binned when it has more
            than 12 values) or categorical with at most 32 values; ``None`` picks none.
        n_bins: bins of a continuous factor.

    Example:
        >>> f = pd.DataFrame({"yaw": np.linspace(-180, 180, 50), "bg": ["sky", "night"] * 25,
        ...                   "camera": [0.0] * 50, "world": ["sky", "night"] * 25})
        >>> frame = slicing_frame(f, "all", n_bins=3)
        >>> list(frame.columns), sorted(frame["yaw"].unique(), key=natural_key)
        (['yaw', 'bg'], ['[-180, -60)', '[-60, 60)', '[60, 180]'])
    """
    if columns is None:
        return pd.DataFrame(index=factors.index)
    automatic = isinstance(columns, str) and columns == "all"
    chosen = list(factors.columns) if automatic else ([columns] if isinstance(columns, str) else list(columns))
    out: dict[str, pd.Series] = {}
    seen: list[pd.Series] = []
    for name in chosen:
        column = factors[name]
        distinct = column.nunique(dropna=True)
        if automatic and (distinct < 2 or any(column.equals(other) for other in seen)):
            continue
        seen.append(column)
        if _is_numeric(column) and distinct > MAX_EXACT_NUMERIC_VALUES:
            out[name] = bin_numeric(column, n_bins)
        elif automatic and distinct > MAX_CATEGORICAL_VALUES:
            continue
        else:
            out[name] = column.astype(object).where(column.notna(), None).map(
                lambda v: v if v is None else str(v))
    return pd.DataFrame(out, index=factors.index)
