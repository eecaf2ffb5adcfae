"""Report view of the worst_case axis: average- vs worst-case accuracy per factor, the cost and distance of a
break, and a gallery of found examples next to their originals.

The table has one row per (model, box) and one column per measure: the clean accuracy, the average case (random
draws from the box) and the worst case under each search method, with CIs over instances. The chart puts the
average and the worst cases of each factor's box side by side. The gallery shows each stored example as two
renders, the instance and the one re-rendered from the found factor values (the factors that changed listed
under it); the box and the budget come from the rows' protocol.
"""

from __future__ import annotations

import json

import pandas as pd

from robustscope.report.kit import Palette, ViewInputs, esc, fmt, grouped_bar_chart, ordered_unique, rows_table

__all__ = ["worst_case_view"]

#: Column order of the per-box table.
MEASURES = ("clean", "average (random draws)", "worst case: random", "worst case: cma", "worst case: gradient")


def _box_of(rows: pd.DataFrame) -> pd.Series:
    return rows.slice_value.where(rows.slice_factor == "box", "all factors")


def _measure(rows: pd.DataFrame) -> pd.Series:
    names = {"clean_acc": "clean", "average_acc": "average (random draws)"}
    return pd.Series([names.get(m, f"worst case: {s}") for m, s in zip(rows.metric, rows["shift"], strict=True)],
                     index=rows.index)  # fmt: skip


def _gallery(examples: pd.DataFrame) -> str:
    """Figures of the original and the found render of each example, with what changed."""
    cards = []
    for row in examples.itertuples(index=False):
        info = json.loads(row.protocol)
        found, original = info["spec"]["factors"], info["original"]
        changed = [f"{k}: {original[k]} → {found[k]}" for k in info.get("box", {}) if found.get(k) != original.get(k)]
        caption = (f"{esc(row.model)} · {esc(info.get('box_name'))} · {esc(info.get('method'))} · "
                   f"{esc(original.get('character_label'))}<br>{esc('; '.join(changed))}<br>"
                   f"distance {fmt(row.value)} · margin {fmt(info.get('margin'))}")  # fmt: skip
        cards.append(
            '<figure class="example">'
            f'<img alt="original" src="data:image/png;base64,{info["original_image"]}" width="96">'
            f'<img alt="found" src="data:image/png;base64,{info["image"]}" width="96">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    if not cards:
        return ""
    title = "<h4>Found examples (left: the instance; right: re-rendered from the found factors alone)</h4>"
    return f'{title}<div class="gallery">{"".join(cards)}</div>'


def worst_case_view(inputs: ViewInputs) -> str:
    """The worst_case section: the per-box table, the average- vs worst-case chart, the costs and the gallery.

    Example:
        >>> from robustscope.report.kit import Figures, Palette
        >>> proto = json.dumps({"name": "worst_case_acc", "box": {"yaw": {"offset": [-30, 30]}}, "budget": 64})
        >>> rows = pd.DataFrame({"model": ["m"] * 3, "dataset": ["d"] * 3, "shift": ["none", "random", "cma"],
        ...     "metric": ["clean_acc", "average_acc", "worst_case_acc"], "slice_factor": ["", "box", "box"],
        ...     "slice_value": ["", "yaw", "yaw"], "value": [1.0, 0.9, 0.5], "ci_low": [0.9, 0.8, 0.3],
        ...     "ci_high": [1.0, 1.0, 0.7], "n": [32] * 3, "protocol": [proto] * 3})
        >>> html = worst_case_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> "worst case: cma" in html and "budget 64" in html
        True
    """
    rows = inputs.rows
    if rows.empty:
        return '<p class="note">No worst-case rows.</p>'
    parts = []
    first = json.loads(rows.protocol.iloc[0])
    box, budget = esc(json.dumps(first.get("box", {}))), esc(first.get("budget"))
    parts.append(f'<p class="note">Factor box {box}; budget {budget} renders per instance, box and method; '
                 "CIs over instances.</p>")  # fmt: skip
    accuracy = rows[rows.metric.isin(["clean_acc", "average_acc", "worst_case_acc"])].copy()
    # One table row per (model, box): the measures side by side, so each factor's average and worst cases compare.
    by_box = accuracy.assign(model=accuracy.model + " · " + _box_of(accuracy), column=_measure(accuracy))
    parts.append(rows_table(by_box, "dataset", "column", MEASURES))
    per_factor = accuracy[(accuracy.slice_factor == "box") & accuracy.metric.isin(["average_acc", "worst_case_acc"])]
    if not per_factor.empty:
        per_factor = per_factor.assign(model=per_factor.model + " · " + _measure(per_factor))
        categories = ordered_unique(per_factor.slice_value)
        parts.append(grouped_bar_chart(per_factor, categories, per_factor.slice_value, inputs.figures,
                                       Palette(per_factor.model), "Average vs worst case, each factor alone",
                                       "factor", "top-1"))  # fmt: skip
    costs = rows[rows.metric.isin(["renders_per_success", "breaking_distance"])].copy()
    if not costs.empty:
        costs = costs.assign(model=costs.model + " · " + _box_of(costs), column=costs["shift"] + " · " + costs.metric)
        parts.append("<h4>Cost and size of a break (over fooled instances)</h4>"
                     + rows_table(costs, "dataset", "column"))  # fmt: skip
    notes = rows[rows.metric == "gradient_available"]
    for protocol in notes.protocol.unique():
        parts.append(f'<p class="note">{esc(json.loads(protocol).get("reason", ""))}</p>')
    parts.append(_gallery(rows[rows.metric == "example"]))
    return "".join(parts)

