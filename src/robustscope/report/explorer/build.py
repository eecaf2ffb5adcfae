"""``robustscope explore``: write the explorer folder of a workspace (one page, its data, its thumbnails).

The folder opens from ``file://`` with no server and no network::

    index.html            the page (vanilla JavaScript; every name from the data is set with textContent)
    assets/plotly.min.js  the one copy of plotly.js, from the installed plotly package
    assets/explorer.js    the results view; assets/gallery.js the gallery, comparison and tabs; assets/explorer.css
    data/*.js             the data, as ``RS_DATA.<part> = {JSON};`` assignments (Chromium blocks fetch() of file://)
    thumbs/<sha>.jpg     thumbnails, copied from the workspace's content-addressed cache

A rebuild re-encodes no thumbnail (the cache keeps them) and copies only the ones the folder lacks.
"""

from __future__ import annotations

import html
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustscope.errors import RobustscopeError
from robustscope.report.explorer.galleries import GalleryLimits, PredictionSource, gallery_groups
from robustscope.report.explorer.payload import comparisons, encode_rows
from robustscope.report.explorer.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from robustscope.config import Workspace
    from robustscope.models import Model

__all__ = ["ExplorerBuild", "build_explorer", "data_script", "explorer_page", "plotly_bundle"]

DATA_PARTS = ("meta", "results", "galleries", "comparisons", "server")


@dataclass
class ExplorerBuild:
    """What :func:`build_explorer` wrote: the folder, thumbnails encoded and copied, notes on what was left out."""

    folder: Path
    thumbnails_encoded: int = 0
    thumbnails_copied: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def index(self) -> Path:
        """The page to open."""
        return self.folder / "index.html"


def plotly_bundle() -> Path:
    """The minified plotly.js shipped inside the installed plotly package (no CDN, no download).

    Example:
        >>> plotly_bundle().name
        'plotly.min.js'
    """
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RobustscopeError(f"plotly.js is missing from the plotly package at {path}; reinstall plotly")
    return path


def data_script(part: str, value: Any) -> str:
    """A data file's text: ``RS_DATA.<part> = <JSON>;`` with ``<`` written ``\\u003c`` (inert in any context).

    Example:
        >>> data_script("meta", {"title": "</script><b>"})
        'window.RS_DATA = window.RS_DATA || {};\\nRS_DATA.meta = {"title": "\\\\u003c/script>\\\\u003cb>"};\\n'
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":") if part != "meta" else None)
    text = text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"window.RS_DATA = window.RS_DATA || {{}};\nRS_DATA.{part} = {text};\n"


def explorer_page(title: str) -> str:
    """The explorer's ``index.html``: the layout, the scripts it loads (all relative), no data inline.

    Example:
        >>> page = explorer_page("<b>ws</b>")
        >>> "&lt;b&gt;ws&lt;/b&gt;" in page, page.count("plotly.min.js")
        (True, 1)
    """
    scripts = "\n".join(f'<script src="data/{part}.js"></script>' for part in DATA_PARTS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="assets/explorer.css">
<script src="assets/plotly.min.js"></script>
{scripts}
</head><body>
<header><h1>{html.escape(title)}</h1><p class="meta" id="rs-meta"></p>
<nav id="rs-tabs" role="tablist">
<button role="tab" data-view="results" aria-selected="true">Results</button>
<button role="tab" data-view="gallery" aria-selected="false">Failure gallery</button>
<button role="tab" data-view="compare" aria-selected="false">Compare two models</button>
</nav></header>
<main>
<section id="view-results" class="view">
<div class="controls" id="results-controls"></div>
<div class="charts"><div id="chart-factor" class="chart"></div><div id="chart-shift" class="chart"></div></div>
<p class="note" id="results-count"></p>
<div class="table-wrap"><table class="results" id="results-table"><thead></thead><tbody></tbody></table></div>
</section>
<section id="view-gallery" class="view" hidden>
<div class="controls" id="gallery-controls"></div>
<p class="note" id="gallery-note">Misclassified samples, most confident mistakes first. Arrow keys move, Enter opens a
sample under every shift, Escape closes it.</p>
<div id="gallery-grid" class="gallery" role="grid" aria-label="misclassified samples"></div>
<div id="variants" class="variants" role="dialog" aria-modal="true" aria-labelledby="variants-title" hidden>
<div class="variants-box"><button type="button" id="variants-close" aria-label="close">×</button>
<h2 id="variants-title"></h2><p class="note" id="variants-facts"></p><div id="variants-grid" class="gallery"></div>
</div></div>
</section>
<section id="view-compare" class="view" hidden>
<div class="controls" id="compare-controls"></div>
<p class="note">Paired bootstrap on the same samples (computed when the folder was built): difference A − B with its
95% interval and two-sided p-value.</p>
<div class="table-wrap"><table class="results" id="compare-table"><thead></thead><tbody></tbody></table></div>
</section>
<p class="note" id="rs-notes"></p>
</main>
<script src="assets/explorer.js"></script>
<script src="assets/gallery.js"></script>
</body></html>
"""


def _copy_if_changed(source: Path, target: Path) -> bool:
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return True


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def build_explorer(
    workspace: Workspace,
    out: Path | None = None,
    models: list[str] | None = None,
    model_objects: dict[str, Model] | None = None,
    limits: GalleryLimits | None = None,
    n_resamples: int = 1000,
    title: str = "robustscope explorer",
    progress: bool = True,
) -> ExplorerBuild:
    """Write the explorer folder of ``workspace``'s results (default ``<workspace>/reports/explorer``).

    ``models`` restricts it to those model names; ``model_objects`` (name → Model) are used to draw attacks
    of models that cannot be reloaded from their stored path (models built in Python).

    Example:
        >>> from robustscope.config import Workspace
        >>> build_explorer(Workspace(Path("/nonexistent")))
        Traceback (most recent call last):
        ...
        robustscope.errors.RobustscopeError: no results at /nonexistent/results.duckdb; run `robustscope run` or \
`robustscope demo` first
    """
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.engine.result_store import ResultStore
    from robustscope.progress import step_bar

    db = workspace.results_db
    if not Path(db).exists():
        raise RobustscopeError(f"no results at {db}; run `robustscope run` or `robustscope demo` first")
    rows = ResultStore(db).query(model=list(models)) if models else ResultStore(db).query()
    if rows.empty:
        raise RobustscopeError(f"no results in {db}; run `robustscope run` or `robustscope demo` first")
    rows = _latest(rows)
    folder = Path(out) if out is not None else workspace.reports / "explorer"
    result = ExplorerBuild(folder)
    source = PredictionSource(PredictionStore(workspace.predictions))
    cache = ThumbnailCache(workspace.root / "thumbnails")
    n_groups = len(rows.drop_duplicates(["model", "dataset"]))
    with step_bar(progress, "explorer: galleries", n_groups) as advance:
        galleries, notes = gallery_groups(
            workspace, rows, source, cache, limits or GalleryLimits(), model_objects, on_group=advance
        )
    n_pairs = sum(len(m) * (len(m) - 1) // 2 for m in rows.groupby(["dataset", "shift"]).model.unique())
    with step_bar(progress, "explorer: paired bootstrap", n_pairs) as advance:
        compared = comparisons(rows, source, n_resamples=n_resamples, on_pair=advance)
    result.thumbnails_encoded, result.notes = cache.encoded, notes
    for group in galleries:
        for sample in group["samples"]:
            for address in sample["t"]:
                if address and _copy_if_changed(cache.path(address), folder / "thumbs" / f"{address}.jpg"):
                    result.thumbnails_copied += 1
    meta = {"title": title, "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "rows": len(rows), "notes": notes,
            "report": "../report.html" if (folder.parent / "report.html").is_file() else ""}  # fmt: skip
    parts = {"meta": meta, "results": encode_rows(rows), "galleries": galleries, "comparisons": compared}
    for part, value in parts.items():
        _write_text(folder / "data" / f"{part}.js", data_script(part, value))
    _write_text(folder / "data" / "server.js", "window.RS_SERVER = false;\n")
    _copy_if_changed(plotly_bundle(), folder / "assets" / "plotly.min.js")
    assets = resources.files("robustscope.report.explorer") / "assets"
    for name in ("explorer.js", "gallery.js", "explorer.css"):
        _write_text(folder / "assets" / name, (assets / name).read_text(encoding="utf-8"))
    _write_text(folder / "index.html", explorer_page(title))
    return result


def _latest(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per identity (the newest), text columns as strings (as the report prepares them)."""
    df = rows.copy()
    for column in ("model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis",
                   "prediction_key"):  # fmt: skip
        if column not in df.columns:
            df[column] = ""
        df[column] = df[column].fillna("").astype(str)
    if "created_at" in df.columns:
        df = df.sort_values("created_at", kind="stable")
    keys = ["model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis"]
    return df.drop_duplicates(keys, keep="last").reset_index(drop=True)
