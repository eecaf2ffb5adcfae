"""Reducing a model's logits to a dataset's classes when the two label spaces differ.

Several benchmarks score a 1000-way ImageNet model on fewer, coarser classes; each names the ImageNet
classes that count as one of its classes (a *label set*) and a rule for reducing the logits:

* ``"mean_prob"`` -- cue-conflict (Geirhos et al., ICLR 2019): a category's score is the mean softmax
  probability over its ImageNet classes. The reduced logits are the logs of those means.
* ``"top1_in_set"`` -- ImageNet-9 (Xiao et al., ICLR 2021) and FOCUS (Kattakinda & Feizi, ICML 2022): a
  prediction is correct when the model's 1000-way top-1 class lies in the true class's set. The reduced
  logits are the maximum logit within each set plus one last ``other`` column (the maximum over classes
  in no set; absent when every class is in a set), so the argmax of the reduced logits is the set
  holding the 1000-way top-1.
* ``"subset"`` -- ImageNet-R and ImageNet-A (Hendrycks et al., 2021): the softmax is taken over the
  union of the sets only (their 200-class masks). Each reduced logit is the log-sum-exp over its set,
  which for the usual one-class sets is that class's logit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The reductions :func:`reduce_logits` knows, with what they mean.
SET_REDUCTIONS = {
    "mean_prob": "log of the mean softmax probability over each set (cue-conflict, Geirhos et al. 2019)",
    "top1_in_set": "max logit per set plus an 'other' column: argmax = set of the top-1 (ImageNet-9, FOCUS)",
    "subset": "softmax restricted to the union of the sets (ImageNet-R/-A 200-class masks)",
}


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = values.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=1, keepdims=True)))[:, 0]


def reduce_logits(logits: np.ndarray, label_sets: Sequence[Sequence[int]], reduction: str) -> np.ndarray:
    """Reduce ``[N, M]`` model logits to ``[N, K]`` logits over K label sets.

    ``top1_in_set`` adds an ``other`` column (``[N, K+1]``) when some of the M classes are in no set.

    Args:
        logits: the model's logits over its own M classes.
        label_sets: for each of the K dataset classes, the logit columns that count as it.
        reduction: ``"mean_prob"``, ``"top1_in_set"`` or ``"subset"`` (see :data:`SET_REDUCTIONS`).

    Example:
        >>> logits = np.log(np.array([[0.1, 0.2, 0.6, 0.1]]))
        >>> np.exp(reduce_logits(logits, [[0, 1], [2, 3]], "mean_prob")).round(3).tolist()
        [[0.15, 0.35]]
        >>> top1_outside = np.array([[0.0, 5.0, 1.0, 2.0]])  # class 1 is in no set: 'other' (column 2) wins
        >>> reduce_logits(top1_outside, [[0], [2, 3]], "top1_in_set").argmax(1).tolist()
        [2]
        >>> reduce_logits(np.array([[1.0, 2.0, 3.0]]), [[0], [2]], "subset").tolist()
        [[1.0, 3.0]]
    """
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"logits must be [N, M], got shape {values.shape}")
    if reduction not in SET_REDUCTIONS:
        raise ValueError(f"unknown set reduction {reduction!r}; known: {', '.join(SET_REDUCTIONS)}")
    sets = [np.asarray(list(s), dtype=np.int64) for s in label_sets]
    if not sets or any(len(s) == 0 for s in sets):
        raise ValueError("label_sets must be non-empty and every set must name at least one column")
    if any(s.min() < 0 or s.max() >= values.shape[1] for s in sets):
        raise ValueError(f"label_sets name columns outside the {values.shape[1]} logits")
    if reduction == "mean_prob":
        log_probs = _log_softmax(values)
        return np.stack([_logsumexp(log_probs[:, s]) - np.log(len(s)) for s in sets], axis=1)
    if reduction == "subset":
        return np.stack([_logsumexp(values[:, s]) for s in sets], axis=1)
    reduced = [values[:, s].max(axis=1) for s in sets]
    in_a_set = np.zeros(values.shape[1], dtype=bool)
    in_a_set[np.concatenate(sets)] = True
    if in_a_set.all():  # no class outside the sets: no 'other' column
        return np.stack(reduced, axis=1)
    return np.stack([*reduced, values[:, ~in_a_set].max(axis=1)], axis=1)
