"""Charts of the report: the figure collector, the per-model palette, the common layout, error bars, grouped bars."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from robustscope.report.kit.text import esc, ordered_unique

__all__ = ["LEGEND_BESIDE", "OKABE_ITO", "SYMBOLS", "Figures", "Palette", "error_bars", "grouped_bar_chart", "layout"]

#: Okabe & Ito's colour-blind-safe qualitative palette ("Color Universal Design", 2008); the explorer uses it too.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
#: Marker symbols cycle per model (as in Geirhos et al.'s shape-bias figure), so models differ without colour.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "triangle-down", "star", "cross", "pentagon")


#: Legend placement of every chart: right of the plot area, top-aligned (below it, it covered the x-axis title).
LEGEND_BESIDE = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}


class Figures:
    """Renders plotly figures to ``<div>``s that share the one plotly.js the page inlines.

    One collector per page: it numbers the divs, and the page inlines plotly.js only if it rendered any.

    Example:
        >>> import plotly.graph_objects as go
        >>> figures = Figures()
        >>> 'id="rs-fig-1"' in figures.render(go.Figure()), figures.count
        (True, 1)
    """

    def __init__(self) -> None:
        self.count = 0

    def render(self, fig: Any) -> str:
        """The ``<div>`` of ``fig``, without plotly.js."""
        import plotly.io as pio

        self.count += 1
        return pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"rs-fig-{self.count}",
            config={"displaylogo": False, "responsive": True},
        )


class Palette:
    """One colour and one marker symbol per model, the same in every chart of the page.

    Example:
        >>> palette = Palette(["a", "b", "a"])
        >>> palette("b"), palette.symbol("b")
        ('#56B4E9', 'square')
    """

    def __init__(self, models: Iterable[str]) -> None:
        self.index = {m: i for i, m in enumerate(ordered_unique(models))}
        self.colours = OKABE_ITO

    def __call__(self, model: str) -> str:
        return self.colours[self.index.get(model, 0) % len(self.colours)]

    def symbol(self, model: str) -> str:
        """The marker symbol of ``model``."""
        return SYMBOLS[self.index.get(model, 0) % len(SYMBOLS)]


def layout(fig: Any, title: str, height: int = 360, **extra: Any) -> None:
    """Give ``fig`` the report's look: the title (already escaped), white template, legend right of the plot.

    The legend sits beside the plot, never below it, where it overlapped the x-axis title.

    Example:
        >>> import plotly.graph_objects as go
        >>> fig = go.Figure()
        >>> layout(fig, "t", height=200, barmode="group")
        >>> fig.layout.height, fig.layout.barmode
        (200, 'group')
    """
    fig.update_layout(
        title={"text": title, "font": {"size": 13}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 10, "t": 60, "b": 50},
        legend=LEGEND_BESIDE,
        **extra,
    )


def error_bars(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, Any] | None:
    """Plotly's asymmetric error bars from CI bounds; no bar where a bound is missing, ``None`` when all are.

    Example:
        >>> error_bars(np.array([0.5]), np.array([0.25]), np.array([1.0]))["array"]
        [0.5]
        >>> error_bars(np.array([0.5]), np.array([np.nan]), np.array([1.0])) is None
        True
    """
    ok = np.isfinite(low) & np.isfinite(high)
    if not ok.any():
        return None
    return {
        "type": "data",
        "symmetric": False,
        "array": np.where(ok, high - values, 0.0).tolist(),
        "arrayminus": np.where(ok, values - low, 0.0).tolist(),
        "thickness": 1.2,
        "width": 3,
    }


def grouped_bar_chart(
    rows: pd.DataFrame,
    categories: Sequence[str],
    category_of: pd.Series,
    figures: Figures,
    palette: Palette,
    title: str,
    x_title: str,
    y_title: str,
    y_range: Sequence[float] | None = (0.0, 1.05),
    reference_line: float | None = None,
    height: int = 360,
) -> str:
    """A wide chart of one bar per (model, category) with CI error bars; ``reference_line`` draws y = value.

    ``category_of`` gives each row's category (a column, or labels derived from one); rows of a category
    not in ``categories`` are left out, and a missing (model, category) is an empty slot.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "slice_value": ["a", "b"], "value": [0.5, 0.75],
        ...                      "ci_low": [0.4, 0.7], "ci_high": [0.6, 0.8]})
        >>> chart = grouped_bar_chart(rows, ["a", "b"], rows.slice_value, Figures(), Palette(["m"]), "t", "x", "y")
        >>> '"x":["a","b"]' in chart
        True
    """
    import plotly.graph_objects as go

    fig = go.Figure(_bars_by_category(rows, categories, category_of, palette))
    if reference_line is not None:
        fig.add_hline(y=reference_line, line={"color": "#1f2933", "width": 1.5, "dash": "dash"})
    yaxis: dict[str, Any] = {"title": {"text": y_title}}
    if y_range is not None:
        yaxis["range"] = list(y_range)
    layout(
        fig,
        title,
        height=height,
        barmode="group",
        xaxis={"title": {"text": x_title}, "type": "category"},
        yaxis=yaxis,
    )
    return f'<div class="chart wide">{figures.render(fig)}</div>'


def _bars_by_category(
    rows: pd.DataFrame, categories: Sequence[str], category_of: pd.Series, palette: Palette
) -> list[Any]:
    """One bar trace per model over ``categories`` with CI error bars."""
    import plotly.graph_objects as go

    traces = []
    for model in ordered_unique(rows.model):
        group = rows[rows.model == model].assign(_cat=category_of[rows.model == model])
        group = group.drop_duplicates("_cat", keep="last").set_index("_cat").reindex(categories)
        values = group.value.to_numpy(dtype=float)
        traces.append(
            go.Bar(
                x=[esc(c) for c in categories],
                y=values,
                name=esc(model),
                marker={"color": palette(model)},
                error_y=error_bars(values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)),
                hovertemplate="%{x}: %{y:.3f}<extra>%{fullData.name}</extra>",
            )
        )
    return traces
