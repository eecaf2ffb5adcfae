"""Geography and income (Richards et al. 2023; Gustafson et al. 2023): the Dollar Street and GeoDE loaders on
fixtures in the released layouts, the metrics on hand-computed cases, the ``geography`` suite end to end (Python
and CLI) with models whose every decision is known, the progress gap across two models, and the report view."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import benchmark_fixtures
from robustscope.cli import main
from robustscope.data.benchmarks._common import label_set_file
from robustscope.data.benchmarks.dollar_street import load_dollar_street
from robustscope.data.benchmarks.geode import load_geode
from robustscope.data.registry import load_dataset
from robustscope.errors import LabelSpaceError, MissingDataError
from robustscope.metrics.bootstrap import bootstrap_ci
from robustscope.metrics.error_ratio import factor_error_ratio, factor_error_ratio_table
from robustscope.metrics.geography import (
    disparity,
    disparity_ci,
    group_accuracy,
    income_group,
    income_quartile_edges,
    max_min_disparity,
    multilabel_topk_correct,
    parse_index_set,
)
from robustscope.metrics.progress import effective_robustness, linear_fit, progress_gap, progress_slopes
from robustscope.models import Model, Preprocessing
from robustscope.models.labels import imagenet_classes, imagenet_wnids
from robustscope.suites import load_suite, run_suite
from test_suites import ColourCode, colour_code_model, solid

# -- fixtures in the released layouts --------------------------------------------------------------------

# id, country code, country, region code, income, topic, ImageNet index set, the class the colour code predicts.
# The colour code's logit is 2 + 10·confidence at its class and 0 elsewhere, so its top-5 is that class and
# classes 0, 1, 2, 3 (ties rank the lower index first): d3 is wrong at top-1 and right at top-5.
DOLLAR_STREET = [
    ("d1", "bf", "Burkina Faso", "af", 27.0, "toothbrush", [409, 530], 530),
    ("d2", "bf", "Burkina Faso", "af", 150.0, "stove/hob", [700], 701),
    ("d3", "ng", "Nigeria", "af", 300.0, "cups/mugs/glasses", [2, 600], 601),
    ("d4", "fr", "France", "eu", 2500.0, "toothbrush", [409], 409),
    ("d5", "fr", "France", "eu", 3000.0, "sofa", [500, 501], 501),
    ("d6", "it", "Italy", "eu", 1000.0, "bike", [800], 800),
    ("d7", "in", "India", "as", 684.0, "radio", [300], 300),
    ("d8", "mx", "Mexico", "am", 1997.0, "car", [900], 901),
    ("d9", "mx", "Mexico", "am", 40.0, "street view", [], 5),  # no ImageNet class: dropped
    ("d10", "mx", "Mexico", "am", 50.0, "wheel barrow", [450], 450),
]
# Factor annotations (Gustafson et al.'s DollarStreetFactors.csv columns, keyed here by image_id); d10 has none.
FACTOR_ROWS = {
    "d1": (1, 0, 0), "d2": (1, 1, 0), "d3": (0, 0, 1), "d4": (0, 0, 1),
    "d5": (0, 1, 0), "d6": (0, 0, 1), "d7": (1, 0, 0), "d8": (0, 1, 1),
}
FACTOR_NAMES = ("texture", "darker", "pose")
# GeoDE: file_path (under images/), object, region ("" → from ip_country), ip_country, predicted class
GEODE = [
    ("bag/bag_000.png", "bag", "Africa", "Nigeria", 414),
    ("candle/candle_000.png", "candle", "Africa", "Ghana", 471),
    ("candle/candle_001.png", "candle", "Europe", "Italy", 470),
    ("bag/bag_001.png", "bag", "Europe", "France", 797),
    ("tree/tree_000.png", "tree", "Europe", "Italy", 5),  # no ImageNet class: dropped
    ("candle/candle_002.png", "candle", "EastAsia", "Japan", 10),
    ("bag/bag_002.png", "bag", "", "Turkey", 748),
    ("dog/dog_000.png", "dog", "Americas", "Brazil", 239),
]


def write_dollar_street(folder: Path, rows: list[tuple], csv: str = "images_v2_imagenet_test.csv") -> Path:
    """The release layout (``benchmark_fixtures``), each image in the colour the colour code reads as its class."""
    return benchmark_fixtures.write_dollar_street(folder, rows, csv, draw=solid)


def write_geode(folder: Path, rows: list[tuple]) -> Path:
    """The release layout (``benchmark_fixtures``), each image in the colour the colour code reads as its class."""
    return benchmark_fixtures.write_geode(folder, rows, draw=solid)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dollar Street (with factor annotations), GeoDE, ImageNet val and ImageNet-R; V2, Sketch and -A absent."""
    root = tmp_path_factory.mktemp("data")
    ds = write_dollar_street(root / "dollar-street" / "dataset_dollarstreet", DOLLAR_STREET)
    factors = pd.DataFrame(
        [{"url": f"https://example.org/{k}.png", "image_id": k, **dict(zip(FACTOR_NAMES, v, strict=True)),
          "one_word": "w"} for k, v in FACTOR_ROWS.items()]
    )
    factors.to_csv(ds / "DollarStreetFactors.csv")  # index column first, as the release's
    write_geode(root / "geode", GEODE)
    wnids = imagenet_wnids()
    # ImageNet val: the colour code is right on 3 of 4 (top-1 0.75); a model of zeros, always class 0, on 1 of 4
    for i, (true, said) in enumerate(((0, 0), (1, 1), (207, 207), (207, 1))):
        solid(root / f"imagenet/val/{wnids[true]}/ILSVRC2012_val_{i:08d}.png", said)
    # ImageNet-R: the colour code right on classes 0 and 1 (2/3), the zeros model on class 0 only (1/3)
    r = label_set_file("imagenet_r")
    inside = {int(v[0]) for v in r["label_sets"].values()}
    outside = next(i for i in range(999, 0, -1) if i not in inside)
    for c, said in ((0, int(r["label_sets"][r["classes"][0]][0])), (1, int(r["label_sets"][r["classes"][1]][0])),
                    (2, outside)):
        solid(root / f"imagenet-r/{r['classes'][c]}/art_0.png", said)
    return root


class Zeros(nn.Module):
    """Equal logits for all 1000 classes: top-1 is class 0, top-5 classes 0-4 (ties rank the lower index first)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 1000, dtype=x.dtype, device=x.device)


def zeros_model() -> Model:
    pre = Preprocessing(input_size=8, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Model.from_module(Zeros(), pre, imagenet_classes(), name="zeros", label_space="imagenet-1k")


# -- loaders ---------------------------------------------------------------------------------------------


def test_dollar_street_loader_reads_the_release_csv(data_root: Path) -> None:
    ds = load_dataset("dollar-street::test", root=data_root)  # found under dollar-street/dataset_dollarstreet
    m = ds.manifest.set_index("sample_id")
    assert list(m.index) == ["d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d10"]
    assert ds.metadata["dropped_without_imagenet_labels"] == 1 and ds.metadata["external_labels"] is True
    assert m.loc["d3", "imagenet_indices"] == "2;600" and m.loc["d5", "imagenet_indices"] == "500;501"
    assert m.loc["d1", "region"] == "Africa" and m.loc["d7", "region"] == "Asia" and m.loc["d8", "region"] == "Americas"
    assert m.loc["d1", "region_id"] == "af" and m.loc["d3", "country"] == "Nigeria"
    assert m.loc["d4", "country_id"] == "fr"
    # right-closed bins at 195 / 685 / 1963 (the authors' categorize_income): 684 is low-mid, 1000 mid-high and
    # 1997 high (above 1963)
    assert m.income_group.to_dict() == {"d1": "low", "d2": "low", "d3": "low-mid", "d4": "high", "d5": "high",
                                        "d6": "mid-high", "d7": "low-mid", "d8": "high", "d10": "low"}
    assert ds.metadata["income_edges"] == [195.0, 685.0, 1963.0] and ds.metadata["income_bins"] == "authors"
    assert ds.classes[m.loc["d5", "label"]] == "sofa" and m.loc["d1", "path"] == "assets/d1/d1.png"
    assert (ds.root / m.loc["d1", "path"]).is_file()
    # the release's DollarStreetFactors.csv in the folder is joined by whichever key column matches
    assert ds.metadata["factor_annotations"] == 8
    assert m.loc["d8", ["factor_texture", "factor_darker", "factor_pose"]].tolist() == [0.0, 1.0, 1.0]
    assert np.isnan(m.loc["d10", "factor_texture"])
    # quartiles of this split's 9 incomes (27 50 150 300 684 1000 1997 2500 3000): the 3rd, 5th and 7th
    quartiles = load_dollar_street(ds.root, income_bins="quartiles")
    assert quartiles.metadata["income_edges"] == [150.0, 684.0, 1997.0]
    assert quartiles.manifest.income_group.tolist() == [
        "low", "low", "low-mid", "high", "high", "mid-high", "low-mid", "mid-high", "low"]
    assert income_quartile_edges([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)


def test_dollar_street_loader_errors_name_the_file(tmp_path: Path) -> None:
    folder = write_dollar_street(tmp_path / "ds", DOLLAR_STREET[:2], csv="images_v2_imagenet_train.csv")
    train = load_dollar_street(folder, split="train")
    assert len(train) == 2 and train.name.endswith(":train") and "factor_texture" not in train.manifest
    with pytest.raises(MissingDataError, match=r"images_v2_imagenet_test\.csv does not exist"):
        load_dollar_street(folder)
    (folder / "assets/d2/d2.png").unlink()
    with pytest.raises(MissingDataError, match=r"1 of 2 images .* missing, e\.g\. .*d2\.png"):
        load_dollar_street(folder, split="train")
    pd.read_csv(folder / "images_v2_imagenet_train.csv").drop(columns="imagenet_sysnet_id").to_csv(
        folder / "images_v2_imagenet_test.csv", index=False)
    with pytest.raises(MissingDataError, match=r"lacks column.*imagenet_sysnet_id"):
        load_dollar_street(folder)
    # text columns are read as text: Namibia's code is not a missing value
    namibia = write_dollar_street(tmp_path / "na", [("n1", "NA", "Namibia", "af", 80.0, "bed", [500], 500)])
    assert load_dollar_street(namibia).manifest.country_id.tolist() == ["NA"]
    other = write_dollar_street(tmp_path / "ds2", DOLLAR_STREET[:1])
    pd.DataFrame({"url": ["u"], "image_id": ["zz"], "texture": [1]}).to_csv(other / "DollarStreetFactors.csv")
    with pytest.raises(MissingDataError, match=r"none of the 1 annotations.*map them"):
        load_dollar_street(other)


def test_geode_loader_reads_index_csv(data_root: Path, tmp_path: Path) -> None:
    ds = load_dataset("geode:", root=data_root)
    m = ds.manifest
    assert m.sample_id.tolist() == [r[0] for r in GEODE if r[1] != "tree"]
    assert ds.metadata["dropped_without_imagenet_labels"] == 1 and ds.metadata["external_labels"] is True
    assert m.path.iloc[0] == "images/bag/bag_000.png"
    assert m.region.tolist() == ["Africa", "Africa", "Europe", "Europe", "EastAsia", "WestAsia", "Americas"]
    # the authors' final object → ImageNet lists: bag = backpack, purse, punching bag, sleeping bag, plastic bag,
    # messenger bag, shopping basket, pencil case (the last three named mailbag, pencil box here); the dog list
    # has the cairn terrier (192)
    names = imagenet_classes()
    assert [names[int(i)] for i in m.imagenet_indices.iloc[0].split(";")] == [
        "backpack", "mailbag", "pencil box", "plastic bag", "punching bag", "purse", "shopping basket",
        "sleeping bag"]
    assert ds.metadata["split"] == "all"  # no authors' test CSV in the fixture: every row of index.csv
    assert "192" in m.imagenet_indices.iloc[-1].split(";") and m.object.iloc[1] == "candle"
    # file_path relative to the folder itself is accepted too; an unknown object is named
    flat = tmp_path / "geode-flat"
    solid(flat / "x/a.png", 1)
    pd.DataFrame({"file_path": ["x/a.png"], "object": ["hand_soap"], "region": ["Europe"],
                  "ip_country": ["Italy"]}).to_csv(flat / "index.csv", index=False)
    soap = load_geode(flat)
    assert soap.manifest.path.tolist() == ["x/a.png"] and soap.classes == sorted(
        c for c, v in label_set_file("geode")["label_sets"].items() if v)
    assert soap.manifest.imagenet_indices.tolist() == ["631;804"]  # lotion, soap dispenser
    pd.DataFrame({"file_path": ["x/a.png"], "object": ["spoon"], "region": ["Europe"]}).to_csv(
        flat / "index.csv", index=False)
    with pytest.raises(MissingDataError, match="'spoon' is not one of GeoDE's"):
        load_geode(flat)


# -- metrics on hand-computed cases ----------------------------------------------------------------------


def test_multilabel_topk_correct_by_hand() -> None:
    scores = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1], [0.0, 0.0, 0.0, 0.0]])
    sets = ["2;3", [2], "[3]"]
    assert multilabel_topk_correct(scores, sets, 1).tolist() == [False, False, False]
    assert multilabel_topk_correct(scores, sets, 2).tolist() == [True, False, False]  # top-2: {1, 2}, {0, 1}, {0, 1}
    assert multilabel_topk_correct(scores, sets, 3).tolist() == [True, True, False]  # ties: lower index first
    assert multilabel_topk_correct(scores, sets, 10).tolist() == [True, True, True]  # k past K: every class
    assert not multilabel_topk_correct(scores[:1], [""], 4)[0]  # an empty set is never correct
    with pytest.raises(ValueError, match="outside the model's 4 classes"):
        multilabel_topk_correct(scores[:1], ["4"], 1)
    assert parse_index_set("[409, 530]") == parse_index_set("['409', '530']") == parse_index_set("530;409")


def test_group_accuracies_disparities_and_their_intervals() -> None:
    correct = np.array([1, 0, 1, 1, 1, 1, 0, 1, 0, 1], dtype=float)
    region = ["Africa"] * 3 + ["Europe"] * 3 + ["Asia"] * 2 + ["Americas"] * 2
    table = group_accuracy(correct, region, n_resamples=200, seed=3).set_index("group")
    assert table.value.to_dict() == pytest.approx({"Africa": 2 / 3, "Americas": 1 / 2, "Asia": 1 / 2, "Europe": 1.0})
    assert table.n.to_dict() == {"Africa": 3, "Americas": 2, "Asia": 2, "Europe": 3}
    # each group's CI is the plain bootstrap of that group's images
    africa = bootstrap_ci(np.mean, correct[:3], n_resamples=200, seed=3)
    assert (table.loc["Africa", "ci_low"], table.loc["Africa", "ci_high"]) == pytest.approx(africa)
    by = table.value.to_dict()
    assert disparity(by) == pytest.approx(1 / 3) and max_min_disparity(by) == pytest.approx(1 / 2)
    assert disparity(by, "Asia", "Americas") == 0.0 and np.isnan(disparity({"Europe": 1.0}))
    assert np.isnan(max_min_disparity({"Europe": 1.0}))
    low, high = disparity_ci(correct, region, disparity, n_resamples=500, seed=0)
    assert -1.0 <= low <= 1 / 3 <= high <= 1.0 and high - low > 0
    # Europe is all right, so a stratified resample keeps acc(Europe) = 1: the gap is 1 − a resampled
    # Africa accuracy, one of 0, 1/3, 2/3, 1
    resampled = disparity_ci(correct, region, lambda a: a["Europe"], n_resamples=100, seed=0)
    assert resampled == (1.0, 1.0)
    assert {round(low, 6), round(high, 6)} <= {0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0}
    assert np.isnan(disparity_ci(correct, region, disparity, n_resamples=0)[0])


def test_income_groups_are_right_closed_at_the_papers_edges() -> None:
    # the authors' categorize_income: x <= 195 → Q4, <= 685 → Q3, <= 1963 → Q2, else Q1
    assert income_group([0.0, 195.0, 195.01, 685.0, 685.5, 1963.0, 1963.5, np.nan]) == [
        "low", "low", "low-mid", "low-mid", "mid-high", "mid-high", "high", ""]
    assert income_group([1.0, 5.0], edges=[2.0], names=["poor", "rich"]) == ["poor", "rich"]
    with pytest.raises(ValueError, match="must increase"):
        income_group([1.0], edges=[3.0, 2.0, 4.0])


def authors_error_ratio(counts_group: pd.Series, counts_total: pd.Series) -> pd.Series:
    """Gustafson et al.'s ``ErrorRatio._compute_error_ratio`` (dollarstreet_factors) as the reference."""
    counts_group, counts_total = counts_group.copy(), counts_total.copy()
    counts_group[counts_group <= 5] = 0
    counts_total[counts_total <= 5] = 0
    share_group = counts_group / counts_group.sum()
    share_total = counts_total / counts_total.sum()
    return ((share_group - share_total) / share_total).sort_values(ascending=False)


def test_factor_error_ratio_by_hand_and_against_the_authors_arithmetic() -> None:
    f = pd.DataFrame([v for v in FACTOR_ROWS.values()], columns=list(FACTOR_NAMES))
    wrong = np.array([k in ("d2", "d8") for k in FACTOR_ROWS])
    # all 8 images: texture 3, darker 3, pose 4 (shares .3, .3, .4); the 2 mistakes: 1, 2, 1 (.25, .5, .25)
    overall = factor_error_ratio(f, wrong, min_count=0)
    assert overall.to_dict() == pytest.approx({"darker": 2 / 3, "texture": -1 / 6, "pose": -0.375})
    assert overall.index.tolist() == ["darker", "texture", "pose"]  # decreasing, as the authors sort
    low_income = np.array([k in ("d1", "d2") for k in FACTOR_ROWS])  # mistakes there: d2 (texture, darker)
    assert factor_error_ratio(f, wrong, low_income, min_count=0).to_dict() == pytest.approx(
        {"texture": 2 / 3, "darker": 2 / 3, "pose": -1.0})
    # the low-count filter (counts <= 5 zeroed) on a bigger table, against the authors' pandas arithmetic
    rng = np.random.default_rng(0)
    big = pd.DataFrame(rng.random((300, 5)) < [0.5, 0.3, 0.1, 0.02, 0.4], columns=list("abcde")).astype(int)
    mistakes = rng.random(300) < 0.25
    group = rng.random(300) < 0.5
    reference = authors_error_ratio(big[mistakes & group].sum(), big.sum())
    ours = factor_error_ratio(big, mistakes, group)
    pd.testing.assert_series_equal(ours, reference.rename("error_ratio").astype(float), check_index_type=False)
    assert ours["d"] == -1.0  # factor d has <= 5 mistakes in the group: filtered to 0, so its share is 0
    table = factor_error_ratio_table(f, wrong, min_count=0, n_resamples=200, seed=1)
    assert table.factor.tolist() == overall.index.tolist() and table.value.tolist() == pytest.approx(overall.tolist())
    assert (table.n_mistakes == 2).all()
    assert ((table.ci_low <= table.value) & (table.value <= table.ci_high)).all()
    assert (table.ci_high > table.ci_low).any()


def test_progress_gap_is_the_ratio_of_slopes() -> None:
    models = ["a", "b", "c", "d"]
    imagenet = [0.6, 0.7, 0.8, 0.9]
    standard = [0.2, 0.4, 0.5, 0.7]  # slope: least squares by hand below
    geo = [0.50, 0.52, 0.55, 0.56]
    table = pd.DataFrame({"model": models * 2, "imagenet_acc": imagenet * 2,
                          "benchmark": ["imagenet-r"] * 4 + ["geode"] * 4, "acc": standard + geo})
    x = np.array(imagenet) - np.mean(imagenet)

    def slope(y: list[float]) -> float:
        return float((x * (np.array(y) - np.mean(y))).sum() / (x * x).sum())

    assert slope(standard) == pytest.approx(1.6) and slope(geo) == pytest.approx(0.21)
    slopes = progress_slopes(table, n_resamples=100).set_index("benchmark")
    assert slopes.slope.to_dict() == pytest.approx({"imagenet-r": 1.6, "geode": 0.21})
    assert (slopes.slope_ci_low <= slopes.slope).all() and (slopes.slope <= slopes.slope_ci_high).all()
    assert slopes.loc["imagenet-r", "slope"] == pytest.approx(np.polyfit(imagenet, standard, 1)[0])
    gap = progress_gap(table, "imagenet-r", "geode", n_resamples=200)
    assert gap.value == pytest.approx(1.6 / 0.21) and gap.n_models == 4
    assert gap.slope_reference == pytest.approx(1.6) and gap.slope_target == pytest.approx(0.21)
    assert gap.ci[0] <= gap.value <= gap.ci[1]
    # several standard benchmarks: each model's mean over them; a model missing one of them is left out
    sketch = pd.DataFrame({"model": models[:3], "imagenet_acc": imagenet[:3], "benchmark": "sketch",
                           "acc": [0.1, 0.2, 0.4]})
    both = progress_gap(pd.concat([table, sketch]), ["imagenet-r", "sketch"], "geode", n_resamples=0)
    x3 = np.array(imagenet[:3])
    mean_y = (np.array(standard[:3]) + np.array([0.1, 0.2, 0.4])) / 2
    expected = np.polyfit(x3, mean_y, 1)[0] / np.polyfit(x3, geo[:3], 1)[0]
    assert both.n_models == 3 and both.value == pytest.approx(expected)
    # effective robustness: the residual from the benchmark's line (geo line: 0.21 x + 0.375)
    er = effective_robustness(table).set_index(["benchmark", "model"])
    assert er.loc[("geode", "a"), "predicted"] == pytest.approx(0.21 * 0.6 + 0.375)
    assert er.loc[("geode", "a"), "effective_robustness"] == pytest.approx(0.50 - (0.21 * 0.6 + 0.375))
    assert er.effective_robustness.groupby(level=0).sum().abs().max() < 1e-12  # OLS residuals sum to zero
    logit = effective_robustness(table, scale="logit").set_index(["benchmark", "model"])
    fit = linear_fit(np.log(np.array(imagenet) / (1 - np.array(imagenet))), np.log(np.array(geo) / (1 - np.array(geo))))
    expected_logit = np.log(0.5 / 0.5) - (fit.slope * np.log(0.6 / 0.4) + fit.intercept)
    assert logit.loc[("geode", "a"), "effective_robustness"] == pytest.approx(expected_logit)


# -- the suite end to end --------------------------------------------------------------------------------


def geography_suite(min_count: int) -> object:
    """The built-in ``geography`` suite with ``factor_min_count`` changed (the fixtures count fewer than 5)."""
    suite = load_suite("geography")
    axis = suite.axis("geography")
    changed = dataclasses.replace(axis, params={**axis.params, "factor_min_count": min_count})
    return dataclasses.replace(suite, axes=(changed,))


def test_suite_end_to_end_matches_hand_computed_values(data_root: Path, isolated_workspace: Path) -> None:
    from robustscope.report.kit import Figures, Palette, ViewInputs
    from robustscope.report.suite import suite_sections
    from robustscope.report.views_geography import geography_view
    from robustscope.suites.geography import progress_gap_table

    result = run_suite(colour_code_model(), geography_suite(0), data_root=data_root, n_resamples=50, progress=False)
    rows = result.table
    assert set(rows.axis) == {"geography"} and set(rows.suite) == {"geography"}

    def pick(dataset: str, metric: str, factor: str = "", value: str = "") -> pd.Series:
        chosen = rows[rows.dataset.str.startswith(dataset) & (rows.metric == metric)
                      & (rows.slice_factor == factor) & (rows.slice_value == value)]
        assert len(chosen) == 1, (dataset, metric, factor, value, chosen)
        return chosen.iloc[0]

    ds, geode = "dollar-street:", "geode:"
    assert pick(ds, "top1").value == pytest.approx(6 / 9) and pick(ds, "top1").n == 9
    assert pick(ds, "top5").value == pytest.approx(7 / 9)  # d3: class 2 of its set is in the top-5
    top5_region = {"Africa": 2 / 3, "Europe": 1.0, "Asia": 1.0, "Americas": 1 / 2}
    for region, expected in top5_region.items():
        assert pick(ds, "top5", "region", region).value == pytest.approx(expected)
    assert pick(ds, "top1", "region", "Africa").value == pytest.approx(1 / 3)
    # bins at 195 / 685 / 1963: low d1 d2 d10, low-mid d3 d7, mid-high d6, high d4 d5 d8 (1997); d2 and d8 wrong
    top5_income = {"low": 2 / 3, "low-mid": 1.0, "mid-high": 1.0, "high": 2 / 3}
    for group, expected in top5_income.items():
        assert pick(ds, "top5", "income_group", group).value == pytest.approx(expected)
    assert json.loads(pick(ds, "top5").protocol)["income_edges"] == [195.0, 685.0, 1963.0]
    assert "income_edges" not in json.loads(pick(geode, "top5").protocol)  # GeoDE has no incomes
    for country, expected in {"Burkina Faso": 0.5, "Nigeria": 1.0, "France": 1.0, "Mexico": 0.5}.items():
        assert pick(ds, "top5", "country", country).value == pytest.approx(expected)
    assert pick(ds, "disparity_europe_africa").value == pytest.approx(1 / 3)
    assert pick(ds, "disparity_max_min").value == pytest.approx(1 / 2)
    assert pick(ds, "disparity_income").value == pytest.approx(0.0)  # acc(high) 2/3 − acc(low) 2/3
    assert json.loads(pick(ds, "disparity_income").protocol)["k"] == 5
    assert pick(geode, "top1").value == pytest.approx(5 / 7) and pick(geode, "top5").value == pytest.approx(5 / 7)
    geode_region = {"Africa": 0.5, "Europe": 1.0, "EastAsia": 0.0, "WestAsia": 1.0, "Americas": 1.0}
    for region, expected in geode_region.items():
        assert pick(geode, "top5", "region", region).value == pytest.approx(expected)
    assert pick(geode, "disparity_europe_africa").value == pytest.approx(0.5)
    assert pick(geode, "disparity_max_min").value == 1.0
    assert not (rows.dataset.str.startswith(geode) & (rows.metric == "disparity_income")).any()  # no incomes
    assert pick("imagenet-val:", "top1").value == 0.75 and pick("imagenet-r:", "top1").value == pytest.approx(2 / 3)
    # factor error ratios (Gustafson et al.) from the annotations in the Dollar Street folder, top-5 mistakes
    assert pick(ds, "factor_error_ratio", "factor", "darker").value == pytest.approx(2 / 3)
    assert pick(ds, "factor_error_ratio", "factor", "pose").value == pytest.approx(-0.375)
    assert pick(ds, "factor_error_ratio[income_group=low]", "factor", "pose").value == pytest.approx(-1.0)
    assert pick(ds, "factor_error_ratio[region=Americas]", "factor", "pose").value == pytest.approx(0.25)
    assert pick(ds, "factor_error_ratio", "factor", "darker").n == 2
    assert not rows.metric.str.contains("region=Europe").any()  # no mistakes in Europe: undefined, no row
    # every sliced number and every disparity carries a bootstrap CI around it
    sliced = rows[(rows.slice_factor != "") | rows.metric.str.startswith("disparity")]
    assert len(sliced) > 40 and np.isfinite(sliced[["ci_low", "ci_high"]].to_numpy()).all()
    assert ((sliced.ci_low <= sliced.value + 1e-12) & (sliced.value <= sliced.ci_high + 1e-12)).all()
    # missing benchmarks are skipped with the paths they were expected at
    skipped = {s.role: s.reason for s in result.skipped}
    assert set(skipped) == {"imagenet_v2", "imagenet_sketch", "imagenet_a"}
    assert str(data_root / "imagenet-a") in skipped["imagenet_a"]
    assert str(data_root / "imagenet-sketch" / "sketch") in skipped["imagenet_sketch"]
    summary = result.summary().iloc[0]
    assert summary["geo top-5"] == pytest.approx((7 / 9 + 5 / 7) / 2)
    assert summary["geo Europe-Africa gap"] == pytest.approx((1 / 3 + 0.5) / 2)

    # a second model, then the progress gap across both from the stored rows: ImageNet top-1 0.75 vs 0.25;
    # Dollar Street top-5 7/9 vs 1/9 (d3's class 2), GeoDE 5/7 vs 0, ImageNet-R 2/3 vs 1/3
    zeros = run_suite(zeros_model(), "geography", data_root=data_root, n_resamples=20, progress=False)
    zero_top5 = zeros.table[(zeros.table.metric == "top5") & (zeros.table.slice_factor == "")]
    assert sorted(zip(zero_top5.dataset.str.split(":").str[0], zero_top5.value, strict=True)) == [
        ("dollar-street", pytest.approx(1 / 9)), ("geode", 0.0)]
    gap = progress_gap_table(n_resamples=50)
    slopes = gap.slopes.set_index("benchmark")
    assert slopes.slope.to_dict() == pytest.approx({"dollar-street": 4 / 3, "geode": 10 / 7, "imagenet-r": 2 / 3})
    assert slopes.kind.to_dict() == {"dollar-street": "geographic", "geode": "geographic", "imagenet-r": "standard"}
    gaps = gap.gaps.set_index(["standard", "geographic"]).progress_gap
    assert gaps.to_dict() == pytest.approx({("imagenet-r", "dollar-street"): 0.5, ("imagenet-r", "geode"): 7 / 15})
    assert (gap.points.effective_robustness.abs() < 1e-12).all()  # two models: each line goes through both

    # the report view: per-region and per-income bars, the country chart, the factor bars, the progress gap
    both = pd.concat([rows, zeros.table], ignore_index=True).astype({"model": str})
    html_text = geography_view(ViewInputs(both, Figures(), Palette(both.model)))
    for text in ("top5 by region", "top5 by income group", "top5 by country", "Factor error ratio among mistakes",
                 "Europe - Africa", "Progress gap", "slope(standard) / slope(geographic)"):
        assert text in html_text, text
    assert "1.333" in html_text and "1.429" in html_text and "0.467" in html_text  # slopes and a gap
    # the income chart's legend names the edges the rows' protocols record (JSON-escaped in the figure data)
    assert "low \\u2264 $195 \\u003c low-mid \\u2264 $685 \\u003c mid-high \\u2264 $1963" in html_text
    sections, toc = suite_sections(both, Figures())
    assert ("suite-geography-geography", "geography: Geography and income") in toc
    assert "geo top-5" in sections


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")  # the TorchScript model file
def test_cli_runs_the_suite_and_reports_what_is_missing(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "colour-code"
    folder.mkdir()
    torch.jit.script(ColourCode()).save(str(folder / "model.ts"))
    config = {"labels": imagenet_classes(), "label_space": "imagenet-1k", "name": "colour-code-ts",
              "preprocessing": {"input_size": 8, "crop_pct": 1.0, "mean": [0, 0, 0], "std": [1, 1, 1]}}
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["-q", "run", "--model", f"file:{folder}", "--suite", "geography", "--data-root", str(data_root),
                 "--n-resamples", "10"]) == 0
    out = capsys.readouterr().out
    assert "geo top-5" in out and "0.746" in out  # (7/9 + 5/7) / 2
    assert "skipped" in out and "geography/imagenet_a" in out
    from robustscope.config import workspace
    from robustscope.engine import ResultStore

    stored = ResultStore(workspace().results_db).query(suite="geography", metric="top5", slice_factor="")
    assert sorted(stored.value.round(4)) == [round(5 / 7, 4), round(7 / 9, 4)]
    # nothing under the root: every dataset skipped with the folders it was looked for in, and no rows
    empty = run_suite(colour_code_model(), "geography", data_root=tmp_path / "none", n_resamples=0, progress=False)
    assert empty.table.empty and len(empty.skipped) == 7
    reason = {s.role: s.reason for s in empty.skipped}["dollar_street"]
    assert str(tmp_path / "none" / "dollar-street" / "dataset_dollarstreet") in reason
    assert str(tmp_path / "none" / "dataset_dollarstreet") in reason


def test_axis_needs_an_imagenet_model(data_root: Path) -> None:
    small = Model.from_module(nn.Flatten(), Preprocessing(input_size=2, crop_pct=1.0, mean=(0, 0, 0),
                                                          std=(1, 1, 1)), [f"c{i}" for i in range(12)], name="tiny")
    suite = load_suite("geography")
    only = dataclasses.replace(suite, axes=(dataclasses.replace(
        suite.axis("geography"), datasets={"geode": "geode:{data:geode}"}),))
    with pytest.raises(LabelSpaceError, match="12 outputs"):
        run_suite(small, only, data_root=data_root, n_resamples=0, progress=False)
