"""The corruption framework: registry, shift specs, per-sample seeding, evaluation through the Runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import robustscope
from conftest import write_colour_folder
from robustscope.errors import SpecError, UnknownNameError
from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from robustscope.shifts.registry import load_shift


def test_all_nineteen_corruptions_are_registered() -> None:
    assert set(CORRUPTIONS.keys()) == set(COMMON_CORRUPTIONS) | set(EXTRA_CORRUPTIONS)
    assert len(COMMON_CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4


def test_shift_specs_parse_and_fail_clearly() -> None:
    shift = load_shift("corruption:contrast:2")
    assert shift.params() == {"corruption": "contrast", "severity": 2}
    assert shift.spec() == "corruption:contrast:2"
    with pytest.raises(UnknownNameError, match="glass_blur"):
        load_shift("corruption:glas_blur:3")
    with pytest.raises(SpecError, match="severity"):
        load_shift("corruption:contrast:6")
    with pytest.raises(SpecError, match="NAME:SEVERITY"):
        load_shift("corruption:contrast")


@pytest.mark.parametrize("name", sorted(set(COMMON_CORRUPTIONS) | set(EXTRA_CORRUPTIONS)))
def test_every_corruption_is_deterministic_per_sample_and_in_range(name: str) -> None:
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ids = ["a", "b", "c", "d"]
    whole = corrupt(images, name, 3, seed=1, sample_ids=ids)
    halves = torch.cat([corrupt(images[:2], name, 3, seed=1, sample_ids=ids[:2]),
                        corrupt(images[2:], name, 3, seed=1, sample_ids=ids[2:])])
    assert whole.shape == images.shape
    assert float(whole.min()) >= 0.0 and float(whole.max()) <= 1.0
    torch.testing.assert_close(whole, halves, atol=1e-5, rtol=0)
    assert not torch.equal(whole, images)


def test_corruptions_evaluate_through_the_runner_with_their_own_keys(tmp_path: Path) -> None:
    from test_api import COLOURS, colour_model

    data = robustscope.load_dataset(f"folder:{write_colour_folder(tmp_path / 'd', COLOURS, per_class=3)}")
    shifts = ["none", "corruption:contrast:1", "corruption:contrast:5"]
    table = robustscope.evaluate(colour_model(), data, shifts=shifts, metrics=["top1"], slice_by=None,
                                 progress=False, n_resamples=10)
    assert table["shift"].tolist() == ["none", "corruption:contrast:1", "corruption:contrast:5"]
    assert table["prediction_key"].nunique() == 3
