"""Percentile bootstrap confidence intervals (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993).

Rows of all arrays are resampled jointly with replacement, ``n_resamples`` times, from
``np.random.default_rng(seed)``; the interval is the ``(1 - confidence) / 2`` and
``(1 + confidence) / 2`` quantiles of the resampled statistic. The resample indices depend only on
``(seed, n, n_resamples)``, so the vectorised and the looped paths give identical intervals, and two
metrics bootstrapped with the same seed on the same rows use the same resamples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np

CI_METHOD = "percentile bootstrap"

# Indices drawn per chunk: bounds memory at ~8 MB of int64 indices whatever N and n_resamples are.
_INDICES_PER_CHUNK = 1 << 20

__all__ = [
    "CI_METHOD",
    "PairedBootstrapTest",
    "bootstrap_ci",
    "bootstrap_distribution",
    "paired_bootstrap_test",
    "paired_test_result",
    "percentile_interval",
    "resample_indices",
]


def resample_indices(n: int, n_resamples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``[chunk, n]`` blocks of bootstrap row indices, ``n_resamples`` rows in total.

    Chunking does not change the stream: ``default_rng(seed).integers`` draws element by element,
    so the concatenated blocks equal one ``integers(0, n, (n_resamples, n))`` call.

    Example:
        >>> blocks = list(resample_indices(4, 3, seed=0))
        >>> np.concatenate(blocks).shape
        (3, 4)
    """
    if n < 1:
        raise ValueError("cannot bootstrap an empty sample (n = 0)")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, _INDICES_PER_CHUNK // n))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        yield rng.integers(0, n, size=(size, n))
        done += size


def _rows_mean(values: np.ndarray) -> np.ndarray:
    return values.mean(axis=-1)


def bootstrap_distribution(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    vectorized: bool = False,
) -> np.ndarray:
    """The statistic on each of ``n_resamples`` joint row resamples of ``arrays`` (shape ``[n_resamples]``).

    With ``vectorized=True`` the statistic receives each array resampled as ``[R, N, ...]`` and must
    return ``R`` values (e.g. ``lambda c: c.mean(axis=1)``); ``np.mean`` on one 1-D array is
    recognised and vectorised automatically. Otherwise it is called once per resample.

    Example:
        >>> dist = bootstrap_distribution(np.mean, np.array([0.0, 1.0, 1.0, 1.0]), n_resamples=5)
        >>> dist.shape
        (5,)
    """
    if not arrays:
        raise ValueError("bootstrap needs at least one array to resample")
    arrays = tuple(np.asarray(a) for a in arrays)
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    for a in arrays:
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(
                f"all arrays must have the same number of rows; got shapes {[x.shape for x in arrays]}"
            )
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if statistic is np.mean and len(arrays) == 1 and arrays[0].ndim == 1:
        statistic, vectorized = _rows_mean, True

    out = np.empty(int(n_resamples), dtype=np.float64)
    done = 0
    for idx in resample_indices(n, int(n_resamples), seed):
        if vectorized:
            values = np.asarray(statistic(*(a[idx] for a in arrays)), dtype=np.float64)
            if values.shape != (idx.shape[0],):
                raise ValueError(
                    f"a vectorized statistic must return one value per resample, shape ({idx.shape[0]},); "
                    f"got {values.shape}"
                )
            out[done : done + idx.shape[0]] = values
        else:
            for row in idx:
                out[done] = float(statistic(*(a[row] for a in arrays)))
                done += 1
            continue
        done += idx.shape[0]
    return out


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval ``(low, high)`` of ``statistic(*arrays)``.

    Rows of all ``arrays`` are resampled jointly (so ``probs`` and ``labels`` stay paired), with
    ``np.random.default_rng(seed)``; deterministic given the seed. For a mean of per-sample values
    (accuracy from per-sample correctness, NLL, Brier) pass the per-sample array with ``np.mean``
    and 1000 resamples of 10k samples take milliseconds; ``vectorized=True`` lets any statistic
    take all resamples at once (see :func:`bootstrap_distribution`). Resamples whose statistic
    is NaN are ignored. Method: Efron & Tibshirani 1993, percentile interval.

    Example:
        >>> correct = np.array([1.0] * 80 + [0.0] * 20)
        >>> low, high = bootstrap_ci(np.mean, correct, n_resamples=2000, seed=0)
        >>> bool(0.70 < low < 0.8 < high < 0.90)
        True
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    dist = bootstrap_distribution(statistic, *arrays, n_resamples=n_resamples, seed=seed, vectorized=vectorized)
    return percentile_interval(dist, confidence)


def percentile_interval(distribution: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The central ``confidence`` interval of a bootstrap distribution (NaN entries ignored).

    Quantiles use numpy's default linear interpolation.

    Example:
        >>> percentile_interval(np.arange(5.0), 0.5)
        (1.0, 3.0)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    dist = np.asarray(distribution, dtype=np.float64)
    if dist.size == 0 or np.isnan(dist).all():
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.nanquantile(dist, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


class PairedBootstrapTest(NamedTuple):
    """Result of :func:`paired_bootstrap_test`: ``difference, ci, p_value`` (unpacks as a tuple)."""

    difference: float
    ci: tuple[float, float]
    p_value: float


def paired_bootstrap_test(
    a_values: np.ndarray,
    b_values: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    vectorized: bool = False,
) -> PairedBootstrapTest:
    """Paired bootstrap test of "model A beats model B on the same samples": difference, CI, two-sided p.

    ``a_values[i]`` and ``b_values[i]`` are the two models' per-sample values on sample ``i`` (e.g. top-1
    correctness). The observed difference is ``d = statistic(a) - statistic(b)``. Each resample draws
    sample *indices* with replacement and applies them to both models jointly (the pairing is kept),
    giving ``d*_r = statistic(a[I_r]) - statistic(b[I_r])``, with the index stream of
    :func:`bootstrap_ci` (same seed, same resamples).

    * CI: the percentile interval of ``d*`` (Efron & Tibshirani, *An Introduction to the Bootstrap*,
      1993, ch. 13).
    * p-value: the bootstrap distribution shifted to satisfy the null of no difference,
      ``d* - d`` (Efron & Tibshirani 1993, ch. 16; Hall & Wilson, "Two Guidelines for Bootstrap
      Hypothesis Testing", Biometrics 1991), gives the achieved significance level
      ``p = (1 + #{r: |d*_r - d| >= |d|}) / (1 + R)`` (the ``+1`` of Davison & Hinkley 1997, eq. 4.11,
      so ``p`` is never 0; the smallest possible value is ``1 / (R + 1)``). Differences that tie
      within floating-point rounding count as at least as extreme. This is the paired bootstrap test
      of Koehn (EMNLP 2004) and Berg-Kirkpatrick et al. (EMNLP 2012), made two-sided.

    Identical inputs give ``d = 0``, CI ``(0, 0)`` and ``p = 1``. Resamples whose statistic is NaN are
    left out of the CI and the p-value. With ``vectorized=True`` the statistic receives ``[R, N]``
    resampled values and must return ``R`` values; ``np.mean`` is vectorised automatically.

    Example:
        >>> a = np.array([1.0, 1.0, 0.0])
        >>> b = np.array([0.0, 1.0, 0.0])
        >>> difference, ci, p = paired_bootstrap_test(a, b, n_resamples=20_000, seed=0)
        >>> round(difference, 4), ci
        (0.3333, (0.0, 1.0))
        >>> abs(p - 15 / 27) < 0.01  # P(d* = 0 or d* >= 2/3) = (8 + 6 + 1) / 27
        True
        >>> paired_bootstrap_test(a, a, n_resamples=100)
        PairedBootstrapTest(difference=0.0, ci=(0.0, 0.0), p_value=1.0)
    """
    a = np.asarray(a_values)
    b = np.asarray(b_values)
    if a.ndim == 0 or b.ndim == 0 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"a paired test needs the two models' values on the same samples; got shapes {a.shape} and {b.shape}"
        )
    observed = float(statistic(a)) - float(statistic(b))
    if statistic is np.mean and a.ndim == 1 and b.ndim == 1:
        dist = bootstrap_distribution(
            lambda x, y: x.mean(axis=1) - y.mean(axis=1), a, b, n_resamples=n_resamples, seed=seed, vectorized=True
        )
    elif vectorized:
        dist = bootstrap_distribution(
            lambda x, y: np.asarray(statistic(x)) - np.asarray(statistic(y)),
            a,
            b,
            n_resamples=n_resamples,
            seed=seed,
            vectorized=True,
        )
    else:
        dist = bootstrap_distribution(
            lambda x, y: float(statistic(x)) - float(statistic(y)), a, b, n_resamples=n_resamples, seed=seed
        )
    return paired_test_result(observed, dist, confidence)


def paired_test_result(observed: float, distribution: np.ndarray, confidence: float = 0.95) -> PairedBootstrapTest:
    """The CI and two-sided p-value of :func:`paired_bootstrap_test` from a bootstrap distribution of differences.

    ``distribution`` holds ``d*_r`` (the difference on each paired resample), ``observed`` the difference on
    the full sample; the p-value is that of the null-shifted distribution ``d* - d`` (see
    :func:`paired_bootstrap_test`). For statistics that need several arrays per model (ECE needs confidence
    and correctness), draw the distribution with :func:`bootstrap_distribution` and finish here.

    Example:
        >>> result = paired_test_result(0.5, np.array([0.0, 0.5, 1.0, 0.5]))
        >>> result.p_value  # |d* - 0.5| >= 0.5 for 2 of 4 resamples: (1 + 2) / (1 + 4)
        0.6
    """
    ci = percentile_interval(distribution, confidence)
    finite = distribution[np.isfinite(distribution)]
    if not np.isfinite(observed) or finite.size == 0:
        return PairedBootstrapTest(observed, ci, float("nan"))
    tolerance = 1e-12 * max(1.0, abs(observed))
    extreme = int(np.count_nonzero(np.abs(finite - observed) >= abs(observed) - tolerance))
    return PairedBootstrapTest(observed, ci, (1.0 + extreme) / (1.0 + finite.size))


def pooled_paired_difference(
    a_values: Sequence[np.ndarray],
    b_values: Sequence[np.ndarray],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedBootstrapTest:
    """Mean over seeds of ``mean(a) − mean(b)``, with a paired bootstrap CI that resamples samples within each seed.

    ``a_values[s]`` and ``b_values[s]`` are two models' per-sample values (e.g. correctness) on seed ``s``'s
    evaluation set (sets may differ in size between seeds). Each resample draws, for every seed, sample indices
    with replacement (the same for both models: paired) and averages the seeds' differences; the CI and
    p-value come from :func:`paired_test_result`. With one seed this is :func:`paired_bootstrap_test` of the
    means. Seeds are fixed, not resampled: the CI covers the variation of the evaluation samples given these
    training runs (with 3 seeds, a bootstrap over seeds would be meaningless).

    Example:
        >>> a = [np.array([1.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0])]
        >>> b = [np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 0.0])]
        >>> result = pooled_paired_difference(a, b, n_resamples=2000)
        >>> round(result.difference, 3), result.ci[0] >= 0
        (0.375, True)
    """
    if len(a_values) != len(b_values) or not a_values:
        raise ValueError(f"need the same number (> 0) of seeds for both models, got {len(a_values)}, {len(b_values)}")
    diffs = []
    for s, (a, b) in enumerate(zip(a_values, b_values, strict=True)):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape or a.ndim != 1:
            raise ValueError(f"seed {s}: paired values need equal 1-D shapes, got {a.shape} and {b.shape}")
        diffs.append(a - b)
    observed = float(np.mean([d.mean() for d in diffs]))
    distribution = np.mean(
        [bootstrap_distribution(lambda x: x.mean(axis=1), d, n_resamples=n_resamples, seed=seed + s, vectorized=True)
         for s, d in enumerate(diffs)], axis=0)  # fmt: skip
    return paired_test_result(observed, distribution, confidence)
