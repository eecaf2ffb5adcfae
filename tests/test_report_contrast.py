"""The suite main table marks cells whose CI does not overlap another model's (issue 19)."""

from __future__ import annotations

import re

import pandas as pd

from robustscope.report.kit import Figures, table
from robustscope.report.suite import suite_sections

NOTE = "headline columns"


def _row(model: str, axis: str, metric: str, value: float, low: float, high: float) -> dict[str, object]:
    return {
        "model": model,
        "dataset": "d",
        "shift": "none",
        "metric": metric,
        "slice_factor": "",
        "slice_value": "",
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "protocol": "{}",
        "suite": "s",
        "axis": axis,
    }


def _main_table(rows: list[dict[str, object]]) -> str:
    html_text, _ = suite_sections(pd.DataFrame(rows), Figures())
    start = html_text.index('<section id="suite-s">')
    return html_text[start : html_text.index("</section>", start)]


def _marked(html_text: str) -> list[str]:
    """The values shown in the cells carrying the ``differs`` class, in page order."""
    return re.findall(r'<td class="differs"[^>]*><span class="v">([^<]*)</span>', html_text)


def test_only_disjoint_columns_are_marked_and_counted() -> None:
    rows = [
        _row("clean", "shape_bias", "shape_bias", 0.80, 0.75, 0.85),
        _row("shortcut", "shape_bias", "shape_bias", 0.20, 0.15, 0.25),
        _row("clean", "adversarial", "top1", 0.90, 0.85, 0.95),
        _row("shortcut", "adversarial", "top1", 0.88, 0.83, 0.93),
    ]
    text = _main_table(rows)
    assert sorted(_marked(text)) == ["0.200", "0.800"]
    assert text.count('class="differs"') == 2
    assert "CI does not overlap another model&#x27;s" in text
    assert "1 of 2 headline columns" in text


def test_one_model_has_no_marks_and_no_note() -> None:
    rows = [
        _row("clean", "shape_bias", "shape_bias", 0.80, 0.75, 0.85),
        _row("clean", "adversarial", "top1", 0.90, 0.85, 0.95),
    ]
    text = _main_table(rows)
    assert "differs" not in text
    assert NOTE not in text


def test_a_nan_ci_is_never_marked() -> None:
    nan = float("nan")
    rows = [
        _row("clean", "shape_bias", "shape_bias", 0.80, nan, nan),
        _row("shortcut", "shape_bias", "shape_bias", 0.20, 0.15, 0.25),
        _row("clean", "adversarial", "top1", 0.90, 0.85, 0.95),
        _row("shortcut", "adversarial", "top1", 0.88, 0.83, 0.93),
    ]
    text = _main_table(rows)
    assert "differs" not in text
    assert "0 of 2 headline columns" in text


def test_table_without_marks_is_unchanged() -> None:
    cells = {("m", "", "x"): (0.5, 0.4, 0.6, None)}
    assert table(["m"], [("", "x")], cells) == table(["m"], [("", "x")], cells, marks={})
    assert "<td><span" in table(["m"], [("", "x")], cells)
