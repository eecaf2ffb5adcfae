"""One evaluation path (issue 11, item 3): ``evaluate()`` and the suite axes build their rows through one
:class:`~robustscope.engine.evaluation.Evaluation`, so the same computation gives the same row either way; the
model and each dataset are fingerprinted once per run; rows carry their shift's parameters as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import robustscope
from conftest import write_colour_folder
from robustscope.data.base import Dataset
from robustscope.engine import RESULT_COLUMNS, ResultStore
from robustscope.engine.result_schema import package_versions
from robustscope.models.base import Model
from robustscope.shifts.registry import load_shift
from robustscope.suites import AxisSpec, SuiteSpec, run_suite
from test_api import COLOURS, colour_model

FIGURES = ["value", "ci_low", "ci_high", "n"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_colour_folder(tmp_path / "colours", COLOURS, per_class=4)


def test_evaluate_and_a_suite_axis_write_the_same_rows(folder: Path) -> None:
    model, spec = colour_model(), f"folder:{folder}"
    metrics = ["top1", "ece20", "nll"]
    direct = robustscope.evaluate(model, spec, metrics=metrics, slice_by=None, n_resamples=30, progress=False)
    suite = SuiteSpec("one-path", "", (AxisSpec("calibration", {"test": spec}, params={"metrics": metrics}),))
    via_axis = run_suite(model, suite, n_resamples=30, progress=False).table
    assert list(direct.columns) == list(via_axis.columns) == list(RESULT_COLUMNS)
    same = ["model", "model_fingerprint", "dataset", "dataset_fingerprint", "shift", "metric", "slice_factor",
            "slice_value", *FIGURES, "protocol", "prediction_key", "versions", "shift_params"]
    pd.testing.assert_frame_equal(direct[same], via_axis[same])
    assert (via_axis["axis"] == "calibration").all() and (direct["axis"] == "").all()
    assert json.loads(direct["versions"].iloc[0]) == package_versions()  # one list: python and pandas both
    assert {"python", "pandas", "numpy"} <= set(package_versions())


def test_fingerprints_are_computed_once_per_run(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"model": 0, "dataset": 0}
    model_fingerprint, dataset_fingerprint = Model.fingerprint, Dataset.fingerprint

    def count_model(self: Model) -> str:
        calls["model"] += 1
        return model_fingerprint(self)

    def count_dataset(self: Dataset, index: object = None) -> str:
        calls["dataset"] += 1
        return dataset_fingerprint(self, index)  # type: ignore[arg-type]

    monkeypatch.setattr(Model, "fingerprint", count_model)
    monkeypatch.setattr(Dataset, "fingerprint", count_dataset)
    spec = f"folder:{folder}"
    suite = SuiteSpec("fp", "", (
        AxisSpec("calibration", {"test": spec}, params={"metrics": ["top1"]}),
        AxisSpec("adversarial", {"clean": spec}, ("none", "corruption:fog:1", "corruption:contrast:2")),
    ))  # fmt: skip
    run_suite(colour_model(), suite, n_resamples=0, progress=False)
    assert calls == {"model": 1, "dataset": 1}  # 4 runs of one model on one dataset object


def test_rows_carry_their_shifts_parameters_as_json(folder: Path, isolated_workspace: Path) -> None:
    shifts = ["none", "corruption:fog:3", "fgsm:eps=1/255"]
    table = robustscope.evaluate(colour_model(), f"folder:{folder}", shifts=shifts, metrics=["top1"],
                                 slice_by=None, n_resamples=0, progress=False)  # fmt: skip
    for spec in shifts:
        shift = load_shift(spec)
        stored = table[table["shift"] == shift.spec()]["shift_params"]
        assert len(stored) == 1 and json.loads(stored.iloc[0]) == json.loads(json.dumps(shift.params()))
    assert json.loads(table[table["shift"] == "none"]["shift_params"].iloc[0]) == {}
    again = ResultStore(isolated_workspace / "results.duckdb").query(shift=load_shift("corruption:fog:3").spec())
    assert json.loads(again["shift_params"].iloc[0]) == {"corruption": "fog", "severity": 3}


def test_a_version_2_store_gains_shift_params_in_place(folder: Path, isolated_workspace: Path) -> None:
    robustscope.evaluate(colour_model(), f"folder:{folder}", metrics=["top1"], slice_by=None, n_resamples=0,
                         progress=False)  # fmt: skip
    path = isolated_workspace / "results.duckdb"
    with duckdb.connect(str(path)) as con:  # back to the version-2 layout
        con.execute("ALTER TABLE results DROP COLUMN shift_params")
        con.execute("ALTER TABLE results DROP COLUMN private")  # added by version 4
        con.execute("ALTER TABLE results DROP COLUMN private_protocol")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    rows = ResultStore(path).query()
    assert list(rows.columns) == list(RESULT_COLUMNS) and set(rows["shift_params"]) == {"{}"}
    assert set(rows["private"]) == {False} and set(rows["private_protocol"]) == {"{}"}  # version 4: plaintext rows
