"""ImageNet-X factor analysis: the metrics against the `imagenet-x` package and hand-computed cases, the
annotation join, the CLI, the axis end to end on release-layout fixtures, the report view, and the paired
bootstrap test."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustscope.cli import main
from robustscope.data.benchmarks.imagenet_x import (
    FACTORS,
    annotations_dir,
    image_key,
    join_annotations,
    load_imagenet_x_annotations,
    metaclass_of_classes,
    predictions_frame,
    read_predictions_csv,
    real_labels,
)
from robustscope.engine.predictions import Predictions
from robustscope.errors import LabelSpaceError, MissingDataError, SpecError
from robustscope.metrics.bootstrap import bootstrap_ci, paired_bootstrap_test
from robustscope.metrics.factors import (
    correct_predictions,
    error_ratio,
    factor_accuracy,
    factor_ece,
    factor_table,
    factor_table_by_group,
)
from robustscope.models.labels import imagenet_classes, imagenet_wnids
from test_suites import colour_code_model, solid

imagenet_x = pytest.importorskip("imagenet_x", reason="the imagenet-x package ships the annotations")

# -- the package as the reference ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def package_predictions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Predictions of a made-up model for all 50,000 val images in the package's CSV format.

    About 70 % right, 2 % right only at the metaclass level; confidences continuous in (0.02, 0.98), so no
    confidence sits on a bin edge (where the two ECE binnings differ).
    """
    folder = tmp_path_factory.mktemp("imagenet-x-models")
    labels = pd.read_csv(annotations_dir() / "filename_label.csv")
    rng = np.random.default_rng(7)
    pick = rng.random(len(labels))
    predicted = np.where(pick < 0.7, labels.label, rng.integers(0, 1000, len(labels)))
    predicted = np.where((pick >= 0.7) & (pick < 0.72), np.where(labels.label < 999, labels.label + 1, 998), predicted)
    confidence = np.clip(0.3 + 0.5 * (pick < 0.7) + rng.normal(0, 0.15, len(labels)), 0.02, 0.98)
    frame = pd.DataFrame(
        {"file_name": labels.file_name, "predicted_class": predicted, "predicted_probability": confidence}
    )
    frame.to_csv(folder / "made_up.csv", index=False)
    return folder


@pytest.mark.parametrize("which", ["top", "multi"])
def test_error_ratio_equals_the_packages_on_every_factor(package_predictions: Path, which: str) -> None:
    from imagenet_x.aggregate import compute_factor_accuracies, compute_factor_calibration_errors, error_ratio
    from imagenet_x.utils import augment_model_predictions, load_annotations, load_model_predictions

    models, _ = load_model_predictions(str(package_predictions))
    augmented = augment_model_predictions(load_annotations(which_factor=which), models)
    ours = read_predictions_csv(package_predictions / "made_up.csv")
    joined = join_annotations(ours, load_imagenet_x_annotations(which))
    assert len(joined) == len(augmented) == 46110
    membership = joined[list(FACTORS)].to_numpy()
    for error_type, mode in (
        ("is_correct", "class"),
        ("is_metaclass_correct", "metaclass"),
        ("is_correct_real", "real"),
    ):
        expected = compute_factor_accuracies(augmented, list(FACTORS), error_type)
        correct = correct_predictions(
            joined.predicted_class.to_numpy(),
            joined["class"].to_numpy(),
            mode,
            metaclass_of=metaclass_of_classes(),
            real=real_labels(joined.image_key),
        )
        table = factor_table(correct, joined.predicted_probability.to_numpy(), membership, FACTORS, n_resamples=0)
        values = table.set_index(["metric", "factor"]).value
        reference = error_ratio(expected).iloc[0]
        assert list(reference.index) == list(FACTORS)
        for factor in FACTORS:
            assert values[("error_ratio", factor)] == pytest.approx(reference[factor], rel=1e-12), (mode, factor)
            assert values[("top1", factor)] == pytest.approx(expected[factor].iloc[0], rel=1e-12)
        assert values[("top1", "")] == pytest.approx(expected["average"].iloc[0], rel=1e-12)
        assert values[("worst_factor_top1", expected.iloc[0][list(FACTORS)].astype(float).idxmin())] == pytest.approx(
            expected["worst_factor"].iloc[0]
        )
    # per-factor ECE (15 bins) against the package's estimated_calibration_error, worst factor and average
    calibration = compute_factor_calibration_errors(augmented, list(FACTORS), "is_correct").iloc[0]
    correct = (joined.predicted_class == joined["class"]).to_numpy()
    table = factor_table(correct, joined.predicted_probability.to_numpy(), membership, FACTORS, n_resamples=0)
    ece = table[table.metric == "ece"].set_index("factor").value
    assert ece[list(FACTORS)].to_numpy() == pytest.approx(calibration[list(FACTORS)].to_numpy(float), abs=1e-12)
    assert ece[""] == pytest.approx(calibration["average"], abs=1e-12)
    worst = table[table.metric == "worst_factor_ece"].value.iloc[0]
    assert worst == pytest.approx(calibration["worst_factor"], abs=1e-12)


def test_annotations_match_the_package_loader() -> None:
    from imagenet_x.utils import load_annotations

    for which in ("top", "multi"):
        theirs = load_annotations(which_factor=which)
        ours = load_imagenet_x_annotations(which)
        assert ours.file_name.tolist() == theirs.file_name.tolist()
        assert (ours[list(FACTORS)].to_numpy() == theirs[list(FACTORS)].to_numpy().astype(bool)).all()
        assert ours.metaclass.tolist() == theirs.metaclass.tolist()
    kept = load_imagenet_x_annotations(filter_prototypes=False)
    assert len(kept) == 48868 and len(load_imagenet_x_annotations()) == 46110


# -- hand-computed cases ---------------------------------------------------------------------------------


def test_factor_numbers_by_hand() -> None:
    # 5 images, factors pose (0, 1, 2), style (2, 3); image 4 has none. Correct: 1 1 0 0 1 → overall 3/5.
    correct = np.array([1, 1, 0, 0, 1])
    member = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 0]])
    confidence = np.array([0.9, 0.7, 0.9, 0.2, 0.5])
    assert factor_accuracy(correct, member).tolist() == pytest.approx([2 / 3, 0.0])
    assert error_ratio(2 / 3, 3 / 5) == pytest.approx((1 / 3) / (2 / 5))
    assert np.isnan(error_ratio(1.0, 1.0))  # no mistakes at all: undefined, not a division error
    # ECE with 15 bins: pose has 0.9 (bin 13) twice (1 right, 1 wrong) and 0.7 (bin 10) right
    # → (|1 − 1.8| + |1 − 0.7|) / 3; style: 0.9 wrong, 0.2 wrong → (0.9 + 0.2) / 2
    assert factor_ece(correct, confidence, member).tolist() == pytest.approx([(0.8 + 0.3) / 3, 0.55])
    table = factor_table(correct, confidence, member, ["pose", "style"], n_resamples=0).set_index(["metric", "factor"])
    assert table.loc[("error_ratio", "style"), "value"] == pytest.approx(1 / 0.4)
    assert table.loc[("worst_factor_error_ratio", "style"), "n"] == 2
    assert table.loc[("worst_factor_ece", "style"), "value"] == pytest.approx(0.55)
    assert table.loc[("ece", ""), "value"] == pytest.approx(  # bins 13: 1−1.8, 10: 1−0.7, 3: −0.2, 7: 1−0.5
        (0.8 + 0.3 + 0.2 + 0.5) / 5
    )
    # an absent factor gets no row and cannot be the worst one
    table = factor_table(correct, confidence, np.c_[member, np.zeros(5)], ["pose", "style", "darker"], n_resamples=0)
    assert "darker" not in set(table.factor)


def test_metaclass_and_real_correctness_and_metaclass_view() -> None:
    meta = np.array(["dog"] * 3 + ["bird"] * 2)
    assert correct_predictions(np.array([1, 3, -1]), np.array([0, 4, 0]), "metaclass", metaclass_of=meta).tolist() == [
        True,
        True,
        False,
    ]
    assert correct_predictions(np.array([5, 6]), np.array([0, 0]), "real", real=[(5,), ()]).tolist() == [True, False]
    with pytest.raises(ValueError, match="correctness"):
        correct_predictions(np.array([1]), np.array([1]), "nope")
    # per metaclass: ER divides by the metaclass's own accuracy
    correct = np.array([1, 0, 0, 1, 1, 0])
    member = np.array([[1], [1], [0], [1], [0], [0]])
    groups = np.array(["dog", "dog", "dog", "bird", "bird", "bird"])
    table = factor_table_by_group(correct, np.full(6, 0.5), member, ["pose"], groups, n_resamples=0)
    ratio = table[table.metric == "error_ratio"].set_index("group").value
    assert ratio["dog"] == pytest.approx((1 - 1 / 2) / (1 - 1 / 3)) and ratio["bird"] == pytest.approx(0.0)


def test_bootstrap_intervals_equal_a_plain_bootstrap_of_the_same_numbers() -> None:
    rng = np.random.default_rng(3)
    n = 60
    correct = (rng.random(n) < 0.6).astype(float)
    confidence = rng.uniform(0.05, 0.95, n)
    member = np.c_[rng.random(n) < 0.5, rng.random(n) < 0.2].astype(float)
    table = factor_table(correct, confidence, member, ["a", "b"], n_resamples=300, seed=5).set_index(
        ["metric", "factor"]
    )

    def ratio_b(c: np.ndarray, m: np.ndarray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = (1 - c[m[:, 1] == 1].mean()) / (1 - c.mean()) if (m[:, 1] == 1).any() else np.nan
        return value if np.isfinite(value) else np.nan

    low, high = bootstrap_ci(ratio_b, correct, member, n_resamples=300, seed=5)
    assert (table.loc[("error_ratio", "b"), "ci_low"], table.loc[("error_ratio", "b"), "ci_high"]) == pytest.approx(
        (low, high)
    )
    low, high = bootstrap_ci(
        lambda c, p, m: factor_ece(c, p, m[:, :1])[0], correct, confidence, member, n_resamples=300, seed=5
    )
    assert (table.loc[("ece", "a"), "ci_low"], table.loc[("ece", "a"), "ci_high"]) == pytest.approx((low, high))
    low, high = bootstrap_ci(np.mean, correct, n_resamples=300, seed=5)
    assert (table.loc[("top1", ""), "ci_low"], table.loc[("top1", ""), "ci_high"]) == pytest.approx((low, high))


# -- predictions and the join ----------------------------------------------------------------------------


def test_store_predictions_join_by_file_name_whatever_the_folder_and_extension() -> None:
    logits = np.full((3, 1000), -5.0, dtype=np.float32)
    logits[0, 65], logits[1, 1], logits[2, 3] = 5.0, 5.0, 5.0
    predictions = Predictions(
        np.array(["n01751748/ILSVRC2012_val_00000001.png", "n02086910/ILSVRC2012_val_00000003.JPEG", "x/y.png"]),
        logits,
        np.array([65, 230, 0]),
        pd.DataFrame(index=range(3)),
        imagenet_classes(),
    )
    frame = predictions_frame(predictions)
    assert frame.predicted_class.tolist() == [65, 1, 3] and frame.label_class.tolist() == [65, 230, 0]
    expected = np.exp(10.0) / (np.exp(10.0) + 999)
    assert frame.predicted_probability.tolist() == pytest.approx([expected] * 3)
    joined = join_annotations(frame, load_imagenet_x_annotations())
    assert joined.file_name.tolist() == ["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000003.JPEG"]
    assert joined["class"].tolist() == [65, 230] and joined.attrs["unmatched"] == 1
    assert joined.background.tolist() == [True, True]  # their top factor in imagenet_x_val_top_factor.jsonl
    twice = pd.concat([frame, frame.iloc[:1].assign(file_name="other/ILSVRC2012_val_00000001.JPEG")])
    with pytest.raises(Exception, match="more than once"):
        join_annotations(twice, load_imagenet_x_annotations())
    assert image_key("a\\b\\ILSVRC2012_val_00000009.JPEG") == "ILSVRC2012_val_00000009"


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("file_name,predicted_class\nILSVRC2012_val_00000001.JPEG,1\n")
    with pytest.raises(SpecError, match="predicted_probability"):
        read_predictions_csv(bad)
    bad.write_text("file_name,predicted_class,predicted_probability\nILSVRC2012_val_00000001.JPEG,1000,0.5\n")
    with pytest.raises(SpecError, match="row 2"):
        read_predictions_csv(bad)
    with pytest.raises(MissingDataError, match=r"imagenet_x_val_top_factor\.jsonl"):
        annotations_dir(tmp_path)
    with pytest.raises(SpecError, match="top"):
        load_imagenet_x_annotations("all")


# -- the CLI ---------------------------------------------------------------------------------------------

# (file, class, top factor): the real annotations of these val images (imagenet_x_val_top_factor.jsonl)
FIXTURE = (
    ("ILSVRC2012_val_00000007", 334, "pose"),
    ("ILSVRC2012_val_00000008", 415, "pose"),
    ("ILSVRC2012_val_00000012", 286, "pose"),
    ("ILSVRC2012_val_00000001", 65, "background"),
    ("ILSVRC2012_val_00000003", 230, "background"),
    ("ILSVRC2012_val_00000004", 809, "color"),
    ("ILSVRC2012_val_00000005", 516, "color"),
    ("ILSVRC2012_val_00000030", 858, "smaller"),
)
# predicted class and confidence code of each: 5 of 8 right
SAID = ((334, 1.0), (1, 1.0), (0, 0.0), (65, 1.0), (230, 0.0), (809, 1.0), (516, 1.0), (5, 1.0))
PROTOTYPE = ("ILSVRC2012_val_00000307", 1)  # a prototypical image: dropped as the package does
UNANNOTATED = ("ILSVRC2012_val_00000014", 757)  # not among the 48,868 annotated images


def test_fixture_files_carry_these_annotations() -> None:
    notes = load_imagenet_x_annotations(filter_prototypes=False).set_index("image_key")
    for key, cls, factor in FIXTURE:
        assert notes.loc[key, "class"] == cls and [f for f in FACTORS if notes.loc[key, f]] == [factor]
    assert PROTOTYPE[0] in notes.index and PROTOTYPE[0] not in set(load_imagenet_x_annotations().image_key)
    assert UNANNOTATED[0] not in notes.index


def test_cli_prints_one_row_per_factor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "model.csv"
    rows = [
        (f"{k}.JPEG", said, 0.9 if said == cls else 0.62) for (k, cls, _), (said, _) in zip(FIXTURE, SAID, strict=True)
    ]
    rows.append((f"{UNANNOTATED[0]}.JPEG", UNANNOTATED[1], 0.9))
    pd.DataFrame(rows, columns=["file_name", "predicted_class", "predicted_probability"]).to_csv(csv, index=False)
    assert main(["imagenet-x", str(csv), "--format", "csv", "--n-resamples", "50"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert out.factor.tolist() == ["pose", "background", "color", "smaller"]  # ImageNet-X's factor order
    by = out.set_index("factor")
    assert by.n.tolist() == [3, 2, 2, 1]
    assert by.top1.tolist() == pytest.approx([1 / 3, 1.0, 1.0, 0.0])
    assert by.error_ratio.tolist() == pytest.approx([(2 / 3) / (3 / 8), 0.0, 0.0, 1 / (3 / 8)])
    # right at 0.9 (bin 13 of 15), wrong at 0.62 (bin 9): pose (|1 − 0.9| + |0 − 2 · 0.62|) / 3
    assert by.ece.tolist() == pytest.approx([1.34 / 3, 0.1, 0.1, 0.62])
    assert (by.top1_low <= by.top1).all() and (by.top1 <= by.top1_high).all()
    assert main(["imagenet-x", str(csv), "--format", "json", "--n-resamples", "0", "--correctness", "real"]) == 0
    real = pd.DataFrame(json.loads(capsys.readouterr().out)).set_index("factor")
    # ReaL leaves val_00000001 unlabelled: the package counts it a mistake
    assert real.loc["background", "top1"] == 0.5
    assert main(["imagenet-x", str(tmp_path / "missing.csv")]) == 2


# -- the axis end to end ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def val_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``imagenet/val/<wnid>/ILSVRC2012_val_*.png`` in the release layout, each predicting its SAID class."""
    root = tmp_path_factory.mktemp("data")
    wnids = imagenet_wnids()
    for (key, cls, _), (said, confidence) in zip(FIXTURE, SAID, strict=True):
        solid(root / f"imagenet/val/{wnids[cls]}/{key}.png", said, confidence)
    solid(root / f"imagenet/val/{wnids[PROTOTYPE[1]]}/{PROTOTYPE[0]}.png", 0)
    solid(root / f"imagenet/val/{wnids[UNANNOTATED[1]]}/{UNANNOTATED[0]}.png", UNANNOTATED[1])
    return root


def test_axis_end_to_end_matches_hand_computed_values(
    val_root: Path, isolated_workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robustscope.report.kit import Figures, Palette, ViewInputs
    from robustscope.report.suite import suite_sections
    from robustscope.report.views_factors import factor_order, imagenet_x_view
    from robustscope.suites import run_suite

    result = run_suite(colour_code_model(), "factors", data_root=val_root, n_resamples=50, progress=False)
    rows = result.table
    assert set(rows.axis) == {"imagenet_x"} and set(rows.suite) == {"factors"}
    factor = rows[rows.slice_factor == "imagenet_x_factor"].set_index(["metric", "slice_value"])
    whole = rows[rows.slice_factor == ""].set_index("metric")
    # the colour code's logit is 2 + 10·confidence at the coded class, 0 elsewhere
    high, low = np.exp(12) / (np.exp(12) + 999), np.exp(2) / (np.exp(2) + 999)
    assert whole.loc["top1", "value"] == pytest.approx(5 / 8) and whole.loc["top1", "n"] == 8
    assert factor.loc[("top1", "pose"), "value"] == pytest.approx(1 / 3)
    assert factor.loc[("error_ratio", "pose"), "value"] == pytest.approx((2 / 3) / (3 / 8))
    assert factor.loc[("error_ratio", "smaller"), "value"] == pytest.approx(8 / 3)
    assert factor.loc[("error_ratio", "background"), "value"] == 0.0
    # ECE, 15 bins: `high` in bin 14, `low` in bin 0
    assert factor.loc[("ece", "pose"), "value"] == pytest.approx((abs(1 - 2 * high) + low) / 3, abs=1e-5)
    assert factor.loc[("ece", "background"), "value"] == pytest.approx((1 - high + 1 - low) / 2, abs=1e-5)
    assert whole.loc["ece", "value"] == pytest.approx((abs(4 - 6 * high) + abs(1 - 2 * low)) / 8, abs=1e-5)
    assert whole.loc["worst_factor_error_ratio", "value"] == pytest.approx(8 / 3)
    assert json.loads(whole.loc["worst_factor_error_ratio", "protocol"])["worst_factor"] == "smaller"
    assert whole.loc["worst_factor_ece", "value"] == pytest.approx(high, abs=1e-5)
    protocol = json.loads(whole.loc["top1", "protocol"])
    assert protocol["n_unannotated"] == 2 and protocol["factors"] == "top" and "ICLR 2023" in protocol["paper"]
    ci = factor.loc[("top1", "pose")]
    assert ci.ci_low <= ci.value <= ci.ci_high
    # metaclass view, ER over the metaclass's own accuracy: "other" holds val 4 (right), 7 (right), 12 (wrong);
    # "structure" only val 8 (wrong), so its pose ER is (1 − 0) / (1 − 0); "dog" only val 3 (right): undefined
    meta = rows[rows.slice_factor == "imagenet_x_metaclass_factor"].set_index(["metric", "slice_value"])
    assert meta.loc[("error_ratio", "structure/pose"), "value"] == 1.0
    assert meta.loc[("error_ratio", "other/pose"), "value"] == pytest.approx((1 - 1 / 2) / (1 - 2 / 3))
    assert np.isnan(meta.loc[("error_ratio", "dog/background"), "value"])
    per_metaclass = rows[(rows.slice_factor == "imagenet_x_metaclass") & (rows.metric == "top1")]
    assert per_metaclass.set_index("slice_value").loc["other", "value"] == pytest.approx(2 / 3)
    assert result.summary()["ImageNet-X worst-factor ER"].iloc[0] == pytest.approx(8 / 3)
    # the report view draws the factors in the paper's order (lowest mean ER first)
    ratios = rows[(rows.slice_factor == "imagenet_x_factor") & (rows.metric == "error_ratio")]
    assert factor_order(ratios) == ["background", "color", "pose", "smaller"]
    html_text = imagenet_x_view(ViewInputs(rows.astype({"model": str}), Figures(), Palette(rows.model)))
    assert "Worst factor (highest error ratio): colour-code: <b>smaller</b>" in html_text
    assert '"x":["background","color","pose","smaller"]' in html_text and "Error ratio per metaclass" in html_text
    sections, toc = suite_sections(rows.astype({"model": str}), Figures())
    assert ("suite-factors-imagenet-x", "factors: ImageNet-X factors") in toc and '"x":["background"' in sections
    # the CLI reads the same stored predictions by their key
    assert main(["imagenet-x", str(rows.prediction_key.iloc[0]), "--format", "csv", "--n-resamples", "0"]) == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("factor")
    assert out.loc["smaller", "error_ratio"] == pytest.approx(8 / 3)


def test_axis_rejects_a_val_folder_sorted_by_the_wrong_labels(tmp_path: Path) -> None:
    from robustscope.suites import run_suite

    key, cls, _ = FIXTURE[0]
    solid(tmp_path / f"imagenet/val/{imagenet_wnids()[cls + 1]}/{key}.png", cls)
    with pytest.raises(LabelSpaceError, match=key):
        run_suite(colour_code_model(), "factors", data_root=tmp_path, n_resamples=0, progress=False)


# -- the paired bootstrap test ---------------------------------------------------------------------------


def test_paired_bootstrap_test_by_hand() -> None:
    # per-sample differences a − b = (1, 0, 0): d* = k/3 with k ~ Binomial(3, 1/3), d = 1/3.
    # |d* − 1/3| >= 1/3 ⇔ k ∈ {0, 2, 3}: P = (8 + 6 + 1) / 27. CI: P(d* = 0) = 8/27 > 2.5 % and
    # P(d* = 1) = 1/27 > 2.5 %, so the 2.5 % and 97.5 % quantiles are 0 and 1.
    a, b = np.array([1.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    difference, ci, p = paired_bootstrap_test(a, b, n_resamples=40_000, seed=1)
    assert difference == pytest.approx(1 / 3)
    assert p == pytest.approx(15 / 27, abs=0.01)
    assert ci == (0.0, 1.0)
    # two samples, differences (1, 0): d* ∈ {0, 1/2, 1} with P 1/4, 1/2, 1/4; extreme ⇔ d* ∈ {0, 1}: p = 1/2
    assert paired_bootstrap_test([1, 0], [0, 0], n_resamples=40_000).p_value == pytest.approx(0.5, abs=0.01)
    # another statistic (the per-resample loop): max over a = (1, 0), b = (0, 0); d = 1, and d* = 1 unless
    # index 0 is never drawn (P = 1/4), when d* = 0 is the only outcome as far from d as d from 0: p = 1/4
    result = paired_bootstrap_test([1, 0], [0, 0], statistic=np.max, n_resamples=8000, seed=2)
    assert result.difference == 1.0 and result.p_value == pytest.approx(0.25, abs=0.02)
    assert result.ci == (0.0, 1.0)


def test_paired_bootstrap_test_properties() -> None:
    rng = np.random.default_rng(0)
    same = (rng.random(500) < 0.7).astype(float)
    difference, ci, p = paired_bootstrap_test(same, same, n_resamples=500)
    assert difference == 0.0 and ci == (0.0, 0.0) and p == 1.0
    better = np.ones(500)
    worse = (rng.random(500) < 0.5).astype(float)
    result = paired_bootstrap_test(better, worse, n_resamples=2000, seed=3)
    assert result.p_value == pytest.approx(1 / 2001) and result.ci[0] > 0.4
    # the sign follows A − B, and the pairing matters: a shared per-sample offset does not widen the CI
    shared = rng.normal(0, 5, 500)
    paired = paired_bootstrap_test(shared + 0.1, shared, n_resamples=500)
    assert paired.ci == pytest.approx((0.1, 0.1)) and paired.p_value == pytest.approx(1 / 501)
    assert paired_bootstrap_test(worse, better, n_resamples=200).difference < 0
    with pytest.raises(ValueError, match="same samples"):
        paired_bootstrap_test(np.ones(3), np.ones(4))
