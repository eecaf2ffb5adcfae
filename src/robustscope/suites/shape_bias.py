"""The ``shape_bias`` axis: shape vs texture decisions on cue-conflict images (Geirhos et al., ICLR 2019).

``docs/axes/shape-bias.md`` gives the protocol; :func:`robustscope.metrics.bias.shape_bias_from_decisions`
computes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.metrics.bias import shape_bias_from_decisions
from robustscope.suites.axis import Axis, Headline, NoParams

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "shape_bias_axis"]

PAPER = "Geirhos et al., ImageNet-trained CNNs are biased towards texture, ICLR 2019"


def _ratio(shape_hit: np.ndarray, texture_hit: np.ndarray) -> float:
    total = shape_hit.sum() + texture_hit.sum()
    return float(shape_hit.sum() / total) if total else float("nan")


def shape_bias_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: NoParams
) -> list[pd.DataFrame]:
    """Shape bias on cue-conflict images, overall and per shape category (Geirhos et al., ICLR 2019).

    The decision is the argmax over the dataset's categories of the mean probability of each category's
    model classes (the dataset's ``mean_prob`` label sets); images whose shape and texture agree are
    skipped. Rows: ``shape_bias`` (overall, and sliced by ``shape``), ``shape_match`` and
    ``texture_match`` (fractions of kept images decided by shape / by texture).

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["shape_bias"], world="tiny")
    """
    out = []
    protocol = {
        "name": "shape_bias",
        "paper": "Geirhos et al., ICLR 2019",
        "decision": "mean probability per category",
        "skip": "images whose shape and texture labels agree",
    }
    for dataset in datasets.values():
        predictions, key = ev.predict(dataset)
        names = np.asarray(predictions.class_names, dtype=object)
        decisions = names[predictions.logits.argmax(axis=1)]
        shape = predictions.factors["shape"].astype(str).to_numpy()
        texture = predictions.factors["texture"].astype(str).to_numpy()
        result = shape_bias_from_decisions(decisions, shape, texture)
        keep = shape != texture
        shape_hit = (decisions == shape)[keep].astype(float)
        texture_hit = (decisions == texture)[keep].astype(float)
        records = [
            ev.custom_row(
                "shape_bias", result.overall, result.n_conflict, protocol, ev.bootstrap(_ratio, shape_hit, texture_hit)
            ),
            ev.custom_row(
                "shape_match",
                shape_hit.mean() if keep.any() else np.nan,
                result.n_conflict,
                protocol,
                ev.bootstrap(np.mean, shape_hit),
            ),
            ev.custom_row(
                "texture_match",
                texture_hit.mean() if keep.any() else np.nan,
                result.n_conflict,
                protocol,
                ev.bootstrap(np.mean, texture_hit),
            ),
        ]
        kept_shapes = shape[keep]
        for category, value in result.per_category.items():
            rows = kept_shapes == category
            records.append(
                ev.custom_row(
                    "shape_bias",
                    value,
                    int(rows.sum()),
                    protocol,
                    ev.bootstrap(_ratio, shape_hit[rows], texture_hit[rows]),
                    slice_factor="shape",
                    slice_value=str(category),
                )
            )
        out.append(ev.rows(pd.DataFrame(records), dataset, "none", key))
    return out


AXIS = Axis(
    name="shape_bias",
    title="Shape bias",
    summary="shape vs texture decisions on cue-conflict images (Geirhos et al., ICLR 2019)",
    paper=PAPER,
    params=NoParams,
    run=shape_bias_axis,
    headlines=(Headline("shape_bias", "none", "shape bias"),),
    doc="docs/axes/shape-bias.md",
)
