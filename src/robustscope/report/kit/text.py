"""Text of the report: escaping, number formatting, protocol fields, anchors, dataset headings."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["esc", "finite", "fmt", "heading", "ordered_unique", "per_dataset", "protocol_field", "slug"]


def esc(value: Any) -> str:
    """``value`` as HTML text, quotes included (safe in text and in attribute values).

    Example:
        >>> esc('<b a="1">')
        '&lt;b a=&quot;1&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


def finite(value: Any) -> bool:
    """Whether ``value`` reads as a finite number (``None``, NaN, inf and text do not).

    Example:
        >>> finite(0.5), finite("1"), finite(None), finite(float("nan"))
        (True, True, False, False)
    """
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any) -> str:
    """A number as the tables show it: three decimals, one from 100 on, ``–`` when not finite.

    Example:
        >>> fmt(0.12345), fmt(123.45), fmt(None)
        ('0.123', '123.5', '–')
    """
    if not finite(value):
        return "–"
    v = float(value)
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


def ordered_unique(values: Iterable[Any]) -> list[Any]:
    """The distinct values in first-seen order (the order of the rows is the order on the page).

    Example:
        >>> ordered_unique(["b", "a", "b"])
        ['b', 'a']
    """
    return list(dict.fromkeys(values))


def protocol_field(protocol: Any, field: str) -> str:
    """One field of a row's JSON ``protocol`` as text; empty when absent or unreadable.

    Example:
        >>> protocol_field('{"id_dataset": "test"}', "id_dataset"), protocol_field("not json", "x")
        ('test', '')
    """
    try:
        value = json.loads(protocol).get(field, "")
    except (TypeError, ValueError, AttributeError):
        return ""
    return "" if value is None else str(value)


def slug(text: str) -> str:
    """An HTML anchor from any text.

    Example:
        >>> slug("Shape bias / IN-9"), slug("&")
        ('shape-bias-in-9', 'x')
    """
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


def heading(dataset: str, several: bool) -> str:
    """The dataset of a block: a heading when a view shows several, else a note.

    Example:
        >>> heading("d<1>", True), heading("d", False)
        ('<h3>d&lt;1&gt;</h3>', '<p class="note">dataset: d</p>')
    """
    return f"<h3>{esc(dataset)}</h3>" if several else f'<p class="note">dataset: {esc(dataset)}</p>'


def per_dataset(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``(dataset, its rows)`` in first-seen order.

    Example:
        >>> [(d, len(part)) for d, part in per_dataset(pd.DataFrame({"dataset": ["b", "a", "b"]}))]
        [('b', 2), ('a', 1)]
    """
    return [(str(d), rows[rows.dataset == d]) for d in ordered_unique(rows.dataset)]


def shift_of(label: str) -> tuple[str, dict[str, Any]] | None:
    """The registered shift a row's ``shift`` label names, as ``(name, parameters)``; ``None`` for other labels.

    Read through the one shift-spec grammar (``robustscope.shifts``), so the canonical spec and the form
    rows carried before it (``corruption:corruption=fog,severity=3``) give the same parameters, defaults
    filled in; labels that are no shift's spec (``summary``) give ``None``.

    Example:
        >>> shift_of("corruption:corruption=fog,severity=3") == shift_of("corruption:fog:3")
        True
        >>> shift_of("pgd:linf")[1]["eps"], shift_of("summary")
        ('8/255', None)
    """
    from robustscope.errors import RobustscopeError
    from robustscope.shifts.registry import load_shift

    try:
        shift = load_shift(str(label))
    except RobustscopeError:
        return None
    return shift.name, shift.params()
