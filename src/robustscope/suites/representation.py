"""The ``representation`` axis: what a backbone's penultimate features know, whatever its classifier does.

- **kNN** (DINO's ``eval_knn.py`` weighted kNN: :mod:`robustscope.metrics.representation`): ``knn_top1`` and
  ``knn_top5`` of each evaluation set against the ``train`` role's features (k = 20, T = 0.07 by default).
- **Linear probe** (:mod:`robustscope.metrics.linear_probe`, robustscope's fixed protocol): ``probe_top1`` of a
  logistic regression fitted on the ``train`` features; the chosen C is in the row's protocol.
- **RankMe** (Garrido et al., ICML 2023): ``rankme`` of each set's embedding matrix (no CI: resampling rows with
  replacement duplicates rows, which lowers the rank by construction).
- **Alignment and uniformity** (Wang & Isola, ICML 2020) on a dataset with an ``instance`` factor (e.g.
  ``synth-pairs:WORLD:SPLIT:0,30``: the same instance under two poses): ``alignment`` over every pair of images of
  one instance, ``uniformity`` over all images; CIs resample instances.

kNN and probe accuracies are per-sample, so they get the same percentile-bootstrap CIs and the same slices by the
world's factors as every other accuracy (``slice_by``, binned as :func:`robustscope.evaluate` bins). Features
come from :func:`~robustscope.engine.features.extract_features`, cached in the prediction store: a second run, or
another axis that needs them, does not run the backbone again. Datasets: role ``train`` (required) is the kNN bank
and the probe's training set; every other role is evaluated. Classes are matched by name, so every evaluation set
must use the train set's classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from robustscope.errors import SpecError
from robustscope.metrics.linear_probe import PROBE_GRID, linear_probe
from robustscope.metrics.representation import KNN_K, KNN_TEMPERATURE, alignment, knn_scores, rankme, uniformity
from robustscope.suites.axis import Axis, Headline

if TYPE_CHECKING:
    from robustscope.data.base import Dataset
    from robustscope.engine.evaluation import Evaluation
    from robustscope.engine.features import FeatureSet
    from robustscope.suites.axis_spec import AxisSpec

__all__ = ["AXIS", "Params", "representation_axis"]

PAPER = "Caron et al., Emerging Properties in Self-Supervised Vision Transformers, ICCV 2021 (kNN protocol)"
ALIGN_PAPER = "Wang & Isola, Understanding Contrastive Representation Learning through Alignment and Uniformity on the Hypersphere, ICML 2020"  # noqa: E501
RANKME_PAPER = "Garrido et al., RankMe: Assessing the Downstream Performance of Pretrained Self-Supervised Representations by Their Rank, ICML 2023"  # noqa: E501


@dataclass(frozen=True)
class Params:
    """Params of the ``representation`` axis.

    Attributes:
        k, temperature: the kNN's neighbours and vote temperature (DINO: 20, 0.07).
        probe: fit the linear probe (scikit-learn; the ``mitigate`` extra).
        probe_grid: the probe's C grid.
        slice_by: factor columns to slice kNN and probe accuracies by (``all``: every informative factor, binned;
            ``none``: no slices).
        rankme: compute RankMe of each evaluation set.

    Example:
        >>> Params(k=0)
        Traceback (most recent call last):
        ...
        robustscope.errors.SpecError: k: the kNN needs at least one neighbour, got 0
    """

    k: int = KNN_K
    temperature: float = KNN_TEMPERATURE
    probe: bool = True
    probe_grid: tuple[float, ...] = PROBE_GRID
    slice_by: str | tuple[str, ...] = "all"
    rankme: bool = True

    def __post_init__(self) -> None:
        if self.k < 1:
            raise SpecError(f"k: the kNN needs at least one neighbour, got {self.k}")
        if self.temperature <= 0:
            raise SpecError(f"temperature must be positive, got {self.temperature}")
        if not self.probe_grid or min(self.probe_grid) <= 0:
            raise SpecError(f"probe_grid: positive inverse regularisation strengths, got {self.probe_grid}")


def _features(ev: Evaluation, dataset: Dataset) -> FeatureSet:
    from robustscope.engine.features import extract_features

    runner = ev.runner
    return extract_features(ev.model, dataset, store=runner.store, batch_size=runner.batch_size, device=runner.device,
                            progress=runner.progress, seed=ev.seed, on_bad_image=runner.on_bad_image,
                            content_index=runner.content_index)  # fmt: skip


def _renamed(table: pd.DataFrame, prefix: str, extra: dict[str, object]) -> pd.DataFrame:
    """Registry rows (``top1``…) as this axis's metrics (``knn_top1``…), the protocol naming what was classified."""
    out = table.copy()
    out["metric"] = prefix + out["metric"]
    out["protocol"] = [json.dumps({**json.loads(p), **extra}, sort_keys=True, default=str) for p in out["protocol"]]
    return out


def _slice_by(params: Params) -> str | list[str] | None:
    if params.slice_by == "none":
        return None
    return params.slice_by if isinstance(params.slice_by, str) else list(params.slice_by)


def _knn_table(ev: Evaluation, bank: FeatureSet, evaluated: FeatureSet, params: Params) -> pd.DataFrame:
    """``knn_top1``/``knn_top5`` rows: the kNN's log-votes as logits (top-k by votes; ties to the lower class index,
    as :func:`~robustscope.metrics.representation.knn_correct` breaks them)."""
    from robustscope.engine.predictions import Predictions

    scores = knn_scores(bank.features, bank.labels, evaluated.features, len(bank.class_names), k=params.k,
                        temperature=params.temperature)  # fmt: skip
    knn = Predictions(evaluated.sample_ids, np.log(scores + 1e-30), evaluated.labels, evaluated.factors,
                      bank.class_names)  # fmt: skip
    protocol = {"classifier": "weighted kNN (DINO eval_knn.py)", "k": params.k, "temperature": params.temperature,
                "bank": bank.key, "paper": PAPER}  # fmt: skip
    return _renamed(ev.metric_table(knn, ["top1", "top5"], _slice_by(params), binned=True), "knn_", protocol)


def _probe_table(ev: Evaluation, bank: FeatureSet, evaluated: FeatureSet, params: Params) -> pd.DataFrame:
    """``probe_top1`` rows: the probe's log-probabilities as logits (a class absent from the bank never wins)."""
    from robustscope.engine.predictions import Predictions

    fit = linear_probe(bank.features, bank.labels, evaluated.features, grid=params.probe_grid, seed=ev.seed)
    logits = np.full((len(evaluated), len(bank.class_names)), -1e30)
    logits[:, fit.classes] = np.log(np.maximum(fit.probabilities, 1e-30))
    probed = Predictions(evaluated.sample_ids, logits, evaluated.labels, evaluated.factors, bank.class_names)
    protocol = {"classifier": "linear probe (robustscope.metrics.linear_probe)", "c": fit.c, "bank": bank.key,
                "held_out_accuracy": fit.held_out_accuracy, "grid": list(params.probe_grid)}  # fmt: skip
    return _renamed(ev.metric_table(probed, ["top1"], _slice_by(params), binned=True), "probe_", protocol)


def positive_pairs(instances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(first, second)`` of every unordered pair of rows with the same instance, and each pair's
    instance (for resampling instances).

    Example:
        >>> first, second, owner = positive_pairs(np.array(["a", "b", "a", "a"]))
        >>> first.tolist(), second.tolist(), owner.tolist()
        ([0, 0, 2], [2, 3, 3], ['a', 'a', 'a'])
    """
    first, second, owner = [], [], []
    for instance in pd.unique(instances):
        rows = np.flatnonzero(instances == instance)
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                first.append(rows[i])
                second.append(rows[j])
                owner.append(instance)
    return np.array(first, dtype=int), np.array(second, dtype=int), np.array(owner)


def _pair_table(ev: Evaluation, evaluated: FeatureSet) -> pd.DataFrame:
    """``alignment`` (positive pairs: the rows of one instance) and ``uniformity`` rows, CIs over instances."""
    instances = evaluated.factors["instance"].astype(str).to_numpy()
    first, second, owner = positive_pairs(instances)
    if len(first) == 0:
        raise SpecError(f"axis representation: {evaluated.key}: no instance has two images, so no positive pairs")
    feats = evaluated.features
    names = pd.unique(instances)
    code = {name: i for i, name in enumerate(names)}
    pair_owner = np.array([code[o] for o in owner])
    row_owner = np.array([code[o] for o in instances])

    def align(picked: np.ndarray) -> float:  # picked: instance ids, resampled with replacement
        pairs = np.concatenate([np.flatnonzero(pair_owner == i) for i in picked])
        return alignment(feats[first[pairs]], feats[second[pairs]])

    def uniform(picked: np.ndarray) -> float:
        rows = np.concatenate([np.flatnonzero(row_owner == i) for i in picked])
        return uniformity(feats[rows])

    ids = np.arange(len(names))
    protocol = {"paper": ALIGN_PAPER, "positive_pairs": "images of one instance (factor 'instance')",
                "resampling": "instances with replacement"}  # fmt: skip
    return pd.DataFrame([
        ev.custom_row("alignment", align(ids), len(first), {**protocol, "name": "alignment", "alpha": 2},
                      ev.bootstrap(align, ids)),
        ev.custom_row("uniformity", uniform(ids), len(feats), {**protocol, "name": "uniformity", "t": 2},
                      ev.bootstrap(uniform, ids)),
    ])  # fmt: skip


def representation_axis(
    ev: Evaluation, datasets: dict[str, Dataset], spec: AxisSpec, params: Params
) -> list[pd.DataFrame]:
    """kNN, linear-probe and RankMe rows of every evaluation set against the ``train`` role's features.

    Example:
        >>> # run_suite("file:model", "representation-offline", world="tiny")
    """
    if "train" not in datasets:
        raise SpecError(f"axis representation: needs a dataset with role 'train' (the kNN bank), got {list(datasets)}")
    train = _features(ev, datasets["train"])
    classes = train.class_names
    frames: list[pd.DataFrame] = []
    for role, dataset in datasets.items():
        if role == "train":
            continue
        if list(dataset.classes) != list(classes):
            raise SpecError(f"axis representation: {role} ({dataset.name}) has classes {dataset.classes}, the train "
                            f"set {classes}; kNN and probe need the same classes")  # fmt: skip
        evaluated = _features(ev, dataset)
        tables = [_knn_table(ev, train, evaluated, params)]
        if "instance" in evaluated.factors.columns:
            tables.append(_pair_table(ev, evaluated))
        if params.probe:
            tables.append(_probe_table(ev, train, evaluated, params))
        if params.rankme:
            tables.append(pd.DataFrame([ev.custom_row(
                "rankme", rankme(evaluated.features), len(evaluated),
                {"name": "rankme", "paper": RANKME_PAPER, "dimension": evaluated.dim,
                 "variant": "uncentred, singular values (as published)"})]))  # fmt: skip
        frames.extend(ev.rows(table, dataset, "none", evaluated.key) for table in tables)
    return frames


AXIS = Axis(
    name="representation",
    title="Representation",
    summary="kNN (DINO protocol), linear probe and RankMe of the penultimate features",
    paper=PAPER,
    params=Params,
    run=representation_axis,
    headlines=(Headline("knn_top1", "none", "kNN top-1", datasets="first"),),
    doc="docs/axes/representation.md",
)
