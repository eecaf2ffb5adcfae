"""Report view of the geography axis: accuracy by region, income group and country, disparities, progress gap.

Richards et al., "Does Progress On Object Recognition Benchmarks Improve Real-World Generalization?", 2023:
per geographic benchmark (Dollar Street, GeoDE), the multi-label top-k accuracy per region and per income group
of every model as bars with bootstrap CI error bars, per country as markers, the disparities (Europe − Africa,
max − min over regions, high − low income) in a table, the Dollar Street factor error ratios (Gustafson et al.
2023) where the axis wrote them, and — with two or more models that have an ImageNet top-1 — the progress-gap
plot: each benchmark's accuracy against ImageNet accuracy with its least-squares line, the slopes, and the
ratio of a standard benchmark's slope to a geographic one's.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from robustscope.data.benchmarks.index_sets import INCOME_GROUPS
from robustscope.report.kit import (
    Figures,
    Palette,
    ViewInputs,
    error_bars,
    esc,
    finite,
    grouped_bar_chart,
    heading,
    layout,
    ordered_unique,
    rows_table,
    table,
)
from robustscope.suites.geography import progress_points, progress_summary, region_order

__all__ = ["geography_view"]

_WHOLE = ("top1", "top5", "disparity_europe_africa", "disparity_max_min", "disparity_income")
_LABELS = {
    "top1": "top-1",
    "top5": "top-5",
    "disparity_europe_africa": "Europe - Africa",
    "disparity_max_min": "max - min region",
    "disparity_income": "high - low income",
}
_BENCHMARK_COLOURS = ("#3b6fb6", "#d64541", "#2e8b57", "#e0a030", "#6c4f9e", "#17becf", "#8c564b")
#: Bootstrap resamples (of models) for the CIs of the slopes and gaps drawn in the report.
REPORT_RESAMPLES = 200


def _income_note(rows: pd.DataFrame) -> str:
    """The income bins the rows' protocols name (``income_edges``), as a subtitle; empty if they name none.

    Example:
        >>> _income_note(pd.DataFrame({"protocol": ['{"income_edges": [195.0, 685.0, 1963.0]}']}))
        '<br><sub>monthly income per person: low ≤ $195 < low-mid ≤ $685 < mid-high ≤ $1963 < high</sub>'
    """
    edges = {tuple(e) for e in rows.protocol.map(lambda p: _field(p, "income_edges", None)) if e}
    if len(edges) != 1:  # none recorded, or rows of differently binned runs: no single legend is true
        return ""
    low, mid, high = (f"${e:g}" for e in next(iter(edges)))
    return f"<br><sub>monthly income per person: low ≤ {low} < low-mid ≤ {mid} < mid-high ≤ {high} < high</sub>"


def _field(protocol: object, name: str, default: object = "") -> object:
    try:
        return json.loads(str(protocol)).get(name, default)
    except (TypeError, ValueError, AttributeError):
        return default


def _main_k(rows: pd.DataFrame) -> int:
    gaps = rows[rows.metric.str.startswith("disparity_")]
    for protocol in gaps.protocol:
        k = _field(protocol, "k", None)
        if k is not None:
            return int(k)
    return 5


def _bar_chart(
    rows: pd.DataFrame,
    categories: list[str],
    figures: Figures,
    palette: Palette,
    title: str,
    axis_title: str,
    metric: str,
) -> str:
    return grouped_bar_chart(
        rows, categories, rows.slice_value.astype(str), figures, palette, title, axis_title,
        f"{metric} accuracy (multi-label)",
    )  # fmt: skip


def _country_chart(rows: pd.DataFrame, figures: Figures, palette: Palette, title: str, metric: str) -> str:
    import plotly.graph_objects as go

    means = pd.to_numeric(rows.value, errors="coerce").groupby(rows.slice_value.astype(str)).mean()
    countries = [str(c) for c in means.sort_values(kind="stable").index]
    fig = go.Figure()
    for model in ordered_unique(rows.model):
        group = rows[rows.model == model].drop_duplicates("slice_value", keep="last").set_index("slice_value")
        group = group.reindex(countries)
        values = group.value.to_numpy(dtype=float)
        fig.add_trace(
            go.Scatter(
                x=values,
                y=[esc(c) for c in countries],
                mode="markers",
                name=esc(model),
                marker={"color": palette(model), "symbol": palette.symbol(model), "size": 8},
                error_x=error_bars(values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)),
                customdata=group.n.to_numpy(),
                hovertemplate="%{y}: %{x:.3f} (n=%{customdata})<extra>%{fullData.name}</extra>",
            )
        )
    layout(
        fig,
        title,
        height=max(360, 18 * len(countries) + 160),
        xaxis={"title": {"text": f"{metric} accuracy (multi-label)"}, "range": [-0.03, 1.03]},
        yaxis={"type": "category"},
    )
    return f'<div class="chart wide">{figures.render(fig)}</div>'


def _factor_section(rows: pd.DataFrame, figures: Figures, palette: Palette, dataset: str) -> str:
    overall = rows[(rows.metric == "factor_error_ratio") & (rows.slice_factor == "factor")]
    if overall.empty:
        return ""

    means = pd.to_numeric(overall.value, errors="coerce").groupby(overall.slice_value.astype(str)).mean()
    factors = [str(f) for f in means.sort_values(ascending=False, kind="stable").index]
    chart = grouped_bar_chart(
        overall, factors, overall.slice_value.astype(str), figures, palette,
        f"Factor error ratio among mistakes · {esc(dataset)}<br><sub>(p_mistakes(f) − p_all(f)) / p_all(f); "
        "above 0: over-represented among the model's mistakes (Gustafson et al. 2023)</sub>",
        "factor", "error ratio", y_range=None, reference_line=0.0,
    )  # fmt: skip
    grouped = rows[rows.metric.str.startswith("factor_error_ratio[") & (rows.slice_factor == "factor")]
    group_table = ""
    if len(grouped):
        group_label = grouped.metric.str.extract(r"\[(.*)\]")[0]
        group_table = '<p class="note">Error ratio per factor within each income group and region:</p>' + rows_table(
            grouped.assign(_group=group_label), "_group", "slice_value", factors
        )
    return f"{chart}{group_table}"


def _progress_section(rows: pd.DataFrame, figures: Figures, geo_metric: str) -> str:
    import plotly.graph_objects as go

    points = progress_points(rows, geo_metric)
    models = ordered_unique(points.model) if len(points) else []
    if len(models) < 2:
        return (
            '<p class="note">Progress gap: needs two or more models with an ImageNet top-1 (the axis\'s '
            "<code>imagenet</code> role) and a geographic or standard benchmark.</p>"
        )
    summary = progress_summary(points, n_resamples=REPORT_RESAMPLES)
    fig = go.Figure()
    benchmarks = ordered_unique(summary.points.benchmark)
    slope_of = summary.slopes.set_index("benchmark")
    for i, benchmark in enumerate(benchmarks):
        colour = _BENCHMARK_COLOURS[i % len(_BENCHMARK_COLOURS)]
        chosen = summary.points[summary.points.benchmark == benchmark]
        kind = str(chosen.kind.iloc[0])
        fig.add_trace(
            go.Scatter(
                x=chosen.imagenet_acc,
                y=chosen.acc,
                mode="markers",
                name=esc(f"{benchmark} ({kind})"),
                legendgroup=esc(benchmark),
                marker={"color": colour, "size": 9, "symbol": "circle" if kind == "geographic" else "diamond"},
                customdata=[[esc(m), er] for m, er in zip(chosen.model, chosen.effective_robustness, strict=True)],
                hovertemplate="%{customdata[0]}: ImageNet %{x:.3f}, %{y:.3f}<br>effective robustness "
                "%{customdata[1]:+.3f}<extra>%{fullData.name}</extra>",
            )
        )
        fit = slope_of.loc[benchmark] if benchmark in slope_of.index else None
        if fit is not None and finite(fit.slope):
            xs = np.array([chosen.imagenet_acc.min(), chosen.imagenet_acc.max()], dtype=float)
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=fit.slope * xs + fit.intercept,
                    mode="lines",
                    name=esc(f"{benchmark}: slope {fit.slope:.2f}"),
                    legendgroup=esc(benchmark),
                    line={"color": colour, "dash": "solid" if kind == "geographic" else "dash"},
                    hoverinfo="skip",
                )
            )
    layout(
        fig,
        f"Progress gap · accuracy vs ImageNet top-1 across {len(models)} models<br><sub>geographic: "
        f"{esc(geo_metric)} (circles, solid lines); standard: top-1 (diamonds, dashed)</sub>",
        height=440,
        xaxis={"title": {"text": "ImageNet top-1"}},
        yaxis={"title": {"text": "benchmark accuracy"}},
    )
    out = [f'<div class="chart wide">{figures.render(fig)}</div>']
    slope_cells = {
        ("slopes", "", str(r.benchmark)): (r.slope, r.slope_ci_low, r.slope_ci_high, r.n_models)
        for r in summary.slopes.itertuples(index=False)
    }
    out.append('<p class="note">Slope of each benchmark\'s accuracy on ImageNet top-1 (bootstrap over models):</p>')
    out.append(
        table(["slopes"], [("", str(b)) for b in summary.slopes.benchmark], slope_cells, corner="", stacked=True)
    )
    if len(summary.gaps):
        cells = {
            (str(r.standard), "", str(r.geographic)): (r.progress_gap, r.ci_low, r.ci_high, r.n_models)
            for r in summary.gaps.itertuples(index=False)
        }
        out.append(
            '<p class="note">Progress gap = slope(standard) / slope(geographic): how many times more a point of '
            "ImageNet accuracy moves the standard benchmark than the geographic one (rows: standard benchmark).</p>"
        )
        out.append(
            table(
                ordered_unique(summary.gaps.standard),
                [("", str(g)) for g in ordered_unique(summary.gaps.geographic)],
                cells,
                corner="standard benchmark",
                stacked=True,
            )
        )
    return "".join(out)


def geography_view(inputs: ViewInputs) -> str:
    """HTML of the geography axis for the rows of one suite (see the module docstring).

    Example:
        >>> rows = pd.DataFrame({"model": ["m"] * 3, "dataset": ["geode:/g"] * 3, "shift": ["none"] * 3,
        ...     "metric": ["top5", "top5", "disparity_europe_africa"], "slice_factor": ["", "region", ""],
        ...     "slice_value": ["", "Africa", ""], "value": [0.7, 0.6, 0.2], "ci_low": [0.6, 0.5, 0.1],
        ...     "ci_high": [0.8, 0.7, 0.3], "n": [10, 5, 10], "protocol": ['{"kind": "geographic", "k": 5}'] * 3,
        ...     "suite": ["s"] * 3, "axis": ["geography"] * 3})
        >>> html = geography_view(ViewInputs(rows, Figures(), Palette(rows.model)))
        >>> "Europe - Africa" in html and "by region" in html
        True
    """
    rows, figures, palette = inputs.rows, inputs.figures, inputs.palette
    if rows.empty:
        return '<p class="note">No geography rows.</p>'
    kinds = rows.protocol.map(lambda p: _field(p, "kind"))
    geo = rows[(kinds == "geographic") | rows.dataset.astype(str).str.match(r"^(dollar-street|geode):")]
    out = []
    datasets = ordered_unique(geo.dataset)
    k = _main_k(geo) if len(geo) else 5
    metric = f"top{k}"
    for dataset in datasets:
        in_set = geo[geo.dataset == dataset]
        out.append(heading(str(dataset), len(datasets) > 1))
        whole = in_set[(in_set.slice_factor == "") & in_set.metric.isin(_WHOLE)]
        out.append(
            rows_table(whole.assign(metric=whole.metric.map(_LABELS)), None, "metric", [_LABELS[m] for m in _WHOLE])
        )
        if len(whole[whole.metric.str.startswith("disparity_")]):
            out.append(f'<p class="note">Disparities at {esc(metric)}; CIs resample images within each group.</p>')
        sliced = in_set[in_set.metric == metric]
        regions = sliced[sliced.slice_factor == "region"]
        if len(regions):
            out.append(
                _bar_chart(
                    regions,
                    region_order(regions.slice_value.astype(str)),
                    figures,
                    palette,
                    f"{esc(metric)} by region · {esc(dataset)}",
                    "region",
                    metric,
                )
            )
        incomes = sliced[sliced.slice_factor == "income_group"]
        if len(incomes):
            present = set(incomes.slice_value.astype(str))
            order = [g for g in INCOME_GROUPS if g in present] + sorted(present - set(INCOME_GROUPS))
            out.append(
                _bar_chart(
                    incomes,
                    order,
                    figures,
                    palette,
                    f"{esc(metric)} by income group · {esc(dataset)}{_income_note(incomes)}",
                    "income group",
                    metric,
                )
            )
        countries = sliced[sliced.slice_factor == "country"]
        if len(countries):
            out.append(
                _country_chart(
                    countries,
                    figures,
                    palette,
                    f"{esc(metric)} by country · {esc(dataset)} (sorted by mean accuracy)",
                    metric,
                )
            )
        out.append(_factor_section(in_set, figures, palette, str(dataset)))
    if not datasets:
        out.append('<p class="note">No Dollar Street or GeoDE rows.</p>')
    out.append("<h3>Progress gap</h3>")
    out.append(_progress_section(rows, figures, metric))
    return "".join(out)
