"""What a metric is: :class:`Metric` (a function with its protocol) and the built-in metrics' constructors.

Each :class:`Metric` carries the protocol its number follows (parameters, paper, direction), and
that protocol travels into every result row as JSON together with how its confidence interval was
computed, so a stored number always says what it means. The constructors here build the metrics that
:data:`robustscope.metrics.registry.METRICS` names; :func:`~robustscope.metrics.registry.compute_metrics`
turns logits into result rows with them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

import numpy as np

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
)

__all__ = [
    "GUO_PAPER",
    "Metric",
    "PerSample",
    "binned_calibration_metric",
    "brier_metric",
    "ece_metric",
    "nll_metric",
    "topk_metric",
]

PerSample = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]


@dataclass(frozen=True)
class Metric:
    """A named metric: ``fn(inputs, labels) -> float`` where ``inputs`` are ``probs`` or ``logits``.

    ``protocol`` holds ``name``, ``parameters``, ``paper`` and ``higher_is_better``. The optional
    ``per_sample``/``batched`` pair makes the bootstrap fast: ``per_sample(inputs, labels)`` returns
    1-D per-sample arrays, and ``batched`` maps those arrays resampled to ``[R, N]`` to ``R`` values.
    Without them the bootstrap calls ``fn`` once per resample.

    Example:
        >>> m = topk_metric(1)
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
            >>> topk_metric(5).for_num_classes(3).protocol["parameters"]["k"]
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
#: The calibration paper behind ECE and NLL (the registry cites it for its ECE variants too).
GUO_PAPER = "Guo et al., On Calibration of Modern Neural Networks, ICML 2017"
_ECE_BINNING = (
    "equal-width bins over top-1 confidence, left-closed [lo, hi), confidence exactly 1.0 in its own "
    "slot (as torchmetrics MulticlassCalibrationError, norm='l1')"
)


def topk_metric(k: int) -> Metric:
    """Top-``k`` accuracy on logits (ties rank the lower class index first), bootstrapped per sample.

    Example:
        >>> m = topk_metric(2)
        >>> m.name, m.fn(np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]), np.array([1, 0]))
        ('top2', 0.5)
    """
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


def ece_metric(name: str, n_bins: int, paper: str) -> Metric:
    """Expected calibration error with ``n_bins`` equal-width bins over top-1 confidence (L1 norm).

    Example:
        >>> m = ece_metric("ece10", 10, GUO_PAPER)
        >>> m.input, m.protocol["parameters"]["n_bins"], m.fn(np.array([[1.0, 0.0]]), np.array([0]))
        ('probs', 10, 0.0)
    """
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


def nll_metric() -> Metric:
    """Mean negative log-likelihood (natural log) of the true class, probabilities clipped at 1e-12.

    Example:
        >>> round(nll_metric().fn(np.array([[0.5, 0.5]]), np.array([0])), 4)
        0.6931
    """
    return Metric(
        name="nll",
        fn=nll,
        input="probs",
        protocol={
            "name": "nll",
            "parameters": {"clip": 1e-12, "reduction": "mean", "log": "natural"},
            "paper": GUO_PAPER,
            "higher_is_better": False,
        },
        summary="negative log-likelihood of the true class",
        per_sample=_nll_per_sample,
        batched=_rows_mean,
    )


def brier_metric() -> Metric:
    """Multi-class Brier score: mean over samples of the sum over classes of ``(p_k - y_k)^2`` (range [0, 2]).

    Example:
        >>> brier_metric().fn(np.array([[0.5, 0.5]]), np.array([0]))
        0.5
    """
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


def binned_calibration_metric(
    name: str, fn: Callable[..., float], n_bins: int, binning: str, paper: str, summary: str
) -> Metric:
    """A calibration error ``fn(probs, labels, n_bins=…)`` whose bins are described by ``binning``.

    Example:
        >>> from robustscope.metrics.calibration import adaptive_ece
        >>> m = binned_calibration_metric("a", adaptive_ece, 5, "equal-mass", "paper", "adaptive ECE")
        >>> m.protocol["parameters"], m.per_sample is None
        ({'n_bins': 5, 'binning': 'equal-mass'}, True)
    """
    # No per-sample decomposition: the bootstrap calls ``fn`` once per resample.
    return Metric(
        name=name,
        fn=partial(fn, n_bins=n_bins),
        input="probs",
        protocol={"name": name, "parameters": {"n_bins": n_bins, "binning": binning}, "paper": paper,
                  "higher_is_better": False},
        summary=summary,
    )
