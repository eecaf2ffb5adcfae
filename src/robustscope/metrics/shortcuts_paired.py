"""Paired differences of the UrbanCars measures between two models on the same test images, with bootstrap CIs.

The shortcuts axis (:mod:`robustscope.metrics.shortcuts`) gives each model's CIs by a stratified bootstrap within
each of the 8 (object, background, co-occurring object) cells. Comparing a mitigated model with its base needs
the CI of a *difference*, and the two models saw the same images, so here each resample draws, within every
cell, the same image indices for both models (a stratified paired bootstrap): the resampled cell counts of the
two models come from one set of images, and every measure of :func:`~robustscope.metrics.shortcuts.urbancars_summary`
(ID accuracy, BG gap, CoObj gap, BG+CoObj gap, worst-group accuracies…) is recomputed for both on it. The
difference on a resample is ``summary(A) − summary(B)``; its CI and p-value are those of
:func:`robustscope.metrics.bootstrap.paired_test_result` (percentile interval; null-shifted two-sided p).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from robustscope.metrics.bootstrap import PairedBootstrapTest, paired_test_result
from robustscope.metrics.shortcuts import TRAIN_RATIO, URBANCARS_VALUES, cell_counts, urbancars_summary

__all__ = ["paired_cell_counts", "paired_urbancars_tests"]

# Resamples drawn per block: bounds memory at ~8 MB of indices whatever the cell sizes are.
_INDICES_PER_CHUNK = 1 << 20


def _cell_of(objects: Sequence[Any], backgrounds: Sequence[Any], co_occur: Sequence[Any]) -> np.ndarray:
    """Each image's flat cell index ``(o * 2 + b) * 2 + c``, encoded as :func:`cell_counts` encodes the factors."""
    index = {value: i for i, value in enumerate(URBANCARS_VALUES)}
    known = {**{str(v): i for v, i in index.items()}, "0": 0, "1": 1}
    codes = []
    for name, column in (("object", objects), ("background", backgrounds), ("co_occur", co_occur)):
        try:
            codes.append(np.array([known[str(v)] for v in column], dtype=np.int64))
        except KeyError as err:
            raise ValueError(f"{name} value {err.args[0]!r} is not one of {list(URBANCARS_VALUES)}") from None
    return (codes[0] * 2 + codes[1]) * 2 + codes[2]


def paired_cell_counts(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    objects: Sequence[Any] | np.ndarray,
    backgrounds: Sequence[Any] | np.ndarray,
    co_occur: Sequence[Any] | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resampled per-cell counts of two models on the same images: ``hits_a, hits_b, totals``, each ``[R, 2, 2, 2]``.

    Within each of the 8 cells, every resample draws the cell's size in image indices with replacement and
    counts both models' correct predictions on those same images. Cell ``k`` (flat index ``(o*2+b)*2+c``) draws
    from its own generator ``np.random.default_rng([seed, k])`` with ``integers(0, n_k, (R, n_k))``, so the
    stream does not depend on the chunking or on the other cells. Empty cells stay empty (total 0).

    Example:
        >>> objects = ["urban", "urban", "country", "country"]
        >>> a, b, t = paired_cell_counts(np.array([1, 0, 1, 1]), np.array([1, 0, 1, 1]), objects, objects, objects, 5)
        >>> bool((a == b).all()), t[0].sum(), t.shape
        (True, np.float64(4.0), (5, 2, 2, 2))
    """
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"the two models' correctness must be [N] on the same images; got {a.shape} and {b.shape}")
    cells = _cell_of(list(objects), list(backgrounds), list(co_occur))
    if cells.shape != a.shape:
        raise ValueError(f"{len(cells)} images have factors but {a.size} have predictions")
    r = int(n_resamples)
    hits_a, hits_b, totals = np.zeros((r, 8)), np.zeros((r, 8)), np.zeros((r, 8))
    for k in range(8):
        members = np.flatnonzero(cells == k)
        n_k = members.size
        if n_k == 0:
            continue
        totals[:, k] = n_k
        rng = np.random.default_rng([seed, k])
        a_k, b_k = a[members], b[members]
        chunk = max(1, min(r, _INDICES_PER_CHUNK // n_k))
        for start in range(0, r, chunk):
            idx = rng.integers(0, n_k, size=(min(chunk, r - start), n_k))
            hits_a[start : start + idx.shape[0], k] = a_k[idx].sum(axis=1)
            hits_b[start : start + idx.shape[0], k] = b_k[idx].sum(axis=1)
    shape = (r, 2, 2, 2)
    return hits_a.reshape(shape), hits_b.reshape(shape), totals.reshape(shape)


def paired_urbancars_tests(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    objects: Sequence[Any] | np.ndarray,
    backgrounds: Sequence[Any] | np.ndarray,
    co_occur: Sequence[Any] | np.ndarray,
    bg_ratio: float = TRAIN_RATIO,
    co_occur_obj_ratio: float = TRAIN_RATIO,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, PairedBootstrapTest]:
    """Every UrbanCars measure's difference ``A − B`` on the same images, with its paired bootstrap CI and p-value.

    ``correct_a[i]``, ``correct_b[i]``: whether model A / B predicts image ``i``'s object; the factors give its
    cell. The observed difference is ``urbancars_summary(A) − urbancars_summary(B)`` on the full table (exactly
    the difference of the two models' numbers on the shortcuts axis); the distribution comes from
    :func:`paired_cell_counts`. Keys: those of :func:`~robustscope.metrics.shortcuts.urbancars_summary`.

    Example:
        >>> objects = ["urban", "country"] * 8
        >>> backgrounds = (["urban"] * 4 + ["country"] * 4) * 2
        >>> co_occur = (["urban"] * 2 + ["country"] * 2) * 4
        >>> a = np.ones(16)  # A is always right; B only where the background agrees with the object
        >>> b = np.array([float(o == g) for o, g in zip(objects, backgrounds)])
        >>> tests = paired_urbancars_tests(a, b, objects, backgrounds, co_occur, n_resamples=200)
        >>> round(tests["bg_gap"].difference, 4), round(tests["id_acc"].difference, 4)  # B's BG gap: -0.95
        (0.95, 0.05)
        >>> paired_urbancars_tests(a, a, objects, backgrounds, co_occur, n_resamples=50)["bg_gap"].ci
        (0.0, 0.0)
    """
    values = [np.asarray(v, dtype=object) for v in (objects, backgrounds, co_occur)]
    observed = [
        urbancars_summary(*cell_counts(*values, c, URBANCARS_VALUES), bg_ratio, co_occur_obj_ratio)
        for c in (np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float))
    ]
    hits_a, hits_b, totals = paired_cell_counts(correct_a, correct_b, *values, n_resamples=n_resamples, seed=seed)
    with np.errstate(invalid="ignore"):
        boot_a = urbancars_summary(hits_a, totals, bg_ratio, co_occur_obj_ratio)
        boot_b = urbancars_summary(hits_b, totals, bg_ratio, co_occur_obj_ratio)
    out = {}
    for name in boot_a:
        difference = float(observed[0][name]) - float(observed[1][name])
        out[name] = paired_test_result(difference, np.asarray(boot_a[name] - boot_b[name], dtype=float), confidence)
    return out
