"""Report sections of robustness suites (``robustscope run --suite``): the main table, then one view per axis.

Rows with a non-empty ``suite`` column (docs/architecture.md, "Result rows") get, per suite, the seed
benchmark's main table (models × the axes' headline numbers, :func:`robustscope.suites.suite_summary`)
and, for each axis present, the section its view in :data:`AXIS_VIEWS` draws. A view is a function of one
:class:`~robustscope.report.kit.ViewInputs` (the axis's rows of that suite, the page's figures and palette,
the reliability curves and score histograms read from stored predictions) returning HTML; an axis without
a view gets a table of its whole-set numbers. Section titles, order and summaries come from the axis
records (:func:`robustscope.suites.registry.get_axis`).

Everything here is a pure function of result rows; names from the rows are HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from robustscope.metrics.classification import ReliabilityCurve
from robustscope.registry import Registry
from robustscope.report.kit import (
    Cell,
    Figures,
    Palette,
    ScoreHistogram,
    ViewInputs,
    disjoint_cells,
    esc,
    ordered_unique,
    rows_table,
    slug,
    table,
)

__all__ = ["AXIS_VIEWS", "AxisView", "default_view", "suite_sections"]

#: A report view: the inputs of one axis in one suite → the HTML of its section's body.
AxisView = Callable[[ViewInputs], str]

#: Axis name → its report view, one entry per axis (resolved when a report first draws the axis).
AXIS_VIEWS: Registry[str] = Registry("report view")
AXIS_VIEWS.add("shape_bias", "robustscope.report.views_bias:shape_bias_view", summary="shape bias per category")
AXIS_VIEWS.add("context_bias", "robustscope.report.views_bias:context_bias_view", summary="P_k per model")
AXIS_VIEWS.add("background_bias", "robustscope.report.views_bias:background_bias_view", summary="top-1 per variant")
AXIS_VIEWS.add("calibration", "robustscope.report.views_calibration:calibration_view", summary="reliability diagrams")
AXIS_VIEWS.add("ood", "robustscope.report.views_ood:ood_view", summary="ID vs OOD score histograms")
AXIS_VIEWS.add("corruptions", "robustscope.report.views_corruptions:corruptions_view", summary="heat maps")
AXIS_VIEWS.add("adversarial", "robustscope.report.views_adversarial:adversarial_view", summary="clean vs attacked")
AXIS_VIEWS.add("imagenet_x", "robustscope.report.views_factors:imagenet_x_view", summary="factor error-ratio bars")
AXIS_VIEWS.add("geography", "robustscope.report.views_geography:geography_view", summary="accuracy by region/income")
AXIS_VIEWS.add("shortcuts", "robustscope.report.views_shortcuts:shortcuts_view", summary="UrbanCars group table")
AXIS_VIEWS.add("pug", "robustscope.report.views_pug:pug_view", summary="PUG factor curves")
AXIS_VIEWS.add("representation", "robustscope.report.views_representation:representation_view",
               summary="kNN / probe / RankMe per set")
AXIS_VIEWS.add("disentanglement", "robustscope.report.views_representation:disentanglement_view",
               summary="MIG and DCI per set")
AXIS_VIEWS.add("worst_case", "robustscope.report.views_worst_case:worst_case_view",
               summary="worst- vs average-case per factor, found examples")


def default_view(inputs: ViewInputs) -> str:
    """The section of an axis without a view: its whole-set numbers, datasets × metrics.

    Example:
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "metric": ["x"], "slice_factor": [""],
        ...     "value": [0.5], "ci_low": [0.4], "ci_high": [0.6], "protocol": ["{}"]})
        >>> "[0.400, 0.600]" in default_view(ViewInputs(rows, Figures(), Palette(["m"])))
        True
    """
    rows = inputs.rows
    return rows_table(rows[rows.slice_factor == ""], "dataset", "metric")


def _axis_text(axis: str) -> tuple[str, str]:
    """(section title, summary) of an axis from its record; an unregistered axis is titled by its name."""
    from robustscope.suites.registry import axis_names, get_axis

    if axis not in axis_names():
        return axis, ""
    record = get_axis(axis)
    return record.title, record.summary


def _headline_table(rows: pd.DataFrame) -> str:
    """The seed's main table for one suite's rows: :func:`robustscope.suites.suite_summary` with CIs.

    A cell whose CI does not overlap another model's in its column gets the class ``differs``; with two
    models or more, a note under the table counts the columns that separate them.
    """
    from robustscope.suites.run import headlines, suite_summary

    values = suite_summary(rows)
    if values.empty or len(values.columns) < 2:
        return '<p class="note">No headline numbers for this suite.</p>'

    # The CI of a headline: the same summary over the bounds. Where it averages several datasets this
    # averages their bounds, which is at least as wide as the CI of the mean; a missing bound (inf) drops it.
    def bounds(column: str) -> pd.DataFrame:
        bound = pd.to_numeric(rows[column], errors="coerce")
        return suite_summary(rows.assign(value=bound.where(np.isfinite(bound), np.inf))).set_index("model")

    low, high = bounds("ci_low"), bounds("ci_high")
    columns_of = headlines()
    axis_of = {h.label: axis for axis, h in columns_of}
    columns = [(_axis_text(axis_of[c])[0] if c in axis_of else "", c) for c in values.columns if c != "model"]
    cells: dict[tuple[str, str, str], Cell] = {}
    for record in values.to_dict("records"):
        model = str(record["model"])
        for group, label in columns:
            lo = low.at[model, label] if model in low.index and label in low.columns else np.nan
            hi = high.at[model, label] if model in high.index and label in high.columns else np.nan
            cells[(model, group, label)] = (record[label], lo, hi, None)
    metric_of = {h.label: h.metric for _, h in columns_of}
    tips = {(g, label): f"metric {metric_of.get(label, label)}" for g, label in columns}
    models = [str(m) for m in values.model]
    differing = disjoint_cells(models, columns, cells)
    marks = {key: ("differs", "CI does not overlap another model's") for key in differing}
    out = table(models, columns, cells, tips, stacked=True, marks=marks)
    if len(models) >= 2:
        apart = len({(g, label) for _, g, label in differing})
        verb = "separates" if apart == 1 else "separate"
        out += (
            f'<p class="note contrast">{apart} of {len(columns)} headline columns {verb} the models: '
            "their CIs do not overlap (tinted cells).</p>"
        )
    return out


def suite_sections(
    df: pd.DataFrame,
    figures: Figures,
    reliability: Sequence[tuple[str, str, str, ReliabilityCurve]] = (),
    histograms: Sequence[ScoreHistogram] = (),
) -> tuple[str, list[tuple[str, str]]]:
    """HTML ``<section>``s for the rows of every suite, and (anchor, title) pairs for a table of contents.

    ``df`` holds prepared result rows (strings in ``model``, ``dataset``, ``shift``, ``metric``,
    ``slice_*``, ``suite``, ``axis``); rows with an empty ``suite`` are ignored, so a store without
    suite rows yields ``("", [])``. Axes come in the registry's order, unregistered ones after them;
    each view gets every curve and histogram and keeps those of its own rows.

    Example:
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "shift": ["fgsm:eps=1/255"], "metric": ["top1"],
        ...     "slice_factor": [""], "slice_value": [""], "value": [0.5], "ci_low": [0.4], "ci_high": [0.6],
        ...     "protocol": ["{}"], "suite": ["s"], "axis": ["adversarial"]})
        >>> html_text, toc = suite_sections(rows, Figures())
        >>> toc
        [('suite-s', 's: main table'), ('suite-s-adversarial', 's: Adversarial robustness')]
        >>> "FGSM (eps=1/255)" in html_text and "[0.400, 0.600]" in html_text
        True
    """
    from robustscope.suites.registry import axis_names

    if "suite" not in df.columns or not (df.suite.astype(str) != "").any():
        return "", []
    rows = df[df.suite.astype(str) != ""]
    palette = Palette(rows.model)
    out: list[str] = []
    toc: list[tuple[str, str]] = []
    for suite in ordered_unique(rows.suite):
        in_suite = rows[rows.suite == suite]
        anchor = f"suite-{slug(suite)}"
        toc.append((anchor, f"{suite}: main table"))
        out.append(
            f'<section id="{anchor}"><h2>Suite {esc(suite)}: main table</h2>'
            '<p class="note">The headline number of each robustness axis per model (means over an axis\'s datasets '
            "where it has several; ECE on its first calibration set). Brackets: bootstrap confidence intervals "
            "(averaged bounds for averaged headlines, a conservative interval).</p>"
            f"{_headline_table(in_suite)}</section>"
        )
        present = set(in_suite.axis)
        axes = [a for a in axis_names() if a in present]
        axes += [a for a in ordered_unique(in_suite.axis) if a not in axes and a]
        for axis in axes:
            inputs = ViewInputs(in_suite[in_suite.axis == axis], figures, palette, reliability, histograms)
            view: AxisView = AXIS_VIEWS.get(axis) if axis in AXIS_VIEWS else default_view
            body = view(inputs)
            title, summary = _axis_text(axis)
            anchor = f"suite-{slug(suite)}-{slug(axis)}"
            toc.append((anchor, f"{suite}: {title}"))
            out.append(
                f'<section id="{anchor}"><h2>{esc(title)} <small>· {esc(suite)}</small></h2>'
                f'<p class="note">{esc(summary)}</p>{body}</section>'
            )
    return "".join(out), toc
