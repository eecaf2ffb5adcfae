"""The report's mitigation view (issue 12, item 4): shown only with a mitigated model and its base, tinted where the
paired CI of a change excludes 0, and the rest of the page unchanged."""

from __future__ import annotations

import re

import numpy as np
import pytest

from _mitigation_toy import toy_suite, write_base, write_mitigated, write_toy_data
from robustscope.config import workspace
from robustscope.engine.result_store import ResultStore
from robustscope.report.from_store import report_from_store
from robustscope.report.html import write_report
from robustscope.report.views_mitigation import mitigation_sections
from robustscope.suites import run_suite
from robustscope.suites.before_after import before_after
from robustscope.suites.whac_a_mole import whac_a_mole_from_tables


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("report-mitigation")
    data = write_toy_data(root / "data")
    base = write_base(root / "base")
    suite = toy_suite(data)
    other, same = write_mitigated(base, root / "other", scale=3.0), write_mitigated(base, root / "same")
    with_fix, without = workspace(root / "with"), workspace(root / "without")
    results = [before_after(base, m, suite, world="tiny", store=with_fix, n_resamples=200, progress=False)
               for m in (other, same)]  # fmt: skip
    run_suite(base, suite, world="tiny", store=without, n_resamples=200, progress=False)
    return {"root": root, "with": with_fix, "without": without, "results": results, "base": base}


def _undated(text: str) -> str:
    return re.sub(r"generated [^·]*", "", text)


def test_report_has_the_mitigation_view_only_with_a_mitigated_model(stores: dict) -> None:
    shown = report_from_store(stores["with"], stores["root"] / "with.html").read_text(encoding="utf-8")
    plain = report_from_store(stores["without"], stores["root"] / "without.html").read_text(encoding="utf-8")
    assert 'id="mitigation-toy-mitigation-' in shown and "Whac-A-Mole matrix" in shown
    assert "Mitigations of" in shown and '<a href="#mitigation-toy-mitigation-' in shown  # listed in the contents
    assert 'id="mitigation-' not in plain
    assert "Whac-A-Mole matrix" not in plain and "Mitigations of" not in plain
    section = shown[shown.index('<section id="mitigation-') :]
    assert not re.search(r'(src|href)="https?://', section)  # the view adds nothing to fetch


def test_page_without_mitigations_is_byte_identical(stores: dict) -> None:
    rows = ResultStore(stores["without"].results_db).query()
    before = write_report(rows, stores["root"] / "a.html").read_text(encoding="utf-8")
    after = write_report(rows, stores["root"] / "b.html", mitigations=()).read_text(encoding="utf-8")
    assert _undated(after) == _undated(before)


def test_changes_are_tinted_exactly_where_the_paired_ci_excludes_zero(stores: dict) -> None:
    other, same = stores["results"]
    heads = other.headlines()
    excludes = heads.paired & ((heads.ci_low > 0) | (heads.ci_high < 0))
    matrix = whac_a_mole_from_tables([other]).entries
    moved = matrix.paired & ((matrix.change_ci_low > 0) | (matrix.change_ci_high < 0))
    assert excludes.sum() >= 1  # the random head changes top-1 on these images
    html_other, _ = mitigation_sections([other])
    assert html_other.count('<td class="differs"') == int(excludes.sum()) + int(moved.sum())
    html_same, toc = mitigation_sections([same])
    assert 'class="differs"' not in html_same and toc == [
        (f"mitigation-toy-mitigation-{_slug(same.base)}", f"toy-mitigation: mitigations of {same.base}")
    ]


def test_unpaired_rows_say_why_on_hover(stores: dict) -> None:
    other = stores["results"][0]
    table = other.table.copy()
    table.loc[table.metric == "top1", ["paired", "ci_low", "ci_high", "p_value"]] = [False, np.nan, np.nan, np.nan]
    table.loc[table.metric == "top1", "resampling"] = "not paired: for the test"
    other.table = table
    html_text, _ = mitigation_sections([other])
    assert 'title="n = 32; not paired: for the test"' in html_text


def _slug(text: str) -> str:
    from robustscope.report.kit import slug

    return slug(text)
