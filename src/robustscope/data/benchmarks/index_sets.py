"""Per-image ImageNet index sets and income groups of the geographic benchmarks (Dollar Street, GeoDE).

Shared by the loaders (:mod:`~robustscope.data.benchmarks.dollar_street`, :mod:`~robustscope.data.benchmarks.geode`)
and the metrics (:mod:`robustscope.metrics.geography`). An image's set of ImageNet-1k indices is stored in a
manifest as a sorted, ``;``-joined string (``"409;530"``); the releases write it as a list literal.

Income groups follow Richards et al., "Does Progress On Object Recognition Benchmarks Improve Real-World
Generalization?", 2023 (``facebookresearch/Geographic_Generalization``,
``manual_dollarstreet_results/dollarstreet_evaluation.py``, ``categorize_income``): monthly income per person
(USD, PPP) in right-closed bins at 200, 684 and 1997 — the quartiles of the 4,308 images of Dollar Street's
``images_v2_imagenet_test.csv``. The authors name the bins Q4 (lowest) … Q1 (highest); here they are ``low``,
``low-mid``, ``mid-high`` and ``high``.
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "INCOME_GROUPS",
    "PAPER_INCOME_EDGES",
    "format_index_set",
    "income_group",
    "income_quartile_edges",
    "parse_index_set",
]

#: Income bin edges (monthly USD per person) of Richards et al.'s ``categorize_income``: right-closed bins.
PAPER_INCOME_EDGES: tuple[float, float, float] = (200.0, 684.0, 1997.0)
#: Names of the four income groups, lowest first (the authors' Q4, Q3, Q2, Q1).
INCOME_GROUPS: tuple[str, str, str, str] = ("low", "low-mid", "mid-high", "high")


def parse_index_set(value: object) -> frozenset[int]:
    """An image's ImageNet index set from its stored form: ``"3;7"``, ``"[3, 7]"`` (JSON or Python), or a list.

    Empty, NaN and ``"[]"`` give the empty set.

    Example:
        >>> sorted(parse_index_set("409;530")), sorted(parse_index_set("[409, 530]")), parse_index_set("")
        ([409, 530], [409, 530], frozenset())
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return frozenset()
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        return frozenset(int(v) for v in value)
    if isinstance(value, (int, np.integer)):
        return frozenset({int(value)})
    text = str(value).strip()
    if not text:
        return frozenset()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = ast.literal_eval(text)
        return frozenset(int(v) for v in parsed)
    return frozenset(int(part) for part in text.replace(",", ";").split(";") if part.strip())


def format_index_set(indices: Iterable[int]) -> str:
    """The stored form of an index set: sorted, ``;``-joined.

    Example:
        >>> format_index_set([530, 409])
        '409;530'
    """
    return ";".join(str(i) for i in sorted({int(i) for i in indices}))


def income_group(
    income: Sequence[float] | np.ndarray,
    edges: Sequence[float] = PAPER_INCOME_EDGES,
    names: Sequence[str] = INCOME_GROUPS,
) -> list[str]:
    """The income group of each household: right-closed bins at ``edges`` (default: Richards et al.'s 200/684/1997).

    Missing incomes give ``""``.

    Example:
        >>> income_group([27.0, 200.0, 200.5, 684.0, 1997.0, 5000.0, float("nan")])
        ['low', 'low', 'low-mid', 'low-mid', 'mid-high', 'high', '']
    """
    edges = [float(e) for e in edges]
    if len(names) != len(edges) + 1:
        raise ValueError(f"{len(edges)} edges make {len(edges) + 1} groups, but {len(names)} names were given")
    if any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(f"income edges must increase, got {edges}")
    values = np.asarray(income, dtype=np.float64)
    slots = np.searchsorted(np.asarray(edges), values, side="left")
    return ["" if not np.isfinite(v) else str(names[s]) for v, s in zip(values, slots, strict=True)]


def income_quartile_edges(income: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """The quartiles of the given incomes, to bin another subset as the paper binned its test set.

    Example:
        >>> income_quartile_edges([1.0, 2.0, 3.0, 4.0, 5.0])
        (2.0, 3.0, 4.0)
    """
    values = np.asarray(income, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite incomes to take quartiles of")
    q = np.quantile(values, [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])
