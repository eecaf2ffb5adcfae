"""The known-answer matrix (issue 19): checks judged from hand-made result rows, and the expectations as data."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from robustscope.suites import axis_names
from robustscope.train.recipes import get_recipe, recipe_names
from robustscope.validation import Check, load_expectations, validation_matrix
from robustscope.validation.matrix import cell_row, format_matrix

NAN = math.nan


def _rows(**cells: tuple[float, float, float]) -> pd.DataFrame:
    """Suite rows with one value per check name of the built-in expectations."""
    expectations = load_expectations()
    records = []
    for name, (value, low, high) in cells.items():
        check = expectations.check(name)
        dataset = f"synth-bench:demo:{check.dataset or 'x'}"
        records.append({"axis": check.axis, "metric": check.metric, "shift": "none", "dataset": dataset,
                        "slice_factor": "", "value": value, "ci_low": low, "ci_high": high})
    # a sliced row and a shifted row of the same metric must be ignored
    records.append({"axis": "shape_bias", "metric": "shape_bias", "shift": "none", "dataset": "d",
                    "slice_factor": "variant", "value": 0.0, "ci_low": 0.0, "ci_high": 0.0})
    return pd.DataFrame(records)


@pytest.mark.parametrize(
    ("failure", "threshold", "cell", "flagged"),
    [
        ("above", 0.1, (0.30, 0.20, 0.40), True),    # whole CI above
        ("above", 0.1, (0.30, 0.05, 0.50), False),   # CI reaches the threshold: not shown
        ("above", 0.1, (0.10, 0.10, 0.10), False),   # on the threshold is not beyond it
        ("below", 0.5, (0.10, 0.02, 0.30), True),
        ("below", 0.5, (0.45, 0.30, 0.55), False),
        ("below", 0.5, (0.40, NAN, NAN), True),      # no CI: the value decides
        ("above", 0.1, (NAN, NAN, NAN), False),      # no value: nothing flagged
    ],
)
def test_a_check_flags_only_when_the_whole_ci_is_beyond_its_threshold(
    failure: str, threshold: float, cell: tuple[float, float, float], flagged: bool
) -> None:
    assert Check("c", "axis", "metric", failure, threshold).flags(*cell) is flagged


def test_verdicts_of_a_planted_and_a_clean_model() -> None:
    tables = {
        ("texture-shortcut", 0): _rows(shape_bias=(0.05, 0.01, 0.10), background_bias=(0.01, -0.02, 0.04)),
        ("clean", 0): _rows(shape_bias=(0.95, 0.90, 0.99), background_bias=(0.30, 0.20, 0.40)),
        ("background-shortcut", 0): _rows(shape_bias=(0.95, 0.90, 0.99), background_bias=(0.12, 0.05, 0.2)),
    }
    cells = validation_matrix(tables).set_index(["recipe", "check"])
    assert cells.loc[("texture-shortcut", "shape_bias"), "verdict"] == "detected"
    assert cells.loc[("texture-shortcut", "background_bias"), "verdict"] == "clear"
    assert cells.loc[("clean", "background_bias"), "verdict"] == "false alarm"
    assert cells.loc[("background-shortcut", "background_bias"), "verdict"] == "missed"
    assert cells.loc[("clean", "calibration"), "verdict"] == "no data"  # a judged cell without its row fails
    assert cells.loc[("texture-shortcut", "calibration"), "verdict"] == "reported"  # 'any' without data is fine
    assert not cells["ok"].all()
    failing = set(cells.index[~cells["ok"]])
    assert ("clean", "background_bias") in failing and ("background-shortcut", "background_bias") in failing


def test_cell_row_picks_the_dataset_of_the_check() -> None:
    rows = pd.DataFrame({"axis": ["ood", "ood"], "metric": ["auroc_entropy"] * 2, "shift": ["none"] * 2,
                         "dataset": ["synth-bench:demo:ood-shapes", "synth-bench:demo:ood-textures"],
                         "slice_factor": ["", ""], "value": [0.7, 0.3], "ci_low": [0.6, 0.2], "ci_high": [0.8, 0.4]})
    expectations = load_expectations()
    assert cell_row(rows, expectations.check("ood_shapes")) == (0.7, 0.6, 0.8)
    assert cell_row(rows, expectations.check("ood_textures")) == (0.3, 0.2, 0.4)


def test_format_matrix_marks_each_verdict() -> None:
    cells = validation_matrix({("clean", 0): _rows(shape_bias=(0.95, 0.9, 0.99))})
    text = format_matrix(cells)
    assert text.loc["clean", "shape_bias"] == "0.95 [0.90, 0.99] ✓"
    assert text.loc["clean", "calibration"] == "— ✗ no data"


# -- the expectations as data ----------------------------------------------------------------------------
def test_every_recipe_has_a_full_row_of_expectations() -> None:
    expectations = load_expectations()
    names = [c.name for c in expectations.checks]
    assert set(expectations.expected) == set(recipe_names())
    for recipe in recipe_names():
        assert set(expectations.expected[recipe]) == set(names), recipe


def test_each_planted_failure_is_a_flag_of_its_axis_and_clean_is_clear_everywhere() -> None:
    expectations = load_expectations()
    for recipe in recipe_names():
        planted = get_recipe(recipe).plants
        for check in expectations.checks:
            sign = expectations.sign(recipe, check.name)
            if planted is None:
                assert sign == "clear", (recipe, check.name)
            elif check.axis == planted:
                assert sign == "flag", (recipe, check.name)
            else:
                assert sign != "flag", f"{recipe} plants {planted}, but {check.name} expects a flag"


def test_checks_read_registered_axes() -> None:
    for check in load_expectations().checks:
        assert check.axis in axis_names()
    for recipe in recipe_names():
        plants = get_recipe(recipe).plants
        assert plants is None or plants in axis_names()


def test_thresholds_can_be_replaced_per_check() -> None:
    expectations = load_expectations().with_thresholds({"background_bias": 0.2})
    assert expectations.check("background_bias").threshold == 0.2
    with pytest.raises(KeyError):
        load_expectations().with_thresholds({"nope": 1.0})


# -- the command ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape_bias", "status", "says"), [
    ((0.05, 0.01, 0.10), 0, "every planted failure detected, no false alarm"),
    ((0.60, 0.55, 0.70), 1, "missed: texture-shortcut (seed 0) on shape_bias"),
])
def test_validate_axes_command_exits_1_on_a_missed_failure(
    shape_bias: tuple[float, float, float], status: int, says: str, tmp_path, monkeypatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import robustscope.validation as validation
    from robustscope.cli import main
    from robustscope.validation import ValidationResult

    rows = _rows(shape_bias=shape_bias)
    rows["model"] = "m"

    def fake_validate_axes(world: str, **kwargs: object) -> ValidationResult:
        assert world == "tiny" and kwargs["seeds"] == [0] and kwargs["axes"] == ["shape_bias"]
        return ValidationResult(validation_matrix({("texture-shortcut", 0): rows}).query("check == 'shape_bias'"),
                                rows, 1.0)

    monkeypatch.setattr(validation, "validate_axes", fake_validate_axes)
    out = tmp_path / "cells.csv"
    code = main(["-q", "validate-axes", "--world", "tiny", "--axis", "shape_bias", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == status and says in " ".join(printed.split())
    assert pd.read_csv(out)["check"].tolist() == ["shape_bias"]
