"""Report view of the ``pug`` axis: factor curves (top-1 against each factor's values) per model.

Bordes et al., "PUG: Photorealistic and Semantically Controllable Synthetic Data for Representation
Learning", NeurIPS 2023: for PUG:ImageNet, the paper plots each model's top-1 across the values of every
factor of variation (world, camera and object yaw/pitch/roll, size, texture, light). Here, per dataset and
shift: the whole-set numbers (top-1, held-out numbers, SPAR retrieval), one line chart per factor with a
line per model and 95 % bootstrap CI error bars (values in natural order: numbers by value, then
``Default``), and the factor gaps (max − min over a factor's values) as a table. SPAR tasks get their
retrieval and hard-negative accuracy per world as curves too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustscope.metrics.slicing import natural_key
from robustscope.report.kit import (
    Figures,
    Palette,
    ViewInputs,
    error_bars,
    esc,
    heading,
    layout,
    ordered_unique,
    rows_table,
)

__all__ = ["curve_metric", "pug_view"]

_FACTOR_GAP_SLICE = "pug_factor"
_WHOLE_ORDER = ("top1", "retrieval_top1", "retrieval_top5", "hard_negative_acc")
_LABELS = {
    "top1": "top-1",
    "retrieval_top1": "retrieval top-1",
    "retrieval_top5": "retrieval top-5",
    "hard_negative_acc": "hard-negative acc",
}


def _label(metric: str) -> str:
    base, _, factor = metric.partition("[")
    names = {"top1_seen": "top-1 seen", "top1_held_out": "top-1 held out", "held_out_gap": "held-out gap"}
    if factor:
        return f"{names.get(base, base)} ({factor.rstrip(']')})"
    return _LABELS.get(metric, metric)


def curve_metric(rows: pd.DataFrame) -> str:
    """The metric a block's factor curves show: ``top1``, else SPAR's ``retrieval_top1``, else the first.

    Example:
        >>> curve_metric(pd.DataFrame({"metric": ["hard_negative_acc", "retrieval_top1"]}))
        'retrieval_top1'
    """
    metrics = list(ordered_unique(rows.metric.astype(str)))
    for preferred in ("top1", "retrieval_top1"):
        if preferred in metrics:
            return preferred
    return metrics[0] if metrics else ""


def _curve(rows: pd.DataFrame, factor: str, metric: str, title: str, figures: Figures, palette: Palette) -> str:
    import plotly.graph_objects as go

    values = sorted(ordered_unique(rows.slice_value.astype(str)), key=natural_key)
    fig = go.Figure()
    for model in ordered_unique(rows.model):
        part = rows[rows.model == model].drop_duplicates("slice_value", keep="last")
        part = part.set_index(part.slice_value.astype(str)).reindex(values)
        y = pd.to_numeric(part.value, errors="coerce").to_numpy(dtype=float)
        low = pd.to_numeric(part.ci_low, errors="coerce").to_numpy(dtype=float)
        high = pd.to_numeric(part.ci_high, errors="coerce").to_numpy(dtype=float)
        counts = part["n"] if "n" in part else pd.Series(np.nan, index=part.index)
        n = pd.to_numeric(counts, errors="coerce").to_numpy(dtype=float)
        fig.add_trace(
            go.Scatter(
                x=[esc(v) for v in values],
                y=y,
                mode="lines+markers",
                name=esc(model),
                line={"color": palette(str(model))},
                marker={"symbol": palette.symbol(str(model)), "size": 8},
                error_y=error_bars(y, low, high),
                customdata=n,
                hovertemplate="%{x}: %{y:.3f} (n=%{customdata})<extra>%{fullData.name}</extra>",
            )
        )
    layout(
        fig,
        f"{esc(_label(metric))} vs {esc(factor)} · {esc(title)}",
        xaxis={"title": {"text": esc(factor)}, "type": "category"},
        yaxis={"title": {"text": esc(_label(metric))}, "range": [0, 1.05]},
    )
    return f'<div class="chart">{figures.render(fig)}</div>'


def pug_view(inputs: ViewInputs) -> str:
    """HTML of the PUG axis: whole-set table, one factor curve per factor (a line per model), factor gaps.

    One block per (dataset, shift). Curves are the ``top1`` rows (``retrieval_top1`` and
    ``hard_negative_acc`` for SPAR tasks) sliced by a factor column; the factor gaps are the ``factor_gap``
    rows (``slice_factor`` ``pug_factor``).

    Example:
        >>> rows = pd.DataFrame({"model": ["m"] * 4, "dataset": ["pug-imagenet:/d"] * 4, "shift": ["none"] * 4,
        ...     "metric": ["top1", "top1", "top1", "factor_gap"], "slice_factor": ["", "camera_yaw", "camera_yaw",
        ...     "pug_factor"], "slice_value": ["", "90", "0", "camera_yaw"], "value": [0.5, 0.25, 0.75, 0.5],
        ...     "ci_low": [0.4, 0.1, 0.6, 0.3], "ci_high": [0.6, 0.4, 0.9, 0.7], "n": [8, 4, 4, 8],
        ...     "protocol": ["{}"] * 4})
        >>> text = pug_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> '"x":["0","90"]' in text, "top-1 vs camera_yaw" in text, "Factor gap" in text
        (True, True, True)
    """
    rows, figures, palette = inputs.rows, inputs.figures, inputs.palette
    if rows.empty:
        return '<p class="note">No PUG rows.</p>'
    out = []
    blocks = ordered_unique(zip(rows.dataset.astype(str), rows["shift"].astype(str), strict=True))
    for dataset, shift in blocks:
        here = rows[(rows.dataset.astype(str) == dataset) & (rows["shift"].astype(str) == shift)]
        title = dataset if shift == "none" else f"{dataset} · {shift}"
        out.append(heading(title, len(blocks) > 1))
        whole = here[here.slice_factor.astype(str) == ""]
        if len(whole):
            labels = [_label(m) for m in ordered_unique(whole.metric.astype(str))]
            rank = {_LABELS[m]: i for i, m in enumerate(_WHOLE_ORDER)}
            labels.sort(key=lambda label: rank.get(label, len(rank)))
            out.append(rows_table(whole.assign(metric=whole.metric.astype(str).map(_label)), None, "metric", labels))
        sliced = here[~here.slice_factor.astype(str).isin(["", _FACTOR_GAP_SLICE])]
        charts = []
        for metric in [m for m in ("top1", "retrieval_top1", "hard_negative_acc") if (sliced.metric == m).any()]:
            for factor in ordered_unique(sliced.slice_factor[sliced.metric == metric].astype(str)):
                part = sliced[(sliced.metric == metric) & (sliced.slice_factor.astype(str) == factor)]
                charts.append(_curve(part, factor, metric, title, figures, palette))
        if charts:
            out.append('<div class="grid">' + "".join(charts) + "</div>")
        gaps = here[(here.metric == "factor_gap") & (here.slice_factor.astype(str) == _FACTOR_GAP_SLICE)]
        if len(gaps):
            table = rows_table(gaps.assign(metric=gaps.slice_value.astype(str)), None, "metric")
            out.append(
                "<details open><summary>Factor gap: max − min top-1 over each factor's values</summary>"
                f"{table}</details>"
            )
    return "".join(out)
