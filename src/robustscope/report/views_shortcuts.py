"""Report view of the multiple-shortcuts axis: the UrbanCars group table per model, and ImageNet-W gaps.

Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others",
CVPR 2023 (the paper reports, per method, ID accuracy and the BG, CoObj and BG+CoObj gaps).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from robustscope.metrics.shortcuts import GROUPS, URBANCARS_VALUES, cell_name, group_name
from robustscope.report.kit import ViewInputs, esc, grouped_bar_chart, heading, ordered_unique, row_cell, table

#: Column labels of the four groups (shortcut present = the cue agrees with the object).
GROUP_LABELS = {
    group_name("present", "present"): "BG ✓ CoObj ✓",
    group_name("absent", "present"): "BG ✗ CoObj ✓",
    group_name("present", "absent"): "BG ✓ CoObj ✗",
    group_name("absent", "absent"): "BG ✗ CoObj ✗",
}
#: Summary columns of the UrbanCars table: metric → label.
SUMMARY_LABELS = {
    "id_acc": "ID acc",
    "bg_gap": "BG gap",
    "coobj_gap": "CoObj gap",
    "bg_coobj_gap": "BG+CoObj gap",
    "worst_group_acc": "worst group",
    "top1": "top-1 (all)",
}
#: Columns of the watermark table: metric → label (per watermark shift).
WATERMARK_LABELS = {
    "top1": "top-1",
    "in_w_gap": "IN-W gap",
    "carton_acc": "carton acc",
    "carton_gap": "carton gap",
    "delta_p_carton": "Δp(carton)",
}


def _cell_label(bg: str, co: str) -> str:
    return f"BG {bg} · CoObj {co}"


def urbancars_table(rows: pd.DataFrame) -> str:
    """The group table of one UrbanCars set: models × (8 cells, 4 groups, ID acc and gaps), CIs in brackets.

    Example:
        >>> rows = pd.DataFrame({"model": ["m", "m"], "metric": ["cell_acc", "bg_gap"],
        ...     "slice_factor": ["cell", ""], "slice_value": ["obj-urban_bg-urban_co_occur_obj-urban", ""],
        ...     "value": [0.9, -0.25], "ci_low": [0.8, -0.4], "ci_high": [1.0, -0.1], "n": [10, 80],
        ...     "protocol": ["{}", "{}"]})
        >>> html = urbancars_table(rows)
        >>> "object urban" in html and "BG gap" in html and "-0.250" in html
        True
    """
    cells: dict[tuple[str, str, str], Any] = {}
    columns: list[tuple[str, str]] = []
    for obj in URBANCARS_VALUES:
        for bg in URBANCARS_VALUES:
            for co in URBANCARS_VALUES:
                columns.append((f"object {obj}", _cell_label(bg, co)))
    columns += [("groups", GROUP_LABELS[group_name(b, c)]) for b, c in GROUPS]
    columns += [("summary", label) for label in SUMMARY_LABELS.values()]
    cell_of = {
        cell_name(o, b, c): (f"object {o}", _cell_label(b, c))
        for o in URBANCARS_VALUES
        for b in URBANCARS_VALUES
        for c in URBANCARS_VALUES
    }
    for row in rows.itertuples(index=False):
        model = str(row.model)
        if row.metric == "cell_acc" and row.slice_factor == "cell" and row.slice_value in cell_of:
            group, label = cell_of[str(row.slice_value)]
        elif row.metric == "group_acc" and row.slice_factor == "group" and row.slice_value in GROUP_LABELS:
            group, label = "groups", GROUP_LABELS[str(row.slice_value)]
        elif row.slice_factor == "" and row.metric in SUMMARY_LABELS:
            group, label = "summary", SUMMARY_LABELS[str(row.metric)]
        else:
            continue
        cells[(model, group, label)] = row_cell(row)
    tips = {
        ("summary", "ID acc"): "group accuracies weighted by the training group frequency (0.95 per shortcut)",
        ("summary", "BG gap"): "acc(BG absent, CoObj present) − ID acc",
        ("summary", "CoObj gap"): "acc(BG present, CoObj absent) − ID acc",
        ("summary", "BG+CoObj gap"): "acc(BG absent, CoObj absent) − ID acc",
        ("summary", "worst group"): "lowest of the 8 cell accuracies",
    }
    for b, c in GROUPS:
        tips[("groups", GROUP_LABELS[group_name(b, c)])] = (
            f"background {b}, co-occurring object {c} (present: agrees with the object); mean over objects"
        )
    return table(ordered_unique(rows.model.astype(str)), columns, cells, tips, stacked=True)


def watermark_table(rows: pd.DataFrame) -> str:
    """Models × (top-1, IN-W gap, carton accuracy, carton gap, Δp(carton)) per shift, for one dataset.

    Example:
        >>> rows = pd.DataFrame({"model": ["m"] * 2, "metric": ["top1", "in_w_gap"], "shift": ["none", "watermark"],
        ...     "slice_factor": [""] * 2, "value": [0.75, -0.5], "ci_low": [0.5, -0.7], "ci_high": [1.0, -0.3],
        ...     "n": [4, 4], "protocol": ["{}"] * 2})
        >>> html = watermark_table(rows)
        >>> "IN-W gap" in html and "clean" in html and "-0.500" in html
        True
    """
    whole = rows[(rows.slice_factor == "") & rows.metric.isin(list(WATERMARK_LABELS))]
    shifts = sorted(ordered_unique(whole["shift"].astype(str)), key=lambda s: (s != "none", s))
    columns = []
    for shift in shifts:
        group = "clean" if shift == "none" else shift
        for metric, label in WATERMARK_LABELS.items():
            if ((whole["shift"] == shift) & (whole.metric == metric)).any():
                columns.append((group, label))
    cells = {}
    for row in whole.itertuples(index=False):
        group = "clean" if row.shift == "none" else str(row.shift)
        cells[(str(row.model), group, WATERMARK_LABELS[str(row.metric)])] = row_cell(row)
    tips = {(g, "IN-W gap"): "top-1(watermarked) − top-1(clean), the same images" for g, _ in columns} | {
        (g, "carton gap"): "carton-class accuracy, watermarked − clean (class 478)" for g, _ in columns
    }
    return table(ordered_unique(whole.model.astype(str)), columns, cells, tips)


def shortcuts_view(inputs: ViewInputs) -> str:
    """HTML for the shortcuts axis: per UrbanCars set, the group table and group-accuracy bars; per
    watermarked set, the ImageNet-W table (Li et al., CVPR 2023).

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"], "dataset": ["d"], "shift": ["none"], "metric": ["group_acc"],
        ...     "slice_factor": ["group"], "slice_value": ["bg_absent_coobj_present"], "value": [0.5],
        ...     "ci_low": [0.3], "ci_high": [0.7], "n": [8], "protocol": ["{}"]})
        >>> "BG ✗ CoObj ✓" in shortcuts_view(ViewInputs(rows, Figures(), Palette(["m"])))
        True
    """
    rows = inputs.rows
    if rows.empty:
        return '<p class="note">No shortcut rows.</p>'
    urban_metrics = {"cell_acc", "group_acc", "id_acc", "bg_gap", "coobj_gap", "bg_coobj_gap", "worst_group_acc"}
    urban_sets = ordered_unique(rows[rows.metric.isin(list(urban_metrics))].dataset.astype(str))
    gap_sets = ordered_unique(rows[rows.metric.isin(["in_w_gap", "carton_gap"])].dataset.astype(str))
    several = len(urban_sets) + len(gap_sets) > 1
    out = []
    for dataset in urban_sets:
        in_set = rows[(rows.dataset == dataset) & (rows["shift"] == "none")]
        out.append("<h3>UrbanCars groups</h3>" if not several else f"<h3>UrbanCars · {esc(dataset)}</h3>")
        if not several:
            out.append(heading(dataset, False))
        out.append(
            '<p class="note">Accuracy per (object, background, co-occurring object) cell and per group '
            "(✓: the shortcut agrees with the object, as in 95% of training images); gaps = group accuracy − ID "
            "accuracy; negative gaps mean reliance on the shortcut.</p>"
        )
        out.append(urbancars_table(in_set))
        groups = in_set[(in_set.metric == "group_acc") & (in_set.slice_factor == "group")]
        if not groups.empty:
            order = [group_name(b, c) for b, c in GROUPS]
            present = [g for g in order if g in set(groups.slice_value)]
            labels = groups.slice_value.map(GROUP_LABELS)
            out.append(
                grouped_bar_chart(
                    groups, [GROUP_LABELS[g] for g in present], labels, inputs.figures, inputs.palette,
                    f"UrbanCars group accuracy · {esc(dataset)}", "group (✓ shortcut present, ✗ absent)",
                    "top-1 accuracy",
                )
            )  # fmt: skip
    for dataset in gap_sets:
        out.append(f"<h3>Watermark (ImageNet-W) · {esc(dataset)}</h3>")
        out.append(watermark_table(rows[(rows.dataset == dataset) & ~rows.metric.isin(list(urban_metrics))]))
    return "".join(out) or '<p class="note">No shortcut rows.</p>'


__all__ = ["shortcuts_view", "urbancars_table", "watermark_table"]
