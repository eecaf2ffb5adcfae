"""The ``adversarial`` axis: clean and robust accuracy under FGSM and PGD in [0,1] pixel space.

Goodfellow et al., "Explaining and Harnessing Adversarial Examples", ICLR 2015 (FGSM); Madry et al., "Towards
Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018 (PGD). The attacks are shifts
(:mod:`robustscope.shifts.attacks`), listed in the suite's ``shifts``; ``docs/axes/adversarial.md`` gives the
protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from robustscope.suites.axis import Axis, Headline, NoParams

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "adversarial_axis"]

PAPER = "Goodfellow et al., ICLR 2015 (FGSM); Madry et al., ICLR 2018 (PGD)"


def adversarial_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: NoParams
) -> list[pd.DataFrame]:
    """Clean and robust top-1 under each attack shift, in [0,1] pixel space (normalisation inside the model).

    The ``clean`` role (or the first dataset) under each of the suite's shifts (``none`` is the clean set).

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["adversarial"], world="tiny")
    """
    clean = datasets.get("clean") or next(iter(datasets.values()))
    return ev.metric_rows_many(clean, spec.shifts, ["top1"])  # every attack on one decode of each image


AXIS = Axis(
    name="adversarial",
    title="Adversarial robustness",
    summary="clean and robust accuracy under FGSM/PGD (Goodfellow et al. 2015; Madry et al. 2018)",
    paper=PAPER,
    params=NoParams,
    run=adversarial_axis,
    headlines=(
        Headline("top1", "none", "clean top-1"),
        Headline("top1", "fgsm", "FGSM top-1"),
        Headline("top1", "pgd", "PGD top-1"),
    ),
    doc="docs/axes/adversarial.md",
)
