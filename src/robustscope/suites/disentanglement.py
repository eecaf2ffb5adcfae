"""The ``disentanglement`` axis: how separately a model's features encode the world's factors (MIG, DCI).

Roth et al., "Disentanglement of Correlated Factors via Hausdorff Factorized Support", ICLR 2023 (the metrics'
reference code: :mod:`robustscope.metrics.disentanglement`). Any model's penultimate features (cached by
:func:`~robustscope.engine.features.extract_features`) are scored against the dataset's factor columns: ``mig``
(Mutual Information Gap), ``dci_d`` (DCI-Disentanglement), ``dci_completeness`` and ``dci_informativeness``
(test accuracy of the boosted trees predicting each factor). No CIs: DCI refits gradient-boosted trees per
factor, so a bootstrap would cost a thousand fits; ``robustscope study disentangle`` gives CIs over training seeds
instead. ``docs/axes/disentanglement.md`` gives the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.errors import SpecError
from robustscope.metrics.disentanglement import MIG_BINS, dci, mig
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "Params", "disentanglement_axis"]

PAPER = "Roth et al., Disentanglement of Correlated Factors via Hausdorff Factorized Support, ICLR 2023"


@dataclass(frozen=True)
class Params:
    """Params of the ``disentanglement`` axis.

    Attributes:
        factors: factor columns of the dataset (``label``: the class); each must vary.
        dci_train, dci_test: samples fitting and testing DCI's trees (capped at 2/3 and 1/3 of the set).
        bins: MIG's digitisation bins, and DCI's for continuous factors.

    Example:
        >>> Params(factors=("label",))
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: factors: MIG and DCI need at least two factors, got ('label',)
    """

    factors: tuple[str, ...] = ("label", "character_rotation_yaw", "character_scale", "position_x", "light_azimuth")
    dci_train: int = 10_000
    dci_test: int = 5_000
    bins: int = MIG_BINS

    def __post_init__(self) -> None:
        if len(self.factors) < 2:
            raise SpecError(f"factors: MIG and DCI need at least two factors, got {self.factors}")
        if self.bins < 2 or self.dci_train < 1 or self.dci_test < 1:
            raise SpecError("bins must be ≥ 2 and dci_train, dci_test ≥ 1")


def _factor_matrix(manifest: pd.DataFrame, factors: tuple[str, ...], name: str) -> np.ndarray:
    missing = [f for f in factors if f not in manifest.columns]
    if missing:
        raise SpecError(f"axis disentanglement: {name} has no factor column(s) {missing}; "
                        f"it has {list(manifest.columns)}")
    columns = []
    for factor in factors:
        column = manifest[factor]
        numeric = pd.to_numeric(column, errors="coerce")
        columns.append(numeric.to_numpy(float) if numeric.notna().all() else pd.Categorical(column).codes.astype(float))
    return np.column_stack(columns)


def disentanglement_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params
) -> list[pd.DataFrame]:
    """MIG and DCI rows of the model's penultimate features on each dataset.

    Example:
        >>> # run_suite("file:model", "disentanglement-offline", world="demo")
    """
    from robustscope.engine.features import extract_features

    runner = ev.runner
    frames = []
    for dataset in datasets.values():
        features = extract_features(ev.model, dataset, store=runner.store, batch_size=runner.batch_size,
                                    device=runner.device, progress=runner.progress, seed=ev.seed,
                                    on_bad_image=runner.on_bad_image, content_index=runner.content_index)  # fmt: skip
        manifest = dataset.manifest.set_index("sample_id").loc[features.sample_ids].reset_index()
        factors = _factor_matrix(manifest, params.factors, dataset.name)
        n_train = min(params.dci_train, len(factors) * 2 // 3)
        n_test = min(params.dci_test, len(factors) - n_train)
        scores = dci(features.features, factors, num_train=n_train, num_test=n_test, seed=ev.seed, bins=params.bins)
        protocol = {"paper": PAPER, "factors": list(params.factors), "bins": params.bins, "dci_train": n_train,
                    "dci_test": n_test, "representation": f"penultimate features ({features.head_path})"}  # fmt: skip
        values = {"mig": mig(features.features, factors, params.bins), "dci_d": scores.disentanglement,
                  "dci_completeness": scores.completeness,
                  "dci_informativeness": scores.informativeness_test}  # fmt: skip
        rows = [ev.custom_row(name, value, len(factors), {**protocol, "name": name}) for name, value in values.items()]
        frames.append(ev.rows(pd.DataFrame(rows), dataset, "none", features.key))
    return frames


AXIS = Axis(
    name="disentanglement",
    title="Disentanglement",
    summary="MIG and DCI-Disentanglement of the penultimate features w.r.t. the world's factors",
    paper=PAPER,
    params=Params,
    run=disentanglement_axis,
    headlines=(Headline("dci_d", "none", "DCI-D", datasets="first"), Headline("mig", "none", "MIG", datasets="first")),
    doc="docs/axes/disentanglement.md",
)
