"""Studies recorded in a workspace reach the report: their curve and tables, with the command that made them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustscope.report.html import write_report
from robustscope.report.study_page import load_studies, record_study


def test_recorded_study_is_drawn_in_the_report(tmp_path: Path) -> None:
    table = pd.DataFrame({"p": [0.0, 0.5, 1.0], "line": ["pose"] * 3, "accuracy": [0.4, 0.6, 0.8],
                          "ci_low": [0.3, 0.5, 0.7], "ci_high": [0.5, 0.7, 0.9]})
    curve = {"table": "accuracy", "x": "p", "y": "accuracy", "series": "line", "title": "generalisation"}
    record_study(tmp_path, "diversity-instances", "Diversity study", "robustscope study diversity", {"accuracy": table},
                 curve)
    record_study(tmp_path, "diversity-instances", "Diversity study", "again", {"accuracy": table}, curve)  # replaced
    studies = load_studies(tmp_path)
    assert len(studies) == 1 and studies[0]["command"] == "again"
    pd.testing.assert_frame_equal(studies[0]["frames"]["accuracy"], table)
    rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "shift": ["none"], "metric": ["top1"], "slice_factor": [""],
                         "slice_value": [""], "value": [0.5], "ci_low": [0.4], "ci_high": [0.6], "n": [10],
                         "protocol": ["{}"]})
    page = write_report(rows, tmp_path / "report.html", studies=studies).read_text()
    assert 'id="study-diversity-instances"' in page and '"name":"pose"' in page and "<td>0.800</td>" in page
    without = write_report(rows, tmp_path / "plain.html").read_text()
    assert "study-diversity" not in without
