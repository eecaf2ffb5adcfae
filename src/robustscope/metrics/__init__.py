"""robustscope.metrics: pure numpy metrics, bootstrap intervals and result rows.

Example:
    >>> import numpy as np
    >>> from robustscope.metrics import accuracy
    >>> accuracy(np.array([[0.2, 0.8]]), np.array([1]))
    1.0
"""

from __future__ import annotations

from robustscope.metrics.bootstrap import bootstrap_ci
from robustscope.metrics.classification import (
    ReliabilityCurve,
    accuracy,
    brier,
    correct_topk,
    ece,
    nll,
    reliability_curve,
    softmax,
)
from robustscope.metrics.metric import Metric
from robustscope.metrics.ood import aupr, auroc, fpr_at_tpr, ood_score
from robustscope.metrics.registry import METRIC_COLUMNS, METRICS, compute_metrics, get_metric

__all__ = [
    "METRICS",
    "METRIC_COLUMNS",
    "Metric",
    "ReliabilityCurve",
    "accuracy",
    "aupr",
    "auroc",
    "bootstrap_ci",
    "brier",
    "compute_metrics",
    "correct_topk",
    "ece",
    "fpr_at_tpr",
    "get_metric",
    "nll",
    "ood_score",
    "reliability_curve",
    "softmax",
]
