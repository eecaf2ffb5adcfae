"""The Whac-A-Mole table's numbers: UrbanCars measures from per-image correctness, and paired bootstraps over test
images within each seed, pooled over seeds.

The measures are :func:`robustscope.metrics.shortcuts.urbancars_summary`'s (the definitions of Whac-A-Mole's
``urbancars_trainers/base_trainer.py`` ``_eval_split`` and ``utils.MultiDimAverageMeter``, github.com/
facebookresearch/Whac-A-Mole, commit ``c91b097043246bc726fccd70f9860873e28d6122``). A resample draws the test images
of a seed with replacement, the *same* indices for every model of that seed (so differences are paired), and every
measure is recomputed on it; pooled over seeds, each resample averages the seeds' values, as the point estimate
averages the seeds' measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustscope.metrics.shortcuts import URBANCARS_VALUES, urbancars_summary

__all__ = ["METRICS", "SeedOutcome", "cell_index", "differences", "measure", "resample_measures", "table"]

#: Column → its heading in the Whac-A-Mole table (the paper's Table 2 order).
METRICS: dict[str, str] = {"id_acc": "I.D. acc", "bg_gap": "BG gap", "coobj_gap": "CoObj gap",
                           "bg_coobj_gap": "BG+CoObj gap", "worst_group_acc": "worst group"}  # fmt: skip


def cell_index(objects: Sequence[str], backgrounds: Sequence[str], co_occur: Sequence[str]) -> np.ndarray:
    """Each image's flat cell ``(object · 2 + background) · 2 + co_occur`` (0 = urban, 1 = country): the order of
    :func:`~robustscope.metrics.shortcuts.cell_counts`'s.

    Example:
        >>> cell_index(["urban", "country"], ["country", "country"], ["urban", "country"]).tolist()
        [2, 7]
    """
    index = {value: i for i, value in enumerate(URBANCARS_VALUES)}
    try:
        codes = [(index[o] * 2 + index[b]) * 2 + index[c] for o, b, c in zip(objects, backgrounds, co_occur,
                                                                               strict=True)]  # fmt: skip
    except KeyError as err:
        raise ValueError(f"UrbanCars factor value {err.args[0]!r} is not one of {list(URBANCARS_VALUES)}") from None
    return np.asarray(codes, dtype=np.int64)


def _summary(hits: np.ndarray, totals: np.ndarray) -> dict[str, np.ndarray]:
    summary = urbancars_summary(hits.reshape(*hits.shape[:-1], 2, 2, 2), totals.reshape(*totals.shape[:-1], 2, 2, 2))
    return {key: np.asarray(summary[key], dtype=float) for key in METRICS}


def measure(cells: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """The table's measures of one model from each test image's cell (:func:`cell_index`) and correctness.

    Example:
        >>> cells = np.arange(8).repeat(2); correct = np.ones(16, bool); correct[[4, 11]] = False
        >>> # half right in the cells (urban, country, urban) and (country, urban, country): BG absent, CoObj present
        >>> {k: round(v, 5) for k, v in measure(cells, correct).items()}
        {'id_acc': 0.97625, 'bg_gap': -0.47625, 'coobj_gap': 0.02375, 'bg_coobj_gap': 0.02375, 'worst_group_acc': 0.5}
    """
    totals = np.bincount(cells, minlength=8).astype(float)
    hits = np.bincount(cells, weights=np.asarray(correct, dtype=float), minlength=8)
    return {key: float(value) for key, value in _summary(hits, totals).items()}


def resample_measures(cells: np.ndarray, correct: Mapping[str, np.ndarray], n_resamples: int,
                      rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:  # fmt: skip
    """Every model's measures on ``n_resamples`` bootstrap resamples of the images: model → measure → ``[R]``.
    One set of drawn indices serves every model (a paired bootstrap).

    Example:
        >>> cells = np.arange(8).repeat(5); right = np.ones(40, bool)
        >>> out = resample_measures(cells, {"a": right, "b": ~right}, 20, np.random.default_rng(0))
        >>> out["a"]["id_acc"].shape, float(np.nanmax(out["b"]["worst_group_acc"]))
        ((20,), 0.0)
    """
    n = len(cells)
    drawn = rng.integers(0, n, size=(n_resamples, n))
    weights = np.zeros((n_resamples, n))
    np.add.at(weights, (np.arange(n_resamples)[:, None], drawn), 1.0)
    onehot = np.eye(8)[cells]  # [N, 8]
    totals = weights @ onehot
    return {name: _summary(weights @ (onehot * np.asarray(right, float)[:, None]), totals)
            for name, right in correct.items()}  # fmt: skip


@dataclass
class SeedOutcome:
    """One seed's test images (their cells) and each method's per-image correctness and wall time (s)."""

    seed: int
    cells: np.ndarray
    correct: dict[str, np.ndarray]
    seconds: dict[str, float]


def _ci(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _draws(outcomes: Sequence[SeedOutcome], n_resamples: int, seed: int) -> list[dict[str, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    return [resample_measures(o.cells, o.correct, n_resamples, rng) for o in outcomes]


def table(outcomes: Sequence[SeedOutcome], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The Whac-A-Mole table: one row per method, each measure's mean over seeds with a 95% bootstrap CI
    (images resampled within each seed, seeds averaged), its standard deviation over seeds, and the method's
    mean wall time.

    Example:
        >>> cells = np.arange(8).repeat(5)
        >>> o = SeedOutcome(0, cells, {"erm": cells != 4, "dfr": np.ones(40, bool)}, {"erm": 1.0, "dfr": 2.0})
        >>> t = table([o], n_resamples=50)
        >>> t.loc["dfr", "worst_group_acc"], t.loc["erm", "worst_group_acc"], t.loc["erm", "seconds"]
        (np.float64(1.0), np.float64(0.0), np.float64(1.0))
    """
    methods = list(outcomes[0].correct)
    draws = _draws(outcomes, n_resamples, seed)
    rows = []
    for method in methods:
        row: dict[str, object] = {"method": method}
        for key in METRICS:
            per_seed = np.array([measure(o.cells, o.correct[method])[key] for o in outcomes])
            pooled = np.mean([d[method][key] for d in draws], axis=0) if n_resamples else np.array([])
            row[key] = per_seed.mean()
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = _ci(pooled)
            row[f"{key}_seed_sd"] = per_seed.std(ddof=1) if len(per_seed) > 1 else float("nan")
        row["seconds"] = float(np.mean([o.seconds.get(method, np.nan) for o in outcomes]))
        row["seeds"] = len(outcomes)
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


#: The paired differences the issue asks about: name → (measure, whether to compare absolute values).
DIFFERENCES: dict[str, tuple[str, bool]] = {"worst group": ("worst_group_acc", False),
                                            "|BG+CoObj gap|": ("bg_coobj_gap", True)}  # fmt: skip


def differences(outcomes: Sequence[SeedOutcome], baseline: str = "erm", n_resamples: int = 1000,
                seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Paired differences method − ``baseline`` of each :data:`DIFFERENCES` measure, per seed and pooled over
    seeds (``seed`` = ``"pooled"``), each with a 95% paired-bootstrap CI over the test images.

    Example:
        >>> cells = np.arange(8).repeat(5)
        >>> o = SeedOutcome(0, cells, {"erm": cells != 4, "dfr": np.ones(40, bool)}, {})
        >>> d = differences([o], n_resamples=50)
        >>> row = d[(d["method"] == "dfr") & (d["measure"] == "worst group") & (d["seed"] == "pooled")].iloc[0]
        >>> float(row["difference"]), float(row["ci_low"])
        (1.0, 1.0)
    """
    draws = _draws(outcomes, n_resamples, seed)
    rows = []
    for method in outcomes[0].correct:
        if method == baseline:
            continue
        for name, (key, absolute) in DIFFERENCES.items():
            def value(x: np.ndarray | float, absolute: bool = absolute) -> np.ndarray:
                return np.abs(x) if absolute else np.asarray(x)

            points, samples = [], []
            for outcome, drawn in zip(outcomes, draws, strict=True):
                point = float(value(measure(outcome.cells, outcome.correct[method])[key])
                              - value(measure(outcome.cells, outcome.correct[baseline])[key]))  # fmt: skip
                sample = value(drawn[method][key]) - value(drawn[baseline][key])
                points.append(point)
                samples.append(sample)
                rows.append({"method": method, "measure": name, "seed": str(outcome.seed), "difference": point,
                             **dict(zip(("ci_low", "ci_high"), _ci(sample), strict=True))})  # fmt: skip
            pooled = np.mean(samples, axis=0)
            rows.append({"method": method, "measure": name, "seed": "pooled", "difference": float(np.mean(points)),
                         **dict(zip(("ci_low", "ci_high"), _ci(pooled), strict=True))})  # fmt: skip
    return pd.DataFrame(rows)
