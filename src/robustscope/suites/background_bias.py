"""The ``background_bias`` axis: accuracy per ImageNet-9 variant and the BG-gap (Xiao et al., ICLR 2021).

``docs/axes/background-bias.md`` gives the protocol; :func:`robustscope.metrics.bias.background_gap` computes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from robustscope.metrics.bias import background_gap
from robustscope.suites.axis import Axis, Headline, NoParams

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "background_bias_axis"]

PAPER = "Xiao et al., Noise or Signal: The Role of Image Backgrounds in Object Recognition, ICLR 2021"


def background_bias_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: NoParams
) -> list[pd.DataFrame]:
    """Accuracy per ImageNet-9 variant and BG-gap = acc(mixed_same) − acc(mixed_rand) (Xiao et al., ICLR 2021).

    Inputs are normalised like every other input (the seed code forgot to). Rows: ``top1`` sliced by
    ``variant``, and ``bg_gap`` with a bootstrap CI (the two variants resampled separately).

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["background_bias"], world="tiny")
    """
    out = []
    protocol = {
        "name": "bg_gap",
        "paper": "Xiao et al., ICLR 2021 (ImageNet-9)",
        "definition": "acc(mixed_same) - acc(mixed_rand), 9-way after the label-set mapping",
    }
    for dataset in datasets.values():
        predictions, key = ev.predict(dataset)
        table = ev.metric_table(predictions, ["top1"], ["variant"])
        rows = [ev.rows(table[table["slice_factor"] == "variant"], dataset, "none", key)]
        variant = predictions.factors["variant"].astype(str).to_numpy()
        correct = (predictions.logits.argmax(axis=1) == predictions.labels).astype(float)
        same, rand = correct[variant == "mixed_same"], correct[variant == "mixed_rand"]
        if same.size and rand.size:
            gap = background_gap(float(same.mean()), float(rand.mean()))
            ci = ev.two_sample_bootstrap(lambda a, b: float(a.mean() - b.mean()), same, rand)
            record = ev.custom_row("bg_gap", gap, int(same.size + rand.size), protocol, ci)
            rows.append(ev.rows(pd.DataFrame([record]), dataset, "none", key))
        out.extend(rows)
    return out


AXIS = Axis(
    name="background_bias",
    title="Background bias",
    summary="accuracy per background variant and BG-gap (ImageNet-9, Xiao et al., ICLR 2021)",
    paper=PAPER,
    params=NoParams,
    run=background_bias_axis,
    headlines=(Headline("bg_gap", "none", "BG-gap"),),
    doc="docs/axes/background-bias.md",
)
