"""The Whac-A-Mole table on a hand-filled 2×2×2 UrbanCars table, its paired bootstrap, and the study end to end.

Definitions (github.com/facebookresearch/Whac-A-Mole, commit c91b097043246bc726fccd70f9860873e28d6122):
``urbancars_trainers/base_trainer.py`` ``_eval_split``: a group (BG present/absent × CoObj present/absent) is the
mean of its two cells' accuracies (``multi_dim_color_acc[mask].mean()``, one cell per object class; a shortcut is
present when its value equals the object's); the I.D. accuracy weights the groups by ``bg_ratio`` /
``co_occur_obj_ratio`` (0.95 present, 0.05 absent, multiplied: 0.9025, 0.0475, 0.0475, 0.0025); BG gap = acc(BG
absent, CoObj present) − I.D.; CoObj gap = acc(BG present, CoObj absent) − I.D.; BG+CoObj gap = acc(both absent) −
I.D. ``utils.py`` ``MultiDimAverageMeter.get_worst_group_acc``: the worst group is ``(num_correct / cnt).min()``
over the 8 (object, background, co-occurring object) cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustscope.metrics.shortcuts import cell_counts, urbancars_summary
from robustscope.studies.whac_a_mole_stats import SeedOutcome, cell_index, differences, measure, table

U, C = "urban", "country"
#: (object, background, co-occurring object) → correct of 20 images.
HAND = {(U, U, U): 20, (U, C, U): 12, (U, U, C): 16, (U, C, C): 4,
        (C, C, C): 19, (C, U, C): 10, (C, C, U): 17, (C, U, U): 1}  # fmt: skip
# By hand, from the definitions above:
#   BG ✓ CoObj ✓: (20/20 + 19/20) / 2 = 0.975      BG ✗ CoObj ✓: (12/20 + 10/20) / 2 = 0.55
#   BG ✓ CoObj ✗: (16/20 + 17/20) / 2 = 0.825      BG ✗ CoObj ✗: (4/20 + 1/20) / 2 = 0.125
#   I.D. = 0.9025·0.975 + 0.0475·0.55 + 0.0475·0.825 + 0.0025·0.125
#        = 0.8799375 + 0.026125 + 0.0391875 + 0.0003125 = 0.9455625
ID = 0.9455625
BG_GAP, COOBJ_GAP, BOTH_GAP = 0.55 - ID, 0.825 - ID, 0.125 - ID  # -0.3955625, -0.1205625, -0.8205625
WORST = 1 / 20  # the cell (country, urban, urban)


def _images(cells: dict[tuple[str, str, str], int], n: int = 20) -> tuple[list[str], ...]:
    objects, backgrounds, co_occur, correct = [], [], [], []
    for (o, b, c), right in cells.items():
        objects += [o] * n
        backgrounds += [b] * n
        co_occur += [c] * n
        correct += [True] * right + [False] * (n - right)
    return objects, backgrounds, co_occur, correct


def test_hand_filled_table() -> None:
    objects, backgrounds, co_occur, correct = _images(HAND)
    summary = urbancars_summary(*cell_counts(objects, backgrounds, co_occur, correct))
    assert float(summary["id_acc"]) == pytest.approx(ID, abs=1e-12)
    assert float(summary["bg_gap"]) == pytest.approx(-0.3955625, abs=1e-12) == BG_GAP
    assert float(summary["coobj_gap"]) == pytest.approx(-0.1205625, abs=1e-12) == COOBJ_GAP
    assert float(summary["bg_coobj_gap"]) == pytest.approx(-0.8205625, abs=1e-12) == BOTH_GAP
    assert float(summary["worst_group_acc"]) == pytest.approx(WORST)
    # the authors' two pooled worst groups: (object, background) over co-objects, min (country, urban) 11/40;
    # (object, co-object) over backgrounds, min (country, urban) 18/40
    assert float(summary["bg_worst_group_acc"]) == pytest.approx(11 / 40)
    assert float(summary["coobj_worst_group_acc"]) == pytest.approx(18 / 40)
    # the study's per-image path gives the same numbers
    got = measure(cell_index(objects, backgrounds, co_occur), np.array(correct))
    assert got == pytest.approx({"id_acc": ID, "bg_gap": BG_GAP, "coobj_gap": COOBJ_GAP, "bg_coobj_gap": BOTH_GAP,
                                 "worst_group_acc": WORST})  # fmt: skip


def test_paired_bootstrap_pools_seeds() -> None:
    objects, backgrounds, co_occur, correct = _images(HAND)
    cells = cell_index(objects, backgrounds, co_occur)
    erm = np.array(correct)
    fixed = erm.copy()
    fixed[(cells == cell_index([C], [U], [U])[0])] = True  # the worst cell all right: worst group 0.05 → 0.2
    outcomes = [SeedOutcome(s, cells, {"erm": erm, "fix": fixed, "same": erm}, {"erm": 1.0, "fix": 2.0, "same": 3.0})
                for s in (0, 1)]  # fmt: skip
    diffs = differences(outcomes, n_resamples=300)
    worst = diffs[(diffs["method"] == "fix") & (diffs["measure"] == "worst group")].set_index("seed")
    assert worst.loc["pooled", "difference"] == pytest.approx(4 / 20 - 1 / 20)  # new worst: (urban, country, country)
    assert 0 < worst.loc["pooled", "ci_low"] <= 0.15 <= worst.loc["pooled", "ci_high"]
    # identical predictions: a paired difference of exactly 0 in every resample
    same = diffs[diffs["method"] == "same"]
    assert (same["difference"] == 0).all() and (same["ci_low"] == 0).all() and (same["ci_high"] == 0).all()
    # |BG+CoObj gap|: fixing the (country, urban, urban) cell lifts BG ✗ CoObj ✗ to (4/20 + 20/20) / 2 = 0.6
    new_id = 0.9025 * 0.975 + 0.0475 * 0.55 + 0.0475 * 0.825 + 0.0025 * 0.6
    gap = diffs[(diffs["method"] == "fix") & (diffs["measure"] == "|BG+CoObj gap|") & (diffs["seed"] == "0")]
    assert gap["difference"].iloc[0] == pytest.approx(abs(0.6 - new_id) - abs(BOTH_GAP))
    t = table(outcomes, n_resamples=200)
    assert t.loc["erm", "id_acc"] == pytest.approx(ID) and t.loc["fix", "seconds"] == 2.0
    assert t.loc["erm", "worst_group_acc_ci_low"] <= WORST <= t.loc["erm", "worst_group_acc_ci_high"]
    assert t.loc["erm", "id_acc_seed_sd"] == 0.0


# -- the study end to end on the tiny world ----------------------------------------------------------------------


@pytest.mark.slow
def test_study_on_the_tiny_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One seed, short training: every method saved as a model, evaluated by the suite, tabulated."""
    from robustscope.cli import main
    from robustscope.config import workspace
    from robustscope.engine.result_store import ResultStore
    from robustscope.studies.whac_a_mole import METHODS

    ws, out = tmp_path / "ws", tmp_path / "out"
    argv = ["--workspace", str(ws), "-q", "study", "whac-a-mole", "--world", "tiny", "--seeds", "0", "--out",
            str(out), "--epochs", "5", "--reference-epochs", "2", "--n-resamples", "50", "--workers", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| method | I.D. acc | BG gap | CoObj gap | BG+CoObj gap | worst group |" in printed
    table = pd.read_csv(out / "whac_a_mole.csv", index_col="method")
    assert list(table.index) == list(METHODS) and (table["seconds"] > 0).all()
    per_seed = pd.read_csv(out / "whac_a_mole_per_seed.csv").set_index("method")
    # every model's suite rows are in the result store, and the study's numbers are the suite's
    rows = ResultStore(workspace(ws).results_db).query(suite="shortcuts-offline")
    whole = rows[(rows["slice_factor"] == "") & (rows["shift"] == "none")]
    for method in METHODS:
        model = per_seed.loc[method, "model"]
        mine = whole[whole["model"] == (model if method != "erm" else "tiny-urbancars-erm")]
        stored = mine.set_index("metric")["value"]
        for key in ("id_acc", "bg_gap", "coobj_gap", "bg_coobj_gap", "worst_group_acc"):
            assert stored[key] == pytest.approx(per_seed.loc[method, key]), (method, key)
    diffs = pd.read_csv(out / "whac_a_mole_differences.csv")
    assert set(diffs["seed"].astype(str)) == {"0", "pooled"} and "erm" not in set(diffs["method"])
    assert (diffs["ci_low"] <= diffs["ci_high"]).all()
    assert "Paired differences vs ERM" in (out / "whac_a_mole.md").read_text()
