"""Out-of-distribution detection scores and metrics as pure numpy functions.

Protocol (DESIGN.md, "OOD detection"): the in-distribution (ID) test set is the *positive* class.
Every score follows one convention: **higher score = more in-distribution**. A detector accepts a
sample as ID when its score is ``>=`` a threshold.

* :func:`ood_score` turns ``[N, K]`` logits into ``[N]`` scores: ``msp`` (maximum softmax probability,
  Hendrycks & Gimpel, ICLR 2017), ``maxlogit`` (Hendrycks et al., ICML 2022, "Scaling OOD detection"),
  ``entropy`` (the *negated* predictive entropy, the synthetic-clone benchmark's choice) and ``energy``
  (``T * logsumexp(logits / T)`` with ``T = 1``, i.e. the negative free energy; Liu et al., NeurIPS 2020).
* :func:`auroc`: area under the ROC curve, ties between an ID and an OOD score count one half
  (Mann-Whitney); equals ``sklearn.metrics.roc_auc_score`` with ID labelled 1.
* :func:`aupr`: average precision with ID as positive, the step-wise sum ``sum_n (R_n - R_{n-1}) P_n``
  over distinct thresholds (no interpolation); equals ``sklearn.metrics.average_precision_score``.
* :func:`fpr_at_tpr`: the fraction of OOD samples accepted at the *largest* threshold that accepts at
  least ``tpr`` of the ID samples. Ties: every sample whose score equals the threshold is accepted, so
  OOD samples tied with the threshold count as false positives and the achieved TPR may exceed ``tpr``.
  This is the first point of ``sklearn.metrics.roc_curve`` with ``TPR >= tpr``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from robustscope.metrics.classification import validate_scores

OodMethod = Literal["msp", "maxlogit", "entropy", "energy"]
OOD_METHODS: tuple[str, ...] = ("msp", "maxlogit", "entropy", "energy")

__all__ = ["OOD_METHODS", "aupr", "auroc", "fpr_at_tpr", "ood_score"]


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    return logits - _logsumexp(logits)[:, None]


def ood_score(logits: np.ndarray, method: OodMethod = "msp", temperature: float = 1.0) -> np.ndarray:
    """Per-sample ID-ness score from ``[N, K]`` logits; higher = more in-distribution. Returns ``[N]``.

    ``msp``: ``max_k softmax(z)_k`` (Hendrycks & Gimpel 2017); ``maxlogit``: ``max_k z_k``;
    ``entropy``: ``sum_k p_k log p_k`` (negated entropy, so a confident prediction scores high);
    ``energy``: ``T * logsumexp(z / T)`` = negative energy (Liu et al., "Energy-based
    Out-of-distribution Detection", NeurIPS 2020), ``T = 1`` by default. ``temperature`` only
    affects ``energy``. Computed in float64 with max-shifting, so large logits do not overflow.

    Example:
        >>> z = np.array([[2.0, 0.0], [0.0, 0.0]])
        >>> ood_score(z, "msp").round(4).tolist()
        [0.8808, 0.5]
        >>> ood_score(z, "maxlogit").tolist()
        [2.0, 0.0]
        >>> ood_score(z, "entropy").round(4).tolist()  # -H; the uniform row scores -log 2
        [-0.3653, -0.6931]
        >>> ood_score(z, "energy").round(4).tolist()
        [2.1269, 0.6931]
    """
    if method not in OOD_METHODS:
        raise ValueError(f"unknown OOD score method {method!r}; choose one of {OOD_METHODS}")
    z = np.asarray(logits)
    if z.ndim != 2:
        raise ValueError(f"logits must be a 2-D array [N, K], got shape {z.shape}")
    z, _ = validate_scores(z, np.zeros(z.shape[0], dtype=np.int64), what="logits")
    z = z.astype(np.float64)
    if method == "maxlogit":
        return z.max(axis=1)
    if method == "energy":
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        return temperature * _logsumexp(z / temperature)
    log_p = _log_softmax(z)
    if method == "msp":
        return np.exp(log_p.max(axis=1))
    return (np.exp(log_p) * log_p).sum(axis=1)  # entropy: -H(p)


def _check_scores(id_scores: np.ndarray, ood_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    id_s = np.asarray(id_scores, dtype=np.float64).ravel()
    ood_s = np.asarray(ood_scores, dtype=np.float64).ravel()
    if id_s.size == 0 or ood_s.size == 0:
        raise ValueError(f"need at least one ID and one OOD score, got {id_s.size} ID and {ood_s.size} OOD")
    if not (np.isfinite(id_s).all() and np.isfinite(ood_s).all()):
        raise ValueError("OOD detection scores must be finite")
    return id_s, ood_s


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (``scipy.stats.rankdata(method='average')``)."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    _, first, counts = np.unique(sorted_vals, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0  # mean of ranks first+1 .. first+count
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks


def auroc(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """AUROC of separating ID (positive) from OOD by score; ``[N_id]`` and ``[N_ood]`` in, float out.

    ``P(s_id > s_ood) + 0.5 * P(s_id == s_ood)`` via the Mann-Whitney rank sum; equals
    ``sklearn.metrics.roc_auc_score`` on labels ``[1]*N_id + [0]*N_ood``. OOD protocol of the
    synthetic-clone benchmark (Hendrycks & Gimpel, ICLR 2017).

    Example:
        >>> auroc([3.0, 2.0], [1.0, 2.0])  # 3 wins of 4 pairs plus one tie at 2.0
        0.875
    """
    id_s, ood_s = _check_scores(id_scores, ood_scores)
    ranks = _average_ranks(np.concatenate([id_s, ood_s]))
    n_id, n_ood = id_s.size, ood_s.size
    u = ranks[:n_id].sum() - n_id * (n_id + 1) / 2.0
    return float(u / (n_id * n_ood))


def _roc_counts(id_s: np.ndarray, ood_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (true positives, false positives) at each distinct threshold, highest first."""
    scores = np.concatenate([id_s, ood_s])
    is_id = np.concatenate([np.ones(id_s.size), np.zeros(ood_s.size)])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_id = scores[order], is_id[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]
    tps = np.cumsum(is_id)[last_of_value]
    fps = (last_of_value + 1) - tps
    return tps, fps


def aupr(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """Area under the precision-recall curve with ID as positive, as average precision; float out.

    ``AP = sum_n (R_n - R_{n-1}) * P_n`` over distinct score thresholds taken from the highest down
    (all samples tied at a threshold enter together); equals ``sklearn.metrics.average_precision_score``
    on labels ``[1]*N_id + [0]*N_ood``. Inputs ``[N_id]`` and ``[N_ood]``. This is "AUPR-In" of
    Hendrycks & Gimpel (ICLR 2017); swap the arguments and negate the scores for AUPR-Out.

    Example:
        >>> aupr([3.0, 1.0], [2.0, 0.0])  # recall 1/2 at precision 1, then 1 at precision 2/3
        0.8333333333333333
    """
    id_s, ood_s = _check_scores(id_scores, ood_scores)
    tps, fps = _roc_counts(id_s, ood_s)
    precision = tps / (tps + fps)
    recall = tps / id_s.size
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fpr_at_tpr(id_scores: np.ndarray, ood_scores: np.ndarray, tpr: float = 0.95) -> float:
    """False-positive rate on OOD at the threshold where ``tpr`` of ID is accepted ("FPR@95"); float out.

    The threshold is the largest score ``t`` with ``mean(id_scores >= t) >= tpr``; the result is
    ``mean(ood_scores >= t)``. Tie convention: samples scoring exactly ``t`` are accepted, so OOD ties
    count as false positives (pessimistic) and the achieved TPR can exceed ``tpr``. Same as reading
    ``fpr`` at the first index where ``tpr_curve >= tpr`` on ``sklearn.metrics.roc_curve``.
    Inputs ``[N_id]`` and ``[N_ood]``. Protocol: Hendrycks & Gimpel (ICLR 2017); Liang et al. (ODIN, 2018).

    Example:
        >>> ids = np.arange(1.0, 21.0)                # 20 ID scores 1..20: t = 2 accepts 19/20 = 95%
        >>> fpr_at_tpr(ids, [0.0, 1.5, 2.0, 5.0])     # 2.0 (a tie) and 5.0 pass
        0.5
    """
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f"tpr must lie in (0, 1], got {tpr!r}")
    id_s, ood_s = _check_scores(id_scores, ood_scores)
    tps, fps = _roc_counts(id_s, ood_s)
    reached = np.flatnonzero(tps / id_s.size >= tpr)
    return float(fps[reached[0]] / ood_s.size)
