"""`robustscope demo` end to end on the tiny world: render, train, evaluate, report, then all cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from robustscope.config import workspace
from robustscope.demo import run_demo


@pytest.mark.slow
def test_demo_end_to_end_then_cached(isolated_workspace: Path) -> None:
    ws = workspace(isolated_workspace)
    first = run_demo("tiny", ws, epochs=2, workers=2, progress=False, n_resamples=50)
    summary = first.summary()
    assert len(summary) == 2  # the clean and the background-shortcut model
    assert {"test-id", "test-pose", "test-background", "test-lighting", "test-texture"} <= set(summary.columns)
    html = first.report.read_text()
    assert "tiny-clean" in html and "tiny-background-shortcut" in html

    renders = sorted(p.stat().st_mtime_ns for p in ws.renders.rglob("*.png"))
    models = sorted(p.stat().st_mtime_ns for p in ws.models.rglob("*.safetensors"))
    started = time.perf_counter()
    second = run_demo("tiny", ws, epochs=2, workers=2, progress=False, n_resamples=50)
    assert time.perf_counter() - started < 30
    assert sorted(p.stat().st_mtime_ns for p in ws.renders.rglob("*.png")) == renders
    assert sorted(p.stat().st_mtime_ns for p in ws.models.rglob("*.safetensors")) == models
    assert second.summary().equals(summary)
