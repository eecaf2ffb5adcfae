"""The ``context_bias`` axis: accuracy P_k with k uncommon context attributes (FOCUS, Kattakinda & Feizi, ICML 2022).

``docs/axes/context-bias.md`` gives the protocol; :func:`robustscope.metrics.bias.context_bias` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.metrics.bias import context_bias
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "Params", "context_bias_axis"]

PAPER = "Kattakinda & Feizi, FOCUS: Familiar Objects in Common and Uncommon Settings, ICML 2022"


@dataclass(frozen=True)
class Params:
    """Params of the ``context_bias`` axis.

    Attributes:
        attributes: context attributes to slice ``top1`` by (those the dataset has).

    Example:
        >>> Params().attributes
        ('lighting', 'weather', 'location', 'time')
    """

    attributes: tuple[str, ...] = ("lighting", "weather", "location", "time")


def context_bias_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params
) -> list[pd.DataFrame]:
    """P_k (top-1 accuracy with k uncommon attributes) and its relative drop (FOCUS, ICML 2022).

    Correct means the top-1 lies in the true class's set (``top1_in_set`` label sets; with the model's
    own classes, plain top-1). Rows: ``P0``, ``P1``, … with bootstrap CIs, ``relative_drop_P1``, …, the absolute
    drops ``drop_P1`` = P0 − P1, … with two-sample bootstrap CIs, and
    ``top1`` sliced by each context attribute the dataset has.

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["context_bias"], world="tiny")
    """
    out = []
    protocol = {
        "name": "context_bias",
        "paper": "Kattakinda & Feizi, ICML 2022 (FOCUS)",
        "definition": "P_k = top-1 accuracy on images with k uncommon attributes; drop = (P0 - Pk) / P0",
    }
    for dataset in datasets.values():
        predictions, key = ev.predict(dataset)
        correct = (predictions.logits.argmax(axis=1) == predictions.labels).astype(float)
        k = pd.to_numeric(predictions.factors["n_uncommon"]).to_numpy().astype(int)
        result = context_bias(correct, k)
        records = []
        for kk, accuracy in result.accuracy.items():
            records.append(
                ev.custom_row(f"P{kk}", accuracy, result.counts[kk], protocol, ev.bootstrap(np.mean, correct[k == kk]))
            )
        for kk, drop in result.relative_drop.items():
            if kk > 0:
                records.append(ev.custom_row(f"relative_drop_P{kk}", drop, result.counts[kk], protocol))
                # The absolute drop, with a CI (the two groups resampled separately): what "no effect" is tested on.
                first, other = correct[k == 0], correct[k == kk]
                ci = ev.two_sample_bootstrap(lambda a, b: float(a.mean() - b.mean()), first, other)
                gap = result.accuracy[0] - result.accuracy[kk]
                records.append(ev.custom_row(f"drop_P{kk}", gap, int(first.size + other.size), protocol, ci))
        out.append(ev.rows(pd.DataFrame(records), dataset, "none", key))
        attributes = [c for c in params.attributes if c in predictions.factors.columns]
        if attributes:
            table = ev.metric_table(predictions, ["top1"], attributes)
            out.append(ev.rows(table[table["slice_factor"] != ""], dataset, "none", key))
    return out


AXIS = Axis(
    name="context_bias",
    title="Context bias",
    summary="accuracy P_k with k uncommon context attributes and its relative drop (FOCUS, ICML 2022)",
    paper=PAPER,
    params=Params,
    run=context_bias_axis,
    headlines=(
        Headline("P0", "none", "context P0"),
        Headline("P1", "none", "context P1"),
        Headline("P2", "none", "context P2"),
    ),
    doc="docs/axes/context-bias.md",
)
