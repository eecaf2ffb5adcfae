"""Before/after tables of a mitigation (issue 12, item 4): paired CIs against hand-computed paired bootstraps.

The toy workspace (``_mitigation_toy``): 32 tiny UrbanCars-like images, an untrained SmallCNN base on disk, a
mitigated model with the base's own head (identical predictions) and one with a random head. Each check compares
the table with something computed here from the stored predictions: the same resampled indices drawn by hand,
the two models' UrbanCars summaries from :mod:`robustscope.metrics.shortcuts`, exact zeros for identical models.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _mitigation_toy import toy_suite, write_base, write_mitigated, write_toy_data
from robustscope.cli import main
from robustscope.config import workspace
from robustscope.engine.alignment import align_predictions
from robustscope.engine.prediction_store import PredictionStore
from robustscope.metrics.bootstrap import percentile_interval
from robustscope.metrics.classification import ece, softmax
from robustscope.metrics.shortcuts import cell_counts, urbancars_summary
from robustscope.metrics.shortcuts_paired import paired_cell_counts, paired_urbancars_tests
from robustscope.suites.before_after import BEFORE_AFTER_COLUMNS, before_after, mitigations_in_store
from robustscope.suites.paired_rows import PredictionLoader, pair_row
from robustscope.suites.whac_a_mole import whac_a_mole_from_tables

R = 300  # resamples: enough for stable intervals, fast on 32 images


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mitigation")
    data = write_toy_data(root / "data")
    base = write_base(root / "base")
    out = {"root": root, "data": data, "base": base, "suite": toy_suite(data, watermark=True),
           "same": write_mitigated(base, root / "same"), "other": write_mitigated(base, root / "other", scale=3.0),
           "ws": workspace(root / "ws")}  # fmt: skip
    for name in ("other", "same"):
        out[f"vs_{name}"] = before_after(base, out[name], out["suite"], world="tiny", store=out["ws"],
                                         n_resamples=R, seed=3, progress=False)  # fmt: skip
    return out


def _row(table: pd.DataFrame, axis: str, metric: str, shift: str = "none") -> pd.Series:
    kinds = table["shift"].str.split(":").str[0]
    chosen = table[(table.axis == axis) & (table.metric == metric) & (kinds == shift)]
    assert len(chosen) == 1, chosen
    return chosen.iloc[0]


def _predictions(toy: dict, model: str, axis: str, metric: str) -> tuple:
    """Both models' stored predictions behind one row, aligned (base first)."""
    from robustscope.engine.result_store import ResultStore

    rows = ResultStore(toy["ws"].results_db).query(axis=axis, metric=metric, shift="none", slice_factor="")
    store = PredictionStore(toy["ws"].predictions)
    keys = {str(r.model): str(r.prediction_key) for r in rows.itertuples()}
    return align_predictions(store.load(keys[toy["base"]]), store.load(keys[toy[model]]))


def test_table_has_every_axis_and_the_documented_columns(toy: dict) -> None:
    table = toy["vs_other"].table
    assert list(table.columns) == list(BEFORE_AFTER_COLUMNS)
    assert set(table.axis) == {"calibration", "shortcuts"}
    assert toy["vs_other"].method == "toy" and toy["vs_other"].base == toy["base"]
    assert (table.difference - (table.after - table.before)).abs().max() < 1e-9  # after − before, every row


def test_paired_top1_ci_is_a_hand_computed_paired_bootstrap_on_the_same_indices(toy: dict) -> None:
    before, after = _predictions(toy, "other", "calibration", "top1")
    correct = [(p.predicted() == p.labels).astype(float) for p in (after, before)]
    n = len(correct[0])
    idx = np.random.default_rng(3).integers(0, n, size=(R, n))  # one draw of image indices for both models
    by_hand = percentile_interval(correct[0][idx].mean(axis=1) - correct[1][idx].mean(axis=1))
    row = _row(toy["vs_other"].table, "calibration", "top1")
    assert row.paired and row.resampling == "paired bootstrap over images"
    assert row.difference == pytest.approx(correct[0].mean() - correct[1].mean(), abs=1e-12)
    assert (row.ci_low, row.ci_high) == pytest.approx(by_hand, abs=1e-12)
    assert row.ci_low < row.ci_high  # the models differ on some images: a non-degenerate interval


def test_ece_is_recomputed_for_both_models_on_each_resample(toy: dict) -> None:
    before, after = _predictions(toy, "other", "calibration", "ece")
    probs = [softmax(p.logits.astype(np.float64)) for p in (after, before)]
    n = len(after)
    idx = np.random.default_rng(3).integers(0, n, size=(R, n))
    by_hand = [ece(probs[0][i], after.labels[i]) - ece(probs[1][i], before.labels[i]) for i in idx]
    row = _row(toy["vs_other"].table, "calibration", "ece")
    assert row.paired
    assert (row.ci_low, row.ci_high) == pytest.approx(percentile_interval(np.array(by_hand)), abs=1e-9)


def test_identical_models_give_exact_zero_changes_and_degenerate_intervals(toy: dict) -> None:
    table = toy["vs_same"].table
    assert len(table) == len(toy["vs_other"].table)
    assert (table.difference == 0.0).all()
    paired = table[table.paired]
    assert len(paired) >= 10 and (paired.ci_low == 0.0).all() and (paired.ci_high == 0.0).all()
    assert (paired.p_value == 1.0).all()
    assert toy["vs_same"].significant().empty


def test_urbancars_gap_differences_are_those_of_the_two_models_gaps_on_the_same_table(toy: dict) -> None:
    before, after = _predictions(toy, "other", "shortcuts", "bg_gap")
    factors = before.factors
    cells = [factors[c].astype(str).to_numpy() for c in ("object", "background", "co_occur")]
    names = np.array(before.class_names)
    own = [urbancars_summary(*cell_counts(*cells, names[p.predicted()] == cells[0])) for p in (before, after)]
    table = toy["vs_other"].table
    for metric in ("id_acc", "bg_gap", "coobj_gap", "bg_coobj_gap", "worst_group_acc"):
        row = _row(table, "shortcuts", metric)
        assert row.paired and "8 UrbanCars cells" in row.resampling
        assert row.before == pytest.approx(float(own[0][metric]), abs=1e-12)
        assert row.after == pytest.approx(float(own[1][metric]), abs=1e-12)
        assert row.difference == pytest.approx(float(own[1][metric] - own[0][metric]), abs=1e-12)
        assert row.ci_low <= row.difference + 1e-12 and row.difference - 1e-12 <= row.ci_high


def test_paired_cells_resample_the_same_images_for_both_models_within_each_cell() -> None:
    objects = ["urban", "country"] * 6
    backgrounds = ["urban"] * 6 + ["country"] * 6
    co_occur = ["urban", "urban", "country", "country"] * 3
    a = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1], dtype=float)
    b = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0, 1], dtype=float)
    hits_a, hits_b, totals = paired_cell_counts(a, b, objects, backgrounds, co_occur, n_resamples=7, seed=5)
    code = {"urban": 0, "country": 1}
    triples = zip(objects, backgrounds, co_occur, strict=True)
    flat = np.array([(code[o] * 2 + code[g]) * 2 + code[c] for o, g, c in triples])
    for k in range(8):
        members = np.flatnonzero(flat == k)
        if not members.size:
            assert (totals.reshape(7, 8)[:, k] == 0).all()
            continue
        idx = np.random.default_rng([5, k]).integers(0, members.size, size=(7, members.size))
        assert hits_a.reshape(7, 8)[:, k].tolist() == a[members][idx].sum(axis=1).tolist()
        assert hits_b.reshape(7, 8)[:, k].tolist() == b[members][idx].sum(axis=1).tolist()
    tests = paired_urbancars_tests(a, b, objects, backgrounds, co_occur, n_resamples=7, seed=5)
    boot = [urbancars_summary(h, totals) for h in (hits_a, hits_b)]
    with np.errstate(invalid="ignore"):
        assert tests["bg_gap"].ci == pytest.approx(percentile_interval(boot[0]["bg_gap"] - boot[1]["bg_gap"]))


def test_watermark_gap_is_paired_per_image(toy: dict) -> None:
    table = toy["vs_other"].table
    if not (table.metric == "in_w_gap").any():
        pytest.skip("no CJK font for the watermark on this machine")
    row = _row(table, "shortcuts", "in_w_gap", "watermark")
    assert row.paired and row.difference == pytest.approx(row.after - row.before, abs=1e-12)


def test_a_row_not_reproduced_from_its_predictions_is_left_unpaired(toy: dict) -> None:
    from robustscope.engine.result_store import ResultStore

    rows = ResultStore(toy["ws"].results_db).query(axis="calibration", metric="top1", slice_factor="")
    row = rows.iloc[0].to_dict()
    tampered = {**row, "value": row["value"] + 0.125}  # an axis that scored another label space would look so
    loader = PredictionLoader(PredictionStore(toy["ws"].predictions))
    result, why = pair_row(row, tampered, loader, 50, 0, {})
    assert result is None and why.startswith("not paired: the stored number is not this metric")
    progress = {**row, "axis": "progress_gap", "metric": "effective_robustness"}
    assert pair_row(progress, progress, loader, 50, 0, {})[1].startswith("not paired: a fit across models")


def test_stored_rows_cost_no_forward_pass(toy: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import robustscope.suites.run as run_module

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the suite ran again although both models' rows are stored")

    monkeypatch.setattr(run_module, "run_suite", refuse)
    again = before_after(toy["base"], toy["other"], toy["suite"], world="tiny", store=toy["ws"], n_resamples=R,
                         seed=3, progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(again.table, toy["vs_other"].table)


def test_mitigations_are_found_in_the_store_from_the_recorded_base(toy: dict) -> None:
    from robustscope.engine.result_store import ResultStore

    rows = ResultStore(toy["ws"].results_db).query()
    found = mitigations_in_store(rows, PredictionStore(toy["ws"].predictions), n_resamples=R, seed=3)
    assert sorted(f.mitigated for f in found) == sorted([toy["other"], toy["same"]])
    mine = next(f for f in found if f.mitigated == toy["other"])
    keys = ["axis", "dataset", "shift", "metric"]
    a, b = (t.sort_values(keys).reset_index(drop=True) for t in (mine.table, toy["vs_other"].table))
    pd.testing.assert_frame_equal(a, b)


def test_whac_a_mole_matrix_rows_are_models_and_changes_are_the_paired_ones(toy: dict) -> None:
    matrix = whac_a_mole_from_tables([toy["vs_other"], toy["vs_same"]])
    wide = matrix.wide()
    assert wide.model.tolist() == [toy["base"], toy["other"], toy["same"]]
    assert {"BG gap", "CoObj gap", "BG+CoObj gap", "worst group", "I.D. acc"} <= set(wide.columns)
    entries = matrix.entries.set_index(["model", "column"])
    assert np.isnan(entries.loc[(toy["base"], "BG gap"), "change"])
    bg = _row(toy["vs_other"].table, "shortcuts", "bg_gap")
    other = entries.loc[(toy["other"], "BG gap")]
    assert (other.change, other.change_ci_low, other.change_ci_high) == (bg.difference, bg.ci_low, bg.ci_high)
    assert entries.loc[(toy["same"], "BG+CoObj gap"), "change"] == 0.0


def test_cli_prints_the_table_and_the_matrix_as_json(toy: dict, capsys: pytest.CaptureFixture) -> None:
    suite = toy["suite"]
    spec = {"name": suite.name, "description": suite.description,
            "axes": {a.axis: {"datasets": a.datasets, "shifts": list(a.shifts), "params": a.params}
                     for a in suite.axes}}  # fmt: skip
    path = Path(toy["root"]) / "suite.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    code = main(["--workspace", str(toy["ws"].root), "-q", "compare-mitigation", "--base", toy["base"],
                 "--mitigated", toy["other"], "--suite", str(path), "--world", "tiny", "--n-resamples", str(R),
                 "--seed", "3", "--format", "json"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    top1 = next(r for r in payload["before_after"] if r["axis"] == "calibration" and r["metric"] == "top1")
    row = _row(toy["vs_other"].table, "calibration", "top1")
    assert (top1["ci_low"], top1["ci_high"]) == pytest.approx((row.ci_low, row.ci_high))
    assert {r["model"] for r in payload["whac_a_mole"]} == {toy["base"], toy["other"]}


def test_rows_of_another_world_do_not_stand_in_for_this_one(toy: dict) -> None:
    from robustscope.models.registry import load_model
    from robustscope.suites import AxisSpec, SuiteSpec
    from robustscope.suites.before_after import ensure_suite_rows

    root = Path(toy["root"])
    for world in ("w1", "w2"):
        write_toy_data(root / "worlds" / world, per_cell=2)
    suite = SuiteSpec("toy-worlds", "", (AxisSpec("calibration", {"test": f"csv:{root}/worlds/{{world}}/labels.csv"},
                                                  ("none",), {"metrics": ["top1"]}),))  # fmt: skip
    model = load_model(toy["base"])
    first = ensure_suite_rows(model, suite, "w1", toy["ws"], n_resamples=0, progress=False)
    second = ensure_suite_rows(model, suite, "w2", toy["ws"], n_resamples=0, progress=False)
    assert set(first.dataset) == {f"csv:{root}/worlds/w1/labels.csv"}
    assert set(second.dataset) == {f"csv:{root}/worlds/w2/labels.csv"}  # ran for w2, not w1's rows again
