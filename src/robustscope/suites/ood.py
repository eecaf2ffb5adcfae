"""The ``ood`` axis: AUROC, AUPR and FPR@95%TPR of OOD scores, in-distribution as the positive class.

Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and Out-of-Distribution Examples", ICLR 2017
(MSP), with max-logit, entropy (the seed benchmark's choice) and energy scores. ``docs/axes/ood.md`` gives
the protocol; :mod:`robustscope.metrics.ood` computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.errors import SpecError
from robustscope.metrics.ood import OOD_METHODS, aupr, auroc, fpr_at_tpr, ood_score
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "OOD_MEASURES", "Params", "ood_axis"]

PAPER = "Hendrycks & Gimpel, A Baseline for Detecting Misclassified and Out-of-Distribution Examples, ICLR 2017"

#: Measures of the OOD axis: name → function of (ID scores, OOD scores).
OOD_MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": auroc,
    "aupr": aupr,
    "fpr95": lambda id_scores, ood_scores: fpr_at_tpr(id_scores, ood_scores, tpr=0.95),
}


@dataclass(frozen=True)
class Params:
    """Params of the ``ood`` axis.

    Attributes:
        scores: OOD scores to compute (:func:`robustscope.metrics.ood.ood_score` methods).

    Example:
        >>> Params(("msp",)).scores
        ('msp',)
        >>> Params(("mps",))
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: scores: unknown OOD score 'mps'; choose from msp, maxlogit, entropy, energy
    """

    scores: tuple[str, ...] = ("entropy", "msp", "maxlogit", "energy")

    def __post_init__(self) -> None:
        for score in self.scores:
            if score not in OOD_METHODS:
                raise SpecError(f"scores: unknown OOD score {score!r}; choose from {', '.join(OOD_METHODS)}")


def ood_axis(ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params) -> list[pd.DataFrame]:
    """AUROC, AUPR and FPR@95%TPR (ID positive) of each score, per OOD set.

    The ID set is the role ``id``; every other role is an OOD set. Both go through the same model
    preprocessing (the seed code used different ones). Rows: ``{auroc,aupr,fpr95}_{score}`` with the
    OOD set as the dataset; CIs resample the ID and the OOD set separately (stratified by set).

    Example:
        >>> # run_suite("file:model", "synthetic-clones-offline", axes=["ood"], world="tiny")
    """
    if "id" not in datasets:
        return []
    id_predictions, id_key = ev.predict(datasets["id"])
    out = []
    for role, dataset in datasets.items():
        if role == "id":
            continue
        ood_predictions, key = ev.predict(dataset)
        records = []
        for method in params.scores:
            id_s, ood_s = ood_score(id_predictions.logits, method), ood_score(ood_predictions.logits, method)
            for measure, fn in OOD_MEASURES.items():
                protocol = {
                    "name": measure,
                    "score": method,
                    "positive": "in-distribution",
                    "id_dataset": datasets["id"].name,
                    "paper": "Hendrycks & Gimpel, ICLR 2017",
                    "ci_resampling": "ID and OOD sets resampled separately (stratified)",
                }
                ci = ev.two_sample_bootstrap(fn, id_s, ood_s)
                records.append(
                    ev.custom_row(f"{measure}_{method}", fn(id_s, ood_s), id_s.size + ood_s.size, protocol, ci)
                )
        out.append(ev.rows(pd.DataFrame(records), dataset, "none", f"{id_key}+{key}"))
    return out


AXIS = Axis(
    name="ood",
    title="OOD detection",
    summary="AUROC, AUPR, FPR@95%TPR of MSP/max-logit/entropy/energy scores, ID positive",
    paper=PAPER,
    params=Params,
    run=ood_axis,
    headlines=(Headline("auroc_entropy", "none", "OOD AUROC (entropy)"),),
    doc="docs/axes/ood.md",
)
