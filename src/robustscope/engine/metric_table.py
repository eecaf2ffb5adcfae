"""Metric rows of stored predictions: the one function both an evaluation and ``results --rebuild`` call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np  # noqa: F401  (used by the doctest)
import pandas as pd

from robustscope.engine.predictions import Predictions
from robustscope.metrics.registry import compute_metrics
from robustscope.metrics.slicing import slicing_frame

__all__ = ["metric_table"]


def metric_table(
    predictions: Predictions,
    metrics: Sequence[str],
    slice_by: str | Sequence[str] | None = None,
    binned: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Metric rows (``metric … protocol``) of ``predictions``, whole set first, then each slice.

    ``binned=False`` slices by the factor columns as they are; ``binned=True`` slices as
    :func:`robustscope.evaluate` does (:func:`~robustscope.metrics.slicing.slicing_frame`: ``"all"``
    picks every informative factor, continuous ones in equal-width bins). ``robustscope results --rebuild``
    recomputes an evaluation's rows with this same function, so the rebuilt numbers are the same.

    Example:
        >>> from robustscope.engine.predictions import Predictions
        >>> p = Predictions(np.array(["a", "b"]), np.array([[2.0, 0.0], [2.0, 0.0]]), np.array([0, 1]),
        ...                 pd.DataFrame({"pose": ["front", "side"]}), ["cat", "dog"])
        >>> metric_table(p, ["top1"], ["pose"], n_resamples=0)[["slice_value", "value"]].values.tolist()
        [['', 0.5], ['front', 1.0], ['side', 0.0]]
    """
    factors = predictions.factors
    if binned:
        factors = slicing_frame(factors, slice_by)
        slice_by = list(factors.columns)
    elif isinstance(slice_by, str):
        slice_by = [slice_by]
    return compute_metrics(
        predictions.logits, predictions.labels, factors, metrics, slice_by=slice_by, n_resamples=n_resamples, seed=seed
    )
