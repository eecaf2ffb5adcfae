"""Report view of the ImageNet-X axis: error-ratio bars per factor and model, as in the paper's figures.

B. Y. Idrissi et al., "ImageNet-X: Understanding Model Mistakes with Factor of Variation Annotations",
ICLR 2023: the error ratio of each factor per model, factors ordered by their mean error ratio over the
models shown (lowest first, the order of the package's ``model_comparison`` plot), a line at 1 (the
model's average error), here with bootstrap CI error bars. Beside it: the whole-set numbers (top-1,
ECE, worst factor), the per-factor tables, and a metaclass × factor heat map of the error ratio when
the axis wrote the metaclass view.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from robustscope.report.kit import (
    Figures,
    ViewInputs,
    esc,
    finite,
    grouped_bar_chart,
    heading,
    layout,
    ordered_unique,
    rows_table,
)

__all__ = ["factor_order", "imagenet_x_view"]

_FACTOR_SLICE = "imagenet_x_factor"
_METACLASS_FACTOR_SLICE = "imagenet_x_metaclass_factor"
_WHOLE = ("top1", "ece", "worst_factor_top1", "worst_factor_error_ratio", "worst_factor_ece")
_LABELS = {
    "top1": "top-1",
    "ece": "ECE",
    "worst_factor_top1": "worst-factor top-1",
    "worst_factor_error_ratio": "worst-factor ER",
    "worst_factor_ece": "worst-factor ECE",
}


def factor_order(rows: pd.DataFrame) -> list[str]:
    """Factors by mean error ratio over models, lowest first (the ImageNet-X paper's bar order).

    Example:
        >>> rows = pd.DataFrame({"model": ["a", "a", "b", "b"], "slice_value": ["pose", "style"] * 2,
        ...                      "value": [1.2, 0.9, 1.0, 1.5]})
        >>> factor_order(rows)
        ['pose', 'style']
    """
    if rows.empty:
        return []
    means = pd.to_numeric(rows["value"], errors="coerce").groupby(rows["slice_value"].astype(str)).mean()
    return [str(f) for f in means.sort_values(kind="stable").index]


def _worst_note(whole: pd.DataFrame) -> str:
    chosen = whole[whole.metric == "worst_factor_error_ratio"]
    items = []
    for row in chosen.itertuples(index=False):
        try:
            factor = json.loads(row.protocol).get("worst_factor", "")
        except (TypeError, ValueError, AttributeError):
            factor = ""
        if factor:
            items.append(f"{esc(row.model)}: <b>{esc(factor)}</b>")
    return f'<p class="note">Worst factor (highest error ratio): {"; ".join(items)}.</p>' if items else ""


def _metaclass_heatmaps(rows: pd.DataFrame, figures: Figures, factors: list[str]) -> str:
    import plotly.graph_objects as go

    ratios = rows[(rows.metric == "error_ratio") & (rows.slice_factor == _METACLASS_FACTOR_SLICE)]
    if ratios.empty:
        return ""
    out = [
        "<h3>Error ratio per metaclass and factor</h3>",
        "<p class=\"note\">Within each metaclass, relative to the metaclass's own accuracy (as the package's "
        "per-metaclass tables); empty cells: no image of that factor in the metaclass.</p>",
    ]
    for model in ordered_unique(ratios.model):
        part = ratios[ratios.model == model]
        split = part.slice_value.astype(str).str.split("/", n=1)
        frame = pd.DataFrame(
            {"metaclass": split.str[0], "factor": split.str[1], "value": pd.to_numeric(part.value, errors="coerce")}
        )
        grid = frame.pivot_table(index="metaclass", columns="factor", values="value", aggfunc="last")
        columns = [f for f in factors if f in grid.columns] + [f for f in grid.columns if f not in factors]
        grid = grid.reindex(columns=columns)
        z = grid.to_numpy(dtype=float)
        fig = go.Figure(
            go.Heatmap(
                z=np.where(np.isfinite(z), z, None).tolist(),
                x=[esc(c) for c in grid.columns],
                y=[esc(i) for i in grid.index],
                colorscale="RdBu_r",
                zmid=1.0,
                colorbar={"title": {"text": "ER"}},
                hovertemplate="%{y} · %{x}: %{z:.2f}<extra></extra>",
            )
        )
        layout(
            fig,
            f"Error ratio per metaclass · {esc(model)}",
            height=max(320, 22 * len(grid.index) + 160),
            xaxis={"type": "category"},
            yaxis={"type": "category", "autorange": "reversed"},
        )
        out.append(f'<div class="chart wide">{figures.render(fig)}</div>')
    return "".join(out)


def imagenet_x_view(inputs: ViewInputs) -> str:
    """HTML of the ImageNet-X axis: error-ratio bars per factor per model with CI error bars, and tables.

    One block per (dataset, shift). Factors are ordered by their mean error ratio over the models,
    lowest first, as in Idrissi et al. (ICLR 2023); the dashed line at 1 is each model's average error.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m", "m"], "dataset": ["val"] * 3, "shift": ["none"] * 3,
        ...     "metric": ["error_ratio", "error_ratio", "worst_factor_error_ratio"],
        ...     "slice_factor": ["imagenet_x_factor", "imagenet_x_factor", ""], "slice_value": ["pose", "style", ""],
        ...     "value": [1.3, 0.8, 1.3], "ci_low": [1.1, 0.5, 1.1], "ci_high": [1.5, 1.1, 1.5], "n": [10, 5, 10],
        ...     "protocol": ['{"name": "error_ratio"}'] * 2 + ['{"worst_factor": "pose"}']})
        >>> from robustscope.report.kit import Palette
        >>> html_text = imagenet_x_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> '"x":["style","pose"]' in html_text, "Worst factor (highest error ratio): m: <b>pose</b>" in html_text
        (True, True)
    """
    rows, figures, palette = inputs.rows, inputs.figures, inputs.palette
    factor_rows = rows[(rows.slice_factor == _FACTOR_SLICE)]
    whole = rows[(rows.slice_factor == "") & rows.metric.isin(_WHOLE)]
    if factor_rows.empty and whole.empty:
        return '<p class="note">No ImageNet-X rows.</p>'
    out = []
    blocks = ordered_unique(zip(rows.dataset.astype(str), rows["shift"].astype(str), strict=True))
    for dataset, shift in blocks:
        here = (rows.dataset.astype(str) == dataset) & (rows["shift"].astype(str) == shift)
        title = dataset if shift == "none" else f"{dataset} · {shift}"
        out.append(heading(title, len(blocks) > 1))
        block_whole = whole[here[whole.index]]
        if len(block_whole):
            labelled = block_whole.assign(metric=block_whole.metric.map(_LABELS))
            out.append(rows_table(labelled, None, "metric", [_LABELS[m] for m in _WHOLE]))
            out.append(_worst_note(block_whole))
        block = factor_rows[here[factor_rows.index]]
        ratios = block[block.metric == "error_ratio"]
        factors = factor_order(ratios)
        if len(ratios):
            top = np.nanmax(np.r_[pd.to_numeric(ratios.ci_high, errors="coerce"), ratios.value.astype(float), 1.0])
            out.append(
                grouped_bar_chart(
                    ratios, factors, ratios.slice_value.astype(str), figures, palette,
                    f"Error ratio per ImageNet-X factor · {esc(title)}<br><sub>ER(f) = (1 − acc on images with f) / "
                    "(1 − overall acc); above the dashed line: less robust than on average; bars: 95% bootstrap "
                    "CIs</sub>",
                    "factor (ordered by mean error ratio)", "error ratio",
                    y_range=(0.0, 1.05 * top if finite(top) else 2.0), reference_line=1.0, height=420,
                )
            )  # fmt: skip
        for metric, label in (("error_ratio", "Error ratio"), ("top1", "Top-1"), ("ece", "ECE (15 bins)")):
            part = block[block.metric == metric]
            if len(part):
                order = factors + [f for f in ordered_unique(part.slice_value.astype(str)) if f not in factors]
                table = rows_table(part.assign(metric=part.slice_value.astype(str)), None, "metric", order)
                out.append(f"<details><summary>{esc(label)} per factor</summary>{table}</details>")
        out.append(_metaclass_heatmaps(rows[here], figures, factors))
    return "".join(out)
