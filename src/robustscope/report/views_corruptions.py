"""Report view of the common-corruptions axis: the summary table and a corruption × severity heat map per model.

Hendrycks & Dietterich, ICLR 2019: top-1 per (corruption, severity), mean top-1, mCE and relative mCE against
AlexNet. One heat map per (model, source), where a source is a precomputed set (ImageNet-C, -3DCC) or the clean
set corrupted on the fly; every map shares one colour scale.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from robustscope.metrics.corruption import IMAGENET_C_CORRUPTIONS
from robustscope.report.kit import ViewInputs, esc, finite, fmt, layout, ordered_unique, rows_table, shift_of

__all__ = ["corruption_cell", "corruptions_view"]


def corruption_cell(shift: str, slice_factor: str = "", slice_value: str = "") -> tuple[str, int] | None:
    """The ``(corruption, severity)`` a corruption-axis row is about, or ``None``.

    On-the-fly rows carry it in the shift, read through the shift-spec grammar (:func:`shift_of`: the
    canonical ``corruption:fog:3``, or ``corruption:corruption=fog,severity=3`` as rows before it had it);
    rows of precomputed sets (ImageNet-C, -3DCC) in the slice ``corruption_severity = "fog:3"``.

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
    elif (parsed := shift_of(shift)) is not None and parsed[0] == "corruption":
        name, severity = parsed[1]["corruption"], parsed[1]["severity"]
    else:
        return None
    try:
        return (name, int(severity)) if name else None
    except ValueError:
        return None


def corruptions_view(inputs: ViewInputs) -> str:
    """HTML of the corruptions axis: clean top-1, mean corruption top-1 and mCE per source, and the heat maps.

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"] * 2, "dataset": ["d"] * 2, "shift": ["none", "corruption:fog:3"],
        ...     "metric": ["top1"] * 2, "slice_factor": [""] * 2, "slice_value": [""] * 2, "value": [0.75, 0.5],
        ...     "ci_low": [0.7, 0.4], "ci_high": [0.8, 0.6], "protocol": ["{}"] * 2})
        >>> text = corruptions_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "clean top-1" in text and "d (on the fly)" in text
        True
    """
    import plotly.graph_objects as go

    rows, figures = inputs.rows, inputs.figures
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
        # A summary metric names its source in brackets (mean_corruption_top1[imagenet_c]): one column group each.
        sources = [re.sub(r"^.*\[(.*)\]$", r"\1", m) if m.endswith("]") else "" for m in table.metric]
        bases = [re.sub(r"\[.*\]$", "", m) for m in table.metric]
        table = table.assign(_group=sources, metric=bases)
        out.append(
            rows_table(table, "_group", "metric", ["clean top-1", "mean_corruption_top1", "mce", "relative_mce"])
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
        names = sorted(ordered_unique(group.corruption), key=lambda c: (rank.get(c, len(rank)), c))
        severities = sorted(ordered_unique(group.severity))
        z = group.pivot_table(index="corruption", columns="severity", values="value", aggfunc="last")
        z = z.reindex(index=names, columns=severities)
        mean = float(np.nanmean(z.to_numpy())) if z.notna().any().any() else np.nan
        fig = go.Figure(
            go.Heatmap(
                z=z.to_numpy(),
                x=[str(s) for s in severities],
                y=[esc(n) for n in names],
                zmin=0.0,
                zmax=top if finite(top) and top > 0 else 1.0,
                colorscale="Viridis",
                texttemplate="%{z:.2f}",
                textfont={"size": 9},
                colorbar={"title": {"text": "top-1"}, "thickness": 12},
                hovertemplate="%{y}, severity %{x}: %{z:.3f}<extra></extra>",
            )
        )
        layout(
            fig,
            f"{esc(model)} · {esc(source)}<br><sub>mean top-1 {fmt(mean)} over {int(z.notna().sum().sum())} "
            "cells</sub>",
            height=max(320, 22 * len(names) + 140),
            xaxis={"title": {"text": "severity"}, "type": "category"},
            yaxis={"type": "category", "autorange": "reversed"},
        )
        out.append(f'<div class="chart">{figures.render(fig)}</div>')
    out.append("</div>")
    return "".join(out)
