"""The explorer's data: result rows as compact columns, and paired-bootstrap comparisons of every model pair.

Rows are written column by column; a text column is its distinct values plus one code per row (a results
table repeats few names many times), a number column is its values rounded to 6 significant digits with
``null`` for NaN. Comparisons are computed here, at build time, from stored predictions with the same test
``robustscope compare`` runs (:func:`robustscope.metrics.registry.compare_metric`, samples aligned by id).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from robustscope.errors import RobustscopeError
from robustscope.report.explorer.galleries import PredictionSource

__all__ = ["NUMBER_COLUMNS", "TEXT_COLUMNS", "comparisons", "decode_rows", "encode_rows", "verdict"]

TEXT_COLUMNS = ("model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis")
NUMBER_COLUMNS = ("value", "ci_low", "ci_high", "n")


def _number(value: Any) -> float | int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else float(f"{number:.6g}")


def encode_rows(rows: pd.DataFrame) -> dict[str, Any]:
    """Result rows as columns: text columns dictionary-coded, numbers rounded, NaN as ``None``.

    Example:
        >>> rows = pd.DataFrame({"model": ["a", "b", "a"], "value": [0.5, float("nan"), 1.0]})
        >>> encode_rows(rows)["columns"]["model"], encode_rows(rows)["columns"]["value"]
        ({'values': ['a', 'b'], 'codes': [0, 1, 0]}, [0.5, None, 1])
    """
    columns: dict[str, Any] = {}
    for name in TEXT_COLUMNS:
        if name in rows.columns:
            codes, values = pd.factorize(rows[name].fillna("").astype(str), sort=False)
            columns[name] = {"values": [str(v) for v in values], "codes": codes.tolist()}
    for name in NUMBER_COLUMNS:
        if name in rows.columns:
            columns[name] = [_number(v) for v in rows[name].tolist()]
    return {"length": len(rows), "columns": columns}


def decode_rows(payload: dict[str, Any]) -> pd.DataFrame:
    """The inverse of :func:`encode_rows` (what the page's JavaScript does), for tests and scripts.

    Example:
        >>> rows = pd.DataFrame({"model": ["a", "b"], "n": [3, 4]})
        >>> decode_rows(encode_rows(rows)).equals(rows)
        True
    """
    out = {}
    for name, column in payload["columns"].items():
        if isinstance(column, dict):
            out[name] = [column["values"][c] for c in column["codes"]]
        else:
            out[name] = [np.nan if v is None else v for v in column]
    return pd.DataFrame(out)


def verdict(model_a: str, model_b: str, metric: str, difference: float, p_value: float, higher_is_better: bool,
            alpha: float = 0.05) -> str:  # fmt: skip
    """One line: which model is better on ``metric`` at level ``alpha``, or that the data cannot tell.

    Example:
        >>> verdict("a", "b", "top1", 0.1, 0.001, True)
        'a beats b on top1'
        >>> verdict("a", "b", "ece", 0.1, 0.001, False), verdict("a", "b", "top1", 0.1, 0.2, True)
        ('b beats a on ece', 'no significant difference on top1')
    """
    if not (p_value < alpha) or difference == 0:
        return f"no significant difference on {metric}"
    a_better = (difference > 0) == higher_is_better
    winner, loser = (model_a, model_b) if a_better else (model_b, model_a)
    return f"{winner} beats {loser} on {metric}"


def comparisons(
    rows: pd.DataFrame,
    source: PredictionSource,
    metrics: Sequence[str] = ("top1",),
    n_resamples: int = 1000,
    max_comparisons: int = 2000,
    on_pair: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """The paired-bootstrap test of every model pair on every (dataset, shift) both have predictions for.

    Pairs come in the rows' model order (A before B), at most ``max_comparisons`` tests in all; a pair whose
    predictions cannot be aligned (other samples, other classes) is left out.

    Example:
        >>> from robustscope.engine.prediction_store import PredictionStore
        >>> comparisons(pd.DataFrame(columns=["model", "dataset", "shift", "prediction_key"]),
        ...             PredictionSource(PredictionStore("/nonexistent")))
        []
    """
    from robustscope.engine.alignment import align_predictions
    from robustscope.metrics.registry import compare_metric, compute_metrics, get_metric

    runs = rows[rows.prediction_key.astype(str).str.len() > 0] if "prediction_key" in rows else rows.iloc[:0]
    runs = runs[(runs["shift"] != "summary") & ~runs.prediction_key.astype(str).str.contains("+", regex=False)]
    keys: dict[tuple[str, str], dict[str, str]] = {}
    for run in runs.drop_duplicates(["model", "dataset", "shift"]).itertuples(index=False):
        keys.setdefault((str(run.dataset), str(run.shift)), {})[str(run.model)] = str(run.prediction_key)
    out: list[dict[str, Any]] = []
    values: dict[tuple[str, str], float] = {}  # (key, metric) → whole-set value; order-free, so before alignment

    def value(key: str, metric: str) -> float:
        if (key, metric) not in values:
            p = source.get(key)
            assert p is not None
            values[(key, metric)] = float(compute_metrics(p.logits, p.labels, None, [metric], n_resamples=0)
                                          ["value"].iloc[0])  # fmt: skip
        return values[(key, metric)]

    for (dataset, shift), by_model in keys.items():
        for model_a, model_b in itertools.combinations(by_model, 2):
            a, b = source.get(by_model[model_a]), source.get(by_model[model_b])
            if a is None or b is None:
                continue
            try:
                a, b = align_predictions(a, b)
            except (RobustscopeError, ValueError):
                continue
            for metric in metrics:
                if len(out) >= max_comparisons:
                    return out
                higher = bool(get_metric(metric).protocol.get("higher_is_better", True))
                test = compare_metric(metric, a.logits, b.logits, a.labels, n_resamples=n_resamples)
                out.append({
                    "a": model_a, "b": model_b, "dataset": dataset, "shift": shift, "metric": metric,
                    "value_a": _number(value(by_model[model_a], metric)),
                    "value_b": _number(value(by_model[model_b], metric)),
                    "difference": _number(test.difference), "ci_low": _number(test.ci[0]),
                    "ci_high": _number(test.ci[1]), "p": _number(test.p_value), "n": len(a.labels),
                    "verdict": verdict(model_a, model_b, metric, test.difference, test.p_value, higher),
                })  # fmt: skip
            if on_pair is not None:
                on_pair()
    return out
