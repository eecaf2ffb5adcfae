"""The Lie study end to end on the tiny world: both methods trained, both sets evaluated, tables consistent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robustscope.studies.lie import EVAL_SETS, METHODS, LieSetup, run_lie_study, write_lie


@pytest.mark.slow
def test_lie_study_tables_match_the_correctness(tmp_path: Path) -> None:
    setup = LieSetup(world="tiny", instances=8, test_instances=8, epochs=1, batch_size=8,
                     arch_kwargs=(("width", 4), ("depth", 2)))
    result = run_lie_study(setup, (0,), tmp_path / "renders", n_resamples=50, progress=False)
    for name in EVAL_SETS:
        for method in METHODS:
            row = result.accuracy[(result.accuracy.set == name) & (result.accuracy.method == method)
                                  & (result.accuracy.protocol == "knn")].iloc[0]
            assert row.top1 == pytest.approx(result.correct[(0, method, name, "knn")].mean())
        diff = result.differences[(result.differences.set == name) & (result.differences.protocol == "probe")].iloc[0]
        expected = np.mean(result.correct[(0, "simclr+lie", name, "probe")]) - np.mean(
            result.correct[(0, "simclr", name, "probe")])
        assert diff.difference == pytest.approx(expected)
    assert len(result.correct[(0, "simclr", EVAL_SETS[0], "knn")]) == 8 * 3  # 8 instances × 3 unseen poses
    assert (tmp_path / "out" / "lie.md") in write_lie(result, tmp_path / "out")
