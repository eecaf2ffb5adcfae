"""Report views of the representation axis (kNN, probe and RankMe per evaluation set, kNN top-1 per set) and of
the disentanglement axis (MIG and DCI per set).

The table has one row per (model, dataset) and one column per metric (``knn_top1``, ``knn_top5``, ``probe_top1``,
``rankme``) with CIs where the axis computed them; the chart compares models' kNN top-1 across evaluation sets, so
a backbone whose features lose the class under a shift (pose, background, lighting) stands out.
"""

from __future__ import annotations

from robustscope.report.kit import ViewInputs, grouped_bar_chart, ordered_unique, rows_table

__all__ = ["DISENTANGLEMENT_METRICS", "REPRESENTATION_METRICS", "disentanglement_view", "representation_view"]

#: Column order of the table.
REPRESENTATION_METRICS = ("knn_top1", "knn_top5", "probe_top1", "rankme")


def representation_view(inputs: ViewInputs) -> str:
    """The representation section: a table of the whole-set rows and a chart of kNN top-1 per dataset.

    Example:
        >>> import pandas as pd
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m", "m"], "dataset": ["test-id", "test-id"],
        ...     "metric": ["knn_top1", "rankme"], "slice_factor": ["", ""], "value": [0.8, 12.0],
        ...     "ci_low": [0.7, float("nan")], "ci_high": [0.9, float("nan")], "protocol": ["{}", "{}"]})
        >>> html = representation_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "knn_top1" in html and "rankme" in html and "plotly-graph-div" in html
        True
    """
    if inputs.rows.empty:
        return '<p class="note">No representation rows.</p>'
    rows = inputs.rows[inputs.rows.slice_factor == ""]
    table = rows_table(rows, "dataset", "metric", REPRESENTATION_METRICS)
    knn = rows[rows.metric == "knn_top1"]
    if knn.empty:
        return table
    chart = grouped_bar_chart(knn, ordered_unique(knn.dataset), knn.dataset, inputs.figures, inputs.palette,
                              "kNN top-1 of the penultimate features", "evaluation set", "kNN top-1")  # fmt: skip
    return table + chart


#: Column order of the disentanglement table.
DISENTANGLEMENT_METRICS = ("dci_d", "mig", "dci_completeness", "dci_informativeness")


def disentanglement_view(inputs: ViewInputs) -> str:
    """The disentanglement section: MIG and DCI per model and dataset (no CIs: see the axis).

    Example:
        >>> import pandas as pd
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "metric": ["mig"], "slice_factor": [""],
        ...     "value": [0.2], "ci_low": [float("nan")], "ci_high": [float("nan")], "protocol": ["{}"]})
        >>> "mig" in disentanglement_view(ViewInputs(rows, Figures(), Palette(["m"])))
        True
    """
    if inputs.rows.empty:
        return '<p class="note">No disentanglement rows.</p>'
    rows = inputs.rows[inputs.rows.slice_factor == ""]
    return rows_table(rows, "dataset", "metric", DISENTANGLEMENT_METRICS)
