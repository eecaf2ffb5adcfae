"""The ``corruptions`` axis: accuracy per ImageNet-C corruption and severity, its mean, mCE and relative mCE.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
ICLR 2019. ``docs/axes/corruptions.md`` gives the protocol; :mod:`robustscope.metrics.corruption` computes
mCE, :mod:`robustscope.shifts.corruptions` corrupts images on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from robustscope.errors import SpecError
from robustscope.metrics.corruption import IMAGENET_C_CORRUPTIONS, mce, relative_mce
from robustscope.models.labels import IMAGENET_1K
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "Params", "corruptions_axis"]

PAPER = "Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and Perturbations, ICLR 2019"  # noqa: E501


@dataclass(frozen=True)
class Params:
    """Params of the ``corruptions`` axis.

    Attributes:
        corruptions: ``common`` (the 15 ImageNet-C corruptions), ``all`` (the 19 with the extra four) or a
            list of corruption names, for the sets corrupted on the fly.
        severities: severities (1-5) corrupted on the fly.
        on_the_fly: ``auto`` (corrupt the clean set when no precomputed 2-D set is there), ``always`` or ``never``.

    Example:
        >>> Params(severities=(3,)).names()[:2]
        ['gaussian_noise', 'shot_noise']
        >>> Params(corruptions=("fgo",))
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: corruptions: unknown corruption 'fgo'; did you mean 'fog'?
    """

    corruptions: Literal["common", "all"] | tuple[str, ...] = "common"
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    on_the_fly: Literal["auto", "always", "never"] = "auto"

    def __post_init__(self) -> None:
        from robustscope.registry import suggest
        from robustscope.shifts.corruptions import CORRUPTIONS

        for name in () if isinstance(self.corruptions, str) else self.corruptions:
            if name not in CORRUPTIONS:
                hint = suggest(name, CORRUPTIONS.keys())
                raise SpecError(
                    f"corruptions: unknown corruption {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else f"; choose from {', '.join(CORRUPTIONS.keys())}")
                )
        bad = [s for s in self.severities if not 1 <= s <= 5]
        if bad:
            raise SpecError(f"severities: {bad[0]} is not a severity; ImageNet-C has severities 1 to 5")

    def names(self) -> list[str]:
        """The corruptions to apply on the fly, by name."""
        from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS

        if self.corruptions == "common":
            return list(COMMON_CORRUPTIONS)
        if self.corruptions == "all":
            return list(CORRUPTIONS.keys())
        return list(self.corruptions)


def corruptions_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params
) -> list[pd.DataFrame]:
    """Top-1 per (corruption, severity), their mean, and mCE / relative mCE against AlexNet.

    Precomputed sets (ImageNet-C, ImageNet-3DCC: ``corruption`` and ``severity`` factors) are sliced per
    (corruption, severity); with ``on_the_fly: auto`` and no precomputed 2-D set, the ``clean`` set is
    corrupted on the fly by :mod:`robustscope.shifts`. Every (corruption, severity) is its own set, so
    nothing accumulates across sets (the seed code's running average did). mCE and relative mCE need an
    ImageNet-1k model and all 15 corruptions at 5 severities.

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["corruptions"], world="tiny")
    """
    clean = datasets.get("clean")
    precomputed = {r: d for r, d in datasets.items() if r != "clean"}
    out: list[pd.DataFrame] = []
    accuracy: dict[str, dict[tuple[str, int], float]] = {}
    for role, dataset in precomputed.items():
        predictions, key = ev.predict(dataset)
        factors = predictions.factors
        cells = factors["corruption"].astype(str) + ":" + factors["severity"].astype(str)
        by_cell = replace(predictions, factors=pd.DataFrame({"corruption_severity": cells}))
        table = ev.metric_table(by_cell, ["top1"], ["corruption_severity"])
        out.append(ev.rows(table, dataset, "none", key))
        sliced = table[table["slice_factor"] != ""]
        accuracy[role] = {
            (v.split(":")[0], int(v.split(":")[1])): a
            for v, a in zip(sliced["slice_value"], sliced["value"], strict=True)
        }
    has_2d = any(role != "imagenet_3dcc" for role in precomputed)
    clean_accuracy = None
    if clean is not None:
        cells = []
        if params.on_the_fly == "always" or (params.on_the_fly == "auto" and not has_2d):
            cells = [(name, severity) for name in params.names() for severity in params.severities]
        # The clean set and every cell in one pass: each image is decoded once for all of them.
        clean_rows, *cell_rows = ev.metric_rows_many(
            clean, ["none", *(f"corruption:{name}:{severity}" for name, severity in cells)], ["top1"]
        )
        out.append(clean_rows)
        clean_accuracy = float(clean_rows["value"].iloc[0])
        if cells:
            out.extend(cell_rows)
            accuracy["on_the_fly"] = {c: float(rows["value"].iloc[0]) for c, rows in zip(cells, cell_rows, strict=True)}
    summary_dataset = clean if clean is not None else next(iter(precomputed.values()), None)
    if summary_dataset is None:
        return out
    records = _summary_records(ev, accuracy, clean_accuracy)
    if records:
        out.append(ev.rows(pd.DataFrame(records), summary_dataset, "summary", ""))
    return out


def _summary_records(
    ev: Evaluation, accuracy: dict[str, dict[tuple[str, int], float]], clean_accuracy: float | None
) -> list[dict[str, object]]:
    """Mean corruption top-1 per source; mCE and relative mCE where the model and the cells allow them."""
    records = []
    for source, cells in accuracy.items():
        if not cells:
            continue
        protocol = {"name": "mean_corruption_top1", "source": source, "paper": "Hendrycks & Dietterich, ICLR 2019",
                    "cells": len(cells)}  # fmt: skip
        mean = float(np.mean(list(cells.values())))
        records.append(ev.custom_row(f"mean_corruption_top1[{source}]", mean, len(cells), protocol))
        table = pd.DataFrame(
            {s: {c: 1 - cells.get((c, s), np.nan) for c in IMAGENET_C_CORRUPTIONS} for s in (1, 2, 3, 4, 5)}
        )
        imagenet = ev.model.label_space == IMAGENET_1K and source != "imagenet_3dcc"
        if imagenet and not table.isna().any().any():
            base = {"baseline": "AlexNet (Hendrycks & Dietterich, ICLR 2019)", "source": source}
            records.append(ev.custom_row(f"mce[{source}]", mce(table), len(cells), {"name": "mCE", **base}))
            if clean_accuracy is not None:
                relative = relative_mce(table, 1 - clean_accuracy)
                records.append(
                    ev.custom_row(f"relative_mce[{source}]", relative, len(cells), {"name": "relative mCE", **base})
                )
    return records


AXIS = Axis(
    name="corruptions",
    title="Common corruptions",
    summary="accuracy per ImageNet-C corruption and severity, mean, mCE (Hendrycks & Dietterich, ICLR 2019)",
    paper=PAPER,
    params=Params,
    run=corruptions_axis,
    headlines=(Headline("mean_corruption_top1", "summary", "corruption top-1"),),
    doc="docs/axes/corruptions.md",
)
