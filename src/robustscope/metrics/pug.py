"""PUG metrics as pure numpy/pandas functions: accuracy per factor value, held-out gaps, caption retrieval.

F. Bordes et al., "PUG: Photorealistic and Semantically Controllable Synthetic Data for Representation
Learning", NeurIPS 2023 Datasets and Benchmarks (arXiv:2308.03977; code ``facebookresearch/PUG``).

* **Accuracy per factor value** (the paper's PUG:ImageNet curves: top-1 per world, per camera or object
  angle, per size, texture and light): the mean correctness of the images with each value, with a
  percentile-bootstrap CI over those images (Efron & Tibshirani 1993). Values are ordered naturally:
  numbers by value, equal-width bins ``[a, b)`` by their lower edge, text after them.
* **One-factor-at-a-time sweeps**: PUG:ImageNet varies one factor per image and leaves the others at their
  default (the value ``Default``); the curve of factor f is taken on the images whose *other* factors are at
  their default (:func:`sweep_mask`), so it is not confounded with the other factors. Where no factor has a
  default value (PUG:Animals, the synthetic world: every combination) the curve is over all images.
* **Factor gap**: max − min accuracy over a factor's values (how much that factor alone moves the model).
* **Held-out gap**: accuracy on the seen values of a factor − accuracy on its held-out values, for a model
  trained on the seen ones (the PUG:Animals out-of-distribution protocol).
* **Caption retrieval** (PUG:SPAR, ``PUG_SPAR/run_eval_vlms_on_spar.py``): each image's scores over a task's
  captions (a CLIP model's image/text similarities); correct at top-k when its caption ranks in the top k.
  The script takes ``argmax``/``torchmetrics`` top-k of softmaxed scores; the softmax keeps the order, and
  ties rank by caption index (``argmax`` takes the first). **Hard-negative accuracy**: the script scores
  the right caption against its hard negative (the same animals swapped) in a random order and takes the
  argmax, so a tie is right half of the time; here 1 if the right caption scores higher, 0.5 on a tie,
  0 otherwise: the expectation of the script's coin flip, without its randomness.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import bootstrap_ci
from robustscope.metrics.slicing import natural_key

__all__ = [
    "factor_value_accuracy",
    "hard_negative_correct",
    "retrieval_accuracy",
    "retrieval_correct",
    "sweep_mask",
]


def factor_value_accuracy(
    correct: np.ndarray, values: Sequence[object], n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Accuracy per factor value with a percentile-bootstrap CI over that value's images.

    Returns ``value, accuracy, ci_low, ci_high, n``, one row per value in natural order (numbers by value,
    bins by lower edge, then text); missing values (None, NaN, empty) are left out. Each value's CI draws
    its own images with replacement (``n_resamples=0``: NaN bounds).

    Example:
        >>> t = factor_value_accuracy(np.array([1, 0, 1, 1, 0]), ["90", "90", "0", "Default", None], n_resamples=0)
        >>> t[["value", "accuracy", "n"]].values.tolist()
        [['0', 1.0, 1], ['90', 0.5, 2], ['Default', 1.0, 1]]
    """
    c = np.asarray(correct, dtype=np.float64)
    labels = pd.Series(list(values), dtype=object)
    if len(labels) != c.size:
        raise ValueError(f"{len(labels)} factor values for {c.size} images")
    text = labels.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    records = []
    for value in sorted(set(text) - {"", "nan", "None"}, key=natural_key):
        rows = c[(text == value).to_numpy()]
        ci = bootstrap_ci(np.mean, rows, n_resamples=n_resamples, seed=seed) if n_resamples > 0 else (np.nan, np.nan)
        records.append({"value": value, "accuracy": float(rows.mean()), "ci_low": ci[0], "ci_high": ci[1],
                        "n": int(rows.size)})  # fmt: skip
    return pd.DataFrame(records, columns=["value", "accuracy", "ci_low", "ci_high", "n"])


def sweep_mask(factors: pd.DataFrame, factor: str, default: str = "Default") -> np.ndarray:
    """The images of ``factor``'s one-factor-at-a-time sweep: every *other* factor that has a ``default``
    value is at it.

    Columns with no ``default`` value anywhere (a full factorial design, or a factor that is never held at
    a default, such as PUG:ImageNet's world) do not restrict the sweep; with no such column at all the sweep
    is every image.

    Example:
        >>> f = pd.DataFrame({"world_name": ["A", "B", "A", "A"], "yaw": ["Default", "Default", "90", "Default"],
        ...                   "scale": ["Default", "Default", "Default", "2"]})
        >>> sweep_mask(f, "world_name").tolist(), sweep_mask(f, "yaw").tolist()
        ([True, True, False, False], [True, True, True, False])
    """
    keep = np.ones(len(factors), dtype=bool)
    for column in factors.columns:
        if column == factor:
            continue
        text = factors[column].astype(str).to_numpy()
        if (text == default).any():
            keep &= text == default
    return keep


def retrieval_correct(scores: np.ndarray, targets: np.ndarray, k: int = 1) -> np.ndarray:
    """Per image: is its caption (``targets``) among the ``k`` highest of its ``scores`` ``[N, C]``?

    The rank of the target counts the captions scoring strictly higher plus the tied ones with a lower
    index (``argmax`` takes the first maximum), so ``k=1`` agrees with ``scores.argmax(1) == targets``.

    Example:
        >>> s = np.array([[0.9, 0.1, 0.5], [0.2, 0.2, 0.1], [0.1, 0.3, 0.2]])
        >>> retrieval_correct(s, np.array([0, 1, 0]), k=1).tolist()
        [True, False, False]
        >>> retrieval_correct(s, np.array([0, 1, 0]), k=2).tolist()
        [True, True, False]
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    if s.ndim != 2 or t.shape != (s.shape[0],):
        raise ValueError(f"scores must be [N, C] and targets [N]; got {s.shape} and {t.shape}")
    if ((t < 0) | (t >= s.shape[1])).any():
        raise ValueError(f"targets must index the {s.shape[1]} captions")
    own = s[np.arange(s.shape[0]), t][:, None]
    lower_index = np.arange(s.shape[1])[None, :] < t[:, None]
    rank = (s > own).sum(axis=1) + ((s == own) & lower_index).sum(axis=1)
    return rank < int(k)


def retrieval_accuracy(scores: np.ndarray, targets: np.ndarray, k: int = 1) -> float:
    """Fraction of images whose caption is in their top-``k`` (PUG:SPAR caption retrieval).

    Example:
        >>> retrieval_accuracy(np.array([[2.0, 1.0], [0.0, 3.0]]), np.array([0, 0]))
        0.5
    """
    return float(retrieval_correct(scores, targets, k).mean())


def hard_negative_correct(scores: np.ndarray, targets: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Per image with a hard negative: 1 if its caption outscores the negative, 0.5 on a tie, 0 otherwise.

    The PUG:SPAR script presents the two captions in a random order and takes the argmax; 0.5 is the
    expected outcome of a tie under that coin flip. Images without a negative (``-1``) get NaN.

    Example:
        >>> s = np.array([[0.9, 0.1], [0.4, 0.4], [0.1, 0.8], [0.5, 0.5]])
        >>> hard_negative_correct(s, np.array([0, 0, 0, 0]), np.array([1, 1, 1, -1])).tolist()
        [1.0, 0.5, 0.0, nan]
    """
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(targets, dtype=np.int64)
    neg = np.asarray(negatives, dtype=np.int64)
    if t.shape != neg.shape or t.shape != (s.shape[0],):
        raise ValueError(f"scores [N, C], targets [N] and negatives [N]; got {s.shape}, {t.shape}, {neg.shape}")
    rows = np.arange(s.shape[0])
    own = s[rows, t]
    other = s[rows, np.where(neg >= 0, neg, 0)]
    out = np.where(own > other, 1.0, np.where(own == other, 0.5, 0.0))
    return np.where(neg >= 0, out, np.nan)
