"""A study's results as one self-contained HTML page: curves with CIs and tables, in the report's look.

Studies (``robustscope study …``) train many models and write tables; this draws their curves (e.g. accuracy
against the share of varied training data, one line per factor) with the report's figure collector, palette and
CSS, plotly.js inlined once so the page opens offline.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.report.kit import PAGE_CSS, Figures, Palette, error_bars, esc, layout, ordered_unique

__all__ = ["curve_chart", "write_study_page"]


def curve_chart(frame: pd.DataFrame, x: str, series: str, figures: Figures, title: str, x_title: str,
                y_title: str, y: str = "value", low: str = "ci_low", high: str = "ci_high") -> str:  # fmt: skip
    """Lines with markers and CI error bars: one trace per value of ``series``, x ascending.

    Example:
        >>> frame = pd.DataFrame({"p": [0.0, 1.0, 0.0, 1.0], "factor": ["pose", "pose", "size", "size"],
        ...     "value": [0.5, 0.8, 0.6, 0.7], "ci_low": [0.4, 0.7, 0.5, 0.6], "ci_high": [0.6, 0.9, 0.7, 0.8]})
        >>> html = curve_chart(frame, "p", "factor", Figures(), "t", "p", "accuracy")
        >>> html.count('"name":"pose"'), html.count('"name":"size"')
        (1, 1)
    """
    import plotly.graph_objects as go

    names = [str(n) for n in ordered_unique(frame[series])]
    palette = Palette(names)
    fig = go.Figure()
    for name in names:
        part = frame[frame[series].astype(str) == name].sort_values(x)
        values = part[y].to_numpy(float)
        bars = error_bars(values, part[low].to_numpy(float), part[high].to_numpy(float))
        fig.add_trace(go.Scatter(x=part[x].tolist(), y=values.tolist(), name=name, mode="lines+markers",
                                 marker={"color": palette(name), "symbol": palette.symbol(name), "size": 8},
                                 line={"color": palette(name)}, error_y=bars))  # fmt: skip
    layout(fig, esc(title), xaxis={"title": {"text": esc(x_title)}}, yaxis={"title": {"text": esc(y_title)}})
    return f'<div class="chart wide">{figures.render(fig)}</div>'


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))  # fmt: skip
    return (f'<div class="table-wrap"><table class="results"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _cell(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{value:.3f}"
    return str(value)


def write_study_page(out: str | Path, title: str, sections: Sequence[tuple[str, str | pd.DataFrame]],
                     figures: Figures, note: str = "") -> Path:  # fmt: skip
    """Write ``out``: a page with ``title``, a ``note`` (e.g. the command) and ``sections`` of (heading, HTML or a
    table). ``figures`` is the collector the sections' charts were rendered with (plotly.js goes in only if used).

    Example:
        >>> import tempfile
        >>> sections = [("Table", pd.DataFrame({"a": [1.0]}))]
        >>> page = write_study_page(Path(tempfile.mkdtemp()) / "s.html", "Study", sections, Figures(), note="x")
        >>> "<td>1.000</td>" in page.read_text() and "plotly" not in page.read_text().lower()
        True
    """
    plotly_js = ""
    if figures.count:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    body = "".join(f"<section><h2>{esc(heading)}</h2>{content if isinstance(content, str) else _table(content)}"
                   "</section>" for heading, content in sections)  # fmt: skip
    page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
            f"<style>{PAGE_CSS}</style>\n{plotly_js}\n</head>\n<body>\n<header><h1>{esc(title)}</h1>"
            f'<div class="meta">{esc(note)}</div></header>\n<main>{body}</main>\n</body>\n</html>\n')  # fmt: skip
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
