"""The ``calibration`` axis: ECE (20 bins in the seed benchmark), adaptive and class-wise ECE, NLL, Brier.

Guo et al., "On Calibration of Modern Neural Networks", ICML 2017. ``docs/axes/calibration.md`` gives the
protocol; the metrics are the registry's (:mod:`robustscope.metrics.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from robustscope.errors import SpecError, UnknownNameError
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "Params", "calibration_axis"]

PAPER = "Guo et al., On Calibration of Modern Neural Networks, ICML 2017"


@dataclass(frozen=True)
class Params:
    """Params of the ``calibration`` axis.

    Attributes:
        metrics: registry metrics computed on every dataset (``robustscope list metrics``).

    Example:
        >>> Params(("top1", "ece")).metrics
        ('top1', 'ece')
        >>> Params(("top1", "ece51"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: metrics: unknown metric 'ece51'...
    """

    metrics: tuple[str, ...] = ("top1", "ece20", "adaptive_ece20", "classwise_ece20", "nll", "brier")

    def __post_init__(self) -> None:
        from robustscope.metrics.registry import get_metric

        for name in self.metrics:
            try:
                get_metric(name)
            except UnknownNameError as err:
                raise SpecError(f"metrics: {err}") from None


def calibration_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params
) -> list[pd.DataFrame]:
    """ECE (20 bins in the seed benchmark), adaptive and class-wise ECE, NLL, Brier, top-1 per dataset.

    ImageNet-R/-A are scored over their 200 classes (their ``subset`` label sets) before the softmax.

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["calibration"], world="tiny")
    """
    return [ev.metric_rows(dataset, "none", params.metrics) for dataset in datasets.values()]


AXIS = Axis(
    name="calibration",
    title="Calibration",
    summary="ECE, adaptive and class-wise ECE, NLL, Brier (Guo et al., ICML 2017)",
    paper=PAPER,
    params=Params,
    run=calibration_axis,
    # ECE on the first calibration set: the ID test set (the others, ImageNet-R/-A, are shifted sets).
    headlines=(Headline("ece20", "none", "ECE (20 bins)", datasets="first"),),
    doc="docs/axes/calibration.md",
)
