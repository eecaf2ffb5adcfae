"""The tables of ``robustscope study geography``: per-region accuracy and disparities before and after last-layer
retraining, and the paired change of each disparity with its bootstrap CI, per seed and pooled over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from robustscope.metrics.bootstrap import paired_bootstrap_test
from robustscope.metrics.geography import disparity_ci, group_accuracy, group_gap, paired_disparity_change

__all__ = ["SeedOutcome", "change_table", "markdown_table", "model_table", "to_markdown"]

#: The income gap: acc(high) − acc(low) income group.
INCOME_PAIR = ("high", "low")


@dataclass
class SeedOutcome:
    """Per-image top-1 correctness of the ERM model and its retrained head on the same test images, one seed.

    Attributes:
        seed: the training seed.
        before, after: ``[N]`` correctness of the ERM model and of the retrained model on the test images.
        id_before, id_after: top-1 on the in-distribution test (the progress gap's reference).
        regions, incomes: ``[N]`` region and income group of each test image.
        retrain_images: images of the region-balanced, house-separated set.
        seconds: wall time of training, retraining and evaluation.
    """

    seed: int
    before: np.ndarray
    after: np.ndarray
    id_before: float
    id_after: float
    regions: np.ndarray
    incomes: np.ndarray
    retrain_images: int
    seconds: dict[str, float]


def _disparities(correct: np.ndarray, outcome: SeedOutcome, n_resamples: int, seed: int) -> dict[str, float]:
    row: dict[str, float] = {}
    by_region = group_accuracy(correct, outcome.regions, n_resamples, seed)
    for r in by_region.itertuples(index=False):
        row[f"acc_{r.group}"] = r.value
    for name, groups, pair in (("disparity_max_min", outcome.regions, None),
                               ("income_gap", outcome.incomes, INCOME_PAIR)):  # fmt: skip
        table = group_accuracy(correct, groups, 0)
        names = table["group"].tolist()
        row[name] = float(group_gap(table["value"].to_numpy()[None, :], names, pair)[0])

        def statistic(accuracy: dict[str, float], pair: tuple[str, str] | None = pair) -> float:
            keys = sorted(accuracy)
            return float(group_gap(np.array([[accuracy[k] for k in keys]]), keys, pair)[0])

        low, high = disparity_ci(correct, groups, statistic, n_resamples, seed)
        row[f"{name}_ci_low"], row[f"{name}_ci_high"] = low, high
    return row


def model_table(outcomes: Sequence[SeedOutcome], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per (seed, model): top-1 on test-id and test, accuracy per region, max−min region disparity and
    income gap with stratified bootstrap CIs.

    Example:
        >>> o = SeedOutcome(0, np.array([1, 1, 0, 0.0]), np.array([1, 0, 1, 0.0]), 0.9, 0.8,
        ...                 np.array(["A", "A", "B", "B"]), np.array(["high", "low", "high", "low"]), 10, {})
        >>> model_table([o], n_resamples=0)[["model", "acc_A", "acc_B", "disparity_max_min"]].values.tolist()
        [['erm', 1.0, 0.0, 1.0], ['last-layer', 0.5, 0.5, 0.0]]
    """
    rows = []
    for outcome in outcomes:
        for model, correct, id_top1 in (("erm", outcome.before, outcome.id_before),
                                        ("last-layer", outcome.after, outcome.id_after)):  # fmt: skip
            rows.append({"seed": outcome.seed, "model": model, "top1_test_id": id_top1,
                         "top1_test": float(np.mean(correct)),
                         **_disparities(correct, outcome, n_resamples, seed)})  # fmt: skip
    return pd.DataFrame(rows)


def change_table(outcomes: Sequence[SeedOutcome], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per seed and one pooled over seeds (``seed = "pooled"``): the change (retrained − ERM) of top-1,
    of the max−min region disparity and of the income gap, each with its paired bootstrap CI and p-value (the
    same resampled test images for both models and, pooled, for every seed).

    Example:
        >>> o = SeedOutcome(0, np.array([1, 1, 0, 0.0]), np.array([1, 0, 1, 0.0]), 0.9, 0.8,
        ...                 np.array(["A", "A", "B", "B"]), np.array(["high", "low", "high", "low"]), 10, {})
        >>> change_table([o], n_resamples=50)[["seed", "delta_disparity_max_min"]].values.tolist()
        [[0, -1.0], ['pooled', -1.0]]
    """
    sets = [([o], o.seed) for o in outcomes]
    if len(outcomes) > 0:
        sets.append((list(outcomes), "pooled"))
    rows = []
    for group, label in sets:
        before = np.stack([o.before for o in group])
        after = np.stack([o.after for o in group])
        regions, incomes = group[0].regions, group[0].incomes
        top1 = paired_bootstrap_test(after.mean(axis=0), before.mean(axis=0), n_resamples=n_resamples, seed=seed)
        row: dict[str, object] = {"seed": label, "delta_top1_test": top1.difference,
                                  "delta_top1_test_ci_low": top1.ci[0], "delta_top1_test_ci_high": top1.ci[1]}
        for name, groups, pair in (("disparity_max_min", regions, None), ("income_gap", incomes, INCOME_PAIR)):
            test = paired_disparity_change(before, after, groups, pair=pair, n_resamples=n_resamples, seed=seed)
            row.update({f"delta_{name}": test.difference, f"delta_{name}_ci_low": test.ci[0],
                        f"delta_{name}_ci_high": test.ci[1], f"delta_{name}_p": test.p_value})  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def _ci(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame.apply(lambda r: f"{r[name]:+.3f} [{r[name + '_ci_low']:+.3f}, {r[name + '_ci_high']:+.3f}]", axis=1)


def to_markdown(models: pd.DataFrame, changes: pd.DataFrame) -> str:
    """The two tables as Markdown (accuracies to 3 decimals, CIs in brackets).

    Example:
        >>> m = pd.DataFrame({"seed": [0], "model": ["erm"], "top1_test_id": [0.9], "top1_test": [0.7],
        ...                   "acc_A": [0.8], "disparity_max_min": [0.2], "disparity_max_min_ci_low": [0.1],
        ...                   "disparity_max_min_ci_high": [0.3], "income_gap": [0.1], "income_gap_ci_low": [0.0],
        ...                   "income_gap_ci_high": [0.2]})
        >>> "| 0 | erm | 0.900 | 0.700 | 0.800 |" in to_markdown(m, pd.DataFrame())
        True
    """
    regions = [c for c in models.columns if c.startswith("acc_")]
    shown = pd.DataFrame({"seed": models["seed"], "model": models["model"],
                          "top-1 test-id": models["top1_test_id"].map("{:.3f}".format),
                          "top-1 test": models["top1_test"].map("{:.3f}".format),
                          **{c[len("acc_"):]: models[c].map("{:.3f}".format) for c in regions},
                          "max−min region gap [95% CI]": _ci(models, "disparity_max_min"),
                          "income gap high−low [95% CI]": _ci(models, "income_gap")})  # fmt: skip
    lines = [markdown_table(shown)]
    if not changes.empty:
        delta = pd.DataFrame({"seed": changes["seed"].astype(str),
                              "Δ top-1 test [95% CI]": _ci(changes, "delta_top1_test"),
                              "Δ max−min region gap [95% CI]": _ci(changes, "delta_disparity_max_min"),
                              "p": changes["delta_disparity_max_min_p"].map("{:.4f}".format),
                              "Δ income gap [95% CI]": _ci(changes, "delta_income_gap"),
                              "p ": changes["delta_income_gap_p"].map("{:.4f}".format)})  # fmt: skip
        lines += ["", markdown_table(delta)]
    return "\n".join(lines) + "\n"


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (values as ``str`` gives them).

    Example:
        >>> print(markdown_table(pd.DataFrame({"a": [1], "b": ["x"]})))
        | a | b |
        |---|---|
        | 1 | x |
    """
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
