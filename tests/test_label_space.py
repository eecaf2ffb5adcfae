"""Label sets: reducing model logits to a dataset's classes (cue-conflict, ImageNet-9/FOCUS, ImageNet-R/-A)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import robustscope
from conftest import write_colour_folder
from robustscope.data.base import Dataset
from robustscope.errors import LabelSpaceError
from robustscope.metrics.bias import decision_16
from robustscope.metrics.label_space import reduce_logits
from test_api import COLOURS, colour_model

RNG = np.random.default_rng(0)


def test_mean_prob_decisions_equal_the_cue_conflict_decision_rule() -> None:
    logits = RNG.normal(size=(200, 12)) * 3
    sets = [[0, 1, 2], [3], [4, 5], [6, 7, 8, 9]]
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    reduced = reduce_logits(logits, sets, "mean_prob")
    assert np.array_equal(reduced.argmax(1), decision_16(probs, sets))
    assert np.allclose(np.exp(reduced), np.stack([probs[:, s].mean(1) for s in sets], axis=1))


def test_subset_equals_a_masked_softmax() -> None:
    logits = RNG.normal(size=(50, 10)) * 4
    subset = [1, 4, 7, 8]
    reduced = reduce_logits(logits, [[c] for c in subset], "subset")
    masked = torch.full((50, 10), float("-inf"), dtype=torch.float64)
    masked[:, subset] = torch.from_numpy(logits)[:, subset]
    expected = torch.softmax(masked, dim=1)[:, subset].numpy()
    assert np.allclose(torch.softmax(torch.from_numpy(reduced), 1).numpy(), expected)


def test_top1_in_set_is_correct_exactly_when_the_top1_class_is_in_the_set() -> None:
    logits = RNG.normal(size=(500, 20))
    sets = [[0, 1, 2], [5, 6], [10, 11, 12, 13]]
    decided = reduce_logits(logits, sets, "top1_in_set").argmax(1)
    top1 = logits.argmax(1)
    for k, members in enumerate(sets):
        assert np.array_equal(decided == k, np.isin(top1, members))
    assert np.array_equal(decided == len(sets), ~np.isin(top1, np.concatenate(sets)))


def test_reduce_logits_rejects_bad_sets() -> None:
    with pytest.raises(ValueError, match="outside"):
        reduce_logits(np.zeros((1, 3)), [[0, 3]], "subset")
    with pytest.raises(ValueError, match="unknown set reduction"):
        reduce_logits(np.zeros((1, 3)), [[0]], "mean")


def _coarse(tmp_path: Path, reduction: str) -> Dataset:
    """The colour folder relabelled into two coarse classes: 'cool' = blue or green, 'warm' = red."""
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=4)}")
    manifest = data.manifest.copy()
    manifest["label"] = [0 if data.classes[i] in ("blue", "green") else 1 for i in manifest["label"]]
    return Dataset(
        "coarse",
        data.root,
        ["cool", "warm"],
        manifest,
        {"label_sets": {"cool": ["blue", "green"], "warm": ["red"]}, "set_reduction": reduction},
    )


@pytest.mark.parametrize("reduction", ["mean_prob", "top1_in_set", "subset"])
def test_evaluate_scores_a_label_set_dataset_in_its_own_classes(tmp_path: Path, reduction: str) -> None:
    table = robustscope.evaluate(
        colour_model(), _coarse(tmp_path, reduction), metrics=["top1"], slice_by=None, n_resamples=10, progress=False
    )
    assert table["value"].iloc[0] == 1.0 and table["n"].iloc[0] == 12


def test_label_sets_change_the_dataset_fingerprint(tmp_path: Path) -> None:
    assert _coarse(tmp_path, "subset").fingerprint() != _coarse(tmp_path, "mean_prob").fingerprint()


def test_a_label_set_naming_an_unknown_label_is_an_error(tmp_path: Path) -> None:
    data = _coarse(tmp_path, "subset")
    data.metadata["label_sets"] = {"cool": ["blue", "teal"], "warm": ["red"]}
    with pytest.raises(LabelSpaceError, match="teal"):
        robustscope.evaluate(colour_model(), data, metrics=["top1"], slice_by=None, progress=False)


def test_ood_data_is_run_but_not_scored_by_evaluate(tmp_path: Path) -> None:
    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', {'gray': (90, 90, 90)}, 3)}")
    data.metadata["ood"] = True
    from robustscope.engine import PredictionStore, Runner

    predictions = Runner(PredictionStore(tmp_path / "p"), progress=False).run(colour_model(), data).predictions
    assert predictions.labels.tolist() == [-1, -1, -1]
    with pytest.raises(ValueError, match="out-of-distribution"):
        robustscope.evaluate(colour_model(), data, progress=False)
