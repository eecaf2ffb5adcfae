"""Judge the recipes × checks matrix from suite result rows: detected, missed, false alarm, clear or reported.

Example:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"axis": ["shape_bias"], "metric": ["shape_bias"], "shift": ["none"],
    ...                      "dataset": ["synth-bench:demo:cue-conflict"], "slice_factor": [""],
    ...                      "value": [0.1], "ci_low": [0.05], "ci_high": [0.2]})
    >>> cells = validation_matrix({("texture-shortcut", 0): rows})
    >>> cells.loc[cells["check"] == "shape_bias", "verdict"].item()
    'detected'
"""

from __future__ import annotations

import math

import pandas as pd

from robustscope.validation.expectations import Check, Expectations, load_expectations

__all__ = ["VERDICTS", "cell_row", "format_matrix", "validation_matrix"]

#: Verdict of a cell → whether the command passes on it.
VERDICTS = {"detected": True, "clear": True, "reported": True, "missed": False, "false alarm": False,
            "no data": False}


def cell_row(rows: pd.DataFrame, check: Check) -> tuple[float, float, float]:
    """(value, ci_low, ci_high) of the row ``check`` reads from one model's suite rows (NaNs when absent).

    Example:
        >>> rows = pd.DataFrame({"axis": ["ood"], "metric": ["auroc_entropy"], "shift": ["none"],
        ...                      "dataset": ["synth-bench:demo:ood-shapes"], "slice_factor": [""],
        ...                      "value": [0.7], "ci_low": [0.6], "ci_high": [0.8]})
        >>> cell_row(rows, Check("ood_shapes", "ood", "auroc_entropy", "below", 0.5, dataset="ood-shapes"))
        (0.7, 0.6, 0.8)
    """
    chosen = rows[(rows["axis"] == check.axis) & (rows["metric"] == check.metric)
                  & (rows["shift"].astype(str) == "none") & (rows["slice_factor"].fillna("").astype(str) == "")]
    if check.dataset:
        chosen = chosen[chosen["dataset"].astype(str).str.contains(check.dataset, regex=False)]
    if chosen.empty:
        return math.nan, math.nan, math.nan
    row = chosen.iloc[-1]
    ci_low = row["ci_low"] if "ci_low" in row and pd.notna(row["ci_low"]) else math.nan
    ci_high = row["ci_high"] if "ci_high" in row and pd.notna(row["ci_high"]) else math.nan
    return float(row["value"]), float(ci_low), float(ci_high)


def _verdict(sign: str, flagged: bool, has_value: bool) -> str:
    if not has_value:
        return "no data" if sign != "any" else "reported"
    if sign == "flag":
        return "detected" if flagged else "missed"
    if sign == "clear":
        return "false alarm" if flagged else "clear"
    return "reported"


def validation_matrix(
    tables: dict[tuple[str, int], pd.DataFrame], expectations: Expectations | None = None
) -> pd.DataFrame:
    """One row per (recipe, seed, check): the value with its CI, whether it flags, and the verdict.

    Args:
        tables: suite result rows per (recipe, training seed).
        expectations: the checks and expected signs (default: the built-in ones).

    Returns:
        Columns ``recipe, seed, check, axis, metric, value, ci_low, ci_high, failure, threshold,
        expected, flagged, verdict, ok``; ``ok`` is False for a missed planted failure, a false alarm,
        or a judged cell without data.
    """
    expectations = expectations or load_expectations()
    records = []
    for (recipe, seed), rows in tables.items():
        for check in expectations.checks:
            value, low, high = cell_row(rows, check)
            flagged = check.flags(value, low, high)
            sign = expectations.sign(recipe, check.name)
            verdict = _verdict(sign, flagged, not math.isnan(value))
            records.append({
                "recipe": recipe, "seed": seed, "check": check.name, "axis": check.axis, "metric": check.metric,
                "value": value, "ci_low": low, "ci_high": high, "failure": check.failure,
                "threshold": check.threshold, "expected": sign, "flagged": flagged, "verdict": verdict,
                "ok": VERDICTS[verdict],
            })
    return pd.DataFrame(records)


_MARKS = {"detected": "✓ flag", "clear": "✓", "reported": "", "missed": "✗ MISSED", "false alarm": "✗ FALSE ALARM",
          "no data": "✗ no data"}


def format_matrix(cells: pd.DataFrame) -> pd.DataFrame:
    """The matrix as text: rows ``recipe (seed)``, one column per check, ``value [low, high] mark`` per cell.

    Example:
        >>> cells = pd.DataFrame([{"recipe": "clean", "seed": 0, "check": "bg", "value": 0.01, "ci_low": -0.02,
        ...                        "ci_high": 0.04, "verdict": "clear"}])
        >>> format_matrix(cells).loc["clean", "bg"]
        '0.01 [-0.02, 0.04] ✓'
    """
    several_seeds = cells["seed"].nunique() > 1
    out: dict[str, dict[str, str]] = {}
    for row in cells.itertuples():
        label = f"{row.recipe} (seed {row.seed})" if several_seeds else str(row.recipe)
        if math.isnan(row.value):
            text = "—"
        elif math.isnan(row.ci_low):
            text = f"{row.value:.2f}"
        else:
            text = f"{row.value:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}]"
        out.setdefault(label, {})[str(row.check)] = f"{text} {_MARKS[row.verdict]}".rstrip()
    return pd.DataFrame.from_dict(out, orient="index")
