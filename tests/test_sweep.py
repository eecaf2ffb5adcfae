"""Sweeps: 2 models × 1 suite on the tiny world, a failing cell reported while the others complete, a rerun cached.

The models are untrained SmallCNNs (width 4) saved where ``file:`` loads them: a sweep needs models, not good ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import save_file

from robustscope.cli import main
from robustscope.models.smallcnn import SmallCNN
from robustscope.sweeps import SweepSpec, SweepSpecError, load_sweep, run_sweep

TINY_CLASSES = ["sphere", "cube", "torus", "cone"]
X, Y = "ECE (20 bins)", "OOD AUROC (entropy)"


def write_model(folder: Path, seed: int) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    save_file(SmallCNN(len(TINY_CLASSES), width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": TINY_CLASSES,
              "name": f"cnn-{seed}", "preprocessing": {"input_size": 32, "crop_pct": 1.0}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return f"file:{folder}"


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    write_model(root / "a", 0), write_model(root / "b", 1)
    sweep = {
        "name": "tiny-sweep",
        "models": ["file:a", "file:b", "file:missing-model"],  # relative to the file; the third does not exist
        "suites": [{"suite": "synthetic-clones-offline", "axes": ["calibration", "ood"]}],
        "worlds": ["tiny"],
        "n_resamples": 0,
        "batch_size": 16,
        "fits": {"effective_robustness": {"x": X, "y": [Y]}, "progress_gap": {"geo_metric": "top1"}},
    }
    (root / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    return root / "sweep.yaml"


def test_sweep_runs_every_cell_reports_the_failure_and_reruns_from_cache(sweep_file: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    ws = tmp_path / "ws"
    first = run_sweep(sweep_file, store=ws, progress=False)
    statuses = first.cells_table()[["model", "status"]].values.tolist()
    root = sweep_file.parent
    assert statuses == [[f"file:{root / 'a'}", "computed"], [f"file:{root / 'b'}", "computed"],
                        [f"file:{root / 'missing-model'}", "failed"]]  # fmt: skip
    (failure,) = first.failed
    assert "missing-model" in failure.error and "\n" not in failure.error
    assert first.summary["model"].tolist() == ["cnn-0", "cnn-1"] and set(first.summary["suite"]) == {
        "synthetic-clones-offline[calibration,ood]"}

    # The fit through two models: the line joins them (slope by hand), so both residuals are 0.
    x = first.summary[X].to_numpy()
    y = first.summary[Y].to_numpy()
    slopes = first.fits["effective_robustness_slopes"]
    assert slopes["slope"].iloc[0] == pytest.approx((y[1] - y[0]) / (x[1] - x[0]))
    np.testing.assert_allclose(first.fits["effective_robustness"]["effective_robustness"], 0.0, atol=1e-9)
    assert first.fits["progress_gap"].empty  # the tiny world has no geographic benchmark: no gap, not a crash
    written = pd.read_csv(first.out / "cells.csv")
    assert written["status"].tolist() == ["computed", "computed", "failed"]

    # Rerun through the CLI: every good cell is a pure cache hit, the same numbers, exit 1 for the failed cell.
    code = main(["--workspace", str(ws), "-q", "sweep", str(sweep_file), "--out", str(tmp_path / "again")])
    assert code == 1
    captured = capsys.readouterr()
    assert "1 of 3 cells failed" in captured.err and "missing-model" in captured.err
    again = pd.read_csv(tmp_path / "again" / "cells.csv")
    assert again["status"].tolist() == ["cached", "cached", "failed"]
    assert again["shards_computed"].tolist()[:2] == [0, 0]
    summary_again = pd.read_csv(tmp_path / "again" / "summary.csv")
    pd.testing.assert_frame_equal(summary_again, pd.read_csv(first.out / "summary.csv"))


def test_sweep_file_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(SweepSpecError, match="suites"):
        SweepSpec.from_dict({"models": ["file:m"], "suites": []})
    with pytest.raises(SweepSpecError, match="executor must be serial or ray"):
        SweepSpec.from_dict({"models": ["file:m"], "suites": ["s"], "executor": "dask"})
    with pytest.raises(SweepSpecError, match=r"fits\.effective_robustness takes x, y, scale"):
        SweepSpec.from_dict({"models": ["file:m"], "suites": ["s"], "fits": {"effective_robustness": {"z": 1}}})
    with pytest.raises(SweepSpecError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [file:m]\nsuites: [s]\nbatch_size: 0\n")
    assert main(["sweep", str(bad)]) == 2  # an invalid file: the one-line error, before any model is loaded
