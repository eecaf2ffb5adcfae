"""The explorer and the report in a real browser: Debian's Chromium driven by Playwright, pages opened from file://.

Skipped, with the reason, where Playwright for Python or /usr/bin/chromium is missing (`make test` installs
Chromium when it runs as root). Playwright's own browser download is never used.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from explorer_fixtures import EVIL, artifact_dirs, build_store

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason="no system Chromium at /usr/bin/chromium (apt-get install chromium; `make test` does it as root)",
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from robustscope.report.explorer import build_explorer
    from robustscope.report.from_store import report_from_store

    root = tmp_path_factory.mktemp("browser")
    store = build_store(root)
    out = root / "site" / "explorer"
    build_explorer(store["ws"], out, model_objects=store["models"], progress=False)
    report = report_from_store(store["ws"], out.parent / "report.html")
    return {**store, "out": out, "report": report, "shots": artifact_dirs(root / "screenshots")}


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                   "(pip install -e '.[browser]')")  # fmt: skip
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


class Watched:
    """A page at 1280 px wide that records console errors, uncaught exceptions and dialogs (alert: an XSS)."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.set_default_timeout(5000)  # a missing element fails in seconds, not Playwright's 30
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def open(self, path: Path) -> Any:
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")
        return self.page


def shoot(page: Any, site: dict[str, Any], name: str, full_page: bool = True) -> None:
    first = site["shots"][0] / f"{name}.png"
    page.screenshot(path=str(first), full_page=full_page)
    for folder in site["shots"][1:]:
        shutil.copyfile(first, folder / f"{name}.png")
    assert first.stat().st_size > 10_000


#: Per drawn plotly chart with a legend and an x-axis title: [charts, charts whose two boxes intersect].
LEGEND_OVER_TITLE = """() => { let charts = 0, overlapping = 0;
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const legend = plot.querySelector('.legend'), title = plot.querySelector('.xtitle');
    if (!legend || !title) continue;
    charts++;
    const a = legend.getBoundingClientRect(), b = title.getBoundingClientRect();
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlapping++;
  }
  return [charts, overlapping]; }"""


def table_rows(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all("#results-table tbody tr",
                                     "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")  # fmt: skip


def test_explorer_loads_cleanly_and_the_factor_filter_picks_the_slice(browser: Any, site: dict[str, Any]) -> None:
    from robustscope.engine.result_store import ResultStore

    watched = Watched(browser)
    page = watched.open(site["out"] / "index.html")
    assert page.locator("#results-table tbody tr").count() > 0
    assert page.locator("#chart-shift .main-svg").count() > 0  # plotly drew from the folder's one copy
    shoot(page, site, "explorer-results")
    whole = len(table_rows(page))

    page.select_option("#f-dataset", "synth:tiny:test-id")
    page.select_option("#f-shift", "none")
    page.select_option("#f-factor", "character_texture")
    values = page.eval_on_selector_all("#f-value option", "o => o.map(x => x.value)")[1:]
    chosen = values[0]
    page.select_option("#f-value", chosen)
    shown = {(r[0], r[4], r[5]) for r in table_rows(page)}

    stored = ResultStore(site["ws"].results_db).query()
    expected = stored[(stored.dataset == "synth:tiny:test-id") & (stored["shift"] == "none") & (stored.metric == "top1")
                      & (stored.slice_factor == "character_texture") & (stored.slice_value == chosen)]  # fmt: skip
    assert shown == {(m, f"character_texture = {chosen}", f"{v:.3f}") for m, v in zip(expected.model, expected.value,
                                                                                 strict=True)}  # fmt: skip
    assert len(shown) == 2 != whole
    assert page.locator("#chart-factor .main-svg").count() > 0
    assert page.evaluate(LEGEND_OVER_TITLE) == [2, 0]  # both charts: legend beside the plot, clear of the x title
    shoot(page, site, "explorer-factor-filter")
    assert watched.problems == [] and watched.dialogs == []


def test_a_failure_opens_its_shifted_variants_by_mouse_and_keyboard(browser: Any, site: dict[str, Any]) -> None:
    watched = Watched(browser)
    page = watched.open(site["out"] / "index.html")
    page.click("#rs-tabs button[data-view=gallery]")
    page.select_option("#g-model", "small-a")
    page.select_option("#g-dataset", "synth:tiny:test-id")
    thumbs = page.locator("#gallery-grid .thumb")
    assert thumbs.count() > 1
    shoot(page, site, "explorer-gallery")
    thumbs.nth(0).click()
    dialog = page.locator("#variants")
    assert dialog.is_visible()
    shifts = page.eval_on_selector_all("#variants-grid figure", "f => f.map(x => x.dataset.shift)")
    assert set(shifts) == {"none", "corruption:gaussian_noise:3", "background_swap:noise", "fgsm:eps=8/255"}
    loaded = page.eval_on_selector_all("#variants-grid img", "i => i.map(x => x.complete && x.naturalWidth > 0)")
    assert loaded and all(loaded)
    shoot(page, site, "explorer-variants")
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert page.evaluate("document.activeElement.classList.contains('thumb')")  # focus is back on the sample
    second = thumbs.nth(1).get_attribute("data-sample")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.dataset.sample") == second
    page.keyboard.press("Enter")
    assert dialog.is_visible() and second in page.text_content("#variants-title")
    page.keyboard.press("Escape")
    assert watched.problems == [] and watched.dialogs == []


def test_compare_view_shows_the_paired_verdicts(browser: Any, site: dict[str, Any]) -> None:
    watched = Watched(browser)
    page = watched.open(site["out"] / "index.html")
    page.click("#rs-tabs button[data-view=compare]")
    rows = page.eval_on_selector_all("#compare-table tbody tr", "r => r.map(x => x.cells[7].textContent)")
    assert len(rows) == 6 and all("on top1" in r for r in rows)  # 4 tiny-world shifts + 2 colour-set shifts
    shoot(page, site, "explorer-compare")
    assert watched.problems == [] and watched.dialogs == []


def test_hostile_names_show_as_text_in_the_explorer_and_the_report(browser: Any, site: dict[str, Any]) -> None:
    watched = Watched(browser)
    page = watched.open(site["out"] / "index.html")
    assert EVIL in page.text_content("#results-table")
    page.click("#rs-tabs button[data-view=gallery]")
    page.select_option("#g-model", "small-a")  # wrong on every colour image, so all of them are in its gallery
    colours = next(o for o in page.eval_on_selector_all("#g-dataset option", "o => o.map(x => x.value)")
                   if o.startswith("folder:"))  # fmt: skip
    page.select_option("#g-dataset", colours)
    assert EVIL in page.text_content("#gallery-grid")  # a class is named EVIL
    thumbs, facts = page.locator("#gallery-grid .thumb"), []
    for i in range(thumbs.count()):  # a file is named EVIL too: open every sample
        thumbs.nth(i).click()
        facts.append(page.text_content("#variants-facts"))
        page.keyboard.press("Escape")
    assert any(f"file: {EVIL}/{EVIL}.png" in text for text in facts)
    page.click("#rs-tabs button[data-view=compare]")
    assert EVIL in page.text_content("#compare-table")
    assert page.locator("img[src='x']").count() == 0

    report = watched.open(site["report"])
    assert EVIL in report.text_content("body") and report.locator("img[src='x']").count() == 0
    assert report.locator("a[href='explorer/index.html']").count() == 1
    charts, overlapping = report.evaluate(LEGEND_OVER_TITLE)  # the per-factor charts' legends used to cover it
    assert charts >= 2 and overlapping == 0
    shoot(report, site, "report", full_page=False)  # the top of a long page is enough
    assert watched.dialogs == [] and watched.problems == []


def test_served_explorer_asks_the_result_store(browser: Any, site: dict[str, Any]) -> None:
    import threading

    from robustscope.report.explorer.server import make_server

    server = make_server(site["out"], site["ws"].results_db, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        watched = Watched(browser)
        page = watched.page
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/api/query?" in r.url else None)
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        page.select_option("#f-dataset", "synth:tiny:test-id")
        page.wait_for_function("document.querySelector('#results-count').textContent === '8 rows'")
        assert page.evaluate("window.RS_SERVER") is True and any("dataset=synth%3Atiny%3Atest-id" in u for u in asked)
        assert watched.problems == [] and watched.dialogs == []
    finally:
        server.shutdown()
        server.server_close()
