"""Calibration errors beyond the equal-width top-1 ECE (which lives in ``classification.ece``).

Protocol (DESIGN.md, "Calibration"): ECE with equal-width bins over top-1 confidence, plus adaptive ECE
and class-wise ECE. Inputs are probabilities ``probs`` ``[N, K]`` (rows summing to 1) and integer
``labels`` ``[N]``; every function returns a float in ``[0, 1]``.

* :func:`adaptive_ece` -- equal-*mass* bins over the top-1 confidence (adaptive binning of Nixon et al.,
  "Measuring Calibration in Deep Learning", CVPR-W 2019; the top-label form is the "AdaECE" of
  Mukhoti et al., NeurIPS 2020). Samples are sorted by confidence (stable sort, so ties keep input
  order) and split into ``n_bins`` consecutive groups whose sizes differ by at most one
  (``np.array_split``); tied confidences may therefore straddle a bin boundary. Bins are weighted by
  their share of samples, ``sum_b n_b / N * |acc_b - conf_b|``, exactly as in the equal-width ECE, so
  when the two partitions coincide the two numbers are equal. (Nixon et al.'s "ACE" additionally averages
  over classes; that class-wise adaptive variant is not computed here.)
* :func:`classwise_ece` -- Kull et al., "Beyond temperature scaling", NeurIPS 2019: for every class
  ``j``, equal-width bins over ``p_j`` (all samples), ``sum_b n_b / N * |freq_b(y == j) - mean_b(p_j)|``;
  averaged over the ``K`` classes. Binning follows :func:`robustscope.metrics.classification.calibration_bins`
  (left-closed bins, a probability of exactly 1.0 in its own slot).
"""

from __future__ import annotations

import numpy as np

from robustscope.metrics.classification import calibration_bins, validate_probs

__all__ = ["adaptive_ece", "classwise_ece"]


def _check_n_bins(n_bins: int) -> int:
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return int(n_bins)


def _binned_gap(bins: np.ndarray, prob: np.ndarray, outcome: np.ndarray, n_slots: int) -> float:
    """``sum_b |mean_b(outcome) - mean_b(prob)| * n_b / N`` for integer bin ids in ``[0, n_slots)``."""
    counts = np.bincount(bins, minlength=n_slots)
    diff = np.bincount(bins, weights=outcome - prob, minlength=n_slots)  # n_b * (freq_b - conf_b)
    return float(np.abs(diff).sum() / max(counts.sum(), 1))


def adaptive_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Adaptive (equal-mass) expected calibration error over top-1 confidence; ``[N, K]``, ``[N]`` -> float.

    Nixon et al. (CVPR-W 2019) adaptive binning, top-label form (AdaECE). Ties in confidence are broken
    by input order; with ``n_bins > N`` the surplus bins are empty and contribute nothing.

    Example:
        >>> probs = np.array([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]])
        >>> labels = np.array([0, 1, 0, 0])  # bins {0.6, 0.7}: acc 0.5 conf 0.65; {0.8, 0.9}: acc 1 conf 0.85
        >>> round(adaptive_ece(probs, labels, n_bins=2), 6)  # (0.15 + 0.15) / 2
        0.15
    """
    probs, labels = validate_probs(probs, labels)
    n_bins = _check_n_bins(n_bins)
    conf = probs.max(axis=1).astype(np.float64)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    order = np.argsort(conf, kind="stable")
    bins = np.empty(conf.size, dtype=np.int64)
    for b, idx in enumerate(np.array_split(order, n_bins)):
        bins[idx] = b
    return _binned_gap(bins, conf, correct, n_bins)


def classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Class-wise ECE (Kull et al., NeurIPS 2019): per-class equal-width bins, averaged over classes.

    ``(1/K) sum_j sum_b n_jb / N * |mean_b(1[y == j]) - mean_b(p_j)|`` with bins over each class's own
    probability ``p_j`` (``probs[:, j]``). Input ``[N, K]`` and ``[N]``; returns a float.

    Example:
        >>> probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
        >>> labels = np.array([0, 1, 1])
        >>> # class 0: bin [0, .5) {0.3}, y=0 -> 0.3; bin [.5, 1) {0.8, 0.6}, freq 0.5 -> 2 * 0.2; same for class 1
        >>> round(classwise_ece(probs, labels, n_bins=2), 6)  # (0.3 + 0.4) / 3
        0.233333
    """
    probs, labels = validate_probs(probs, labels)
    n_bins = _check_n_bins(n_bins)
    k = probs.shape[1]
    total = 0.0
    for j in range(k):
        p_j = probs[:, j].astype(np.float64)
        total += _binned_gap(calibration_bins(p_j, n_bins), p_j, (labels == j).astype(np.float64), n_bins + 1)
    return total / k
