"""The diversity study: seeded, disjoint splits with exactly round(p·N) varied instances; a tiny run end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustscope.config import workspace
from robustscope.errors import SpecError
from robustscope.studies.diversity import (
    TEST_SEED,
    TRAIN_SEED,
    check_disjoint,
    diversity_factors,
    instance_records,
    run_diversity,
    varied_mask,
    write_diversity,
)


@pytest.mark.parametrize("factor", sorted(diversity_factors()))
def test_fixed_twins_differ_in_the_factor_alone(factor: str) -> None:
    _, varied, fixed = instance_records("tiny", factor, 12, TRAIN_SEED)
    changed = set(diversity_factors()[factor]["fixed"])
    for v, f in zip(varied, fixed, strict=True):
        assert {k for k in v if v[k] != f[k]} <= changed
        assert all(f[k] == value for k, value in diversity_factors()[factor]["fixed"].items())
    _, test, _ = instance_records("tiny", factor, 12, TEST_SEED)
    check_disjoint(varied, test)
    with pytest.raises(SpecError, match="also appear in training"):
        check_disjoint(varied, varied[:3])


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_exactly_round_p_n_instances_vary_and_the_choice_is_seeded(p: float) -> None:
    classes = np.repeat(np.arange(4), 10)
    mask = varied_mask(classes, p, "instances", 3)
    assert mask.sum() == round(p * 40)
    assert np.array_equal(mask, varied_mask(classes, p, "instances", 3))
    by_class = varied_mask(classes, p, "classes", 3)
    chosen = np.unique(classes[by_class])
    assert len(chosen) == round(p * 4) and by_class.sum() == 10 * len(chosen)
    with pytest.raises(SpecError):
        varied_mask(classes, 1.5, "instances", 0)


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    result = run_diversity("tiny", ["size"], [0.0, 1.0], "classes", (0,), ws, n_train=16, n_test=8, epochs=1,
                           n_resamples=50, progress=False)
    row = result.table[(result.table.p == 1.0) & (result.table.classes == "all")].iloc[0]
    assert row.accuracy == pytest.approx(result.correct[("size", 1.0, 0)].mean())
    assert set(result.table[result.table.p == 0.0].classes) == {"all", "unseen classes"}  # p = 0: nothing seen
    paths = write_diversity(result, tmp_path / "out", "cmd")
    assert "plotly-graph-div" in paths[-1].read_text()
