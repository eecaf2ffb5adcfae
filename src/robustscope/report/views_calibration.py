"""Report view of the calibration axis, and the reliability diagrams the plain report draws too.

The axis view tabulates ECE / adaptive ECE / class-wise ECE / NLL / Brier per dataset and draws a reliability
diagram (Guo et al., ICML 2017, Fig. 1) per run whose predictions were found: accuracy per confidence bin,
the gap to the diagonal hatched in red, the ECE in the title.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from robustscope.metrics.classification import ReliabilityCurve
from robustscope.report.kit import Figures, ViewInputs, esc, finite, ordered_unique, rows_table

__all__ = ["CALIBRATION_METRICS", "calibration_view", "reliability_charts"]

#: Column order of the calibration table; other metrics follow in row order.
CALIBRATION_METRICS = ("top1", "ece", "ece15", "ece20", "adaptive_ece", "classwise_ece", "nll", "brier")


def reliability_charts(reliability: Sequence[tuple[str, str, str, ReliabilityCurve]], figures: Figures) -> str:
    """A grid of reliability diagrams, one per ``(model, dataset, shift, curve)``.

    Example:
        >>> from robustscope.metrics.classification import reliability_curve
        >>> curve = reliability_curve(np.array([[0.9, 0.1], [0.4, 0.6]]), np.array([0, 0]), n_bins=5)
        >>> text = reliability_charts([("m", "d", "none", curve)], Figures())
        >>> text.count('class="chart"'), "ECE 0.350, n=2, 5 bins" in text
        (1, True)
        >>> reliability_charts([], Figures())
        '<p class="note">No reliability curves were given.</p>'
    """
    import plotly.graph_objects as go

    if not reliability:
        return '<p class="note">No reliability curves were given.</p>'
    out = ['<div class="grid">']
    for model, dataset, shift, curve in reliability:
        edges = np.asarray(curve.bin_edges, dtype=float)
        centers = (edges[:-1] + edges[1:]) / 2
        widths = np.diff(edges)
        acc = np.asarray(curve.bin_accuracy, dtype=float)
        conf = np.asarray(curve.bin_confidence, dtype=float)
        count = np.asarray(curve.bin_count)
        filled = count > 0
        fig = go.Figure()
        fig.add_trace(
            go.Bar(
                x=centers[filled],
                y=acc[filled],
                width=widths[filled],
                name="accuracy",
                marker={"color": "#3b6fb6", "line": {"color": "#1f3f6e", "width": 0.5}},
                customdata=np.stack([conf[filled], count[filled]], axis=1),
                hovertemplate=(
                    "accuracy %{y:.3f}<br>confidence %{customdata[0]:.3f}<br>n=%{customdata[1]}<extra></extra>"
                ),
            )
        )
        # The gap bar spans accuracy→confidence: red hatched above the bar when over-confident.
        fig.add_trace(
            go.Bar(
                x=centers[filled],
                y=(conf - acc)[filled],
                base=acc[filled],
                width=widths[filled],
                name="gap",
                marker={
                    "color": "rgba(214, 69, 65, 0.35)",
                    "line": {"color": "#d64541", "width": 1},
                    "pattern": {"shape": "/"},
                },
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[0, 1],
                mode="lines",
                name="perfect calibration",
                line={"color": "#52606d", "dash": "dash", "width": 1},
            )
        )
        ece = f"ECE {curve.ece:.3f}" if finite(curve.ece) else "ECE –"
        label = " · ".join(str(p) for p in (model, dataset, shift) if p not in ("", "none"))
        # Not kit.layout: these diagrams keep their own margins and no legend (the note above them explains).
        fig.update_layout(
            title={
                "text": f"{esc(label)}<br><sub>{ece}, n={int(count.sum())}, {edges.size - 1} bins</sub>",
                "font": {"size": 13},
            },
            barmode="overlay",
            template="plotly_white",
            height=360,
            margin={"l": 50, "r": 10, "t": 60, "b": 45},
            xaxis={"title": {"text": "confidence"}, "range": [0, 1]},
            yaxis={"title": {"text": "accuracy"}, "range": [0, 1]},
            showlegend=False,
        )
        out.append(f'<div class="chart">{figures.render(fig)}</div>')
    out.append("</div>")
    return "".join(out)


def calibration_view(inputs: ViewInputs) -> str:
    """HTML of the calibration axis: the metrics per dataset, and the reliability diagrams of its runs.

    Curves are matched to rows by (model, dataset, shift); runs without one get a note instead.

    Example:
        >>> import pandas as pd
        >>> from robustscope.report.kit import Palette
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "shift": ["none"], "metric": ["ece"],
        ...     "slice_factor": [""], "value": [0.1], "ci_low": [0.05], "ci_high": [0.15], "protocol": ["{}"]})
        >>> text = calibration_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "[0.050, 0.150]" in text and "No reliability diagrams" in text
        True
    """
    rows = inputs.rows
    whole = rows[rows.slice_factor == ""]
    if whole.empty:
        return '<p class="note">No calibration rows.</p>'
    known = [m for m in CALIBRATION_METRICS if m in set(whole.metric)]
    order = known + [m for m in ordered_unique(whole.metric) if m not in known]
    out = [rows_table(whole, "dataset", "metric", order)]
    runs = set(zip(whole.model, whole.dataset, whole["shift"], strict=True))
    curves = [c for c in inputs.reliability if (c[0], c[1], c[2]) in runs]
    if curves:
        out.append("<h3>Reliability diagrams</h3>")
        out.append(
            '<p class="note">Bars: accuracy per confidence bin; red: gap to the diagonal '
            "(above the bar: over-confident).</p>"
        )
        out.append(reliability_charts(curves, inputs.figures))
    else:
        out.append('<p class="note">No reliability diagrams (the predictions were not found).</p>')
    return "".join(out)
