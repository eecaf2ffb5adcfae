"""Per-image ImageNet index sets and income groups of the geographic benchmarks (Dollar Street, GeoDE).

Shared by the loaders (:mod:`~robustscope.data.benchmarks.dollar_street`, :mod:`~robustscope.data.benchmarks.geode`)
and the metrics (:mod:`robustscope.metrics.geography`). An image's set of ImageNet-1k indices is stored in a
manifest as a sorted, ``;``-joined string (``"409;530"``); the releases write it as a list literal.

Income groups follow Richards et al., "Does Progress On Object Recognition Benchmarks Improve Real-World
Generalization?", 2023, in the authors' paper-time code (``facebookresearch/Geographic_Generalization`` commit
983f5fafc14458c43e0dd17099df4cf2268c3685, ``datasets/dollarstreet_kaggle.py``, ``categorize_income``): monthly
income per person (USD, PPP) in right-closed bins at 195, 685 and 1963 — the quartiles of Dollar Street's ImageNet
train and test CSVs together (``calculate_quartiles`` there). The authors name the bins Q4 (lowest) … Q1 (highest);
here they are ``low``, ``low-mid``, ``mid-high`` and ``high``. The edges are a parameter everywhere they are used;
the 200 / 684 / 1997 of an earlier ad-hoc script (the test CSV's quartiles alone) are not the paper's.
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterable, Sequence

import numpy as np

from robustscope.errors import SpecError

__all__ = [
    "INCOME_GROUPS",
    "PAPER_INCOME_EDGES",
    "format_index_set",
    "income_edges_for",
    "income_group",
    "income_quartile_edges",
    "parse_index_set",
]

#: Income bin edges (monthly USD per person) of Richards et al.'s ``categorize_income``: right-closed bins.
PAPER_INCOME_EDGES: tuple[float, float, float] = (195.0, 685.0, 1963.0)
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
    """The income group of each household: right-closed bins at ``edges`` (default: Richards et al.'s 195/685/1963).

    Missing incomes give ``""``.

    Example:
        >>> income_group([27.0, 195.0, 195.5, 685.0, 1963.0, 5000.0, float("nan")])
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


def income_edges_for(choice: object, income: Sequence[float] | np.ndarray = ()) -> tuple[float, ...]:
    """The income bin edges a choice names: ``"authors"`` (195/685/1963), ``"quartiles"`` of ``income``, or 3 numbers.

    ``"paper"`` is read as ``"authors"``. Anything else is a :class:`~robustscope.errors.SpecError` naming it.

    Example:
        >>> income_edges_for("authors"), income_edges_for([100, 500, 2000])
        ((195.0, 685.0, 1963.0), (100.0, 500.0, 2000.0))
        >>> income_edges_for("quartiles", [1.0, 2.0, 3.0, 4.0, 5.0])
        (2.0, 3.0, 4.0)
    """
    if isinstance(choice, str):
        if choice in ("authors", "paper"):
            return PAPER_INCOME_EDGES
        if choice == "quartiles":
            try:
                return income_quartile_edges(income)
            except ValueError:
                raise SpecError("income_edges='quartiles': the data has no finite incomes to take quartiles of; "
                                "give three edges instead") from None
    elif isinstance(choice, Sequence) and len(choice) == len(INCOME_GROUPS) - 1:
        try:
            edges = tuple(float(e) for e in choice)
        except (TypeError, ValueError):
            edges = ()
        if edges and all(np.isfinite(edges)) and all(b > a for a, b in itertools.pairwise(edges)):
            return edges
    raise SpecError(
        f"income_edges={choice!r}: use 'authors' (Richards et al.'s 195/685/1963), 'quartiles', "
        "or three increasing numbers (monthly USD per person), e.g. [195, 685, 1963]"
    )
