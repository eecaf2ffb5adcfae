"""The report kit: what every view of the HTML report is built from.

A view turns the result rows of one axis into HTML (:class:`ViewInputs` in, a string out). The kit gives it
escaping and number formatting (:func:`esc`, :func:`fmt`), a figure collector that renders plotly figures
sharing one inlined plotly.js (:class:`Figures`), one colour and marker per model across the page
(:class:`Palette`), the common chart layout (:func:`layout`, :func:`error_bars`, :func:`grouped_bar_chart`)
and the results table (:func:`table`, :func:`rows_table`). Every name from the rows that reaches the page
goes through :func:`esc`, in text and in chart labels alike.

Views import every name from here; the submodules only keep each file about one thing: :mod:`.text`,
:mod:`.charts`, :mod:`.tables` and :mod:`.inputs` (what a view is given).

Example:
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"model": ["m"], "metric": ["top1"], "value": [0.5], "ci_low": [0.4],
    ...                      "ci_high": [0.6], "n": [10], "protocol": ['{"name": "top-1"}']})
    >>> "[0.400, 0.600]" in rows_table(rows, None, "metric")
    True
"""

from __future__ import annotations

from robustscope.report.kit.charts import (
    LEGEND_BESIDE,
    OKABE_ITO,
    SYMBOLS,
    Figures,
    Palette,
    error_bars,
    grouped_bar_chart,
    layout,
)
from robustscope.report.kit.inputs import HEADLINE_OOD_SCORE, ScoreHistogram, ViewInputs, score_histogram
from robustscope.report.kit.style import PAGE_CSS
from robustscope.report.kit.tables import Cell, disjoint_cells, row_cell, rows_table, table
from robustscope.report.kit.text import (
    esc,
    finite,
    fmt,
    heading,
    ordered_unique,
    per_dataset,
    protocol_field,
    shift_of,
    slug,
)

__all__ = [
    "HEADLINE_OOD_SCORE",
    "LEGEND_BESIDE",
    "OKABE_ITO",
    "PAGE_CSS",
    "SYMBOLS",
    "Cell",
    "Figures",
    "Palette",
    "ScoreHistogram",
    "ViewInputs",
    "disjoint_cells",
    "error_bars",
    "esc",
    "finite",
    "fmt",
    "grouped_bar_chart",
    "heading",
    "layout",
    "ordered_unique",
    "per_dataset",
    "protocol_field",
    "row_cell",
    "rows_table",
    "score_histogram",
    "shift_of",
    "slug",
    "table",
]
