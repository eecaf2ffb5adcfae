"""The disentangle study end to end on the tiny world, and its interval helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from robustscope.studies.disentangle import run_disentangle, t_interval, write_disentangle


def test_t_interval_matches_scipy() -> None:
    values = np.array([0.2, 0.35, 0.3, 0.28])
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert t_interval(values) == pytest.approx((low, high))


@pytest.mark.slow
def test_tiny_study(tmp_path: Path) -> None:
    result = run_disentangle("tiny", ["strong"], ["betavae", "hfs"], (0, 1), tmp_path / "renders",
                             iterations=3, num_train=60, num_test=40, dci_bins=3, progress=False)
    assert len(result.scores) == 2 * 2
    assert set(result.summary.method) == {"betavae", "hfs"}
    row = result.comparison[result.comparison.correlation == "strong"].iloc[0]
    scores = {(s["method"], s["seed"]): s["dci_d"] for s in result.scores if s["correlation"] == "strong"}
    hfs, beta = np.mean([scores["hfs", 0], scores["hfs", 1]]), np.mean([scores["betavae", 0], scores["betavae", 1]])
    assert row.hfs_minus_betavae_dci_d == pytest.approx(hfs - beta)
    assert all(0 <= s["dci_d"] <= 1 and 0 <= s["mig"] <= 1 for s in result.scores)
    assert "plotly-graph-div" in write_disentangle(result, tmp_path / "out", "cmd")[-1].read_text()
