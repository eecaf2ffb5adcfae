"""The "add a report view" guide of docs/architecture.md, followed to the letter: its code block becomes a module in
a temporary folder, one ``AXIS_VIEWS.add`` registers it, and the report draws the axis's section with it."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from robustscope.report import write_report
from robustscope.report.kit import Figures
from robustscope.report.suite import AXIS_VIEWS, suite_sections

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def guide_module() -> str:
    """The first Python block after the report-view heading of the architecture doc."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## The report kit, and add a report view") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.fixture
def guide_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The guide's module on ``sys.path``; ``AXIS_VIEWS`` is restored afterwards."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "views_overconfidence.py").write_text(guide_module(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(AXIS_VIEWS, "_entries", dict(AXIS_VIEWS._entries))
    yield "views_overconfidence:overconfidence_view"
    sys.modules.pop("views_overconfidence", None)


def rows() -> pd.DataFrame:
    """Prepared result rows of the guide's axis: two models, two datasets, one suite."""
    return pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "dataset": ["test", "far", "test", "far"],
            "shift": ["none"] * 4,
            "metric": ["overconfidence"] * 4,
            "slice_factor": [""] * 4,
            "slice_value": [""] * 4,
            "value": [0.125, 0.25, -0.0625, 0.375],
            "ci_low": [0.1, 0.2, -0.1, 0.3],
            "ci_high": [0.15, 0.3, 0.0, 0.45],
            "n": [12] * 4,
            "protocol": ['{"name": "overconfidence"}'] * 4,
            "suite": ["toy"] * 4,
            "axis": ["overconfidence"] * 4,
        }
    )


def test_the_guides_view_draws_the_axis_section(guide_view: str, tmp_path: Path) -> None:
    before, _ = suite_sections(rows(), Figures())
    assert "Overconfidence per dataset" not in before and "[0.100, 0.150]" in before  # the default table

    AXIS_VIEWS.add("overconfidence", guide_view)  # the guide's one registration
    sections, toc = suite_sections(rows(), Figures())
    assert ("suite-toy-overconfidence", "toy: overconfidence") in toc
    body = sections[sections.index('<section id="suite-toy-overconfidence">') :]
    assert "Overconfidence per dataset" in body and '"x":["test","far"]' in body
    assert "[0.100, 0.150]" in body and "[0.300, 0.450]" in body  # the table, with CIs
    page = write_report(rows(), tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Overconfidence per dataset" in page


def test_the_view_registry_is_restored_after_the_guide() -> None:
    assert "overconfidence" not in AXIS_VIEWS and "views_overconfidence" not in sys.modules
