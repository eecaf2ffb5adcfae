"""The linear probe: how linearly decodable a class is from frozen embeddings, under one fixed protocol.

Protocol (robustscope's, fixed and deterministic for a seed; the SSL cookbook — Balestriero et al., "A Cookbook of
Self-Supervised Learning", 2023, §4 — notes that probe numbers are only comparable under one protocol):

1. ``StandardScaler`` fitted on the training embeddings (applied to train and test).
2. A stratified hold-out of ``held_out`` (20%) of the training samples, drawn with ``seed``.
3. ``LogisticRegression(C, solver="lbfgs", max_iter=1000)`` (multinomial, L2) for each C in :data:`PROBE_GRID`, fitted
   on the rest; the C with the best held-out accuracy wins (ties: the smaller C, the stronger regularisation).
4. Refit with that C on the whole training set; predict the test set.

scikit-learn does the fitting (imported when a probe runs). :func:`linear_probe` returns the test predictions, so
accuracy and its bootstrap CI are computed like any other per-sample metric, and the chosen C is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PROBE_GRID", "ProbeResult", "linear_probe"]

#: Inverse regularisation strengths tried, weakest regularisation last.
PROBE_GRID: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


@dataclass
class ProbeResult:
    """A fitted linear probe's test predictions and how it was chosen.

    Attributes:
        predictions: ``[N_test]`` predicted class index.
        probabilities: ``[N_test, C]`` over the classes seen in training (``classes``).
        c: the chosen inverse regularisation strength.
        held_out_accuracy: C → accuracy on the held-out part of train.
        classes: the label values the probe knows (sorted).
        weight, bias: the probe as one linear layer on the *raw* features (the scaler folded in): ``[K, D]`` and
            ``[K]``, one row per value of ``classes`` (a binary probe's single row ``w`` becomes ``[−w/2, w/2]``,
            whose softmax is the logistic regression's sigmoid).
    """

    predictions: np.ndarray
    probabilities: np.ndarray
    c: float
    held_out_accuracy: dict[float, float] = field(default_factory=dict)
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _fit(c: float, x: np.ndarray, y: np.ndarray, seed: int) -> Any:  # a fitted scikit-learn LogisticRegression
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, solver="lbfgs", max_iter=1000, random_state=seed).fit(x, y)


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    *,
    grid: tuple[float, ...] = PROBE_GRID,
    held_out: float = 0.2,
    seed: int = 0,
) -> ProbeResult:
    """Fit the protocol's probe on ``train_features`` and predict ``test_features``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 40)
        >>> x = rng.normal(size=(80, 4)) + y[:, None] * 3
        >>> result = linear_probe(x, y, np.array([[0.0] * 4, [3.0] * 4]))
        >>> result.predictions.tolist(), result.c in PROBE_GRID
        ([0, 1], True)
        >>> ((np.array([[0.0] * 4, [3.0] * 4]) @ result.weight.T + result.bias).argmax(1)).tolist()  # folded layer
        [0, 1]
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    train_labels = np.asarray(train_labels)
    if len(np.unique(train_labels)) < 2:
        raise ValueError("a linear probe needs at least two classes in the training embeddings")
    scaler = StandardScaler().fit(train_features)
    x_train, x_test = scaler.transform(train_features), scaler.transform(test_features)
    fit_x, val_x, fit_y, val_y = train_test_split(x_train, train_labels, test_size=held_out, random_state=seed,
                                                  stratify=train_labels)  # fmt: skip
    scores = {c: float((_fit(c, fit_x, fit_y, seed).predict(val_x) == val_y).mean()) for c in sorted(grid)}
    best = max(scores, key=lambda c: (scores[c], -c))
    probe = _fit(best, x_train, train_labels, seed)
    coef, intercept = probe.coef_, probe.intercept_
    if coef.shape[0] == 1:  # binary: one logit; as two logits with the same softmax
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = coef / scaler.scale_
    bias = intercept - weight @ scaler.mean_
    return ProbeResult(probe.predict(x_test), probe.predict_proba(x_test), best, scores, probe.classes_, weight, bias)
