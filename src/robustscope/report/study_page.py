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

__all__ = ["STUDIES_FOLDER", "curve_chart", "load_studies", "record_study", "study_sections", "write_study_page"]


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


#: Where a workspace keeps the studies' results for the report: ``<workspace>/studies/<name>/study.json``.
STUDIES_FOLDER = "studies"


def record_study(workspace_root: str | Path, name: str, title: str, command: str,
                 tables: dict[str, pd.DataFrame], curve: dict[str, str] | None = None) -> Path:  # fmt: skip
    """Keep a study's tables (and how to draw its curve) in the workspace, for ``robustscope report``.

    ``curve`` names the table and its columns: ``{"table", "x", "y", "series", "low", "high", "title", "x_title",
    "y_title"}``. A second call with the same ``name`` replaces the record.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> folder = record_study(root, "demo", "A study", "robustscope study demo", {"t": pd.DataFrame({"a": [1]})})
        >>> [s["title"] for s in load_studies(root)]
        ['A study']
    """
    import json

    folder = Path(workspace_root) / STUDIES_FOLDER / name
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, (table_name, frame) in enumerate(tables.items()):
        files[table_name] = f"table-{i}.csv"
        frame.to_csv(folder / files[table_name], index=False)
    record = {"name": name, "title": title, "command": command, "tables": files, "curve": curve}
    tmp = folder / f".study.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, folder / "study.json")
    return folder


def load_studies(workspace_root: str | Path) -> list[dict[str, Any]]:
    """The studies recorded in a workspace (:func:`record_study`), by name, tables read as DataFrames.

    Example:
        >>> load_studies("/nonexistent")
        []
    """
    import json

    root = Path(workspace_root) / STUDIES_FOLDER
    studies = []
    for path in sorted(root.glob("*/study.json")) if root.is_dir() else []:
        record = json.loads(path.read_text())
        record["frames"] = {name: pd.read_csv(path.parent / file) for name, file in record["tables"].items()}
        studies.append(record)
    return studies


def study_sections(studies: Sequence[dict[str, Any]], figures: Figures) -> tuple[str, list[tuple[str, str]]]:
    """The report's sections of recorded studies (curve, then tables) and their table-of-contents entries.

    Example:
        >>> html, toc = study_sections([{"name": "s", "title": "S", "command": "c", "curve": None,
        ...                              "frames": {"t": pd.DataFrame({"a": [0.5]})}}], Figures())
        >>> toc, "<td>0.500</td>" in html
        ([('study-s', 'study: S')], True)
    """
    out, toc = [], []
    for study in studies:
        anchor = f"study-{study['name']}"
        parts = [f'<section id="{esc(anchor)}"><h2>{esc(study["title"])}</h2>',
                 f'<p class="note">{esc(study["command"])}</p>']  # fmt: skip
        curve = study.get("curve")
        if curve and curve.get("table") in study["frames"]:
            parts.append(curve_chart(study["frames"][curve["table"]], curve["x"], curve["series"], figures,
                                     curve.get("title", ""), curve.get("x_title", curve["x"]),
                                     curve.get("y_title", curve["y"]), y=curve["y"], low=curve.get("low", "ci_low"),
                                     high=curve.get("high", "ci_high")))  # fmt: skip
        for name, frame in study["frames"].items():
            parts.append(f"<h3>{esc(name)}</h3>{_table(frame)}")
        out.append("".join(parts) + "</section>")
        toc.append((anchor, f"study: {study['title']}"))
    return "".join(out), toc
