"""Multiple-shortcut measures: UrbanCars group accuracies and gaps, ImageNet-W gaps (pure numpy).

Li, Evtimov, Gordo, Hazirbas, Hassner, Canton Ferrer, Xu, Ibrahim. "A Whac-A-Mole Dilemma: Shortcuts Come
in Multiples Where Mitigating One Amplifies Others." CVPR 2023.

**UrbanCars.** Every image has three binary factors, each ``urban`` or ``country``: the object (the label),
the background and the co-occurring object. In the training split each shortcut agrees with the object
with probability 0.95 (``bg_ratio``, ``co_occur_obj_ratio``); val and test are balanced. A shortcut is
*present* in an image when its value equals the object's. The definitions follow the paper and the
authors' evaluation code (``urbancars_trainers/base_trainer.py`` ``_eval_split`` and
``utils.MultiDimAverageMeter`` in facebookresearch/Whac-A-Mole):

- cell accuracy ``acc[o, b, c]``: top-1 accuracy on the images with object ``o``, background ``b`` and
  co-occurring object ``c`` (8 cells, indices 0 = urban, 1 = country);
- group accuracy ``acc(bg ∈ {present, absent}, coobj ∈ {present, absent})``: the mean over the two
  object classes of the cell accuracy of that group's cell (the authors average cells, so each object
  class weighs the same; on the balanced test set this equals the pooled accuracy);
- ID accuracy: the group accuracies weighted by the training frequency of each group,
  ``w(bg, coobj) = p_bg(bg) · p_coobj(coobj)`` with ``p(present) = ratio = 0.95`` and
  ``p(absent) = 1 − ratio`` (0.9025, 0.0475, 0.0475, 0.0025);
- BG gap = acc(bg absent, coobj present) − ID accuracy; CoObj gap = acc(bg present, coobj absent) − ID
  accuracy; BG+CoObj gap = acc(bg absent, coobj absent) − ID accuracy (negative: the model leans on
  the shortcut);
- worst-group accuracy: the minimum cell accuracy over the 8 cells; the authors also report the worst
  (object, background) group pooled over co-occurring objects and the worst (object, co-occurring
  object) group pooled over backgrounds (:func:`urbancars_summary` returns all three).

**ImageNet-W** (same paper): the ImageNet validation set with the watermark overlay
(:class:`robustscope.shifts.overlays.Watermark`). IN-W gap = top-1(IN-W) − top-1(IN); carton gap =
carton-class accuracy on IN-W − on IN, i.e. the change in the fraction of the carton images (class 478)
predicted as carton (the authors' ``eval_watermark_shortcut.py``: ``carton_gap = in_w_carton_acc -
in_1k_carton_acc``). The authors' code also logs ``delta_p_carton``, the change in the mean softmax
probability of carton over all images (:func:`delta_p_carton`).

Example:
    >>> hits = np.full((2, 2, 2), 10.0); totals = np.full((2, 2, 2), 10.0)
    >>> hits[0, 1, 0] = hits[1, 0, 1] = 5  # background absent, co-occurring object present: half right
    >>> s = urbancars_summary(hits, totals)
    >>> [round(float(s[k]), 5) for k in ("id_acc", "bg_gap", "coobj_gap")]  # 1 - 0.0475 / 2 = 0.97625
    [0.97625, -0.47625, 0.02375]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: The two values of each UrbanCars factor, in the authors' index order (0 = urban, 1 = country).
URBANCARS_VALUES: tuple[str, str] = ("urban", "country")
#: The training correlation of each shortcut in UrbanCars (``--bg_ratio``, ``--co_occur_obj_ratio``).
TRAIN_RATIO = 0.95
#: The four groups: (background shortcut, co-occurring-object shortcut), each present or absent.
GROUPS: tuple[tuple[str, str], ...] = (
    ("present", "present"),
    ("absent", "present"),
    ("present", "absent"),
    ("absent", "absent"),
)
#: ImageNet-1k index of "carton", the class the watermark shortcut predicts.
CARTON_CLASS_INDEX = 478
PAPER = "Li et al., CVPR 2023 (Whac-A-Mole: UrbanCars, ImageNet-W)"


def group_name(bg: str, coobj: str) -> str:
    """The name of a group, e.g. ``bg_absent_coobj_present`` (the authors' ``bg_absent_co_occur_obj_present``).

    Example:
        >>> [group_name(b, c) for b, c in GROUPS][:2]
        ['bg_present_coobj_present', 'bg_absent_coobj_present']
    """
    return f"bg_{bg}_coobj_{coobj}"


def cell_name(obj: str, bg: str, coobj: str) -> str:
    """The release's folder name of a cell: ``obj-{o}_bg-{b}_co_occur_obj-{c}``.

    Example:
        >>> cell_name("urban", "country", "urban")
        'obj-urban_bg-country_co_occur_obj-urban'
    """
    return f"obj-{obj}_bg-{bg}_co_occur_obj-{coobj}"


def cell_counts(
    objects: Sequence[Any] | np.ndarray,
    backgrounds: Sequence[Any] | np.ndarray,
    co_occur: Sequence[Any] | np.ndarray,
    correct: Sequence[Any] | np.ndarray,
    values: Sequence[str] = URBANCARS_VALUES,
) -> tuple[np.ndarray, np.ndarray]:
    """Correct predictions and images per (object, background, co-occurring object) cell, ``[2,2,2]`` each.

    Args:
        objects, backgrounds, co_occur: each image's factor values (``"urban"``/``"country"``, or indices).
        correct: whether each image's prediction equals its object label.
        values: the factor values in index order (default ``("urban", "country")``).

    Example:
        >>> hits, totals = cell_counts(["urban", "urban", "country"], ["urban", "country", "country"],
        ...                            ["urban", "urban", "country"], [True, False, True])
        >>> int(hits[0, 0, 0]), int(totals[0, 1, 0]), int(hits[0, 1, 0]), int(totals.sum())
        (1, 1, 0, 3)
    """
    index = {str(v): i for i, v in enumerate(values)}

    def codes(column: Sequence[Any] | np.ndarray, name: str) -> np.ndarray:
        out = []
        for value in np.asarray(column, dtype=object).tolist():
            key = str(value)
            if key in index:
                out.append(index[key])
            elif isinstance(value, (int, np.integer)) and 0 <= int(value) < len(values):
                out.append(int(value))
            else:
                raise ValueError(f"{name} value {value!r} is not one of {list(values)}")
        return np.asarray(out, dtype=np.int64)

    o, b, c = codes(objects, "object"), codes(backgrounds, "background"), codes(co_occur, "co_occur")
    hit = np.asarray(correct, dtype=float)
    if not (len(o) == len(b) == len(c) == len(hit)):
        raise ValueError(f"lengths differ: {len(o)} objects, {len(b)} backgrounds, {len(c)} co_occur, {len(hit)}")
    n = len(values)
    flat = (o * n + b) * n + c
    hits = np.bincount(flat, weights=hit, minlength=n**3).reshape(n, n, n)
    totals = np.bincount(flat, minlength=n**3).reshape(n, n, n).astype(float)
    return hits, totals


def group_weights(bg_ratio: float = TRAIN_RATIO, co_occur_obj_ratio: float = TRAIN_RATIO) -> dict[str, float]:
    """Training frequency of each group: ``p(present) = ratio``, ``p(absent) = 1 − ratio``, shortcuts independent.

    Example:
        >>> {k: round(v, 4) for k, v in group_weights().items()}
        {'bg_present_coobj_present': 0.9025, 'bg_absent_coobj_present': 0.0475, \
'bg_present_coobj_absent': 0.0475, 'bg_absent_coobj_absent': 0.0025}
    """
    for name, ratio in (("bg_ratio", bg_ratio), ("co_occur_obj_ratio", co_occur_obj_ratio)):
        if not 0.0 <= float(ratio) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {ratio!r}")
    p_bg = {"present": float(bg_ratio), "absent": 1.0 - float(bg_ratio)}
    p_co = {"present": float(co_occur_obj_ratio), "absent": 1.0 - float(co_occur_obj_ratio)}
    return {group_name(b, c): p_bg[b] * p_co[c] for b, c in GROUPS}


def _ratio(hits: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, hits / np.where(totals > 0, totals, 1.0), np.nan)


def _nan_reduce(values: np.ndarray, axis: Any, how: str) -> np.ndarray:
    """nanmean/nanmin that return NaN (without a warning) where every value is NaN."""
    finite = np.isfinite(values)
    if how == "mean":
        count = finite.sum(axis=axis)
        total = np.where(finite, values, 0.0).sum(axis=axis)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
    filled = np.where(finite, values, np.inf).min(axis=axis)
    return np.where(np.isfinite(filled), filled, np.nan)


def group_accuracies(cell_accuracy: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy of each group: the mean over object classes of that group's cell accuracies.

    ``cell_accuracy`` is ``[..., 2, 2, 2]`` (object, background, co-occurring object); leading
    dimensions (e.g. bootstrap resamples) are kept. Empty cells (NaN) are left out of the mean.

    Example:
        >>> acc = np.ones((2, 2, 2)); acc[0, 1, 1] = 0.0; acc[1, 0, 0] = 0.5
        >>> {k: float(v) for k, v in group_accuracies(acc).items()}
        {'bg_present_coobj_present': 1.0, 'bg_absent_coobj_present': 1.0, 'bg_present_coobj_absent': 1.0, \
'bg_absent_coobj_absent': 0.25}
    """
    acc = np.asarray(cell_accuracy, dtype=float)
    if acc.shape[-3:] != (2, 2, 2):
        raise ValueError(f"cell accuracies must end in (2, 2, 2), got {acc.shape}")
    out = {}
    for bg, coobj in GROUPS:
        cells = []
        for o in (0, 1):
            b = o if bg == "present" else 1 - o
            c = o if coobj == "present" else 1 - o
            cells.append(acc[..., o, b, c])
        out[group_name(bg, coobj)] = _nan_reduce(np.stack(cells, axis=-1), -1, "mean")
    return out


def urbancars_summary(
    hits: np.ndarray,
    totals: np.ndarray,
    bg_ratio: float = TRAIN_RATIO,
    co_occur_obj_ratio: float = TRAIN_RATIO,
) -> dict[str, np.ndarray]:
    """Every UrbanCars measure from per-cell counts ``[..., 2, 2, 2]`` (leading dims are kept).

    Returns a dict with the group accuracies (:func:`group_name` keys), ``id_acc``, ``bg_gap``,
    ``coobj_gap``, ``bg_coobj_gap``, ``worst_group_acc`` (min over the 8 cells), ``bg_worst_group_acc``
    (min over (object, background) pooled over co-occurring objects), ``coobj_worst_group_acc`` (min over
    (object, co-occurring object) pooled over backgrounds) and ``top1`` (all images pooled). ``id_acc`` is
    NaN when a group has no image; worst-group accuracies skip empty cells.

    Example:
        >>> totals = np.full((2, 2, 2), 4.0); hits = totals.copy(); hits[:, :, :] = 4
        >>> hits[0, 1, 1] = 0                          # urban cars on country background with country co-object
        >>> s = urbancars_summary(hits, totals)
        >>> float(s["bg_absent_coobj_absent"]), round(float(s["bg_coobj_gap"]), 4), float(s["worst_group_acc"])
        (0.5, -0.4988, 0.0)
        >>> float(s["bg_worst_group_acc"]), float(s["coobj_worst_group_acc"])
        (0.5, 0.5)
    """
    hits = np.asarray(hits, dtype=float)
    totals = np.asarray(totals, dtype=float)
    if hits.shape != totals.shape or hits.shape[-3:] != (2, 2, 2):
        raise ValueError(f"hits {hits.shape} and totals {totals.shape} must both end in (2, 2, 2)")
    cells = _ratio(hits, totals)
    out: dict[str, np.ndarray] = dict(group_accuracies(cells))
    weights = group_weights(bg_ratio, co_occur_obj_ratio)
    # NaN propagates: an ID accuracy with a missing group is undefined
    out["id_acc"] = sum(weights[name] * out[name] for name in weights)  # type: ignore[assignment]
    out["bg_gap"] = out[group_name("absent", "present")] - out["id_acc"]
    out["coobj_gap"] = out[group_name("present", "absent")] - out["id_acc"]
    out["bg_coobj_gap"] = out[group_name("absent", "absent")] - out["id_acc"]
    lead = cells.shape[:-3]
    out["worst_group_acc"] = _nan_reduce(cells.reshape(*lead, 8), -1, "min")
    bg_cells = _ratio(hits.sum(axis=-1), totals.sum(axis=-1))  # [..., object, background]
    co_cells = _ratio(hits.sum(axis=-2), totals.sum(axis=-2))  # [..., object, co-occurring object]
    out["bg_worst_group_acc"] = _nan_reduce(bg_cells.reshape(*lead, 4), -1, "min")
    out["coobj_worst_group_acc"] = _nan_reduce(co_cells.reshape(*lead, 4), -1, "min")
    out["top1"] = _ratio(hits.sum(axis=(-3, -2, -1)), totals.sum(axis=(-3, -2, -1)))
    return out


def cell_accuracies(hits: np.ndarray, totals: np.ndarray) -> dict[str, float]:
    """Accuracy per cell, keyed by the release's folder name (:func:`cell_name`); NaN for empty cells.

    Example:
        >>> hits, totals = np.zeros((2, 2, 2)), np.full((2, 2, 2), 2.0); hits[1, 1, 0] = 1
        >>> cell_accuracies(hits, totals)["obj-country_bg-country_co_occur_obj-urban"]
        0.5
    """
    acc = _ratio(np.asarray(hits, dtype=float), np.asarray(totals, dtype=float))
    return {
        cell_name(URBANCARS_VALUES[o], URBANCARS_VALUES[b], URBANCARS_VALUES[c]): float(acc[o, b, c])
        for o in (0, 1)
        for b in (0, 1)
        for c in (0, 1)
    }


def bootstrap_cells(
    hits: np.ndarray, totals: np.ndarray, n_resamples: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified bootstrap of per-cell counts: each cell's images resampled within the cell.

    Resampling ``n`` images of a cell with ``k`` correct draws ``Binomial(n, k/n)`` correct ones, so the
    resampled counts are drawn directly (``[R, 2, 2, 2]`` hits, and the fixed totals broadcast to it).
    Stratifying keeps every cell non-empty, as in the balanced test design.

    Example:
        >>> hits, totals = np.full((2, 2, 2), 3.0), np.full((2, 2, 2), 4.0)
        >>> h, t = bootstrap_cells(hits, totals, n_resamples=5)
        >>> h.shape, t.shape, bool((h <= 4).all())
        ((5, 2, 2, 2), (5, 2, 2, 2), True)
    """
    rng = np.random.default_rng(seed)
    totals = np.asarray(totals, dtype=float)
    p = _ratio(np.asarray(hits, dtype=float), totals)
    p = np.where(np.isfinite(p), p, 0.0)
    draws = rng.binomial(totals.astype(np.int64), p, size=(n_resamples, *totals.shape)).astype(float)
    return draws, np.broadcast_to(totals, draws.shape)


# -- ImageNet-W --------------------------------------------------------------------------------------
def in_w_gap(clean_correct: np.ndarray, watermark_correct: np.ndarray) -> float:
    """IN-W gap = top-1 on the watermarked images − top-1 on the same images clean.

    Example:
        >>> in_w_gap(np.array([1, 1, 1, 0]), np.array([1, 0, 0, 0]))
        -0.5
    """
    clean, marked = np.asarray(clean_correct, dtype=float), np.asarray(watermark_correct, dtype=float)
    if clean.size == 0 or marked.size == 0:
        return float("nan")
    return float(marked.mean() - clean.mean())


def carton_accuracy(predictions: np.ndarray, labels: np.ndarray, carton: int = CARTON_CLASS_INDEX) -> float:
    """The fraction of the carton-class images (``labels == carton``) predicted as carton; NaN if there are none.

    Example:
        >>> carton_accuracy(np.array([478, 1, 478, 478]), np.array([478, 478, 2, 5]))
        0.5
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    chosen = labels == carton
    return float((predictions[chosen] == carton).mean()) if chosen.any() else float("nan")


def carton_gap(
    clean_predictions: np.ndarray,
    watermark_predictions: np.ndarray,
    labels: np.ndarray,
    carton: int = CARTON_CLASS_INDEX,
) -> float:
    """Carton gap = carton accuracy on IN-W − on IN (the authors' ``in_w_carton_acc - in_1k_carton_acc``).

    Positive: the watermark makes the model call more carton images "carton" (it learned the shortcut).

    Example:
        >>> labels = np.array([478, 478, 478, 478, 7])
        >>> carton_gap(np.array([478, 1, 1, 1, 7]), np.array([478, 478, 478, 1, 478]), labels)
        0.5
    """
    return carton_accuracy(watermark_predictions, labels, carton) - carton_accuracy(clean_predictions, labels, carton)


def carton_probability(logits: np.ndarray, carton: int = CARTON_CLASS_INDEX) -> np.ndarray:
    """Each image's softmax probability of the carton class, ``[N]``, from logits ``[N, K]``.

    Example:
        >>> carton_probability(np.array([[0.0, np.log(3.0)]]), carton=1).round(2).tolist()
        [0.75]
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or not 0 <= carton < logits.shape[1]:
        raise ValueError(f"logits {logits.shape} have no column {carton}")
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp[:, carton] / exp.sum(axis=1)


def delta_p_carton(clean_logits: np.ndarray, watermark_logits: np.ndarray, carton: int = CARTON_CLASS_INDEX) -> float:
    """Change in the mean softmax probability of carton over all images, IN-W − IN (the authors' ``delta_p_carton``).

    Example:
        >>> clean = np.zeros((2, 3)); marked = np.array([[0.0, 0.0, np.log(4.0)], [0.0, 0.0, 0.0]])
        >>> round(delta_p_carton(clean, marked, carton=2), 4)
        0.1667
    """
    if len(clean_logits) == 0 or len(watermark_logits) == 0:
        return float("nan")
    return float(carton_probability(watermark_logits, carton).mean() - carton_probability(clean_logits, carton).mean())


__all__ = [
    "CARTON_CLASS_INDEX",
    "GROUPS",
    "PAPER",
    "TRAIN_RATIO",
    "URBANCARS_VALUES",
    "bootstrap_cells",
    "carton_accuracy",
    "carton_gap",
    "carton_probability",
    "cell_accuracies",
    "cell_counts",
    "cell_name",
    "delta_p_carton",
    "group_accuracies",
    "group_name",
    "group_weights",
    "in_w_gap",
    "urbancars_summary",
]
