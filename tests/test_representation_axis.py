"""The representation axis on a toy model: its kNN and probe rows equal the metric functions on the same features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from robustscope.data.base import Dataset
from robustscope.engine import PredictionStore, Runner
from robustscope.engine.evaluation import Evaluation
from robustscope.engine.features import extract_features
from robustscope.errors import SpecError
from robustscope.metrics.linear_probe import linear_probe
from robustscope.metrics.representation import knn_correct, knn_scores, rankme
from robustscope.models import Model, Preprocessing
from robustscope.suites.representation import Params, representation_axis


def _dataset(root: Path, name: str, n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = []
    folder = root / name
    folder.mkdir()
    for i in range(n):
        label = i % 2
        colour = tuple(int(v) for v in rng.integers(0, 120, 3) + 120 * label)
        Image.new("RGB", (4, 4), colour).save(folder / f"{i}.png")
        light = ["dim", "bright"][i % 3 % 2]
        rows.append({"sample_id": f"{name}{i}", "path": f"{i}.png", "label": label, "light": light})
    return Dataset(name, folder, ["dark", "light"], pd.DataFrame(rows))


@pytest.fixture()
def toy(tmp_path: Path) -> tuple[Evaluation, Dataset, Dataset]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 6), nn.ReLU(), nn.Linear(6, 2))
    model = Model.from_module(net, Preprocessing(4, 1.0), ["dark", "light"], head="3")
    ev = Evaluation(model, Runner(PredictionStore(tmp_path / "store"), progress=False), n_resamples=50)
    return ev, _dataset(tmp_path, "train", 40, 0), _dataset(tmp_path, "test", 24, 1)


def test_rows_equal_the_metric_functions(toy: tuple[Evaluation, Dataset, Dataset]) -> None:
    ev, train, test = toy
    rows = pd.concat(representation_axis(ev, {"train": train, "test": test}, None, Params(k=5, slice_by="none")))
    whole = rows[rows.slice_factor == ""].set_index("metric")
    bank = extract_features(ev.model, train, store=ev.runner.store, progress=False)
    feats = extract_features(ev.model, test, store=ev.runner.store, progress=False)
    scores = knn_scores(bank.features, bank.labels, feats.features, 2, k=5)
    assert whole.loc["knn_top1", "value"] == pytest.approx(knn_correct(scores, feats.labels, 1).mean())
    assert whole.loc["knn_top5", "value"] == pytest.approx(1.0)  # two classes: always in the top 5
    probe = linear_probe(bank.features, bank.labels, feats.features)
    assert whole.loc["probe_top1", "value"] == pytest.approx((probe.predictions == feats.labels).mean())
    assert json.loads(whole.loc["probe_top1", "protocol"])["c"] == probe.c
    assert whole.loc["rankme", "value"] == pytest.approx(rankme(feats.features))
    assert whole.loc["knn_top1", "ci_low"] <= whole.loc["knn_top1", "value"] <= whole.loc["knn_top1", "ci_high"]
    assert set(rows["dataset"]) == {"test"}  # the bank is not evaluated


def test_slices_and_errors(toy: tuple[Evaluation, Dataset, Dataset]) -> None:
    ev, train, test = toy
    rows = pd.concat(representation_axis(ev, {"train": train, "test": test}, None, Params(k=3, slice_by=("light",),
                                                                                          probe=False, rankme=False)))
    assert set(rows.metric) == {"knn_top1", "knn_top5"}
    assert set(rows.loc[rows.slice_factor == "light", "slice_value"]) == {"dim", "bright"}
    with pytest.raises(SpecError, match="role 'train'"):
        representation_axis(ev, {"test": test}, None, Params())
    other = Dataset("other", test.root, ["a", "b"], test.manifest)
    with pytest.raises(SpecError, match="same classes"):
        representation_axis(ev, {"train": train, "other": other}, None, Params())


def test_alignment_rows_on_a_dataset_with_instances(toy: tuple[Evaluation, Dataset, Dataset]) -> None:
    from robustscope.metrics.representation import alignment, uniformity
    from robustscope.suites.representation import positive_pairs

    ev, train, test = toy
    test.manifest["instance"] = [str(i // 3) for i in range(len(test.manifest))]  # 8 instances × 3 images
    rows = pd.concat(representation_axis(ev, {"train": train, "test": test}, None, Params(k=3, slice_by="none",
                                                                                          probe=False)))
    whole = rows[rows.slice_factor == ""].set_index("metric")
    feats = extract_features(ev.model, test, store=ev.runner.store, progress=False)
    first, second, _ = positive_pairs(feats.factors["instance"].to_numpy())
    assert len(first) == 8 * 3  # three pairs per instance
    assert whole.loc["alignment", "value"] == pytest.approx(alignment(feats.features[first], feats.features[second]))
    assert whole.loc["uniformity", "value"] == pytest.approx(uniformity(feats.features))
    assert whole.loc["alignment", "ci_low"] <= whole.loc["alignment", "value"] <= whole.loc["alignment", "ci_high"]


def test_disentanglement_rows_equal_the_metric_functions(toy: tuple[Evaluation, Dataset, Dataset]) -> None:
    from robustscope.metrics.disentanglement import dci, mig
    from robustscope.suites.disentanglement import Params as DParams
    from robustscope.suites.disentanglement import disentanglement_axis

    ev, train, _ = toy
    rows = pd.concat(disentanglement_axis(ev, {"factors": train}, None,
                                          DParams(factors=("label", "light"), dci_train=24, dci_test=16, bins=4)))
    values = rows.set_index("metric")["value"]
    feats = extract_features(ev.model, train, store=ev.runner.store, progress=False)
    factors = np.column_stack([feats.labels, pd.Categorical(train.manifest["light"]).codes]).astype(float)
    assert values["mig"] == pytest.approx(mig(feats.features, factors, 4))
    expected = dci(feats.features, factors, num_train=24, num_test=16, bins=4)
    assert values["dci_d"] == pytest.approx(expected.disentanglement)
    with pytest.raises(SpecError, match="no factor column"):
        disentanglement_axis(ev, {"factors": train}, None, DParams(factors=("label", "weather")))
