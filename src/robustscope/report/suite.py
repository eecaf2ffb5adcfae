"""Report views of robustness suites (``robustscope run --suite``): the main table and one view per axis.

Rows with a non-empty ``suite`` column (docs/architecture.md, "Result rows") get, per suite, the seed
benchmark's main table (models × the axes' headline numbers, :func:`robustscope.suites.suite_summary`)
and, for each axis present, its own view:

- shape bias: shape bias per category, one marker per model, the overall value as a vertical line
  (Geirhos et al., ICLR 2019, Fig. 4);
- context bias: P0, P1, P2, … per model with CI error bars, and the relative drops;
- background bias: top-1 per ImageNet-9 variant per model, and the BG-gap;
- calibration: ECE / adaptive ECE / class-wise ECE / NLL / Brier, and reliability diagrams;
- corruptions: a corruption × severity heat map of top-1 per model, mean top-1 and mCE;
- OOD: histograms of the ID and OOD scores per model and OOD set, AUROC / AUPR / FPR@95 per score;
- adversarial: clean vs FGSM vs PGD top-1 per model.

Everything here is a pure function of result rows (plus precomputed reliability curves and score
histograms that :mod:`robustscope.report.from_store` reads from the PredictionStore); names from the
rows are HTML-escaped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from robustscope.metrics.classification import ReliabilityCurve
from robustscope.metrics.corruption import IMAGENET_C_CORRUPTIONS
from robustscope.registry import Registry
from robustscope.report.html import (
    _error_bars,
    _esc,
    _Figures,
    _finite,
    _fmt,
    _ordered_unique,
    _reliability_charts,
)

__all__ = ["AXIS_TITLES", "ScoreHistogram", "attack_label", "corruption_cell", "score_histogram", "suite_sections"]

#: Axis → (section title, one-line description) in the order the seed benchmark lists them.
AXIS_TITLES: dict[str, str] = {
    "shape_bias": "Shape bias",
    "context_bias": "Context bias",
    "background_bias": "Background bias",
    "calibration": "Calibration",
    "ood": "OOD detection",
    "corruptions": "Common corruptions",
    "adversarial": "Adversarial robustness",
    "imagenet_x": "ImageNet-X factors",
    "geography": "Geography and income",
    "shortcuts": "Multiple shortcuts",
    "pug": "PUG factors",
}
#: ImageNet-9 variants in the order of Xiao et al. (ICLR 2021), Fig. 1; others follow, sorted.
BACKGROUND_VARIANTS = (
    "original",
    "only_bg_b",
    "only_bg_t",
    "no_fg",
    "only_fg",
    "mixed_same",
    "mixed_rand",
    "mixed_next",
)
CALIBRATION_METRICS = ("top1", "ece", "ece15", "ece20", "adaptive_ece", "classwise_ece", "nll", "brier")
OOD_MEASURES = ("auroc", "aupr", "fpr95")
OOD_SCORES = ("entropy", "msp", "maxlogit", "energy")
#: The score whose histograms the OOD view draws (the seed benchmark's choice).
HEADLINE_OOD_SCORE = "entropy"
# Marker symbols cycle per model in the shape-bias plot, as in Geirhos et al.'s figure.
_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "triangle-down", "star", "cross", "pentagon")
_SHIFT_NAME = re.compile(r"^([A-Za-z0-9_]+)")


# ------------------------------------------------------------------------------------------------
# data helpers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreHistogram:
    """Histograms (densities over shared bins) of the ID and OOD scores of one model and OOD set.

    Example:
        >>> h = score_histogram("m", "id", "ood", np.array([0.0, 1.0]), np.array([0.0]), bins=2)
        >>> h.bin_edges.tolist(), h.id_density.tolist(), h.ood_density.tolist()
        ([0.0, 0.5, 1.0], [1.0, 1.0], [2.0, 0.0])
    """

    model: str
    id_dataset: str
    ood_dataset: str
    score: str
    bin_edges: np.ndarray
    id_density: np.ndarray
    ood_density: np.ndarray
    n_id: int
    n_ood: int


def score_histogram(
    model: str,
    id_dataset: str,
    ood_dataset: str,
    id_scores: np.ndarray,
    ood_scores: np.ndarray,
    score: str = HEADLINE_OOD_SCORE,
    bins: int = 40,
) -> ScoreHistogram:
    """Bin ID and OOD scores over the same edges (densities, so sets of different sizes compare).

    Non-finite scores are dropped. The page then holds ``bins`` numbers per set, not every score.

    Example:
        >>> h = score_histogram("m", "test", "far", np.array([-0.1, -0.2, -0.1]), np.array([-1.5, -1.0]), bins=4)
        >>> h.n_id, h.n_ood, len(h.bin_edges)
        (3, 2, 5)
    """
    id_s = np.asarray(id_scores, dtype=np.float64).ravel()
    ood_s = np.asarray(ood_scores, dtype=np.float64).ravel()
    id_s, ood_s = id_s[np.isfinite(id_s)], ood_s[np.isfinite(ood_s)]
    both = np.concatenate([id_s, ood_s])
    edges = np.histogram_bin_edges(both if both.size else np.zeros(1), bins=bins)

    def density(values: np.ndarray) -> np.ndarray:
        if not values.size:
            return np.zeros(edges.size - 1)
        return np.histogram(values, bins=edges, density=True)[0]

    return ScoreHistogram(
        model, id_dataset, ood_dataset, score, edges, density(id_s), density(ood_s), int(id_s.size), int(ood_s.size)
    )


def corruption_cell(shift: str, slice_factor: str = "", slice_value: str = "") -> tuple[str, int] | None:
    """The ``(corruption, severity)`` a corruption-axis row is about, or ``None``.

    On-the-fly rows carry it in the shift (``corruption:corruption=fog,severity=3`` as ``Shift.spec()``
    writes it, or the ``corruption:fog:3`` spec string); rows of precomputed sets (ImageNet-C, -3DCC)
    in the slice ``corruption_severity = "fog:3"``.

    Example:
        >>> corruption_cell("corruption:corruption=fog,severity=3")
        ('fog', 3)
        >>> corruption_cell("corruption:glass_blur:2")
        ('glass_blur', 2)
        >>> corruption_cell("none", "corruption_severity", "snow:5")
        ('snow', 5)
        >>> corruption_cell("none") is None
        True
    """
    if slice_factor == "corruption_severity":
        name, _, severity = str(slice_value).rpartition(":")
    elif str(shift).startswith("corruption:"):
        rest = str(shift)[len("corruption:") :]
        if "=" in rest:
            params = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
            name, severity = params.get("corruption", params.get("name", "")), params.get("severity", "")
        else:
            name, _, severity = rest.rpartition(":")
    else:
        return None
    try:
        return (name, int(severity)) if name else None
    except ValueError:
        return None


def attack_label(shift: str) -> str:
    """A short label for an adversarial-axis shift: ``clean``, or the attack with its budget.

    Example:
        >>> attack_label("none")
        'clean'
        >>> attack_label("pgd:alpha=2/255,eps=1/255,norm=linf,random_start=True,steps=20")
        'PGD (linf, eps=1/255, 20 steps)'
        >>> attack_label("fgsm:eps=1/255")
        'FGSM (eps=1/255)'
    """
    if shift in ("", "none"):
        return "clean"
    name, _, rest = str(shift).partition(":")
    params = dict(part.split("=", 1) for part in re.split(r"[,:]", rest) if "=" in part)
    norms = [p for p in re.split(r"[,:]", rest) if p in ("linf", "l2", "l1")]
    bits = [params.get("norm", norms[0] if norms else "")]
    if "eps" in params:
        bits.append(f"eps={params['eps']}")
    if "steps" in params:
        bits.append(f"{params['steps']} steps")
    bits = [b for b in bits if b]
    return name.upper() + (f" ({', '.join(bits)})" if bits else "")


def _shift_kind(shift: str) -> str:
    match = _SHIFT_NAME.match(str(shift))
    return match.group(1) if match else str(shift)


def _protocol_field(protocol: Any, field: str) -> str:
    try:
        value = json.loads(protocol).get(field, "")
    except (TypeError, ValueError, AttributeError):
        return ""
    return "" if value is None else str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "x"


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------

Cell = tuple[float, float, float, Any]  # value, ci_low, ci_high, n


def _cell(row: Any) -> Cell:
    return (row.value, row.ci_low, row.ci_high, getattr(row, "n", None))


def _table(
    models: Sequence[str],
    columns: Sequence[tuple[str, str]],
    cells: dict[tuple[str, str, str], Cell],
    tips: dict[tuple[str, str], str] | None = None,
    corner: str = "model",
    stacked: bool = False,
) -> str:
    """Models as rows, (group, label) columns; each cell a value with its CI in brackets (below it if stacked)."""
    tips = tips or {}
    stacked = stacked or len(columns) > 6  # wide tables put the CI under the value
    groups = _ordered_unique(g for g, _ in columns)
    two_rows = any(g for g in groups)
    out = [f'<div class="table-wrap"><table class="results{" stacked" if stacked else ""}"><thead><tr>']
    out.append(f'<th{" rowspan=2" if two_rows else ""} class="model">{_esc(corner)}</th>')
    if two_rows:
        for group in groups:
            span = sum(1 for g, _ in columns if g == group)
            out.append(f'<th colspan="{span}">{_esc(group)}</th>')
        out.append("</tr><tr>")
    ordered = [c for g in groups for c in columns if c[0] == g]
    for column in ordered:
        out.append(f'<th title="{_esc(tips.get(column, ""))}">{_esc(column[1])}</th>')
    out.append("</tr></thead><tbody>")
    for model in models:
        out.append(f'<tr><td class="model">{_esc(model)}</td>')
        for group, label in ordered:
            cell = cells.get((model, group, label))
            if cell is None or not _finite(cell[0]):
                out.append('<td class="empty">·</td>')
                continue
            value, low, high, n = cell
            ci = f' <span class="ci">[{_fmt(low)}, {_fmt(high)}]</span>' if _finite(low) and _finite(high) else ""
            title = f' title="n = {int(n)}"' if _finite(n) else ""
            out.append(f'<td{title}><span class="v">{_fmt(value)}</span>{ci}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _rows_table(rows: pd.DataFrame, group_of: str | None, label_of: str, labels: Sequence[str] | None = None) -> str:
    """A :func:`_table` of rows: one column per distinct ``label_of`` (within ``group_of``) value."""
    if rows.empty:
        return ""
    groups = rows[group_of].astype(str) if group_of else pd.Series("", index=rows.index)
    keys = list(zip(groups, rows[label_of].astype(str), strict=True))
    columns = _ordered_unique(keys)
    if labels is not None:
        rank = {label: i for i, label in enumerate(labels)}
        columns.sort(key=lambda c: rank.get(c[1], len(rank)))
    cells: dict[tuple[str, str, str], Cell] = {}
    tips: dict[tuple[str, str], str] = {}
    for (group, label), row in zip(keys, rows.itertuples(index=False), strict=True):
        cells[(str(row.model), group, label)] = _cell(row)
        tips.setdefault((group, label), _protocol_field(row.protocol, "name"))
    return _table(_ordered_unique(rows.model), columns, cells, tips)


def _headline_table(rows: pd.DataFrame) -> str:
    """The seed's main table for one suite's rows: :func:`robustscope.suites.suite_summary` with CIs."""
    from robustscope.suites.run import HEADLINES, suite_summary

    values = suite_summary(rows)
    if values.empty or len(values.columns) < 2:
        return '<p class="note">No headline numbers for this suite.</p>'

    # The CI of a headline: the same summary over the bounds. Where it averages several datasets this
    # averages their bounds, which is at least as wide as the CI of the mean; a missing bound (inf) drops it.
    def bounds(column: str) -> pd.DataFrame:
        bound = pd.to_numeric(rows[column], errors="coerce")
        return suite_summary(rows.assign(value=bound.where(np.isfinite(bound), np.inf))).set_index("model")

    low, high = bounds("ci_low"), bounds("ci_high")
    axis_of = {label: axis for axis, _, _, label in HEADLINES}
    columns = [(AXIS_TITLES.get(axis_of.get(c, ""), ""), c) for c in values.columns if c != "model"]
    cells: dict[tuple[str, str, str], Cell] = {}
    for record in values.to_dict("records"):
        model = str(record["model"])
        for group, label in columns:
            lo = low.at[model, label] if model in low.index and label in low.columns else np.nan
            hi = high.at[model, label] if model in high.index and label in high.columns else np.nan
            cells[(model, group, label)] = (record[label], lo, hi, None)
    metric_of = {label: metric for _, metric, _, label in HEADLINES}
    tips = {(g, label): f"metric {metric_of.get(label, label)}" for g, label in columns}
    return _table([str(m) for m in values.model], columns, cells, tips, stacked=True)


# ------------------------------------------------------------------------------------------------
# per-axis views
# ------------------------------------------------------------------------------------------------


class _Palette:
    """One colour per model, the same in every suite chart."""

    def __init__(self, models: Iterable[str]) -> None:
        from plotly.colors import qualitative

        colours = qualitative.Plotly + qualitative.D3
        self.index = {m: i for i, m in enumerate(_ordered_unique(models))}
        self.colours = colours

    def __call__(self, model: str) -> str:
        return self.colours[self.index.get(model, 0) % len(self.colours)]

    def symbol(self, model: str) -> str:
        return _SYMBOLS[self.index.get(model, 0) % len(_SYMBOLS)]


def _layout(fig: Any, title: str, height: int = 360, **extra: Any) -> None:
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 10, "t": 60, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        **extra,
    )


def _per_dataset(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(str(d), rows[rows.dataset == d]) for d in _ordered_unique(rows.dataset)]


def _heading(dataset: str, several: bool) -> str:
    return f"<h3>{_esc(dataset)}</h3>" if several else f'<p class="note">dataset: {_esc(dataset)}</p>'


def _grouped_bar_chart(
    rows: pd.DataFrame,
    categories: Sequence[str],
    category_of: pd.Series,
    figures: _Figures,
    palette: _Palette,
    title: str,
    x_title: str,
    y_title: str,
    y_range: Sequence[float] | None = (0.0, 1.05),
    reference_line: float | None = None,
    height: int = 360,
) -> str:
    """A wide chart of one bar per (model, category) with CI error bars; ``reference_line`` draws y = value."""
    import plotly.graph_objects as go

    fig = go.Figure(_bars_by_category(rows, categories, category_of, palette))
    if reference_line is not None:
        fig.add_hline(y=reference_line, line={"color": "#1f2933", "width": 1.5, "dash": "dash"})
    yaxis: dict[str, Any] = {"title": {"text": y_title}}
    if y_range is not None:
        yaxis["range"] = list(y_range)
    _layout(
        fig,
        title,
        height=height,
        barmode="group",
        xaxis={"title": {"text": x_title}, "type": "category"},
        yaxis=yaxis,
    )
    return f'<div class="chart wide">{figures.render(fig)}</div>'


def _bars_by_category(
    rows: pd.DataFrame, categories: Sequence[str], category_of: pd.Series, palette: _Palette, error: bool = True
) -> list[Any]:
    """One bar trace per model over ``categories`` with CI error bars."""
    import plotly.graph_objects as go

    traces = []
    for model in _ordered_unique(rows.model):
        group = rows[rows.model == model].assign(_cat=category_of[rows.model == model])
        group = group.drop_duplicates("_cat", keep="last").set_index("_cat").reindex(categories)
        values = group.value.to_numpy(dtype=float)
        bars = _error_bars(values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float))
        traces.append(
            go.Bar(
                x=[_esc(c) for c in categories],
                y=values,
                name=_esc(model),
                marker={"color": palette(model)},
                error_y=bars if error else None,
                hovertemplate="%{x}: %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    return traces


def _shape_bias_view(rows: pd.DataFrame, figures: _Figures, palette: _Palette) -> str:
    import plotly.graph_objects as go

    rows = rows[rows.metric.isin(["shape_bias", "shape_match", "texture_match"])]
    if rows.empty:
        return '<p class="note">No shape-bias rows.</p>'
    out = []
    datasets = _per_dataset(rows)
    for dataset, in_set in datasets:
        out.append(_heading(dataset, len(datasets) > 1))
        whole = in_set[in_set.slice_factor == ""]
        per_category = in_set[(in_set.metric == "shape_bias") & (in_set.slice_factor == "shape")]
        out.append(_rows_table(whole, None, "metric", ["shape_bias", "shape_match", "texture_match"]))
        if per_category.empty:
            continue
        categories = sorted(_ordered_unique(per_category.slice_value))
        fig = go.Figure()
        for model in _ordered_unique(in_set.model):
            group = per_category[per_category.model == model].set_index("slice_value").reindex(categories)
            values = group.value.to_numpy(dtype=float)
            overall = whole[(whole.model == model) & (whole.metric == "shape_bias")].value
            total = float(overall.iloc[0]) if len(overall) and _finite(overall.iloc[0]) else np.nan
            name = _esc(model) + (f" ({total:.2f})" if _finite(total) else "")
            fig.add_trace(
                go.Scatter(
                    x=values,
                    y=[_esc(c) for c in categories],
                    mode="markers",
                    name=name,
                    legendgroup=_esc(model),
                    marker={
                        "color": palette(model),
                        "symbol": palette.symbol(model),
                        "size": 10,
                        "line": {"color": "#1f2933", "width": 0.5},
                    },
                    error_x=_error_bars(
                        values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)
                    ),
                    customdata=group.n.to_numpy() if "n" in group else None,
                    hovertemplate="%{y}: %{x:.3f}"
                    + (" (n=%{customdata})" if "n" in group else "")
                    + "<extra>%{fullData.name}</extra>",
                )
            )
            if _finite(total):
                fig.add_vline(x=total, line={"color": palette(model), "dash": "dash", "width": 1.5})
        _layout(
            fig,
            f"Shape bias per category · {_esc(dataset)}<br><sub>markers: categories; dashed lines: "
            "overall shape bias per model</sub>",
            height=max(360, 32 * len(categories) + 170),
            xaxis={
                "title": {"text": "fraction of shape decisions (0 = texture, 1 = shape)"},
                "range": [-0.03, 1.03],
                "dtick": 0.1,
            },
            yaxis={"type": "category", "autorange": "reversed"},
        )
        out.append(f'<div class="chart wide">{figures.render(fig)}</div>')
    return "".join(out)


def _context_bias_view(rows: pd.DataFrame, figures: _Figures, palette: _Palette) -> str:

    whole = rows[rows.slice_factor == ""]
    p_rows = whole[whole.metric.str.fullmatch(r"P\d+")]
    if p_rows.empty:
        return '<p class="note">No P<sub>k</sub> rows.</p>'
    out = []
    datasets = _per_dataset(p_rows)
    for dataset, in_set in datasets:
        out.append(_heading(dataset, len(datasets) > 1))
        levels = sorted(_ordered_unique(in_set.metric), key=lambda m: int(m[1:]))
        drops = whole[(whole.dataset == dataset) & whole.metric.str.fullmatch(r"relative_drop_P\d+")]
        table_rows = pd.concat([in_set, drops])
        order = levels + sorted(_ordered_unique(drops.metric), key=lambda m: int(m.rsplit("P", 1)[1]))
        out.append(_rows_table(table_rows, None, "metric", order))
        out.append(
            _grouped_bar_chart(
                in_set, levels, in_set.metric, figures, palette,
                f"Top-1 accuracy P<sub>k</sub> with k uncommon attributes · {_esc(dataset)}",
                "k uncommon context attributes", "top-1 accuracy",
            )
        )  # fmt: skip
    return "".join(out)


def _background_bias_view(rows: pd.DataFrame, figures: _Figures, palette: _Palette) -> str:

    variants = rows[(rows.metric == "top1") & (rows.slice_factor == "variant")]
    gaps = rows[(rows.metric == "bg_gap") & (rows.slice_factor == "")]
    if variants.empty and gaps.empty:
        return '<p class="note">No background-bias rows.</p>'
    out = []
    datasets = _per_dataset(pd.concat([variants, gaps]))
    rank = {v: i for i, v in enumerate(BACKGROUND_VARIANTS)}
    for dataset, in_set in datasets:
        out.append(_heading(dataset, len(datasets) > 1))
        per_variant = in_set[in_set.metric == "top1"]
        names = sorted(_ordered_unique(per_variant.slice_value), key=lambda v: (rank.get(v, len(rank)), v))
        table = pd.concat([per_variant.assign(metric=per_variant.slice_value), in_set[in_set.metric == "bg_gap"]])
        out.append(
            _rows_table(
                table.assign(metric=table.metric.replace({"bg_gap": "BG-gap"})), None, "metric", [*names, "BG-gap"]
            )
        )
        if per_variant.empty:
            continue
        out.append(
            _grouped_bar_chart(
                per_variant, names, per_variant.slice_value, figures, palette,
                f"Top-1 accuracy per background variant · {_esc(dataset)}<br><sub>BG-gap = acc(mixed_same) − "
                "acc(mixed_rand)</sub>",
                "variant", "top-1 accuracy",
            )
        )  # fmt: skip
    return "".join(out)


def _calibration_view(
    rows: pd.DataFrame, figures: _Figures, reliability: Sequence[tuple[str, str, str, ReliabilityCurve]]
) -> str:
    whole = rows[rows.slice_factor == ""]
    if whole.empty:
        return '<p class="note">No calibration rows.</p>'
    known = [m for m in CALIBRATION_METRICS if m in set(whole.metric)]
    order = known + [m for m in _ordered_unique(whole.metric) if m not in known]
    out = [_rows_table(whole, "dataset", "metric", order)]
    runs = set(zip(whole.model, whole.dataset, whole["shift"], strict=True))
    curves = [c for c in reliability if (c[0], c[1], c[2]) in runs]
    if curves:
        out.append("<h3>Reliability diagrams</h3>")
        out.append(
            '<p class="note">Bars: accuracy per confidence bin; red: gap to the diagonal '
            "(above the bar: over-confident).</p>"
        )
        out.append(_reliability_charts(curves, figures))
    else:
        out.append('<p class="note">No reliability diagrams (the predictions were not found).</p>')
    return "".join(out)


def _corruptions_view(rows: pd.DataFrame, figures: _Figures) -> str:
    import plotly.graph_objects as go

    whole = rows[rows.slice_factor == ""]
    summary = whole[whole["shift"] == "summary"]
    clean = whole[(whole["shift"] == "none") & (whole.metric == "top1")]
    cells = [
        (corruption_cell(r.shift, r.slice_factor, r.slice_value), r)
        for r in rows[rows.metric == "top1"].itertuples(index=False)
    ]
    cells = [(c, r) for c, r in cells if c is not None]
    if summary.empty and not cells:
        return '<p class="note">No corruption rows.</p>'
    out = []
    if len(summary) or len(clean):
        table = pd.concat([clean.assign(metric="clean top-1"), summary])
        sources = [re.sub(r"^.*\[(.*)\]$", r"\1", m) if m.endswith("]") else "" for m in table.metric]
        bases = [re.sub(r"\[.*\]$", "", m) for m in table.metric]
        table = table.assign(_group=sources, metric=bases)
        out.append(
            _rows_table(table, "_group", "metric", ["clean top-1", "mean_corruption_top1", "mce", "relative_mce"])
        )
    if not cells:
        return "".join(out)
    records = pd.DataFrame(
        {
            "model": [str(r.model) for _, r in cells],
            # On-the-fly rows corrupt the clean set; precomputed ones are their own dataset.
            "source": [
                f"{r.dataset} (on the fly)" if str(r.shift).startswith("corruption:") else str(r.dataset)
                for _, r in cells
            ],
            "corruption": [c[0] for c, _ in cells],
            "severity": [c[1] for c, _ in cells],
            "value": [float(r.value) for _, r in cells],
        }
    )
    top = float(np.nanmax([records.value.max(), *pd.to_numeric(clean.value).tolist()]))
    rank = {c: i for i, c in enumerate(IMAGENET_C_CORRUPTIONS)}
    out.append(
        '<p class="note">Top-1 per corruption and severity; one colour scale (0 to the best clean or '
        "corrupted top-1) for every map.</p>"
    )
    out.append('<div class="grid">')
    for (model, source), group in records.groupby(["model", "source"], sort=False):
        names = sorted(_ordered_unique(group.corruption), key=lambda c: (rank.get(c, len(rank)), c))
        severities = sorted(_ordered_unique(group.severity))
        z = group.pivot_table(index="corruption", columns="severity", values="value", aggfunc="last")
        z = z.reindex(index=names, columns=severities)
        mean = float(np.nanmean(z.to_numpy())) if z.notna().any().any() else np.nan
        fig = go.Figure(
            go.Heatmap(
                z=z.to_numpy(),
                x=[str(s) for s in severities],
                y=[_esc(n) for n in names],
                zmin=0.0,
                zmax=top if _finite(top) and top > 0 else 1.0,
                colorscale="Viridis",
                texttemplate="%{z:.2f}",
                textfont={"size": 9},
                colorbar={"title": {"text": "top-1"}, "thickness": 12},
                hovertemplate="%{y}, severity %{x}: %{z:.3f}<extra></extra>",
            )
        )
        _layout(
            fig,
            f"{_esc(model)} · {_esc(source)}<br><sub>mean top-1 {_fmt(mean)} over {int(z.notna().sum().sum())} "
            "cells</sub>",
            height=max(320, 22 * len(names) + 140),
            xaxis={"title": {"text": "severity"}, "type": "category"},
            yaxis={"type": "category", "autorange": "reversed"},
        )
        out.append(f'<div class="chart">{figures.render(fig)}</div>')
    out.append("</div>")
    return "".join(out)


def _ood_view(rows: pd.DataFrame, figures: _Figures, palette: _Palette, histograms: Sequence[ScoreHistogram]) -> str:
    import plotly.graph_objects as go

    whole = rows[rows.slice_factor == ""]
    parts = whole.metric.str.extract(r"^(auroc|aupr|fpr95)_(.+)$")
    whole = whole.assign(_measure=parts[0], _score=parts[1]).dropna(subset=["_measure"])
    if whole.empty:
        return '<p class="note">No OOD rows.</p>'
    out = []
    for dataset, in_set in _per_dataset(whole):
        id_name = next((n for n in (_protocol_field(p, "id_dataset") for p in in_set.protocol) if n), "ID set")
        out.append(f"<h3>OOD set {_esc(dataset)} <small>(ID: {_esc(id_name)}; ID is the positive class)</small></h3>")
        scores = _ordered_unique(in_set._score)
        scores.sort(key=lambda s: (OOD_SCORES.index(s) if s in OOD_SCORES else len(OOD_SCORES), s))
        table = in_set.assign(metric=in_set._measure.map({"fpr95": "FPR@95%TPR"}).fillna(in_set._measure))
        labels = ["auroc", "aupr", "FPR@95%TPR"]
        table = table.assign(_score=pd.Categorical(table._score, scores, ordered=True)).sort_values("_score")
        out.append(_rows_table(table.assign(_score=table._score.astype(str)), "_score", "metric", labels))
    if not histograms:
        out.append('<p class="note">No score histograms (the predictions were not found).</p>')
        return "".join(out)
    out.append(f"<h3>ID vs OOD scores ({_esc(histograms[0].score)})</h3>")
    out.append(
        '<p class="note">Densities over shared bins; a model that separates the sets puts the ID mass to the '
        "right (higher score = more in-distribution).</p>"
    )
    out.append('<div class="grid">')
    for h in histograms:
        edges = np.asarray(h.bin_edges, dtype=float)
        centers, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        fig = go.Figure()
        for label, density, colour in (
            (f"ID: {h.id_dataset} (n={h.n_id})", h.id_density, palette(h.model)),
            (f"OOD: {h.ood_dataset} (n={h.n_ood})", h.ood_density, "#9aa5b1"),
        ):
            fig.add_trace(
                go.Bar(
                    x=centers,
                    y=np.asarray(density, dtype=float),
                    width=widths,
                    name=_esc(label),
                    opacity=0.6,
                    marker={"color": colour},
                    hovertemplate="score %{x:.3f}: density %{y:.3f}<extra></extra>",
                )
            )
        same = (whole.model == h.model) & (whole.dataset == h.ood_dataset)
        match = whole[same & (whole.metric == f"auroc_{h.score}")]
        auroc = f"AUROC {_fmt(match.value.iloc[0])}" if len(match) else ""
        _layout(
            fig,
            f"{_esc(h.model)} · {_esc(h.ood_dataset)}<br><sub>{_esc(h.score)} score {auroc}</sub>",
            barmode="overlay",
            xaxis={"title": {"text": "−entropy" if h.score == "entropy" else _esc(h.score)}},
            yaxis={"title": {"text": "density"}},
        )
        out.append(f'<div class="chart">{figures.render(fig)}</div>')
    out.append("</div>")
    return "".join(out)


def _adversarial_view(rows: pd.DataFrame, figures: _Figures, palette: _Palette) -> str:
    import plotly.graph_objects as go

    top1 = rows[(rows.metric == "top1") & (rows.slice_factor == "")]
    if top1.empty:
        return '<p class="note">No adversarial rows.</p>'
    order = {"none": 0, "fgsm": 1, "pgd": 2}
    out = []
    datasets = _per_dataset(top1)
    for dataset, in_set in datasets:
        out.append(_heading(dataset, len(datasets) > 1))
        shifts = sorted(_ordered_unique(in_set["shift"]), key=lambda s: (order.get(_shift_kind(s), 3), s))
        labels = {s: attack_label(s) for s in shifts}
        table = in_set.assign(_label=in_set["shift"].map(labels))
        out.append(_rows_table(table, None, "_label", [labels[s] for s in shifts]))
        models = _ordered_unique(in_set.model)
        fig = go.Figure()
        shades = ("#3b6fb6", "#e0a030", "#d64541", "#6c4f9e", "#2e8b57")
        for i, shift in enumerate(shifts):
            group = in_set[in_set["shift"] == shift].drop_duplicates("model", keep="last").set_index("model")
            group = group.reindex(models)
            values = group.value.to_numpy(dtype=float)
            fig.add_trace(
                go.Bar(
                    x=[_esc(m) for m in models],
                    y=values,
                    name=_esc(labels[shift]),
                    marker={"color": shades[i % len(shades)]},
                    error_y=_error_bars(
                        values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)
                    ),
                    customdata=[_esc(shift)] * len(models),
                    hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>%{fullData.name}</extra>",
                )
            )
        _layout(
            fig,
            f"Clean and robust top-1 · {_esc(dataset)}",
            barmode="group",
            xaxis={"title": {"text": "model"}, "type": "category"},
            yaxis={"title": {"text": "top-1 accuracy"}, "range": [0, 1.05]},
        )
        out.append(f'<div class="chart wide">{figures.render(fig)}</div>')
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------------


#: Views of the axes added after the seven synthetic-clones axes: ``(rows, figures, palette) -> html``.
AXIS_VIEWS: Registry[str] = Registry("report view")
AXIS_VIEWS.add("imagenet_x", "robustscope.report.views_factors:imagenet_x_view", summary="factor error-ratio bars")
AXIS_VIEWS.add("geography", "robustscope.report.views_geography:geography_view", summary="accuracy by region/income")
AXIS_VIEWS.add("shortcuts", "robustscope.report.views_shortcuts:shortcuts_view", summary="UrbanCars group table")
AXIS_VIEWS.add("pug", "robustscope.report.views_pug:pug_view", summary="PUG factor curves")


def suite_sections(
    df: pd.DataFrame,
    figures: _Figures,
    reliability: Sequence[tuple[str, str, str, ReliabilityCurve]] = (),
    histograms: Sequence[ScoreHistogram] = (),
) -> tuple[str, list[tuple[str, str]]]:
    """HTML ``<section>``s for the rows of every suite, and (anchor, title) pairs for a table of contents.

    ``df`` holds prepared result rows (strings in ``model``, ``dataset``, ``shift``, ``metric``,
    ``slice_*``, ``suite``, ``axis``); rows with an empty ``suite`` are ignored, so a store without
    suite rows yields ``("", [])``. ``reliability`` curves are matched to calibration rows by
    (model, dataset, shift); ``histograms`` to OOD rows by model and OOD set.

    Example:
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "shift": ["fgsm:eps=1/255"], "metric": ["top1"],
        ...     "slice_factor": [""], "slice_value": [""], "value": [0.5], "ci_low": [0.4], "ci_high": [0.6],
        ...     "protocol": ["{}"], "suite": ["s"], "axis": ["adversarial"]})
        >>> html_text, toc = suite_sections(rows, _Figures())
        >>> toc
        [('suite-s', 's: main table'), ('suite-s-adversarial', 's: Adversarial robustness')]
        >>> "FGSM (eps=1/255)" in html_text and "[0.400, 0.600]" in html_text
        True
    """
    from robustscope.suites.spec import AXES

    if "suite" not in df.columns or not (df.suite.astype(str) != "").any():
        return "", []
    rows = df[df.suite.astype(str) != ""]
    palette = _Palette(rows.model)
    out: list[str] = []
    toc: list[tuple[str, str]] = []
    for suite in _ordered_unique(rows.suite):
        in_suite = rows[rows.suite == suite]
        anchor = f"suite-{_slug(suite)}"
        toc.append((anchor, f"{suite}: main table"))
        out.append(
            f'<section id="{anchor}"><h2>Suite {_esc(suite)}: main table</h2>'
            '<p class="note">The headline number of each robustness axis per model (means over an axis\'s datasets '
            "where it has several; ECE on its first calibration set). Brackets: bootstrap confidence intervals "
            "(averaged bounds for averaged headlines, a conservative interval).</p>"
            f"{_headline_table(in_suite)}</section>"
        )
        axes = [a for a in AXIS_TITLES if a in set(in_suite.axis)]
        axes += [a for a in _ordered_unique(in_suite.axis) if a not in axes and a]
        for axis in axes:
            axis_rows = in_suite[in_suite.axis == axis]
            title = AXIS_TITLES.get(axis, axis)
            if axis == "shape_bias":
                body = _shape_bias_view(axis_rows, figures, palette)
            elif axis == "context_bias":
                body = _context_bias_view(axis_rows, figures, palette)
            elif axis == "background_bias":
                body = _background_bias_view(axis_rows, figures, palette)
            elif axis == "calibration":
                body = _calibration_view(axis_rows, figures, reliability)
            elif axis == "corruptions":
                body = _corruptions_view(axis_rows, figures)
            elif axis == "ood":
                runs = set(zip(axis_rows.model, axis_rows.dataset, strict=True))
                mine = [h for h in histograms if (h.model, h.ood_dataset) in runs]
                body = _ood_view(axis_rows, figures, palette, mine)
            elif axis == "adversarial":
                body = _adversarial_view(axis_rows, figures, palette)
            elif axis in AXIS_VIEWS:
                body = AXIS_VIEWS.get(axis)(axis_rows, figures, palette)
            else:
                body = _rows_table(axis_rows[axis_rows.slice_factor == ""], "dataset", "metric")
            anchor = f"suite-{_slug(suite)}-{_slug(axis)}"
            toc.append((anchor, f"{suite}: {title}"))
            out.append(
                f'<section id="{anchor}"><h2>{_esc(title)} <small>· {_esc(suite)}</small></h2>'
                f'<p class="note">{_esc(AXES.get(axis, ""))}</p>{body}</section>'
            )
    return "".join(out), toc
