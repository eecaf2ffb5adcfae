"""Classification and calibration metrics as pure numpy functions.

Every function takes ``scores``/``probs`` of shape ``[N, K]`` and integer ``labels`` of shape ``[N]``
(indices into the K classes) and returns a float. Nothing here imports torch: metrics are
recomputed from stored predictions without touching a model.

Conventions (the protocol each number follows):

* **Top-k accuracy** ranks classes by score; among tied scores the *lower class index ranks
  first* (the same rule as ``np.argmax``/``torch.argmax`` for top-1). A sample is top-k correct when
  its true class ranks among the first ``k``. ``k`` larger than ``K`` is clipped to ``K``.
* **ECE** (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017): equal-width bins over
  the top-1 confidence, ``sum_b |acc_b - conf_b| * n_b / N``. Bin edges follow torchmetrics'
  ``MulticlassCalibrationError(norm="l1")``: edges ``linspace(0, 1, n_bins + 1)``, bins closed on the
  left ``[e_i, e_{i+1})``, and a confidence of exactly ``1.0`` (a saturated softmax) forms a bin of
  its own. Guo et al. close bins on the right instead; the two only differ for confidences lying
  exactly on an edge.
* **NLL**: mean ``-log p_true`` with ``p_true`` clipped at ``1e-12``.
* **Brier**: the multi-class Brier score (Brier 1950), mean over samples of
  ``sum_k (p_k - y_k)^2`` with one-hot ``y``; it ranges over ``[0, 2]``. For two classes it is twice
  the binary ``sklearn.metrics.brier_score_loss`` on the positive class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROB_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 (float32 softmax outputs drift by ~1e-7 per row;
anything beyond 1e-3 is almost surely logits passed where probabilities were expected)."""

NLL_CLIP = 1e-12

__all__ = [
    "ReliabilityCurve",
    "accuracy",
    "brier",
    "brier_per_sample",
    "calibration_bins",
    "correct_topk",
    "ece",
    "ece_batched",
    "nll",
    "nll_per_sample",
    "reliability_curve",
    "softmax",
    "validate_labels",
    "validate_probs",
    "validate_scores",
]


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_scores(scores: np.ndarray, labels: np.ndarray, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Check a ``[N, K]`` score matrix and ``[N]`` integer labels; return them as numpy arrays.

    Raises ``ValueError`` naming the problem: wrong shapes, no samples, non-finite scores, labels
    that are not integers or fall outside ``[0, K)``.

    Example:
        >>> s, y = validate_scores([[0.1, 0.9]], [1])
        >>> s.shape, y.tolist()
        ((1, 2), [1])
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array [N, K], got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype, np.complexfloating):
        raise ValueError(f"{what} must be real numbers, got dtype {scores.dtype}")
    n, k = scores.shape
    if n == 0 or k == 0:
        raise ValueError(f"{what} is empty (shape {scores.shape}); a metric needs at least one sample and class")
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{what} contain NaN or infinite values in {rows.size} of {n} rows (first: row {rows[0]}); "
            "check the model output before computing metrics"
        )
    labels = validate_labels(labels, n, k)
    return scores, labels


def validate_labels(labels: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """Check ``labels`` is an integer array of ``n`` class indices in ``[0, num_classes)``.

    Example:
        >>> validate_labels([0, 2], 2, 3).tolist()
        [0, 2]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array [N], got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"labels has {labels.shape[0]} entries but the scores have {n} rows")
    if labels.dtype.kind not in "iu":
        # Float labels that hold whole numbers (e.g. read back from a CSV) are accepted.
        if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
            labels = labels.astype(np.int64)
        else:
            raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(
            f"labels must lie in [0, {num_classes}) (the number of classes); found {bad.size} outside, "
            f"e.g. {int(bad[0])}"
        )
    return labels.astype(np.int64, copy=False)


def validate_probs(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`validate_scores`, and also check rows are probabilities (in [0, 1], summing to ~1).

    Example:
        >>> p, y = validate_probs([[0.25, 0.75]], [0])
        >>> p.dtype
        dtype('float64')
    """
    probs, labels = validate_scores(probs, labels, what="probs")
    probs = probs.astype(np.float64, copy=False)
    if probs.min() < -PROB_SUM_TOLERANCE or probs.max() > 1 + PROB_SUM_TOLERANCE:
        raise ValueError(
            f"probs must lie in [0, 1], found values in [{probs.min():.4g}, {probs.max():.4g}]; "
            "pass softmax(logits) rather than logits"
        )
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"rows of probs must sum to 1; {int(off.sum())} rows do not (row {row} sums to {sums[row]:.6g}); "
            "pass softmax(logits) rather than logits"
        )
    return probs, labels


# --------------------------------------------------------------------------------------------
# Basic transforms and accuracy
# --------------------------------------------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64.

    Subtracting the row maximum keeps ``exp`` from overflowing for large logits.

    Example:
        >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]])).round(3).tolist()
        [[0.5, 0.5], [1.0, 0.0]]
    """
    x = np.asarray(logits, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("logits contain NaN or infinite values; softmax is undefined")
    z = x - x.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def correct_topk(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> np.ndarray:
    """Per-sample top-k correctness: ``True`` where the true class ranks among the ``k`` highest scores.

    Ties rank the lower class index first (as ``np.argmax`` does), so a sample is correct iff
    ``#{j: s_j > s_y} + #{j < y: s_j == s_y} < k``. Counting instead of sorting costs O(N·K).
    ``k`` larger than the number of classes is clipped (every sample is then correct).

    Example:
        >>> correct_topk(np.array([[0.2, 0.5, 0.3], [0.5, 0.5, 0.0]]), np.array([2, 1]), k=1).tolist()
        [False, False]
        >>> correct_topk(np.array([[0.2, 0.5, 0.3], [0.5, 0.5, 0.0]]), np.array([2, 1]), k=2).tolist()
        [True, True]
    """
    scores, labels = validate_scores(scores, labels)
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = min(int(k), scores.shape[1])
    true_score = np.take_along_axis(scores, labels[:, None], axis=1)
    above = (scores > true_score).sum(axis=1)
    tied_before = ((scores == true_score) & (np.arange(scores.shape[1])[None, :] < labels[:, None])).sum(axis=1)
    return (above + tied_before) < k


def accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Top-k accuracy: the share of samples whose true class is among the ``k`` highest scores.

    ``scores`` may be logits or probabilities (the ranking is the same). Ties rank the lower class
    index first; see :func:`correct_topk`. This is the standard ImageNet top-1/top-5 protocol
    (Russakovsky et al., IJCV 2015).

    Example:
        >>> accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.6, 0.4]]), np.array([1, 0, 1]))
        0.6666666666666666
    """
    return float(correct_topk(scores, labels, k).mean())


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def _top1(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 confidence and correctness; argmax takes the first maximum, like torch."""
    pred = probs.argmax(axis=1)
    conf = probs[np.arange(probs.shape[0]), pred]
    return conf, (pred == labels)


def calibration_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each top-1 confidence, torchmetrics' convention: ``n_bins`` means ``n_bins + 1`` slots.

    Bin ``i < n_bins`` holds ``[i/n_bins, (i+1)/n_bins)``; slot ``n_bins`` holds confidences of
    exactly ``1.0`` (``torch.bucketize(conf, linspace(0, 1, n_bins + 1), right=True) - 1``).

    Example:
        >>> calibration_bins(np.array([0.0, 0.5, 0.99, 1.0]), 2).tolist()
        [0, 1, 1, 2]
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # Probabilities may overshoot [0, 1] by float error; clip so every sample lands in a slot.
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    return np.searchsorted(edges, conf, side="right") - 1


def _ece_from_bins(bins: np.ndarray, conf: np.ndarray, correct: np.ndarray, n_slots: int) -> float:
    # sum_b |acc_b - conf_b| * n_b / N  ==  sum_b |sum_{i in b} (correct_i - conf_i)| / N: one histogram
    # instead of three, and empty bins add 0 without a 0/0.
    residual = np.bincount(bins, weights=correct.astype(np.float64) - conf, minlength=n_slots)
    return float(np.abs(residual).sum() / conf.shape[0])


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error (L1, top-label) with ``n_bins`` equal-width confidence bins.

    ``ECE = sum_b |acc_b - conf_b| * n_b / N`` (Guo et al., ICML 2017; Naeini et al., AAAI 2015).
    ImageNet-X uses 15 bins, the synthetic-clone benchmark 20. Binning matches
    ``torchmetrics.classification.MulticlassCalibrationError(norm="l1")``: left-closed bins and a
    separate slot for confidences of exactly 1.0 (see :func:`calibration_bins`).

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.4, 0.6]])
        >>> round(ece(probs, np.array([0, 1, 1, 1]), n_bins=2), 6)  # one bin: |0.75 - 0.775|
        0.025
    """
    probs, labels = validate_probs(probs, labels)
    conf, correct = _top1(probs, labels)
    bins = calibration_bins(conf, n_bins)
    return _ece_from_bins(bins, conf, correct, int(n_bins) + 1)


def ece_batched(bins: np.ndarray, conf: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of many resamples at once: inputs ``[R, N]`` (per-sample bin, confidence, correctness).

    Offsetting each resample's bin ids by ``r * (n_bins + 1)`` turns R histograms into one
    ``bincount``, which is what makes a 1000-resample bootstrap of ECE fast.

    Example:
        >>> c = np.array([[0.9, 0.9, 0.7, 0.6]]); ok = np.array([[1, 0, 1, 1]])
        >>> ece_batched(calibration_bins(c, 2), c, ok, 2).round(6).tolist()
        [0.025]
    """
    bins = np.atleast_2d(bins)
    conf = np.atleast_2d(conf).astype(np.float64, copy=False)
    correct = np.atleast_2d(correct).astype(np.float64, copy=False)
    r, n = bins.shape
    slots = int(n_bins) + 1
    flat = (bins + slots * np.arange(r)[:, None]).ravel()
    residual = np.bincount(flat, weights=(correct - conf).ravel(), minlength=r * slots).reshape(r, slots)
    return np.abs(residual).sum(axis=1) / n


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin statistics of a reliability diagram (Guo et al., ICML 2017, Fig. 1).

    ``bin_edges`` has ``n_bins + 1`` entries; the other arrays ``n_bins``. Empty bins have
    ``bin_count == 0`` and NaN confidence/accuracy. For plotting, the last bin is closed
    (confidences of exactly 1.0 are counted in it); ``ece`` is computed with :func:`ece`'s
    torchmetrics convention, so it is the number to quote.

    Example:
        >>> curve = reliability_curve(np.array([[0.8, 0.2], [0.7, 0.3]]), np.array([0, 1]), n_bins=5)
        >>> curve.n, curve.bin_count.tolist()
        (2, [0, 0, 0, 1, 1])
        >>> curve.gap[3:].round(2).tolist()
        [0.7, -0.2]
    """

    bin_edges: np.ndarray
    bin_confidence: np.ndarray
    bin_accuracy: np.ndarray
    bin_count: np.ndarray
    ece: float = float("nan")

    @property
    def n(self) -> int:
        """Number of samples the curve was computed from."""
        return int(self.bin_count.sum())

    @property
    def gap(self) -> np.ndarray:
        """``bin_confidence - bin_accuracy`` (positive: over-confident)."""
        return self.bin_confidence - self.bin_accuracy


def reliability_curve(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> ReliabilityCurve:
    """Reliability diagram data: mean confidence, accuracy and count per equal-width confidence bin.

    Same bins as :func:`ece` (Guo et al., ICML 2017), except that exact-1.0 confidences are folded
    into the last bin so the curve has exactly ``n_bins`` points.

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.4, 0.6]])
        >>> curve = reliability_curve(probs, np.array([0, 1, 1, 1]), n_bins=2)
        >>> curve.bin_count.tolist(), curve.bin_accuracy.tolist(), round(curve.ece, 6)
        ([0, 4], [nan, 0.75], 0.025)
    """
    probs, labels = validate_probs(probs, labels)
    conf, correct = _top1(probs, labels)
    slots = calibration_bins(conf, n_bins)
    value = _ece_from_bins(slots, conf, correct, int(n_bins) + 1)
    bins = np.minimum(slots, int(n_bins) - 1)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / count
        mean_acc = np.bincount(bins, weights=correct.astype(np.float64), minlength=n_bins) / count
    return ReliabilityCurve(
        bin_edges=np.linspace(0.0, 1.0, int(n_bins) + 1),
        bin_confidence=mean_conf,
        bin_accuracy=mean_acc,
        bin_count=count.astype(np.int64),
        ece=value,
    )


# --------------------------------------------------------------------------------------------
# Proper scoring rules
# --------------------------------------------------------------------------------------------


def nll_per_sample(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample negative log-likelihood ``-log max(p_true, 1e-12)``.

    Example:
        >>> nll_per_sample(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 1])).round(3).tolist()
        [0.693, 27.631]
    """
    probs, labels = validate_probs(probs, labels)
    p_true = probs[np.arange(probs.shape[0]), labels]
    return -np.log(np.clip(p_true, NLL_CLIP, None))


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (cross-entropy), clipping ``p_true`` at 1e-12.

    The clip bounds a single confidently wrong sample's contribution at ``-log(1e-12) ≈ 27.6``
    (as ``sklearn.metrics.log_loss`` does with its eps). Protocol: Quiñonero-Candela et al. 2006;
    used as a calibration metric by Guo et al., ICML 2017.

    Example:
        >>> round(nll(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1])), 4)
        0.4904
    """
    return float(nll_per_sample(probs, labels).mean())


def brier_per_sample(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample multi-class Brier score ``sum_k (p_k - y_k)^2``.

    Expanded as ``sum_k p_k^2 - 2 p_true + 1`` so no one-hot matrix is materialised.

    Example:
        >>> brier_per_sample(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0, 0])).tolist()
        [0.5, 0.0]
    """
    probs, labels = validate_probs(probs, labels)
    p_true = probs[np.arange(probs.shape[0]), labels]
    return np.maximum((probs * probs).sum(axis=1) - 2.0 * p_true + 1.0, 0.0)


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over samples of ``sum_k (p_k - y_k)^2`` (Brier 1950), in [0, 2].

    This is the original multi-category definition (summed over classes, not averaged); for two
    classes it equals ``2 * sklearn.metrics.brier_score_loss(y == 1, p_1)``.

    Example:
        >>> brier(np.array([[0.5, 0.5], [0.25, 0.75]]), np.array([0, 1]))
        0.3125
    """
    return float(brier_per_sample(probs, labels).mean())
