"""Report view of the models: what each network was fed, so a number can be read with its input pipeline.

One row per model (by fingerprint): the effective transform in words (colour, resize, crop,
normalisation; :meth:`robustscope.models.Preprocessing.describe`), the preprocessing values that were
assumed rather than given (highlighted: a model wrapped without its own preprocessing was fed 224 px
ImageNet-normalised crops, which may not be what it was trained on), label space and class count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from robustscope.report.kit import esc

__all__ = ["models_section"]


def models_section(models: Sequence[dict[str, Any]]) -> str:
    """The HTML ``<section>`` listing ``models`` (``Model.describe()`` dicts); empty when there are none.

    Example:
        >>> info = {"name": "toy", "fingerprint": "abc", "transform": "RGB; centre-crop 8×8",
        ...         "assumed": ["crop_pct"], "label_space": "custom", "num_classes": 2}
        >>> page = models_section([info])
        >>> "centre-crop 8×8" in page and "assumed: crop_pct" in page
        True
    """
    seen: set[str] = set()
    rows = []
    for info in models:
        identity = str(info.get("fingerprint") or info.get("name"))
        if identity in seen:
            continue
        seen.add(identity)
        assumed = list(info.get("assumed") or [])
        flag = f'<div class="assumed">assumed: {esc(", ".join(assumed))} (defaults, not given)</div>' if assumed else ""
        transform = str(info.get("transform") or info.get("preprocessing") or "not recorded")
        transform = transform.split("; assumed:")[0]  # the assumed values get their own, highlighted line
        rows.append(
            "<tr>"
            f'<td class="model">{esc(info.get("name", ""))}</td>'
            f"<td><code>{esc(info.get('fingerprint', ''))}</code></td>"
            f'<td class="transform">{esc(transform)}{flag}</td>'
            f"<td>{esc(info.get('label_space', ''))}</td>"
            f"<td>{esc(info.get('num_classes', ''))}</td>"
            "</tr>"
        )
    if not rows:
        return ""
    return (
        '<section id="models">\n<h2>Models and their input pipelines</h2>\n'
        '<p class="note">What each network saw: its preprocessing, applied before every shift. Values marked '
        "assumed were defaults, not the model's own.</p>\n"
        '<div class="table-wrap"><table class="results"><thead><tr><th class="model">model</th><th>fingerprint</th>'
        "<th>transform</th><th>label space</th><th>classes</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>\n</section>"
    )
