"""Verified storage (issue 10, section 2): a damaged results database gives one clear error, and
``robustscope results --rebuild`` recomputes it from stored predictions, without a forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from conftest import write_colour_folder
from robustscope.api import evaluate
from robustscope.cli import main
from robustscope.data import Dataset
from robustscope.engine import ResultStore
from robustscope.models import Model
from robustscope.suites import AxisSpec, SuiteSpec, run_suite
from robustscope.suites.rebuild import rebuild_results
from test_engine_support import make_dataset, tiny_model
from test_trust_storage import COLOURS, flip, smallcnn_checkpoint


@pytest.fixture()
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "data", n=24)


COMPARED = ["model", "dataset", "shift", "metric", "slice_factor", "slice_value", "value", "ci_low", "ci_high", "n",
            "protocol", "prediction_key", "suite", "axis"]


def stored_rows(db: Path) -> pd.DataFrame:
    rows = ResultStore(db).query()
    return rows.sort_values(["suite", "axis", *COMPARED[:6]]).reset_index(drop=True)[COMPARED]


def damage_database(db: Path, how: str) -> None:
    if how == "header":  # the magic bytes: "not a valid DuckDB database file"
        flip(db, 8, length=16)
    else:  # every data block fails DuckDB's block checksum
        flip(db, 12288, length=db.stat().st_size - 12288)


class ForwardCalls:
    """Counts forward passes of every Model (the rebuild loads its own model objects)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        original = Model.forward

        def counted(model: Model, images: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return original(model, images)

        monkeypatch.setattr(Model, "forward", counted)


@pytest.mark.parametrize("how", ["header", "blocks"])
def test_cli_names_rebuild_for_a_corrupt_database_and_rebuild_restores_the_rows(
    how: str, tmp_path: Path, isolated_workspace: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = smallcnn_checkpoint(tmp_path / "model", list(COLOURS))
    data = write_colour_folder(tmp_path / "colours", COLOURS, per_class=4)
    assert main(["-q", "run", "--model", f"file:{model}", "--data", f"folder:{data}", "--shift", "none",
                 "corruption:gaussian_noise:2", "--n-resamples", "50"]) == 0
    db = isolated_workspace / "results.duckdb"
    before = stored_rows(db)
    assert len(before) == 2 * 5 and before["ci_low"].notna().all()  # 2 shifts × 5 default metrics
    damage_database(db, how)
    capsys.readouterr()

    assert main(["results"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "Traceback" not in error
    assert f"results database {db} is corrupt" in error and "robustscope results --rebuild" in error

    forward = ForwardCalls(monkeypatch)
    assert main(["results", "--rebuild"]) == 0
    assert forward.calls == 0
    assert "no forward pass" in capsys.readouterr().out
    pd.testing.assert_frame_equal(stored_rows(db), before)
    (aside,) = isolated_workspace.glob("results.duckdb.corrupt-*")  # moved aside, never deleted
    assert aside.stat().st_size > 0
    assert main(["results", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(before)


def test_rebuild_recomputes_label_set_evaluations_and_suite_rows_without_a_forward_pass(
    tmp_path: Path, isolated_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # evaluate() of a Python model object on a dataset scored through label sets (no spec to reload)
    data = make_dataset(tmp_path / "data", n=12)
    label_sets = {"cat": ["cat"], "dog": ["dog", "fish"], "bird": [0]}
    pets = Dataset("pets", data.root, data.classes, data.manifest,
                   metadata={"label_sets": label_sets, "set_reduction": "mean_prob"})
    evaluate(tiny_model(), pets, metrics=["top1", "ece"], n_resamples=30, progress=False)
    # and a suite run from a checkpoint spec: a registry metric axis and a custom-row (OOD) axis
    model = smallcnn_checkpoint(tmp_path / "model", list(COLOURS))
    inside = write_colour_folder(tmp_path / "in", COLOURS, per_class=3)
    outside = write_colour_folder(tmp_path / "out", COLOURS, per_class=3, seed=1)
    suite = SuiteSpec("tiny-suite", "calibration and OOD", (
        AxisSpec("calibration", {"test": f"folder:{inside}"}, params={"metrics": ["top1", "nll"]}),
        AxisSpec("ood", {"id": f"folder:{inside}", "noise": f"folder:{outside}"}, params={"scores": ["msp"]}),
    ))
    run_suite(f"file:{model}", suite, n_resamples=30, progress=False)
    db = isolated_workspace / "results.duckdb"
    before = stored_rows(db)
    assert set(before["dataset"]) >= {"pets"} and set(before["suite"]) == {"", "tiny-suite"}
    damage_database(db, "blocks")

    forward = ForwardCalls(monkeypatch)
    report = rebuild_results()
    assert (report.failures, report.recipes, forward.calls) == ([], 2, 0)
    pd.testing.assert_frame_equal(stored_rows(db), before)


def test_rebuild_runs_no_forward_pass_and_names_what_is_missing(
    tmp_path: Path, isolated_workspace: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evaluate(tiny_model(), dataset, metrics=["top1"], n_resamples=0, progress=False)
    model = smallcnn_checkpoint(tmp_path / "model", list(COLOURS))
    inside = write_colour_folder(tmp_path / "in", COLOURS, per_class=2)
    suite = SuiteSpec("tiny-suite", "calibration", (AxisSpec("calibration", {"test": f"folder:{inside}"}),))
    run_suite(f"file:{model}", suite, n_resamples=0, progress=False)
    for shard in (isolated_workspace / "predictions").rglob("shard-00000.parquet"):
        shard.unlink()  # lost predictions: the rebuild must say so, not recompute them

    forward = ForwardCalls(monkeypatch)
    report = rebuild_results()
    assert forward.calls == 0 and report.rows == 0 and len(report.failures) == 2
    evaluation, suite_run = sorted(report.failures)
    assert evaluation.startswith("evaluation of model 'tiny' on 'toy'") and "incomplete" in evaluation
    assert suite_run.startswith("suite 'tiny-suite'") and "runs no forward pass" in suite_run
    assert main(["results", "--rebuild"]) == 1  # partly rebuilt: said so, and not exit 0
    assert "not rebuilt" in capsys.readouterr().out
