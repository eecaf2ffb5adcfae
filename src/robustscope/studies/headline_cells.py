"""Each axis's headline number *with its CI*, per model, from suite result rows: the cells of a study's curves.

:func:`robustscope.suites.run.suite_summary` averages an axis's datasets into one number without a CI; a study
that draws a curve across models needs each point's interval, so here every (headline, dataset) pair is its own
column and keeps the row's bootstrap CI (``ci_low``, ``ci_high``; NaN where the axis stores none).
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["CELL_COLUMNS", "format_cell", "headline_cells", "markdown_table"]

#: Columns of :func:`headline_cells`.
CELL_COLUMNS = ["model", "axis", "headline", "dataset", "column", "value", "ci_low", "ci_high"]


def headline_cells(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, axis headline, dataset): the whole-set headline value and its CI.

    The headlines are the suite table's (:func:`robustscope.suites.run.headlines`); ``column`` is the headline's
    label, with the dataset's last ``:`` part in brackets when the headline has several datasets (OOD: held-out
    shapes and textures). A headline read on the first dataset only (ECE) keeps that one.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "axis": ["ood", "ood"], "metric": ["auroc_entropy"] * 2,
        ...     "shift": ["none", "none"], "slice_factor": ["", ""], "dataset": ["s:w:ood-shapes", "s:w:ood-textures"],
        ...     "value": [0.7, 0.9], "ci_low": [0.6, 0.8], "ci_high": [0.8, 1.0]})
        >>> headline_cells(rows)[["column", "value", "ci_low"]].values.tolist()
        [['OOD AUROC (entropy) [ood-shapes]', 0.7, 0.6], ['OOD AUROC (entropy) [ood-textures]', 0.9, 0.8]]
    """
    from robustscope.suites.run import headlines

    if rows.empty:
        return pd.DataFrame(columns=CELL_COLUMNS)
    whole = rows[rows["slice_factor"].fillna("").astype(str) == ""]
    base_metric = whole["metric"].astype(str).str.replace(r"\[.*\]$", "", regex=True)
    shift_kind = whole["shift"].astype(str).str.split(":").str[0]
    records = []
    for axis, headline in headlines([str(a) for a in pd.unique(whole["axis"])]):
        chosen = whole[(whole["axis"] == axis) & (base_metric == headline.metric) & (shift_kind == headline.shift)]
        if chosen.empty:
            continue
        datasets = list(pd.unique(chosen["dataset"]))
        if headline.datasets == "first":
            datasets = datasets[:1]
        for dataset in datasets:
            column = headline.label if len(datasets) == 1 else f"{headline.label} [{str(dataset).split(':')[-1]}]"
            for model, group in chosen[chosen["dataset"] == dataset].groupby("model", sort=False):
                row = group.iloc[-1]
                records.append({
                    "model": str(model), "axis": axis, "headline": headline.label, "dataset": str(dataset),
                    "column": column, "value": float(row["value"]),
                    "ci_low": float(row["ci_low"]) if pd.notna(row.get("ci_low")) else math.nan,
                    "ci_high": float(row["ci_high"]) if pd.notna(row.get("ci_high")) else math.nan,
                })  # fmt: skip
    return pd.DataFrame(records, columns=CELL_COLUMNS)


def format_cell(value: float, low: float, high: float, digits: int = 3) -> str:
    """``value [low, high]``, or the value alone without a CI (``—`` for no value).

    Example:
        >>> format_cell(0.5, 0.4, 0.61), format_cell(0.5, float("nan"), float("nan")), format_cell(float("nan"), 0, 1)
        ('0.500 [0.400, 0.610]', '0.500', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` as it is (strings and numbers), for docs and closing notes.

    Example:
        >>> print(markdown_table(pd.DataFrame({"p": ["0", "1"], "acc": ["0.5", "0.7"]})))
        | p | acc |
        |---|---|
        | 0 | 0.5 |
        | 1 | 0.7 |
    """
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
