"""The synthetic geography world, the geography axis on single-label data (geography-offline), the region-balanced
house-separated set and the geography last-layer study."""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from torch import nn

from robustscope.data.base import Dataset
from robustscope.errors import SpecError
from robustscope.metrics.geography import group_gap, paired_disparity_change
from robustscope.mitigate.geography import region_balanced_house_separated
from robustscope.models import Model, Preprocessing
from robustscope.suites import load_suite, run_suite
from robustscope.synth.render import ensure_rendered
from robustscope.synth.spec import load_spec

GEO = load_spec("geo")
REGIONS = ["Africa", "Americas", "Asia", "Europe"]


def within_binomial(count: int, n: int, p: float, z: float = 4.5) -> bool:
    """|count − n·p| ≤ z·sqrt(n·p·(1−p)) + 1: a correct draw fails with probability < 1e-5 per check."""
    return abs(count - n * p) <= z * math.sqrt(n * p * (1 - p)) + 1


def tiny_geo(folder: Path, sizes: dict[str, int] | None = None) -> Path:
    """The geo world at test size: 16 px, 1 sample per pixel, a few images per split."""
    raw = yaml.safe_load((Path(__file__).parents[1] / "src/robustscope/synth/worlds/geo.yaml").read_text())
    raw.update({"name": "geo-tiny", "resolution": 16, "spp": 1})
    for split, n in (sizes or {"train": 96, "test-id": 24, "test": 48, "balanced": 96}).items():
        raw["splits"][split]["n"] = n
    path = folder / "geo-tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# -- the world ------------------------------------------------------------------------------------------


def test_tiny_geo_world_builds_with_its_group_factors(tmp_path: Path) -> None:
    world = tiny_geo(tmp_path, {"test": 12})
    folder = ensure_rendered(str(world), "test", tmp_path / "renders", workers=1, progress=False)
    labels = pd.read_csv(folder / "labels.csv")
    assert len(labels) == 12 and {"region", "income", "country", "house"} <= set(labels.columns)
    assert set(labels["region"]) <= set(REGIONS) and set(labels["income"]) <= {"low", "mid", "high"}
    assert all((folder / f).is_file() for f in labels["filename"])
    assert np.asarray(Image.open(folder / labels["filename"][0])).shape == (16, 16, 3)


def test_train_split_follows_the_declared_distributions() -> None:
    spec = dataclasses.replace(GEO.resolve("train"), n=6000)
    records = spec.samples()
    n = len(records)
    regions = Counter(r["region"] for r in records)
    for region, p in zip(REGIONS, [0.03, 0.17, 0.10, 0.70], strict=True):
        assert within_binomial(regions[region], n, p), (region, regions[region])
    income_map = GEO.factors["income"].follow_map
    for region in REGIONS:
        inside = [r for r in records if r["region"] == region]
        weights = income_map[region]
        for income, w in weights.items():
            count = sum(r["income"] == income for r in inside)
            assert within_binomial(count, len(inside), w / sum(weights.values())), (region, income)
        backgrounds = GEO.factors["background"].follow_map[region]
        for background in backgrounds:
            count = sum(r["background"] == background for r in inside)
            assert within_binomial(count, len(inside), 1 / len(backgrounds)), (region, background)
        assert {r["background"] for r in inside} == set(backgrounds)
        countries = GEO.factors["country"].follow_map[region]
        assert {r["country"] for r in inside} == set(countries)
        assert within_binomial(sum(r["country"] == countries[0] for r in inside), len(inside), 0.5)
    europe = [r for r in records if r["region"] == "Europe"]
    own = GEO.factors["texture"].tie_to_class
    assert within_binomial(sum(r["texture"] in own[r["character_label"]] for r in europe), len(europe), 0.9)
    asia = [r for r in records if r["region"] == "Asia"]
    assert within_binomial(sum(r["texture"] in own[r["character_label"]] for r in asia), len(asia), 1 / 8)
    for income, (low, high) in GEO.factors["light_intensity"].follow_map.items():
        values = [r["light_intensity"] for r in records if r["income"] == income]
        assert low <= min(values) and max(values) <= high
    for record in records:
        assert record["house"].startswith(f"{record['country']}-{record['income']}-")


def test_test_split_is_balanced_over_regions_and_incomes() -> None:
    records = dataclasses.replace(GEO.resolve("test"), n=6000).samples()
    cells = Counter((r["region"], r["income"]) for r in records)
    for region in REGIONS:
        for income in ("low", "mid", "high"):
            assert within_binomial(cells[(region, income)], len(records), 1 / 12), (region, income)
    assert max(int(r["house"][-3:]) for r in records) < 20  # test households are 0-19


# -- the region-balanced, house-separated set -----------------------------------------------------------


def samples_dataset(split: str, n: int | None = None) -> Dataset:
    spec = GEO.resolve(split)
    records = (dataclasses.replace(spec, n=n) if n else spec).samples()
    frame = pd.DataFrame({"sample_id": [f"{split}-{r['index']}" for r in records], "path": "x.png",
                          "label": [GEO.classes.index(r["character_label"]) for r in records],
                          **{k: [r[k] for r in records] for k in ("region", "income", "country", "house")}})
    return Dataset(split, ".", list(GEO.classes), frame)


def test_region_balanced_set_is_balanced_and_house_disjoint_from_test() -> None:
    pool, test = samples_dataset("balanced"), samples_dataset("test")
    chosen = region_balanced_house_separated(pool, test, seed=0)
    test_houses = set(test.manifest["house"])
    assert not set(chosen.manifest["house"]) & test_houses
    separated = pool.manifest[~pool.manifest["house"].isin(test_houses)]
    smallest = separated["region"].value_counts().min()
    assert (chosen.manifest["region"].value_counts() == smallest).all() and chosen.manifest["region"].nunique() == 4
    assert set(chosen.manifest["sample_id"]) <= set(separated["sample_id"])
    assert set(pool.manifest["house"]) & test_houses  # the pool does share households with test: the filter matters
    again = region_balanced_house_separated(pool, test, seed=0)
    other = region_balanced_house_separated(pool, test, seed=1)
    assert again.manifest["sample_id"].tolist() == chosen.manifest["sample_id"].tolist()
    assert other.manifest["sample_id"].tolist() != chosen.manifest["sample_id"].tolist()
    with pytest.raises(SpecError, match="no house-separated image"):
        region_balanced_house_separated(test, test)


# -- the axis on a hand-made single-label dataset -------------------------------------------------------


class RedCode(nn.Module):
    """Predicts class round(red / 50): logits −(red/50 − k)²."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = x[:, 0].mean(dim=(1, 2)) * 255 / 50
        return -((code[:, None] - torch.arange(3, dtype=x.dtype)[None, :]) ** 2)


def red_code_model() -> Model:
    pre = Preprocessing(input_size=4, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Model.from_module(RedCode(), pre, ["a", "b", "c"], name="red-code")


# (label, predicted, region, income, country)
HAND = [
    (0, 0, "Africa", "low", "Kenya"), (1, 2, "Africa", "low", "Kenya"), (2, 2, "Africa", "high", "Nigeria"),
    (0, 1, "Africa", "mid", "Nigeria"),                                                   # Africa 2/4
    (0, 0, "Europe", "high", "France"), (1, 1, "Europe", "high", "France"), (2, 2, "Europe", "low", "Germany"),
    (1, 1, "Europe", "mid", "Germany"), (2, 0, "Europe", "high", "Germany"),              # Europe 4/5
    (0, 0, "Asia", "low", "India"), (1, 0, "Asia", "low", "India"), (2, 2, "Asia", "high", "China"),  # Asia 2/3
]  # fmt: skip


def write_hand_dataset(folder: Path) -> Path:
    rows = []
    for i, (label, predicted, region, income, country) in enumerate(HAND):
        name = f"{i}.png"
        Image.new("RGB", (4, 4), (50 * predicted, 0, 0)).save(folder / name)
        rows.append({"filename": name, "label": label, "region": region, "income": income, "country": country})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    (folder / "classes.txt").write_text("a\nb\nc\n")
    return folder / "labels.csv"


def test_axis_on_single_label_data_equals_a_hand_computation(tmp_path: Path, isolated_workspace: Path) -> None:
    csv = write_hand_dataset(tmp_path)
    suite = load_suite("geography-offline")
    axis = dataclasses.replace(suite.axis("geography"), datasets={"geo_test": f"csv:{csv}", "imagenet": f"csv:{csv}"})
    rows = run_suite(red_code_model(), dataclasses.replace(suite, axes=(axis,)), n_resamples=200,
                     progress=False).table  # fmt: skip
    geo = rows[rows["dataset"] == f"csv:{csv}"]

    def value(metric: str, factor: str = "", group: str = "", role: str = "geo_test") -> float:
        picked = geo[(geo["metric"] == metric) & (geo["slice_factor"] == factor) & (geo["slice_value"] == group)
                     & geo["protocol"].str.contains(f'"role": "{role}"')]  # fmt: skip
        assert len(picked) == 1, (metric, factor, group, len(picked))
        return float(picked["value"].iloc[0])

    correct = np.array([label == predicted for label, predicted, *_ in HAND], dtype=float)
    assert value("top1") == pytest.approx(correct.mean()) == pytest.approx(8 / 12)
    assert value("top1", role="imagenet") == pytest.approx(8 / 12)  # the reference role: plain top-1
    expected = {"Africa": 2 / 4, "Europe": 4 / 5, "Asia": 2 / 3}
    for region, acc in expected.items():
        assert value("top1", "region", region) == pytest.approx(acc)
    # Income groups: the categorical income as it is; low 3 of 5 right, mid 1 of 2, high 4 of 5.
    incomes = {"low": 3 / 5, "mid": 1 / 2, "high": 4 / 5}
    for group, acc in incomes.items():
        assert value("top1", "income_group", group) == pytest.approx(acc)
    assert value("top1", "country", "Germany") == pytest.approx(2 / 3)
    assert value("disparity_max_min") == pytest.approx(4 / 5 - 2 / 4)
    assert value("disparity_europe_africa") == pytest.approx(4 / 5 - 2 / 4)
    assert value("disparity_income") == pytest.approx(incomes["high"] - incomes["low"])
    assert value("top5") == 1.0  # three classes: the class is always in the top 5
    gap = geo[(geo["metric"] == "disparity_max_min")]
    assert float(gap["ci_low"].iloc[0]) <= 0.3 <= float(gap["ci_high"].iloc[0])


def test_paired_disparity_change_by_hand_and_pooled_over_seeds() -> None:
    groups = np.array(["A"] * 4 + ["B"] * 4)
    before = np.array([[1, 1, 1, 1, 0, 0, 1, 1], [1, 1, 1, 0, 0, 0, 0, 1]], dtype=float)  # gaps 0.5, 0.5
    after = np.array([[1, 1, 1, 0, 1, 0, 1, 1], [1, 1, 0, 0, 1, 1, 0, 0]], dtype=float)  # gaps 0.0, 0.0
    result = paired_disparity_change(before, after, groups, n_resamples=500, seed=0)
    assert result.difference == pytest.approx(-0.5)
    assert result.ci[0] <= -0.5 <= result.ci[1]
    # The resampling is paired: the same model twice changes by exactly 0 on every resample.
    same = paired_disparity_change(before, before, groups, n_resamples=100)
    assert same.difference == 0.0 and same.ci == (0.0, 0.0)
    one = paired_disparity_change(before[0], after[0], groups, pair=("A", "B"), n_resamples=0)
    assert one.difference == pytest.approx(0.0 - 0.5)
    assert group_gap(np.array([0.2, 0.9, 0.4]), ["x", "y", "z"]) == pytest.approx(0.7)


# -- the study end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_study_runs_end_to_end_on_a_tiny_world(tmp_path: Path) -> None:
    from robustscope.cli import main
    from robustscope.config import workspace
    from robustscope.models.registry import load_model
    from robustscope.studies.geography import run_geography_study

    world = tiny_geo(tmp_path)
    ws = workspace(tmp_path / "ws")
    started = time.perf_counter()
    models, changes, text = run_geography_study(str(world), (0,), out=tmp_path / "out", ws=ws, epochs=2,
                                                n_resamples=50, progress=False)  # fmt: skip
    assert time.perf_counter() - started < 600
    assert models["model"].tolist() == ["erm", "last-layer"] and changes["seed"].tolist() == [0, "pooled"]
    assert {f"acc_{r}" for r in REGIONS} <= set(models.columns)
    for name in ("geography.csv", "geography_changes.csv", "geography.md"):
        assert (tmp_path / "out" / name).is_file()
    assert "max−min region gap" in text
    retrained = tmp_path / "out" / "models" / "geo-tiny-seed0-ll"
    assert load_model(f"file:{retrained}").metadata["method"] == "geography"
    # The tables' top-1 is the suite's (the same images and heads); the CLI runs the suite on the world.
    erm = next((ws.models).glob("geo-tiny-geography-erm-*"))
    rows = run_suite(f"file:{erm}", "geography-offline", world=str(world), store=ws, n_resamples=0,
                     progress=False).table  # fmt: skip
    top1 = rows[(rows["metric"] == "top1") & (rows["slice_factor"] == "") & rows["dataset"].str.endswith(":test")]
    assert float(top1["value"].iloc[0]) == pytest.approx(models.loc[0, "top1_test"])
    code = main(["--workspace", str(ws.root), "-q", "run", "--model", f"file:{retrained}", "--suite",
                 "geography-offline", "--world", str(world), "--n-resamples", "0"])  # fmt: skip
    assert code == 0
