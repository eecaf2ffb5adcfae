"""The report's mitigation view: each mitigated model against its base, per axis, and the Whac-A-Mole matrix.

Drawn only when the workspace holds a mitigated model and its base (found by
:func:`robustscope.suites.before_after.mitigations_in_store`); a report without one is unchanged. Per axis,
the headline rows of the before/after table: the base's and the mitigated model's values with their own CIs
and the change with its *paired* CI (the same images resampled for both models); a change whose paired CI
excludes 0 is tinted. A change without a paired CI says why on hover. With the shortcuts axis, the
Whac-A-Mole matrix follows (:mod:`robustscope.suites.whac_a_mole`): models × each shortcut's gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from robustscope.report.kit import Cell, esc, finite, ordered_unique, slug, table

if TYPE_CHECKING:
    from robustscope.suites.before_after import BeforeAfter

__all__ = ["mitigation_sections"]

_NOTE = (
    '<p class="note">Before: the base model; after: the mitigated model; change = after − before on the same '
    "images, with its paired bootstrap CI (both models scored on each resample of the images). Tinted: the paired "
    "CI of the change excludes 0. Rows whose statistic is not a function of one resampled prediction set show the "
    "change without a CI (hover for why).</p>"
)


def _excludes_zero(low: float, high: float) -> bool:
    return finite(low) and finite(high) and (low > 0 or high < 0)


def _axis_table(result: BeforeAfter, axis: str) -> str:
    """The headline rows of one axis: (dataset · shift · metric) rows × before / after / change columns."""
    rows = result.headlines()
    rows = rows[rows.axis == axis]
    if rows.empty:
        return ""
    several = rows.dataset.nunique() > 1
    labels, cells, marks = [], {}, {}
    columns = [("", "before"), ("", "after"), ("", "change")]
    for r in rows.itertuples(index=False):
        label = f"{r.metric} · {r.shift}" + (f" · {r.dataset}" if several else "")
        labels.append(label)
        cells[(label, "", "before")] = (r.before, r.before_ci_low, r.before_ci_high, r.n)
        cells[(label, "", "after")] = (r.after, r.after_ci_low, r.after_ci_high, r.n)
        change: Cell = (r.difference, r.ci_low, r.ci_high, r.n)
        cells[(label, "", "change")] = change
        if r.paired:
            hover = f"{r.resampling}; p = {r.p_value:.3g}"
            css = "differs" if _excludes_zero(r.ci_low, r.ci_high) else ""
        else:
            hover, css = str(r.resampling), ""
        marks[(label, "", "change")] = (css, hover)
    tips = {("", "change"): "after − before, paired bootstrap CI"}
    return table(ordered_unique(labels), columns, cells, tips, corner="metric · shift", marks=marks)


def _matrix(results: Sequence[BeforeAfter]) -> str:
    """The Whac-A-Mole matrix of mitigations of one base: values with CIs, then changes with paired CIs."""
    from robustscope.suites.whac_a_mole import whac_a_mole_from_tables

    matrix = whac_a_mole_from_tables(results)
    entries = matrix.entries
    if entries.empty:
        return ""
    several = entries.groupby("column")["dataset"].nunique().max() > 1
    entries = entries.assign(
        label=[f"{c} · {d}" if several else str(c) for c, d in zip(entries.column, entries.dataset, strict=True)]
    )
    models = ordered_unique(entries.model)
    columns = [("", label) for label in ordered_unique(entries.label)]
    values = {(str(e.model), "", e.label): (e.value, e.ci_low, e.ci_high, None) for e in entries.itertuples()}
    changed = entries[np.isfinite(entries.change.astype(float))]
    changes = {(str(e.model), "", e.label): (e.change, e.change_ci_low, e.change_ci_high, None)
               for e in changed.itertuples()}  # fmt: skip
    marks = {
        (str(e.model), "", e.label): ("differs" if e.paired and _excludes_zero(e.change_ci_low, e.change_ci_high)
                                      else "", "paired CI" if e.paired else "not paired")
        for e in changed.itertuples()
    }  # fmt: skip
    return (
        f"<h3>Whac-A-Mole matrix <small>· base {esc(matrix.base)}</small></h3>"
        '<p class="note">Li et al., CVPR 2023: mitigating one shortcut can widen another. Each model\'s gaps '
        "(value [CI of the shortcuts axis]); a gap is accuracy on the shortcut-absent group minus I.D. accuracy "
        "(negative: the model leans on the shortcut).</p>"
        + table(models, columns, values, corner="model")
        + '<p class="note">Change against the base (paired CI; tinted where it excludes 0).</p>'
        + table([m for m in models if m != matrix.base], columns, changes, corner="mitigated model", marks=marks)
    )


def mitigation_sections(results: Sequence[BeforeAfter]) -> tuple[str, list[tuple[str, str]]]:
    """HTML ``<section>``s of the mitigation view and their (anchor, title) table-of-contents entries.

    One section per (suite, base): each mitigated model's per-axis before/after tables, then the Whac-A-Mole
    matrix when the suite has the shortcuts axis. No result gives ``("", [])``.

    Example:
        >>> import pandas as pd
        >>> from robustscope.suites.before_after import BEFORE_AFTER_COLUMNS, BeforeAfter
        >>> row = ["calibration", "d", "none", "top1", True, 0.5, 0.4, 0.6, 0.7, 0.6, 0.8, 0.2, 0.1, 0.3, 0.01, 100,
        ...        True, "paired bootstrap over images"]
        >>> result = BeforeAfter("erm", "dfr", "dfr", "s", pd.DataFrame([dict(zip(BEFORE_AFTER_COLUMNS, row))]))
        >>> html_text, toc = mitigation_sections([result])
        >>> toc, '<td class="differs"' in html_text
        ([('mitigation-s-erm', 's: mitigations of erm')], True)
        >>> mitigation_sections([])
        ('', [])
    """
    if not results:
        return "", []
    from robustscope.suites.registry import axis_names, get_axis

    out, toc = [], []
    groups: dict[tuple[str, str], list[BeforeAfter]] = {}
    for result in results:
        groups.setdefault((result.suite, result.base_fingerprint or result.base), []).append(result)
    for (suite, _), group in groups.items():
        base = group[0].base
        anchor = f"mitigation-{slug(suite)}-{slug(base)}"
        toc.append((anchor, f"{suite}: mitigations of {base}"))
        parts = [f'<section id="{anchor}"><h2>Mitigations of {esc(base)} <small>· {esc(suite)}</small></h2>{_NOTE}']
        for result in group:
            method = f" ({esc(result.method)})" if result.method else ""
            parts.append(f"<h3>{esc(result.mitigated)}{method} vs {esc(base)}</h3>")
            present = set(result.table.axis)
            axes = [a for a in axis_names() if a in present] + [a for a in ordered_unique(result.table.axis)
                                                                 if a not in axis_names()]  # fmt: skip
            for axis in axes:
                body = _axis_table(result, axis)
                if body:
                    title = get_axis(axis).title if axis in axis_names() else axis
                    parts.append(f"<h4>{esc(title)}</h4>{body}")
        if any((r.table.axis == "shortcuts").any() for r in group):
            parts.append(_matrix(group))
        parts.append("</section>")
        out.append("".join(parts))
    return "".join(out), toc
