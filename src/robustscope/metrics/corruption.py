"""Common-corruption metrics: corruption errors, mCE and relative mCE against AlexNet.

Protocol (DESIGN.md, "Common corruptions"): Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019. Tables are pandas DataFrames indexed by
corruption name with one column per severity (``1..5``); values are fractions in ``[0, 1]``.

* ``CE_c = sum_s E_{s,c} / sum_s E^{AlexNet}_{s,c}``; **mCE** = mean of ``CE_c`` over the 15 ImageNet-C
  corruptions, times 100. Extra corruptions in the table (the 4 "extra" ones) are ignored.
* ``relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^{AlexNet}_{s,c} - E^{AlexNet}_clean)``;
  **relative mCE** = their mean, times 100.

AlexNet's published per-severity errors ship in ``data/alexnet_imagenet_c_errors.csv`` (source in its
header). AlexNet's clean top-1 error is :data:`ALEXNET_CLEAN_ERROR`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

IMAGENET_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
"""The 15 corruptions averaged by mCE (the 4 extra ones -- speckle noise, gaussian blur, spatter,
saturate -- are reported per corruption but not in mCE)."""

ALEXNET_CLEAN_ERROR = 0.43478
"""AlexNet clean top-1 error on the ImageNet validation set: torchvision's AlexNet checkpoint reaches
56.522% top-1, i.e. 21,739 of 50,000 images wrong; Hendrycks & Dietterich (2019, Table 1) print it
rounded as 43.5%. Some public code uses 0.4345 instead; the relative mCE moves by < 0.1 points."""

__all__ = [
    "ALEXNET_CLEAN_ERROR",
    "IMAGENET_C_CORRUPTIONS",
    "alexnet_errors",
    "corruption_errors",
    "mce",
    "per_corruption_ce",
    "per_corruption_relative_ce",
    "relative_mce",
]


@lru_cache(maxsize=1)
def _alexnet_table() -> pd.DataFrame:
    path = resources.files("robustscope.metrics").joinpath("data/alexnet_imagenet_c_errors.csv")
    with path.open("r", encoding="utf-8") as fh:
        table = pd.read_csv(fh, comment="#", index_col="corruption")
    table.columns = [int(c) for c in table.columns]
    return table


def alexnet_errors() -> pd.DataFrame:
    """AlexNet's published ImageNet-C top-1 errors, ``[15 corruptions, 5 severities]`` (a fresh copy).

    Example:
        >>> t = alexnet_errors()
        >>> t.shape, list(t.columns)
        ((15, 5), [1, 2, 3, 4, 5])
        >>> round(float(t.loc["gaussian_noise"].mean()), 6)  # the per-corruption AlexNet error of the paper
        0.886428
    """
    return _alexnet_table().copy()


def _as_table(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame (corruption x severity), got {type(table).__name__}")
    out = table.copy()
    try:
        out.columns = [int(c) for c in out.columns]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} columns must be severities (integers), got {list(table.columns)}") from err
    values = out.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"{what} has missing or non-finite entries")
    if (values < 0).any() or (values > 1).any():
        raise ValueError(f"{what} must hold fractions in [0, 1] (not percentages)")
    return out.astype(np.float64)


def corruption_errors(accuracy_table: pd.DataFrame) -> pd.DataFrame:
    """Top-1 error ``1 - accuracy`` of a ``[corruption, severity]`` accuracy table (fractions in [0, 1]).

    Example:
        >>> acc = pd.DataFrame({1: [0.9, 0.5], 2: [0.8, 0.25]}, index=["fog", "snow"])
        >>> corruption_errors(acc).round(6).to_dict("index")
        {'fog': {1: 0.1, 2: 0.2}, 'snow': {1: 0.5, 2: 0.75}}
    """
    return 1.0 - _as_table(accuracy_table, "accuracy_table")


def _aligned(errors: pd.DataFrame, baseline: pd.DataFrame | None, corruptions: tuple[str, ...] | None):
    errors = _as_table(errors, "errors")
    base = _alexnet_table() if baseline is None else _as_table(baseline, "baseline")
    names = IMAGENET_C_CORRUPTIONS if corruptions is None else tuple(corruptions)
    for label, tab in (("errors", errors), ("baseline", base)):
        missing = [c for c in names if c not in tab.index]
        if missing:
            raise ValueError(f"{label} lacks corruptions {missing}")
    severities = sorted(base.columns)
    if sorted(errors.columns) != severities:
        raise ValueError(f"errors has severities {sorted(errors.columns)}, baseline {severities}")
    return errors.loc[list(names), severities], base.loc[list(names), severities]


def per_corruption_ce(
    errors: pd.DataFrame, baseline: pd.DataFrame | None = None, corruptions: tuple[str, ...] | None = None
) -> pd.Series:
    """Corruption error ``CE_c = 100 * sum_s E_{s,c} / sum_s E^base_{s,c}`` per corruption (default base AlexNet)."""
    err, base = _aligned(errors, baseline, corruptions)
    return 100.0 * err.sum(axis=1) / base.sum(axis=1)


def mce(
    errors: pd.DataFrame, baseline: pd.DataFrame | None = None, corruptions: tuple[str, ...] | None = None
) -> float:
    """Mean corruption error (×100) over the 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019).

    ``errors`` and ``baseline`` are ``[corruption, severity]`` error tables; ``baseline=None`` uses
    AlexNet's published errors. ``corruptions`` overrides the 15 names averaged over.

    Example:
        >>> err = alexnet_errors() / 2            # half of AlexNet's error everywhere
        >>> round(mce(err), 6)
        50.0
        >>> round(mce(alexnet_errors()), 6)
        100.0
    """
    return float(per_corruption_ce(errors, baseline, corruptions).mean())


def per_corruption_relative_ce(
    errors: pd.DataFrame,
    clean_error: float,
    baseline: pd.DataFrame | None = None,
    baseline_clean_error: float | None = None,
    corruptions: tuple[str, ...] | None = None,
) -> pd.Series:
    """Relative CE ``100 * sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)`` per corruption."""
    if baseline_clean_error is None:
        if baseline is not None:
            raise ValueError("a custom baseline needs its baseline_clean_error")
        baseline_clean_error = ALEXNET_CLEAN_ERROR
    for name, value in (("clean_error", clean_error), ("baseline_clean_error", baseline_clean_error)):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    err, base = _aligned(errors, baseline, corruptions)
    denom = (base - float(baseline_clean_error)).sum(axis=1)
    if (denom == 0).any():
        raise ValueError("baseline error equals its clean error summed over severities; relative CE undefined")
    return 100.0 * (err - float(clean_error)).sum(axis=1) / denom


def relative_mce(
    errors: pd.DataFrame,
    clean_error: float,
    baseline: pd.DataFrame | None = None,
    baseline_clean_error: float | None = None,
    corruptions: tuple[str, ...] | None = None,
) -> float:
    """Relative mCE (×100): mean over the 15 corruptions of ``sum_s (E - E_clean) / sum_s (E_base - E_base_clean)``.

    Hendrycks & Dietterich (ICLR 2019). Measures the *degradation* under corruption relative to the
    baseline's; ``baseline=None`` uses AlexNet with clean error :data:`ALEXNET_CLEAN_ERROR`. A custom
    ``baseline`` requires its ``baseline_clean_error``. Errors are fractions; the result can be negative
    when a model's corrupted error is below its clean error.

    Example:
        >>> round(relative_mce(alexnet_errors(), ALEXNET_CLEAN_ERROR), 6)
        100.0
        >>> base = pd.DataFrame({1: [0.5], 2: [0.7]}, index=["fog"])
        >>> mine = pd.DataFrame({1: [0.3], 2: [0.4]}, index=["fog"])
        >>> round(relative_mce(mine, 0.2, base, 0.4, corruptions=("fog",)), 6)  # (0.1 + 0.2) / (0.1 + 0.3)
        75.0
    """
    return float(per_corruption_relative_ce(errors, clean_error, baseline, baseline_clean_error, corruptions).mean())
