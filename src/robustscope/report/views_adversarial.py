"""Report view of the adversarial axis: clean vs FGSM vs PGD top-1 per model, as a table and grouped bars."""

from __future__ import annotations

from robustscope.report.kit import (
    ViewInputs,
    error_bars,
    esc,
    heading,
    layout,
    ordered_unique,
    per_dataset,
    rows_table,
    shift_of,
)

__all__ = ["adversarial_view", "attack_label"]

#: Clean first, then the attacks from weakest to strongest; other shifts after them.
_ATTACK_ORDER = {"none": 0, "fgsm": 1, "pgd": 2}
_SHADES = ("#3b6fb6", "#e0a030", "#d64541", "#6c4f9e", "#2e8b57")


def attack_label(shift: str) -> str:
    """A short label for an adversarial-axis shift: ``clean``, or the attack with its budget.

    Example:
        >>> attack_label("none")
        'clean'
        >>> attack_label("pgd:alpha=2/255,eps=1/255,norm=linf,random_start=True,steps=20")
        'PGD (linf, eps=1/255, 20 steps)'
        >>> attack_label("fgsm:eps=1/255")
        'FGSM (eps=1/255)'
    """
    if shift in ("", "none"):
        return "clean"
    parsed = shift_of(shift)
    if parsed is None:
        return str(shift)
    name, params = parsed
    bits = [str(params.get("norm", "")), f"eps={params['eps']}" if "eps" in params else ""]
    bits.append(f"{params['steps']} steps" if "steps" in params else "")
    bits = [b for b in bits if b]
    return name.upper() + (f" ({', '.join(bits)})" if bits else "")


def _shift_kind(shift: str) -> str:
    parsed = shift_of(shift)
    return parsed[0] if parsed else str(shift)


def adversarial_view(inputs: ViewInputs) -> str:
    """HTML of the adversarial axis: per dataset, top-1 per attack (a table, and bars with CIs per model).

    Example:
        >>> import pandas as pd
        >>> from robustscope.report.kit import Figures, Palette
        >>> rows = pd.DataFrame({"model": ["m"] * 2, "dataset": ["d"] * 2, "shift": ["fgsm:eps=1/255", "none"],
        ...     "metric": ["top1"] * 2, "slice_factor": [""] * 2, "value": [0.25, 0.75], "ci_low": [0.2, 0.7],
        ...     "ci_high": [0.3, 0.8], "protocol": ["{}"] * 2})
        >>> text = adversarial_view(ViewInputs(rows, Figures(), Palette(["m"])))
        >>> text.index(">clean</th>") < text.index(">FGSM (eps=1/255)</th>")
        True
    """
    import plotly.graph_objects as go

    rows = inputs.rows
    top1 = rows[(rows.metric == "top1") & (rows.slice_factor == "")]
    if top1.empty:
        return '<p class="note">No adversarial rows.</p>'
    out = []
    datasets = per_dataset(top1)
    for dataset, in_set in datasets:
        out.append(heading(dataset, len(datasets) > 1))
        shifts = sorted(ordered_unique(in_set["shift"]), key=lambda s: (_ATTACK_ORDER.get(_shift_kind(s), 3), s))
        labels = {s: attack_label(s) for s in shifts}
        table = in_set.assign(_label=in_set["shift"].map(labels))
        out.append(rows_table(table, None, "_label", [labels[s] for s in shifts]))
        models = ordered_unique(in_set.model)
        fig = go.Figure()
        for i, shift in enumerate(shifts):
            group = in_set[in_set["shift"] == shift].drop_duplicates("model", keep="last").set_index("model")
            group = group.reindex(models)
            values = group.value.to_numpy(dtype=float)
            fig.add_trace(
                go.Bar(
                    x=[esc(m) for m in models],
                    y=values,
                    name=esc(labels[shift]),
                    marker={"color": _SHADES[i % len(_SHADES)]},
                    error_y=error_bars(values, group.ci_low.to_numpy(dtype=float), group.ci_high.to_numpy(dtype=float)),
                    customdata=[esc(shift)] * len(models),
                    hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>%{fullData.name}</extra>",
                )
            )
        layout(
            fig,
            f"Clean and robust top-1 · {esc(dataset)}",
            barmode="group",
            xaxis={"title": {"text": "model"}, "type": "category"},
            yaxis={"title": {"text": "top-1 accuracy"}, "range": [0, 1.05]},
        )
        out.append(f'<div class="chart wide">{inputs.figures.render(fig)}</div>')
    return "".join(out)
