"""A single self-contained HTML report from result rows (docs/architecture.md, "Result rows").

The page works offline: plotly.js is inlined once in ``<head>`` and every chart is a plotly figure
that references it; CSS is inline; nothing is fetched from the network. All text that comes from
results (model, dataset, shift, factor and metric names) is HTML-escaped, in the page and in chart
labels, so a model called ``<script>`` shows up as text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from robustscope.metrics.classification import ReliabilityCurve
from robustscope.metrics.slicing import natural_key
from robustscope.report.kit import (
    LEGEND_BESIDE,
    PAGE_CSS,
    Figures,
    Palette,
    ScoreHistogram,
    error_bars,
    esc,
    finite,
    fmt,
    ordered_unique,
)
from robustscope.report.study_page import study_sections
from robustscope.report.suite import suite_sections
from robustscope.report.views_calibration import reliability_charts
from robustscope.report.views_mitigation import mitigation_sections
from robustscope.report.views_models import models_section

if TYPE_CHECKING:
    from robustscope.suites.before_after import BeforeAfter

__all__ = ["write_report"]

REQUIRED_COLUMNS = ("metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high")
# Columns api.evaluate adds; the report also accepts compute_metrics' bare output and fills these in.
DEFAULTS = {"model": "model", "dataset": "dataset", "shift": "none"}
# Metrics plotted first in the per-factor charts (the brief's "accuracy per factor value").
PREFERRED_METRICS = ("top1", "top5")

def _natural_sorted(values: Iterable[str]) -> list[str]:
    """Slice values are strings; numbers sort by value ("2" before "10"), bins by their lower edge."""
    return sorted(values, key=natural_key)


def _higher_is_better(protocol: Any) -> bool | None:
    try:
        value = json.loads(protocol).get("higher_is_better")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def _protocol_summary(protocol: Any) -> str:
    try:
        data = json.loads(protocol)
    except (TypeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [str(data.get("name", ""))]
    if data.get("parameters"):
        parts.append(json.dumps(data["parameters"], sort_keys=True))
    if data.get("paper"):
        parts.append(str(data["paper"]))
    ci = data.get("ci")
    if isinstance(ci, dict):
        parts.append(f"CI: {ci.get('method', '')}, {ci.get('confidence', '')}, {ci.get('n_resamples', '')} resamples")
    return " · ".join(p for p in parts if p)


def _explorer_link(out_path: Path) -> str:
    """A relative link to the explorer when its folder (``robustscope explore``) sits next to the report.

    Example:
        >>> _explorer_link(Path("/nonexistent/report.html"))
        ''
    """
    if (Path(out_path).parent / "explorer" / "index.html").is_file():
        return ' · <a class="explorer" href="explorer/index.html">open the interactive explorer</a>'
    return ""


def _version() -> str:
    """robustscope's version as its installed metadata says, the one every result row records.

    Read here, not from the root package: the report sits below the facade that re-exports it.
    """
    from importlib import metadata

    try:
        return metadata.version("robustscope")
    except metadata.PackageNotFoundError:
        return "unknown"


def _prepare(results: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in results.columns]
    if missing:
        raise ValueError(
            f"results lack the column(s) {missing}; pass rows of the 'Result rows' schema "
            "(e.g. from metrics.compute_metrics or the ResultStore)"
        )
    df = results.copy()
    for column, default in DEFAULTS.items():
        if column not in df.columns:
            df[column] = default
    for column in ("suite", "axis"):
        if column not in df.columns:
            df[column] = ""
    for column in (*DEFAULTS, "metric", "slice_factor", "slice_value", "suite", "axis"):
        df[column] = df[column].fillna("").astype(str)
    if "protocol" not in df.columns:
        df["protocol"] = ""
    if "created_at" in df.columns:
        # The same (model, dataset, shift, metric, slice, suite, axis) computed twice: keep the newest row.
        df = df.sort_values("created_at", kind="stable")
    # Suite and axis are part of a row's identity: two axes may report top-1 on the same clean set.
    keys = ["model", "dataset", "shift", "metric", "slice_factor", "slice_value", "suite", "axis"]
    return df.drop_duplicates(keys, keep="last").reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# (a) comparison table
# ------------------------------------------------------------------------------------------------


def _comparison_table(df: pd.DataFrame) -> str:
    whole = df[df.slice_factor == ""]
    if whole.empty:
        return '<p class="note">No whole-set (unsliced) results.</p>'
    models = ordered_unique(whole.model)
    columns = ordered_unique(zip(whole.dataset, whole["shift"], whole.metric, strict=True))
    cells = {(r.model, r.dataset, r.shift, r.metric): r for r in whole.itertuples(index=False)}

    # Best value per column, in the direction the metric's protocol gives.
    best: dict[tuple[str, str, str], float] = {}
    for col in columns:
        rows = [cells[(m, *col)] for m in models if (m, *col) in cells]
        direction = next((d for d in (_higher_is_better(r.protocol) for r in rows) if d is not None), None)
        values = [float(r.value) for r in rows if finite(r.value)]
        if direction is not None and len(values) > 1:
            best[col] = max(values) if direction else min(values)

    datasets = ordered_unique((d, s) for d, s, _ in columns)
    out = ['<div class="table-wrap"><table class="results">', "<thead><tr>", '<th rowspan="2" class="model">model</th>']
    for dataset, shift in datasets:
        span = sum(1 for d, s, _ in columns if (d, s) == (dataset, shift))
        label = dataset if shift in ("", "none") else f"{dataset} / {shift}"
        out.append(f'<th colspan="{span}">{esc(label)}</th>')
    out.append("</tr><tr>")
    ordered = [c for ds in datasets for c in columns if (c[0], c[1]) == ds]
    for col in ordered:
        sample = next((cells[(m, *col)] for m in models if (m, *col) in cells), None)
        tip = _protocol_summary(sample.protocol) if sample is not None else ""
        out.append(f'<th title="{esc(tip)}">{esc(col[2])}</th>')
    out.append("</tr></thead><tbody>")
    for model in models:
        out.append(f'<tr><td class="model">{esc(model)}</td>')
        for col in ordered:
            row = cells.get((model, *col))
            if row is None:
                out.append('<td class="empty">·</td>')
                continue
            is_best = col in best and finite(row.value) and float(row.value) == best[col]
            ci = ""
            if finite(row.ci_low) and finite(row.ci_high):
                ci = f' <span class="ci">[{fmt(row.ci_low)}, {fmt(row.ci_high)}]</span>'
            n = f"n = {int(row.n)}" if hasattr(row, "n") and finite(row.n) else ""
            out.append(
                f'<td{" class=best" if is_best else ""} title="{esc(n)}">'
                f'<span class="v">{fmt(row.value)}</span>{ci}</td>'
            )
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# (b) metric per factor value
# ------------------------------------------------------------------------------------------------


def _factor_charts(df: pd.DataFrame, figures: Figures) -> str:
    import plotly.graph_objects as go

    sliced = df[df.slice_factor != ""]
    if sliced.empty:
        return '<p class="note">No sliced results (compute metrics with <code>slice_by</code> to see them).</p>'
    metrics = ordered_unique(sliced.metric)
    # Accuracy per factor value is what the charts are for; every other metric per slice would
    # bury it (the numbers stay in the ResultStore). Without an accuracy row, chart the first metric.
    metrics = [m for m in PREFERRED_METRICS if m in metrics] or metrics[:1]
    palette = Palette(sliced.model)  # Okabe-Ito: the same colour per model in every chart
    out = []
    for dataset, shift in ordered_unique(zip(sliced.dataset, sliced["shift"], strict=True)):
        heading = dataset if shift in ("", "none") else f"{dataset} / {shift}"
        out.append(f'<h3>{esc(heading)}</h3><div class="grid">')
        in_set = sliced[(sliced.dataset == dataset) & (sliced["shift"] == shift)]
        for factor in ordered_unique(in_set.slice_factor):
            for metric in metrics:
                rows = in_set[(in_set.slice_factor == factor) & (in_set.metric == metric)]
                if rows.empty:
                    continue
                categories = _natural_sorted(ordered_unique(rows.slice_value))
                fig = go.Figure()
                for model, group in rows.groupby("model", sort=False):
                    group = group.set_index("slice_value").reindex(categories)
                    values = group.value.to_numpy(dtype=float)
                    fig.add_trace(
                        go.Bar(
                            x=[esc(c) for c in categories],
                            y=values,
                            name=esc(model),
                            marker={"color": palette(str(model))},
                            error_y=error_bars(
                                values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)
                            ),
                            customdata=group.n.to_numpy() if "n" in group else None,
                            hovertemplate="%{x}: %{y:.3f}"
                            + (" (n=%{customdata})" if "n" in group else "")
                            + "<extra>%{fullData.name}</extra>",
                        )
                    )
                fig.update_layout(
                    title={"text": f"{esc(metric)} by {esc(factor)}", "font": {"size": 14}},
                    barmode="group",
                    template="plotly_white",
                    height=340,
                    margin={"l": 50, "r": 10, "t": 50, "b": 50},
                    xaxis={"title": {"text": esc(factor)}, "type": "category"},
                    yaxis={"title": {"text": esc(metric)}},
                    legend=LEGEND_BESIDE,  # beside the plot: below it, it covered the x-axis title
                )
                out.append(f'<div class="chart">{figures.render(fig)}</div>')
        out.append("</div>")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# page
# ------------------------------------------------------------------------------------------------


def _plain_sections(
    df: pd.DataFrame, reliability: Sequence[tuple[str, str, str, ReliabilityCurve]], figures: Figures
) -> str:
    """Sections (a)-(c) of :func:`write_report` for rows outside suites."""
    table = _comparison_table(df)
    factor_charts = _factor_charts(df, figures)
    diagrams = reliability_charts(list(reliability), figures)
    return f"""<section id="comparison">
<h2>Model comparison</h2>
<p class="note">Whole-set values; brackets give the bootstrap confidence interval (hover a metric for its
protocol). Bold marks the best model per column.</p>
{table}
</section>
<section id="factors">
<h2>Metrics per factor value</h2>
<p class="note">Error bars are bootstrap confidence intervals within each slice.</p>
{factor_charts}
</section>
<section id="reliability">
<h2>Reliability diagrams</h2>
<p class="note">Bars: accuracy per confidence bin; red: gap to the diagonal (above the bar: over-confident).</p>
{diagrams}
</section>"""


def write_report(
    results: pd.DataFrame,
    out_path: Path,
    reliability: Sequence[tuple[str, str, str, ReliabilityCurve]] = (),
    title: str = "robustscope report",
    suite_reliability: Sequence[tuple[str, str, str, ReliabilityCurve]] = (),
    score_histograms: Sequence[ScoreHistogram] = (),
    models: Sequence[dict[str, Any]] = (),
    mitigations: Sequence[BeforeAfter] = (),
    studies: Sequence[dict[str, Any]] = (),
) -> Path:
    """Write one self-contained HTML report and return its path.

    ``results`` are rows of the "Result rows" schema (``model``, ``dataset``, ``shift`` may be absent:
    they default to ``model``/``dataset``/``none``). The page has (a) a comparison table, models as
    rows and (dataset/shift × metric) as columns, whole-set values with their bootstrap CI in
    brackets and the best value per column in bold; (b) per dataset and factor, top-1 (and
    top-5) accuracy per factor value as grouped bars per model with CI error bars; (c) reliability diagrams
    (Guo et al., ICML 2017) from ``reliability`` = ``(model, dataset, shift, curve)`` tuples, with
    the gap to the diagonal and the ECE in the title. (a)-(c) show rows outside suites (``suite`` empty
    or absent); they are left out when every row belongs to a suite.

    Rows of robustness suites (non-empty ``suite``) get, per suite, the main table (models × axes'
    headline numbers) and one section per axis present (:func:`robustscope.report.suite.suite_sections`);
    the calibration view draws ``suite_reliability`` curves and the OOD view the ``score_histograms``
    (both read from stored predictions by :func:`robustscope.report.from_store.report_from_store`).
    ``models`` (``Model.describe()`` dicts, as stored beside predictions) add a section listing each
    model's effective input transform and the preprocessing values that were assumed
    (:func:`robustscope.report.views_models.models_section`). ``mitigations`` (before/after tables of mitigated
    models against their bases, :func:`robustscope.suites.before_after.mitigations_in_store`) add the mitigation
    view after the suites (:func:`robustscope.report.views_mitigation.mitigation_sections`); without them the page
    is the same as before.
    plotly.js is inlined once, so the file opens offline; the write is atomic (temporary file, then rename).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from robustscope.metrics import compute_metrics
        >>> rows = compute_metrics(np.eye(3), np.arange(3), None, ["top1"], n_resamples=0)
        >>> path = write_report(rows, Path(tempfile.mkdtemp()) / "report.html")
        >>> "<table" in path.read_text(encoding="utf-8")
        True
    """
    df = _prepare(results)
    out_path = Path(out_path)
    figures = Figures()
    suites, toc = suite_sections(df, figures, list(suite_reliability), list(score_histograms))
    if mitigations:
        mitigation_html, mitigation_toc = mitigation_sections(mitigations)
        suites += mitigation_html
        toc.extend(mitigation_toc)
    if studies:
        study_html, study_toc = study_sections(studies, figures)
        suites += study_html
        toc.extend(study_toc)
    plain = df[df.suite == ""]
    plain_sections = ""
    if len(plain) or not toc:
        plain_sections = _plain_sections(plain, list(reliability), figures)
    if toc and plain_sections:
        toc.extend(
            [
                ("comparison", "model comparison"),
                ("factors", "per factor value"),
                ("reliability", "reliability diagrams"),
            ]
        )
    nav = ""
    if toc:
        links = "".join(f'<a href="#{esc(anchor)}">{esc(text)}</a>' for anchor, text in toc)
        nav = f'<nav class="toc">{links}</nav>'

    plotly_js = ""
    if figures.count:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'

    version = _version()
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    counts = (
        f"{df.model.nunique()} model(s) · {df.dataset.nunique()} dataset(s) · "
        f"{df['shift'].nunique()} shift(s) · {df.metric.nunique()} metric(s)"
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="robustscope {esc(version)}">
<title>{esc(title)}</title>
<style>{PAGE_CSS}</style>
{plotly_js}
</head>
<body>
<header>
<h1>{esc(title)}</h1>
<div class="meta">generated {esc(now)} by robustscope {esc(version)} · {esc(counts)}{_explorer_link(out_path)}</div>
</header>
<main>
{nav}
{models_section(models)}
{suites}
{plain_sections}
</main>
</body>
</html>
"""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out_path)
    return out_path
