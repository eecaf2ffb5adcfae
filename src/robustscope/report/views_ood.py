"""Report view of the OOD-detection axis: AUROC / AUPR / FPR@95 per score, and ID vs OOD score histograms.

Per OOD set, a table of the three measures for every score (MSP, max-logit, entropy, energy) with ID as the
positive class; per (model, OOD set) whose predictions were found, the densities of the headline score
(:data:`~robustscope.report.kit.HEADLINE_OOD_SCORE`) on the ID and the OOD set over shared bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from robustscope.report.kit import (
    ViewInputs,
    esc,
    fmt,
    layout,
    ordered_unique,
    per_dataset,
    protocol_field,
    rows_table,
)

__all__ = ["OOD_MEASURES", "OOD_SCORES", "ood_view"]

OOD_MEASURES = ("auroc", "aupr", "fpr95")
#: Column-group order of the scores; others follow, sorted.
OOD_SCORES = ("entropy", "msp", "maxlogit", "energy")


def ood_view(inputs: ViewInputs) -> str:
    """HTML of the OOD axis: the measures per OOD set and score, and the score histograms of its runs.

    Rows carry ``<measure>_<score>`` metrics (``auroc_msp``); histograms are matched by (model, OOD set).

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["far"], "shift": ["none"], "metric": ["auroc_msp"],
        ...     "slice_factor": [""], "value": [0.9], "ci_low": [0.8], "ci_high": [0.95],
        ...     "protocol": ['{"id_dataset": "test"}']})
        >>> text = ood_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "OOD set far <small>(ID: test; ID is the positive class)</small>" in text, "No score histograms" in text
        (True, True)
    """
    import plotly.graph_objects as go

    rows, figures, palette = inputs.rows, inputs.figures, inputs.palette
    runs = set(zip(rows.model, rows.dataset, strict=True))
    histograms = [h for h in inputs.histograms if (h.model, h.ood_dataset) in runs]
    whole = rows[rows.slice_factor == ""]
    parts = whole.metric.str.extract(r"^(auroc|aupr|fpr95)_(.+)$")
    whole = whole.assign(_measure=parts[0], _score=parts[1]).dropna(subset=["_measure"])
    if whole.empty:
        return '<p class="note">No OOD rows.</p>'
    out = []
    for dataset, in_set in per_dataset(whole):
        id_name = next((n for n in (protocol_field(p, "id_dataset") for p in in_set.protocol) if n), "ID set")
        out.append(f"<h3>OOD set {esc(dataset)} <small>(ID: {esc(id_name)}; ID is the positive class)</small></h3>")
        scores = ordered_unique(in_set._score)
        scores.sort(key=lambda s: (OOD_SCORES.index(s) if s in OOD_SCORES else len(OOD_SCORES), s))
        table = in_set.assign(metric=in_set._measure.map({"fpr95": "FPR@95%TPR"}).fillna(in_set._measure))
        labels = ["auroc", "aupr", "FPR@95%TPR"]
        table = table.assign(_score=pd.Categorical(table._score, scores, ordered=True)).sort_values("_score")
        out.append(rows_table(table.assign(_score=table._score.astype(str)), "_score", "metric", labels))
    if not histograms:
        out.append('<p class="note">No score histograms (the predictions were not found).</p>')
        return "".join(out)
    out.append(f"<h3>ID vs OOD scores ({esc(histograms[0].score)})</h3>")
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
                    name=esc(label),
                    opacity=0.6,
                    marker={"color": colour},
                    hovertemplate="score %{x:.3f}: density %{y:.3f}<extra></extra>",
                )
            )
        same = (whole.model == h.model) & (whole.dataset == h.ood_dataset)
        match = whole[same & (whole.metric == f"auroc_{h.score}")]
        auroc = f"AUROC {fmt(match.value.iloc[0])}" if len(match) else ""
        layout(
            fig,
            f"{esc(h.model)} · {esc(h.ood_dataset)}<br><sub>{esc(h.score)} score {auroc}</sub>",
            barmode="overlay",
            xaxis={"title": {"text": "−entropy" if h.score == "entropy" else esc(h.score)}},
            yaxis={"title": {"text": "density"}},
        )
        out.append(f'<div class="chart">{figures.render(fig)}</div>')
    out.append("</div>")
    return "".join(out)
