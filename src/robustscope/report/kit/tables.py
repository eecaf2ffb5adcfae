"""Tables of the report: models as rows, (group, label) columns, each cell a value with its CI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from robustscope.report.kit.text import esc, finite, fmt, ordered_unique, protocol_field

__all__ = ["Cell", "disjoint_cells", "row_cell", "rows_table", "table"]

#: One table cell: value, CI low, CI high, n (any of them NaN or None when unknown).
Cell = tuple[float, float, float, Any]


def row_cell(row: Any) -> Cell:
    """The :data:`Cell` of a result row (a namedtuple from ``itertuples``).

    Example:
        >>> rows = pd.DataFrame({"value": [0.5], "ci_low": [0.4], "ci_high": [0.6], "n": [10]})
        >>> row_cell(next(rows.itertuples(index=False)))
        (0.5, 0.4, 0.6, 10)
    """
    return (row.value, row.ci_low, row.ci_high, getattr(row, "n", None))


def table(
    models: Sequence[str],
    columns: Sequence[tuple[str, str]],
    cells: dict[tuple[str, str, str], Cell],
    tips: dict[tuple[str, str], str] | None = None,
    corner: str = "model",
    stacked: bool = False,
    marks: dict[tuple[str, str, str], tuple[str, str]] | None = None,
) -> str:
    """Models as rows, ``(group, label)`` columns; each cell a value with its CI in brackets (below it if stacked).

    ``cells`` maps ``(model, group, label)`` to a :data:`Cell`; a missing or non-finite one shows ``·``.
    Columns with a non-empty group get a second header row; ``tips`` are the columns' hover texts.
    ``marks`` maps a cell's key to (CSS class, hover text) added to that (shown) cell.

    Example:
        >>> text = table(["m"], [("", "top-1")], {("m", "", "top-1"): (0.5, 0.4, 0.6, 10)})
        >>> '<td title="n = 10"><span class="v">0.500</span> <span class="ci">[0.400, 0.600]</span></td>' in text
        True
        >>> marked = table(["m"], [("", "top-1")], {("m", "", "top-1"): (0.5, 0.4, 0.6, 10)},
        ...                marks={("m", "", "top-1"): ("differs", "CI apart")})
        >>> '<td class="differs" title="n = 10; CI apart">' in marked
        True
    """
    tips = tips or {}
    marks = marks or {}
    stacked = stacked or len(columns) > 6  # wide tables put the CI under the value
    groups = ordered_unique(g for g, _ in columns)
    two_rows = any(g for g in groups)
    out = [f'<div class="table-wrap"><table class="results{" stacked" if stacked else ""}"><thead><tr>']
    out.append(f'<th{" rowspan=2" if two_rows else ""} class="model">{esc(corner)}</th>')
    if two_rows:
        for group in groups:
            span = sum(1 for g, _ in columns if g == group)
            out.append(f'<th colspan="{span}">{esc(group)}</th>')
        out.append("</tr><tr>")
    ordered = [c for g in groups for c in columns if c[0] == g]
    for column in ordered:
        out.append(f'<th title="{esc(tips.get(column, ""))}">{esc(column[1])}</th>')
    out.append("</tr></thead><tbody>")
    for model in models:
        out.append(f'<tr><td class="model">{esc(model)}</td>')
        for group, label in ordered:
            cell = cells.get((model, group, label))
            if cell is None or not finite(cell[0]):
                out.append('<td class="empty">·</td>')
                continue
            value, low, high, n = cell
            ci = f' <span class="ci">[{fmt(low)}, {fmt(high)}]</span>' if finite(low) and finite(high) else ""
            css, hover = marks.get((model, group, label), ("", ""))
            texts = ([f"n = {int(n)}"] if finite(n) else []) + ([hover] if hover else [])
            title = f' title="{esc("; ".join(texts))}"' if texts else ""
            klass = f' class="{esc(css)}"' if css else ""
            out.append(f'<td{klass}{title}><span class="v">{fmt(value)}</span>{ci}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def disjoint_cells(
    models: Sequence[str], columns: Sequence[tuple[str, str]], cells: dict[tuple[str, str, str], Cell]
) -> set[tuple[str, str, str]]:
    """The keys of the cells whose CI does not overlap the CI of at least one other model in its column.

    Only cells with a finite value and finite bounds take part, on both sides of a comparison.

    Example:
        >>> cells = {("a", "", "x"): (0.2, 0.1, 0.3, None), ("b", "", "x"): (0.8, 0.7, 0.9, None),
        ...          ("a", "", "y"): (0.5, 0.4, 0.6, None), ("b", "", "y"): (0.55, 0.5, 0.7, None)}
        >>> sorted(disjoint_cells(["a", "b"], [("", "x"), ("", "y")], cells))
        [('a', '', 'x'), ('b', '', 'x')]
    """
    out: set[tuple[str, str, str]] = set()
    for group, label in columns:
        spans: dict[str, tuple[float, float]] = {}
        for model in models:
            cell = cells.get((model, group, label))
            if cell is not None and all(finite(v) for v in cell[:3]):
                spans[model] = (float(cell[1]), float(cell[2]))
        for model, (low, high) in spans.items():
            if any(hi < low or lo > high for other, (lo, hi) in spans.items() if other != model):
                out.add((model, group, label))
    return out


def rows_table(rows: pd.DataFrame, group_of: str | None, label_of: str, labels: Sequence[str] | None = None) -> str:
    """A :func:`table` of result rows: one column per distinct ``label_of`` value (within ``group_of``).

    Columns come in first-seen order, or in the order of ``labels`` where given (others after them); a
    column's hover text is its metric's protocol name. Empty rows give an empty string.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "metric": ["b", "a"], "value": [0.5, 0.25],
        ...     "ci_low": [0.4, 0.2], "ci_high": [0.6, 0.3], "protocol": ["{}", "{}"]})
        >>> text = rows_table(rows, None, "metric", ["a", "b"])
        >>> text.index(">a</th>") < text.index(">b</th>")
        True
    """
    if rows.empty:
        return ""
    groups = rows[group_of].astype(str) if group_of else pd.Series("", index=rows.index)
    keys = list(zip(groups, rows[label_of].astype(str), strict=True))
    columns = ordered_unique(keys)
    if labels is not None:
        rank = {label: i for i, label in enumerate(labels)}
        columns.sort(key=lambda c: rank.get(c[1], len(rank)))
    cells: dict[tuple[str, str, str], Cell] = {}
    tips: dict[tuple[str, str], str] = {}
    for (group, label), row in zip(keys, rows.itertuples(index=False), strict=True):
        cells[(str(row.model), group, label)] = row_cell(row)
        tips.setdefault((group, label), protocol_field(row.protocol, "name"))
    return table(ordered_unique(rows.model), columns, cells, tips)
