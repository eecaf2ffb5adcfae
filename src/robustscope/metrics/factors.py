"""Accuracy, error ratio and calibration per factor of variation (ImageNet-X), as pure numpy/pandas.

B. Y. Idrissi et al., "ImageNet-X: Understanding Model Mistakes with Factor of Variation Annotations",
ICLR 2023. Each image carries a 0/1 membership per factor (one factor per image in the ``top`` mode,
any number in ``multi``); the numbers are those of the authors' ``imagenet_x.aggregate``:

* **factor accuracy** acc(f) = correct images with factor f / images with factor f;
* **average** acc = accuracy over every annotated image (whatever its factors);
* **error ratio** ER(f) = (1 − acc(f)) / (1 − acc) (``imagenet_x.error_ratio``): how much more often the
  model errs on images with factor f than on the average image; 1 means "no worse than average";
* **worst factor**: the factor of lowest accuracy (equivalently highest error ratio); for ECE, the
  highest ECE (``_compute_factor_calibration_errors``'s ``worst_factor``);
* **per-factor ECE**: top-1 ECE over the images with factor f, 15 equal-width bins as in ImageNet-X,
  computed from top-1 confidence and correctness with :func:`robustscope.metrics.classification.ece`'s
  binning (:func:`~robustscope.metrics.classification.calibration_bins`, left-closed bins and a slot of
  its own for a confidence of exactly 1.0). The package bins right-closed and puts 1.0 in the top bin;
  the two agree unless a confidence lies exactly on a bin edge or equals 1.0.

Confidence intervals: percentile bootstrap (Efron & Tibshirani 1993) over *images*: every resample
draws the whole annotated set with replacement (the same index stream as
:func:`robustscope.metrics.bootstrap.bootstrap_ci` with the same seed) and recomputes every number
from it, so a factor's accuracy, its error ratio (whose denominator moves with the resample) and the
worst factor (which may change between resamples) all get intervals. Resamples use multiplicity
weights, so all factors of all resamples cost a few matrix products.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import percentile_interval, resample_indices
from robustscope.metrics.classification import calibration_bins

__all__ = [
    "CORRECTNESS",
    "IMAGENET_X_BINS",
    "correct_predictions",
    "error_ratio",
    "factor_accuracy",
    "factor_ece",
    "factor_table",
    "factor_table_by_group",
    "worst_factor",
]

#: ECE bins of ImageNet-X (``estimated_calibration_error(n_bins=15)``).
IMAGENET_X_BINS = 15
#: What counts as correct: the package's ``error_type`` values ``class``, ``metaclass``, ``real_class``.
CORRECTNESS = ("class", "metaclass", "real")


def error_ratio(factor_accuracy: float | np.ndarray, overall_accuracy: float | np.ndarray) -> float | np.ndarray:
    """ER(f) = (1 − acc(f)) / (1 − acc) (Idrissi et al., ICLR 2023); NaN where the model makes no mistake.

    Example:
        >>> error_ratio(0.5, 0.75)  # twice as many mistakes on the factor as on average
        2.0
        >>> error_ratio(np.array([0.9, 0.8]), 0.8).round(6).tolist()
        [0.5, 1.0]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (1.0 - np.asarray(factor_accuracy, dtype=np.float64)) / (
            1.0 - np.asarray(overall_accuracy, dtype=np.float64)
        )
    ratio = np.where(np.isfinite(ratio), ratio, np.nan)
    return float(ratio) if ratio.ndim == 0 else ratio


def _membership(membership: np.ndarray, n: int) -> np.ndarray:
    m = np.asarray(membership)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.shape[0] != n:
        raise ValueError(f"membership must be [N={n}, F] (one 0/1 column per factor), got shape {m.shape}")
    if m.dtype != bool and not np.isin(m, (0, 1)).all():
        raise ValueError("membership must be 0/1 or boolean")
    return m.astype(np.float64)


def _correct(correct: np.ndarray) -> np.ndarray:
    c = np.asarray(correct)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"correct must be a non-empty 1-D array [N], got shape {c.shape}")
    return c.astype(np.float64)


def factor_accuracy(correct: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Accuracy on the images with each factor: ``[F]``, NaN for a factor no image has.

    Example:
        >>> correct = np.array([1, 0, 1, 1])
        >>> member = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
        >>> factor_accuracy(correct, member).tolist()
        [0.5, 0.5]
    """
    c = _correct(correct)
    m = _membership(membership, c.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (c @ m) / m.sum(axis=0)


def factor_ece(
    correct: np.ndarray, confidence: np.ndarray, membership: np.ndarray, n_bins: int = IMAGENET_X_BINS
) -> np.ndarray:
    """Top-1 ECE over the images with each factor (``[F]``, NaN for an empty factor), 15 bins by default.

    ``sum_b |acc_b − conf_b| · n_b / n_f`` over equal-width bins of the top-1 ``confidence``, binned as
    :func:`robustscope.metrics.classification.ece` (Guo et al., ICML 2017; 15 bins as in ImageNet-X).

    Example:
        >>> correct, conf = np.array([1, 0, 1]), np.array([0.9, 0.9, 0.6])
        >>> factor_ece(correct, conf, np.array([[1], [1], [0]]), n_bins=2).round(6).tolist()  # |0.5 − 0.9|
        [0.4]
    """
    c = _correct(correct)
    stats = _statistics(np.ones((1, c.size)), _prepared(c, confidence, membership, n_bins))
    return stats["factor_ece"][0]


def worst_factor(values: pd.Series | dict[str, float], higher_is_worse: bool = False) -> tuple[str, float]:
    """The factor with the lowest value (accuracy), or the highest (error ratio, ECE); NaNs ignored.

    Example:
        >>> worst_factor({"pose": 0.7, "style": 0.4, "color": float("nan")})
        ('style', 0.4)
    """
    series = pd.Series(values, dtype=np.float64).dropna()
    if series.empty:
        return "", float("nan")
    name = series.idxmax() if higher_is_worse else series.idxmin()
    return str(name), float(series[name])


def correct_predictions(
    predicted: np.ndarray,
    true: np.ndarray,
    mode: str = "class",
    metaclass_of: Sequence[str] | np.ndarray | None = None,
    real: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Per-image correctness for the package's three error types (``imagenet_x.aggregate`` ``error_type``).

    * ``class``: the top-1 ImageNet class is the annotated class (``is_correct``);
    * ``metaclass``: the top-1 class falls in the annotated class's metaclass (``is_metaclass_correct``;
      ``metaclass_of`` maps the 1000 classes to metaclasses);
    * ``real``: the top-1 class is one of the image's ReaL labels (``is_correct_real``; ``real`` lists
      them per image). As in the package, an image ReaL left unlabelled counts as a mistake.

    A predicted class of ``-1`` (a model label outside ImageNet-1k) is never correct.

    Example:
        >>> correct_predictions(np.array([3, 5, -1]), np.array([3, 4, 4])).tolist()
        [True, False, False]
        >>> correct_predictions(np.array([0, 2]), np.array([1, 1]), "metaclass", metaclass_of=["a", "a", "b"]).tolist()
        [True, False]
        >>> correct_predictions(np.array([7, 7]), np.array([1, 1]), "real", real=[(7, 8), ()]).tolist()
        [True, False]
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    true = np.asarray(true, dtype=np.int64)
    if predicted.shape != true.shape or predicted.ndim != 1:
        raise ValueError(f"predicted {predicted.shape} and true {true.shape} must be 1-D of the same length")
    known = predicted >= 0
    if mode == "class":
        return known & (predicted == true)
    if mode == "metaclass":
        if metaclass_of is None:
            raise ValueError("correctness 'metaclass' needs metaclass_of (class index → metaclass)")
        meta = np.asarray(metaclass_of, dtype=object)
        return known & (meta[np.clip(predicted, 0, None)] == meta[true])
    if mode == "real":
        if real is None or len(real) != predicted.size:
            raise ValueError("correctness 'real' needs the ReaL labels of every image")
        return np.array([bool(k) and int(p) in set(r) for p, r, k in zip(predicted, real, known, strict=True)])
    raise ValueError(f"correctness must be one of {CORRECTNESS}, got {mode!r}")


# -- the statistics of many weighted resamples at once ------------------------------------------------
@dataclass(frozen=True)
class _Prepared:
    """The per-image arrays every resample reuses, laid out for fast weighted sums."""

    n: int
    n_factors: int
    n_slots: int
    # [1 | correct | membership | membership·correct | residual] as [K, N] rows (C order): ``design @ W.T``
    # multiplies two row-major arrays along their long axis, the layout OpenBLAS handles fastest.
    design: np.ndarray
    members: list[np.ndarray]  # images of each factor
    residual_of: list[np.ndarray]  # [slots, n_f] residuals of each factor's images


def _prepared(correct: np.ndarray, confidence: np.ndarray, membership: np.ndarray, n_bins: int) -> _Prepared:
    c = _correct(correct)
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != c.shape:
        raise ValueError(f"confidence {conf.shape} must match correct {c.shape}")
    if not np.isfinite(conf).all() or conf.min() < -1e-6 or conf.max() > 1 + 1e-6:
        raise ValueError("confidence must be top-1 probabilities in [0, 1]")
    m = _membership(membership, c.size)
    slots = int(n_bins) + 1
    # residual[i, bin_i] = c_i − p_i: a resample's ECE is sum_b |sum_i w_i residual[i, b]| / sum_i w_i.
    residual = np.zeros((c.size, slots))
    residual[np.arange(c.size), calibration_bins(conf, n_bins)] = c - conf
    design = np.concatenate([np.ones((c.size, 1)), c[:, None], m, m * c[:, None], residual], axis=1)
    members = [np.flatnonzero(m[:, f]) for f in range(m.shape[1])]
    return _Prepared(
        n=c.size,
        n_factors=m.shape[1],
        n_slots=slots,
        design=np.ascontiguousarray(design.T),
        members=members,
        residual_of=[np.ascontiguousarray(residual[rows].T) for rows in members],
    )


def _statistics(weights: np.ndarray, prep: _Prepared) -> dict[str, np.ndarray]:
    """Every number for ``R`` resamples given as multiplicity weights ``[R, N]`` (accuracies are weighted means)."""
    f = prep.n_factors
    sums = (prep.design @ weights.T).T
    with np.errstate(divide="ignore", invalid="ignore"):
        total = sums[:, 0]
        accuracy = sums[:, 1] / total
        counts = sums[:, 2 : 2 + f]
        factor_acc = sums[:, 2 + f : 2 + 2 * f] / counts
        ratio = (1.0 - factor_acc) / (1.0 - accuracy)[:, None]
        ratio[~np.isfinite(ratio)] = np.nan
        ece = np.abs(sums[:, 2 + 2 * f :]).sum(axis=1) / total
        factor_ece = np.full(factor_acc.shape, np.nan)
        for j, (rows, residual) in enumerate(zip(prep.members, prep.residual_of, strict=True)):
            if rows.size:
                binned = residual @ np.ascontiguousarray(weights[:, rows]).T  # [slots, R]
                factor_ece[:, j] = np.abs(binned).sum(axis=0) / counts[:, j]
    return {
        "accuracy": accuracy,
        "ece": ece,
        "counts": counts,
        "factor_accuracy": factor_acc,
        "factor_error_ratio": ratio,
        "factor_ece": factor_ece,
    }


def _nan_extreme(values: np.ndarray, highest: bool) -> np.ndarray:
    """Row-wise nanmax/nanmin that gives NaN (not a warning) for an all-NaN row."""
    filled = np.where(np.isnan(values), -np.inf if highest else np.inf, values)
    out = filled.max(axis=1) if highest else filled.min(axis=1)
    return np.where(np.isfinite(out), out, np.nan)


def _resample_weights(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Multiplicity weights ``[chunk, n]`` of the resamples :func:`resample_indices` draws."""
    for idx in resample_indices(n, n_resamples, seed):
        r = idx.shape[0]
        flat = (idx + n * np.arange(r)[:, None]).ravel()
        yield np.bincount(flat, minlength=r * n).reshape(r, n).astype(np.float64)


def factor_table(
    correct: np.ndarray,
    confidence: np.ndarray,
    membership: np.ndarray,
    factors: Sequence[str],
    n_bins: int = IMAGENET_X_BINS,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Every ImageNet-X number with a percentile-bootstrap CI, one row per (metric, factor).

    Args:
        correct: ``[N]`` per-image correctness (:func:`correct_predictions`).
        confidence: ``[N]`` top-1 probability per image (for ECE).
        membership: ``[N, F]`` 0/1, image has factor f.
        factors: the F factor names.
        n_bins: ECE bins (15 in ImageNet-X).
        n_resamples: bootstrap resamples over images (0: no CIs).

    Returns:
        Columns ``metric, factor, value, ci_low, ci_high, n``:

        * ``top1``, ``error_ratio``, ``ece`` for each factor some image has (``n`` its images);
        * ``top1`` and ``ece`` over all images (``factor`` ``""``): the package's ``average``;
        * ``worst_factor_top1``, ``worst_factor_error_ratio``, ``worst_factor_ece``: the lowest factor
          accuracy, the highest error ratio, the highest factor ECE (``factor`` names it; the CI is
          that of the extreme over factors, whichever factor it is in a resample).

    Example:
        >>> correct = np.array([1, 1, 1, 0, 1, 0])
        >>> member = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [0, 0]])
        >>> table = factor_table(correct, np.full(6, 0.75), member, ["pose", "style"], n_resamples=0)
        >>> table.set_index(["metric", "factor"]).value.round(4).to_dict()  # doctest: +NORMALIZE_WHITESPACE
        {('top1', 'pose'): 1.0, ('top1', 'style'): 0.5, ('error_ratio', 'pose'): 0.0, ('error_ratio', 'style'): 1.5,
         ('ece', 'pose'): 0.25, ('ece', 'style'): 0.25, ('top1', ''): 0.6667, ('ece', ''): 0.0833,
         ('worst_factor_top1', 'style'): 0.5, ('worst_factor_error_ratio', 'style'): 1.5,
         ('worst_factor_ece', 'pose'): 0.25}
    """
    factors = [str(f) for f in factors]
    prep = _prepared(correct, confidence, membership, n_bins)
    if prep.n_factors != len(factors):
        raise ValueError(f"membership has {prep.n_factors} columns but {len(factors)} factor names were given")
    point = _statistics(np.ones((1, prep.n)), prep)
    present = point["counts"][0] > 0

    def extremes(stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keep = lambda key: np.where(present[None, :], stats[key], np.nan)  # noqa: E731
        return {
            "worst_factor_top1": _nan_extreme(keep("factor_accuracy"), highest=False),
            "worst_factor_error_ratio": _nan_extreme(keep("factor_error_ratio"), highest=True),
            "worst_factor_ece": _nan_extreme(keep("factor_ece"), highest=True),
        }

    point.update(extremes(point))
    intervals: dict[str, np.ndarray] = {}
    if n_resamples > 0:
        parts: dict[str, list[np.ndarray]] = {}
        for weights in _resample_weights(prep.n, int(n_resamples), seed):
            stats = _statistics(weights, prep)
            stats.update(extremes(stats))
            for key, value in stats.items():
                parts.setdefault(key, []).append(value)
        for key, chunks in parts.items():
            dist = np.concatenate(chunks)
            dist = dist[:, None] if dist.ndim == 1 else dist
            intervals[key] = np.array([percentile_interval(dist[:, j], confidence_level) for j in range(dist.shape[1])])

    def ci(key: str, j: int = 0) -> tuple[float, float]:
        return tuple(intervals[key][j]) if key in intervals else (float("nan"), float("nan"))

    records = []
    counts = point["counts"][0]
    for metric, key in (("top1", "factor_accuracy"), ("error_ratio", "factor_error_ratio"), ("ece", "factor_ece")):
        for j, name in enumerate(factors):
            if present[j]:
                records.append((metric, name, float(point[key][0, j]), *ci(key, j), int(counts[j])))
    records.append(("top1", "", float(point["accuracy"][0]), *ci("accuracy"), prep.n))
    records.append(("ece", "", float(point["ece"][0]), *ci("ece"), prep.n))
    for metric, key, highest in (
        ("worst_factor_top1", "factor_accuracy", False),
        ("worst_factor_error_ratio", "factor_error_ratio", True),
        ("worst_factor_ece", "factor_ece", True),
    ):
        values = {name: point[key][0, j] for j, name in enumerate(factors) if present[j]}
        name, value = worst_factor(values, higher_is_worse=highest)
        n = int(counts[factors.index(name)]) if name else 0
        records.append((metric, name, value, *ci(metric), n))
    return pd.DataFrame(records, columns=["metric", "factor", "value", "ci_low", "ci_high", "n"])


def factor_table_by_group(
    correct: np.ndarray,
    confidence: np.ndarray,
    membership: np.ndarray,
    factors: Sequence[str],
    groups: np.ndarray,
    **options: float,
) -> pd.DataFrame:
    """:func:`factor_table` within each group (ImageNet-X's metaclass view), with a ``group`` column.

    Within a group, the error ratio divides by the group's own accuracy, as the package's
    ``compute_factor_metaclass_accuracies`` (grouped by model and metaclass) does; each group is
    bootstrapped over its own images.

    Example:
        >>> table = factor_table_by_group(np.array([1, 0, 1, 1]), np.full(4, 0.5), np.array([[1], [0], [1], [0]]),
        ...                               ["pose"], np.array(["dog", "dog", "bird", "bird"]), n_resamples=0)
        >>> table[table.metric == "error_ratio"][["group", "value"]].values.tolist()
        [['bird', nan], ['dog', 0.0]]
    """
    groups = np.asarray(groups).astype(str)
    c = np.asarray(correct)
    conf = np.asarray(confidence)
    m = np.asarray(membership)
    if m.ndim == 1:
        m = m[:, None]
    if groups.shape != c.shape:
        raise ValueError(f"groups {groups.shape} must match correct {c.shape}")
    tables = []
    for group in sorted(set(groups.tolist())):
        rows = groups == group
        table = factor_table(c[rows], conf[rows], m[rows], factors, **options)
        tables.append(table.assign(group=group))
    columns = ["group", "metric", "factor", "value", "ci_low", "ci_high", "n"]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)
