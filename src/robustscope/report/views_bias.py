"""Report views of the three cue-bias axes: shape bias, context bias and background bias.

- shape bias: shape bias per category, one marker per model, the overall value as a vertical line
  (Geirhos et al., ICLR 2019, Fig. 4);
- context bias: P0, P1, P2, … per model with CI error bars, and the relative drops (FOCUS, Kattakinda & Feizi,
  ICML 2022);
- background bias: top-1 per ImageNet-9 variant per model, and the BG-gap (Xiao et al., ICLR 2021).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustscope.report.kit import (
    ViewInputs,
    error_bars,
    esc,
    finite,
    grouped_bar_chart,
    heading,
    layout,
    ordered_unique,
    per_dataset,
    rows_table,
)

__all__ = ["BACKGROUND_VARIANTS", "background_bias_view", "context_bias_view", "shape_bias_view"]

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


def shape_bias_view(inputs: ViewInputs) -> str:
    """HTML of the shape-bias axis: the whole-set table and, per dataset, shape bias per category and model.

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"] * 2, "dataset": ["cue-conflict"] * 2, "metric": ["shape_bias"] * 2,
        ...     "slice_factor": ["", "shape"], "slice_value": ["", "cat"], "value": [0.25, 0.5],
        ...     "ci_low": [0.2, 0.4], "ci_high": [0.3, 0.6], "n": [8, 4], "protocol": ["{}"] * 2})
        >>> text = shape_bias_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "Shape bias per category" in text and '"name":"m (0.25)"' in text
        True
    """
    import plotly.graph_objects as go

    figures, palette = inputs.figures, inputs.palette
    rows = inputs.rows[inputs.rows.metric.isin(["shape_bias", "shape_match", "texture_match"])]
    if rows.empty:
        return '<p class="note">No shape-bias rows.</p>'
    out = []
    datasets = per_dataset(rows)
    for dataset, in_set in datasets:
        out.append(heading(dataset, len(datasets) > 1))
        whole = in_set[in_set.slice_factor == ""]
        per_category = in_set[(in_set.metric == "shape_bias") & (in_set.slice_factor == "shape")]
        out.append(rows_table(whole, None, "metric", ["shape_bias", "shape_match", "texture_match"]))
        if per_category.empty:
            continue
        categories = sorted(ordered_unique(per_category.slice_value))
        fig = go.Figure()
        for model in ordered_unique(in_set.model):
            group = per_category[per_category.model == model].set_index("slice_value").reindex(categories)
            values = group.value.to_numpy(dtype=float)
            overall = whole[(whole.model == model) & (whole.metric == "shape_bias")].value
            total = float(overall.iloc[0]) if len(overall) and finite(overall.iloc[0]) else np.nan
            name = esc(model) + (f" ({total:.2f})" if finite(total) else "")
            fig.add_trace(
                go.Scatter(
                    x=values,
                    y=[esc(c) for c in categories],
                    mode="markers",
                    name=name,
                    legendgroup=esc(model),
                    marker={
                        "color": palette(model),
                        "symbol": palette.symbol(model),
                        "size": 10,
                        "line": {"color": "#1f2933", "width": 0.5},
                    },
                    error_x=error_bars(values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)),
                    customdata=group.n.to_numpy() if "n" in group else None,
                    hovertemplate="%{y}: %{x:.3f}"
                    + (" (n=%{customdata})" if "n" in group else "")
                    + "<extra>%{fullData.name}</extra>",
                )
            )
            if finite(total):
                fig.add_vline(x=total, line={"color": palette(model), "dash": "dash", "width": 1.5})
        layout(
            fig,
            f"Shape bias per category · {esc(dataset)}<br><sub>markers: categories; dashed lines: "
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


def context_bias_view(inputs: ViewInputs) -> str:
    """HTML of the context-bias axis: P_k (top-1 with k uncommon attributes) and the relative drops per model.

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"] * 3, "dataset": ["focus"] * 3,
        ...     "metric": ["P1", "P0", "relative_drop_P1"], "slice_factor": [""] * 3, "value": [0.5, 0.75, 0.33],
        ...     "ci_low": [0.4, 0.7, 0.2], "ci_high": [0.6, 0.8, 0.4], "n": [8, 8, 8], "protocol": ["{}"] * 3})
        >>> text = context_bias_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> '"x":["P0","P1"]' in text and "relative_drop_P1" in text
        True
    """
    rows = inputs.rows
    whole = rows[rows.slice_factor == ""]
    p_rows = whole[whole.metric.str.fullmatch(r"P\d+")]
    if p_rows.empty:
        return '<p class="note">No P<sub>k</sub> rows.</p>'
    out = []
    datasets = per_dataset(p_rows)
    for dataset, in_set in datasets:
        out.append(heading(dataset, len(datasets) > 1))
        levels = sorted(ordered_unique(in_set.metric), key=lambda m: int(m[1:]))
        drops = whole[(whole.dataset == dataset) & whole.metric.str.fullmatch(r"relative_drop_P\d+")]
        table_rows = pd.concat([in_set, drops])
        order = levels + sorted(ordered_unique(drops.metric), key=lambda m: int(m.rsplit("P", 1)[1]))
        out.append(rows_table(table_rows, None, "metric", order))
        out.append(
            grouped_bar_chart(
                in_set, levels, in_set.metric, inputs.figures, inputs.palette,
                f"Top-1 accuracy P<sub>k</sub> with k uncommon attributes · {esc(dataset)}",
                "k uncommon context attributes", "top-1 accuracy",
            )
        )  # fmt: skip
    return "".join(out)


def background_bias_view(inputs: ViewInputs) -> str:
    """HTML of the background-bias axis: top-1 per ImageNet-9 variant per model, and the BG-gap.

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"] * 3, "dataset": ["in9"] * 3, "metric": ["top1", "top1", "bg_gap"],
        ...     "slice_factor": ["variant", "variant", ""], "slice_value": ["mixed_rand", "mixed_same", ""],
        ...     "value": [0.5, 0.75, 0.25], "ci_low": [0.4, 0.7, 0.2], "ci_high": [0.6, 0.8, 0.3], "n": [8] * 3,
        ...     "protocol": ["{}"] * 3})
        >>> text = background_bias_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> '"x":["mixed_same","mixed_rand"]' in text and "BG-gap" in text
        True
    """
    rows = inputs.rows
    variants = rows[(rows.metric == "top1") & (rows.slice_factor == "variant")]
    gaps = rows[(rows.metric == "bg_gap") & (rows.slice_factor == "")]
    if variants.empty and gaps.empty:
        return '<p class="note">No background-bias rows.</p>'
    out = []
    datasets = per_dataset(pd.concat([variants, gaps]))
    rank = {v: i for i, v in enumerate(BACKGROUND_VARIANTS)}
    for dataset, in_set in datasets:
        out.append(heading(dataset, len(datasets) > 1))
        per_variant = in_set[in_set.metric == "top1"]
        names = sorted(ordered_unique(per_variant.slice_value), key=lambda v: (rank.get(v, len(rank)), v))
        table = pd.concat([per_variant.assign(metric=per_variant.slice_value), in_set[in_set.metric == "bg_gap"]])
        out.append(
            rows_table(
                table.assign(metric=table.metric.replace({"bg_gap": "BG-gap"})), None, "metric", [*names, "BG-gap"]
            )
        )
        if per_variant.empty:
            continue
        out.append(
            grouped_bar_chart(
                per_variant, names, per_variant.slice_value, inputs.figures, inputs.palette,
                f"Top-1 accuracy per background variant · {esc(dataset)}<br><sub>BG-gap = acc(mixed_same) − "
                "acc(mixed_rand)</sub>",
                "variant", "top-1 accuracy",
            )
        )  # fmt: skip
    return "".join(out)
