"""Shape, context and background bias metrics as pure numpy functions.

Protocols (DESIGN.md, "Shape bias", "Context bias", "Background bias"):

* **Shape bias** -- Geirhos et al., "ImageNet-trained CNNs are biased towards texture", ICLR 2019
  (cue-conflict stimuli, 1,280 images, 16 categories). The 1000-way softmax is mapped to 16 categories by
  *averaging* the probabilities of each category's ImageNet classes (:func:`decision_16`); images whose
  shape and texture labels agree are skipped; shape bias = shape hits / (shape hits + texture hits).
  Decisions that match neither cue count in neither term.
* **Context bias** -- FOCUS, Kattakinda & Feizi, "FOCUS: Familiar Objects in Common and Uncommon
  Settings", ICML 2022: ``P_k`` = top-1 accuracy over images with ``k`` uncommon attributes, and the
  relative drop ``(P_0 - P_k) / P_0``.
* **Background bias** -- ImageNet-9, Xiao et al., "Noise or Signal: The Role of Image Backgrounds in
  Object Recognition", ICLR 2021: BG-gap = acc(mixed_same) - acc(mixed_rand).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ContextBias",
    "ShapeBiasResult",
    "background_gap",
    "context_bias",
    "decision_16",
    "shape_bias",
    "shape_bias_from_decisions",
]


def decision_16(
    probs_1000: np.ndarray, category_index_sets: Sequence[Sequence[int]] | Mapping[str, Sequence[int]]
) -> np.ndarray:
    """Map ``[N, 1000]`` probabilities to one of the 16 (or any C) categories; returns ``[N]``.

    Each category's score is the *mean* probability over its ImageNet class indices (Geirhos et al.,
    ICLR 2019, cue-conflict protocol); the decision is the argmax, ties going to the earlier category.
    With a sequence of index sets the result holds category positions (ints); with a mapping
    ``name -> indices`` it holds the names, in the mapping's order.

    Example:
        >>> p = np.array([[0.1, 0.2, 0.6, 0.1], [0.4, 0.4, 0.1, 0.1]])
        >>> decision_16(p, [[0, 1], [2, 3]]).tolist()   # means (0.15, 0.35) and (0.4, 0.1)
        [1, 0]
        >>> decision_16(p, {"cat": [0, 1], "dog": [2, 3]}).tolist()
        ['dog', 'cat']
    """
    probs = np.asarray(probs_1000, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs_1000 must be a 2-D array [N, K], got shape {probs.shape}")
    names = list(category_index_sets.keys()) if isinstance(category_index_sets, Mapping) else None
    sets = list(category_index_sets.values()) if names is not None else list(category_index_sets)
    if not sets:
        raise ValueError("category_index_sets is empty")
    scores = np.empty((probs.shape[0], len(sets)), dtype=np.float64)
    for c, idx in enumerate(sets):
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if idx.size == 0:
            raise ValueError(f"category {names[c] if names else c} has no ImageNet indices")
        if idx.min() < 0 or idx.max() >= probs.shape[1]:
            raise ValueError(f"category {names[c] if names else c} has indices outside [0, {probs.shape[1]})")
        scores[:, c] = probs[:, idx].mean(axis=1)
    winners = scores.argmax(axis=1)
    if names is None:
        return winners
    return np.asarray(names, dtype=object)[winners]


def shape_bias(shape_correct: np.ndarray | int, texture_correct: np.ndarray | int) -> float:
    """Shape bias = shape hits / (shape hits + texture hits) (Geirhos et al., ICLR 2019).

    Takes per-image boolean arrays ``[N]`` (over cue-conflict images, agreeing labels already removed) or
    the two hit counts. Returns ``nan`` when there are no shape or texture hits at all.

    Example:
        >>> shape_bias(np.array([True, False, False, True]), np.array([False, True, False, False]))
        0.6666666666666666
        >>> shape_bias(21, 79)
        0.21
    """
    s = float(np.sum(shape_correct))
    t = float(np.sum(texture_correct))
    if s < 0 or t < 0:
        raise ValueError("hit counts must be non-negative")
    return s / (s + t) if s + t > 0 else float("nan")


@dataclass(frozen=True)
class ShapeBiasResult:
    """Shape bias overall and per shape category, with the hit counts behind it."""

    overall: float
    per_category: dict[object, float] = field(default_factory=dict)
    shape_hits: int = 0
    texture_hits: int = 0
    n_conflict: int = 0
    """Images kept (shape label != texture label)."""


def shape_bias_from_decisions(
    decisions: np.ndarray, shape_labels: np.ndarray, texture_labels: np.ndarray
) -> ShapeBiasResult:
    """Shape bias from 16-way decisions ``[N]`` and the shape/texture labels ``[N]`` of cue-conflict images.

    Images whose shape and texture labels agree are skipped (Geirhos et al., ICLR 2019). A decision
    equal to the shape label is a shape hit, equal to the texture label a texture hit, anything else
    counts in neither. ``per_category`` groups the kept images by their *shape* label (as in the
    paper's per-category plots); a category with no hits maps to ``nan``. Labels may be ints or names.

    Example:
        >>> r = shape_bias_from_decisions(
        ...     ["cat", "dog", "car", "cat", "dog"],      # decisions
        ...     ["cat", "cat", "car", "dog", "dog"],      # shape labels
        ...     ["dog", "dog", "car", "cat", "car"])      # texture labels (3rd image skipped)
        >>> r.overall, r.shape_hits, r.texture_hits, r.n_conflict
        (0.5, 2, 2, 4)
        >>> r.per_category
        {'cat': 0.5, 'dog': 0.5}
    """
    dec = np.asarray(decisions, dtype=object).ravel()
    shp = np.asarray(shape_labels, dtype=object).ravel()
    tex = np.asarray(texture_labels, dtype=object).ravel()
    if not dec.size == shp.size == tex.size:
        raise ValueError(
            f"decisions, shape_labels, texture_labels differ in length: {dec.size}, {shp.size}, {tex.size}"
        )
    keep = shp != tex
    dec, shp, tex = dec[keep], shp[keep], tex[keep]
    s_hit = dec == shp
    t_hit = dec == tex
    per_category: dict[object, float] = {}
    for cat in sorted(set(shp.tolist()), key=str):
        m = shp == cat
        per_category[cat] = shape_bias(s_hit[m], t_hit[m])
    return ShapeBiasResult(
        overall=shape_bias(s_hit, t_hit),
        per_category=per_category,
        shape_hits=int(s_hit.sum()),
        texture_hits=int(t_hit.sum()),
        n_conflict=int(keep.sum()),
    )


@dataclass(frozen=True)
class ContextBias:
    """FOCUS accuracies ``P_k`` per number ``k`` of uncommon attributes, image counts, relative drops."""

    accuracy: dict[int, float]
    counts: dict[int, int]
    relative_drop: dict[int, float]
    """``(P_0 - P_k) / P_0`` for every ``k`` (0 for ``k = 0``; ``nan`` when ``P_0 = 0``)."""


def context_bias(correct: np.ndarray, n_uncommon: np.ndarray) -> ContextBias:
    """``P_k`` and ``(P_0 - P_k) / P_0`` from per-image correctness ``[N]`` and uncommon-attribute counts ``[N]``.

    FOCUS (Kattakinda & Feizi, ICML 2022): ``correct`` says whether the top-1 class falls in the image's
    class index set; ``n_uncommon`` is the number ``k`` of uncommon attributes (time, weather, location).
    Every ``k`` present in the data is reported; there must be images with ``k = 0``.

    Example:
        >>> cb = context_bias([1, 1, 1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 1, 1, 2, 2])
        >>> cb.accuracy, cb.counts
        ({0: 0.75, 1: 0.5, 2: 0.5}, {0: 4, 1: 2, 2: 2})
        >>> round(cb.relative_drop[1], 6)
        0.333333
    """
    c = np.asarray(correct, dtype=np.float64).ravel()
    k = np.asarray(n_uncommon).ravel()
    if c.size != k.size:
        raise ValueError(f"correct and n_uncommon differ in length: {c.size} vs {k.size}")
    if k.size == 0:
        raise ValueError("no images")
    if not np.all(np.asarray(k, dtype=np.float64) == np.round(np.asarray(k, dtype=np.float64))) or k.min() < 0:
        raise ValueError("n_uncommon must hold non-negative integers")
    k = k.astype(np.int64)
    if not (k == 0).any():
        raise ValueError("no images with k = 0 uncommon attributes; P_0 (and the relative drop) is undefined")
    accuracy: dict[int, float] = {}
    counts: dict[int, int] = {}
    for kk in np.unique(k).tolist():
        m = k == kk
        accuracy[kk] = float(c[m].mean())
        counts[kk] = int(m.sum())
    p0 = accuracy[0]
    relative_drop = {kk: ((p0 - pk) / p0 if p0 > 0 else float("nan")) for kk, pk in accuracy.items()}
    return ContextBias(accuracy=accuracy, counts=counts, relative_drop=relative_drop)


def background_gap(acc_mixed_same: float, acc_mixed_rand: float) -> float:
    """ImageNet-9 BG-gap = acc(mixed_same) - acc(mixed_rand) (Xiao et al., ICLR 2021); floats in, float out.

    Both accuracies are 9-way (after the 1000 -> 9 mapping) and in the same unit (fractions or percent).
    A large gap means the model relies on the background.

    Example:
        >>> round(background_gap(0.86, 0.75), 6)
        0.11
    """
    same, rand = float(acc_mixed_same), float(acc_mixed_rand)
    if not (np.isfinite(same) and np.isfinite(rand)):
        raise ValueError("accuracies must be finite")
    return same - rand
