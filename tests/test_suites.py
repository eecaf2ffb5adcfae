"""Suites end to end: the real-data suite on release-layout fixtures with a model whose every decision is
known (hand-computed expectations), and the offline suite on the tiny synthetic world."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from robustscope.cli import main
from robustscope.data.benchmarks._common import label_set_file
from robustscope.engine import ResultStore
from robustscope.errors import SpecError
from robustscope.metrics.corruption import alexnet_errors
from robustscope.models import Model, Preprocessing
from robustscope.models.labels import imagenet_classes, imagenet_wnids
from robustscope.shifts.corruptions import COMMON_CORRUPTIONS
from robustscope.suites import AxisSpec, SuiteSpec, load_suite, run_suite, suite_summary

# -- a model whose prediction is written in the image ----------------------------------------------------


def code_colour(index: int, confidence: float) -> tuple[int, int, int]:
    """The solid colour that makes :class:`ColourCode` predict ImageNet class ``index``."""
    return index % 256, 20 + 60 * (index // 256), round(confidence * 255)


class ColourCode(nn.Module):
    """Decodes the class index from the mean colour (see :func:`code_colour`); logit 2 + 10·blue there, 0 elsewhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3)) * 255
        index = (torch.round(mean[:, 0]) + 256 * torch.round((mean[:, 1] - 20) / 60)).long().clamp(0, 999)
        logits = torch.zeros(x.shape[0], 1000, dtype=x.dtype, device=x.device)
        return logits.scatter(1, index[:, None], 2 + 10 * mean[:, 2:3] / 255)


def colour_code_model() -> Model:
    pre = Preprocessing(input_size=8, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    return Model.from_module(ColourCode(), pre, imagenet_classes(), name="colour-code", label_space="imagenet-1k")


def solid(path: Path, index: int, confidence: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), code_colour(index, confidence)).save(path)


def first(label_sets: dict, name: str) -> int:
    return int(label_sets[name][0])


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root in the releases' layouts; sun, places, textures, 3DCC, sketch, V2 and -A are absent."""
    root = tmp_path_factory.mktemp("data")
    cue = label_set_file("cue_conflict")["label_sets"]
    # cue-conflict: 1 shape hit, 2 texture hits, 1 neither, 1 agreeing (skipped) → shape bias 1/3
    solid(root / "cue-conflict/cat/cat1-elephant1.png", first(cue, "elephant"))
    solid(root / "cue-conflict/cat/cat2-bear1.png", first(cue, "cat"))
    solid(root / "cue-conflict/cat/cat3-clock1.png", first(cue, "clock"))
    solid(root / "cue-conflict/dog/dog1-dog2.png", first(cue, "dog"))
    solid(root / "cue-conflict/dog/dog3-car1.png", first(cue, "knife"))
    # ImageNet-9: right on original and mixed_same, wrong (a fish) on mixed_rand → BG-gap 1
    for variant, index in (("original", 151), ("mixed_same", 151), ("mixed_rand", 0)):
        solid(root / f"bg_challenge/{variant}/val/00_dog/n02085620_1.png", index)
    # FOCUS: P0 = 1/2 (dog right, frog wrong), P1 = 1, P2 = 0, P3 = 1
    focus = label_set_file("focus")["label_sets"]
    rows = [
        ("/dog-snow/1.png", "dog", "night", "snowing", "grass, snow", "no", first(focus, "dog")),
        ("/dog-grass/2.png", "dog", "day", "sunny", "grass", "yes", first(focus, "dog")),
        ("/frog-night/3.png", "frog", "night", "cloudy", "water", "no", first(focus, "dog")),
        ("/ship-street/4.png", "ship", "none", "raining", "street", "no", first(focus, "dog")),
        ("/plane-fog/5.png", "plane", "day", "foggy", "none", "no", first(focus, "plane")),
    ]
    (root / "focus").mkdir()
    with sqlite3.connect(root / "focus" / "annotations.db") as connection:
        connection.execute("CREATE TABLE annotations (file_name TEXT PRIMARY KEY, category TEXT, time TEXT, "
                           "weather TEXT, locations TEXT, humans TEXT)")
        connection.executemany("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?)", [r[:6] for r in rows])
    for row in rows:
        solid(root / "focus" / row[0].lstrip("/"), row[6])
    # ImageNet val: 3 of 4 right, all confident; iNaturalist: unconfident → every OOD score separates them
    wnids = imagenet_wnids()
    for i, (true, said) in enumerate(((0, 0), (1, 1), (207, 207), (207, 1))):
        solid(root / f"imagenet/val/{wnids[true]}/ILSVRC2012_val_{i:08d}.png", said)
    for i in range(3):
        solid(root / f"ood/iNaturalist/{i}.png", 5 * i, confidence=0.0)
    # ImageNet-R: one image predicted right; one predicted as a class outside the 200, which the mask drops
    r_sets = label_set_file("imagenet_r")["label_sets"]
    inside = {int(v[0]) for v in r_sets.values()}
    outside = next(i for i in range(999, 0, -1) if i not in inside)
    r_wnids = list(r_sets)
    solid(root / f"imagenet-r/{r_wnids[1]}/art_0.png", int(r_sets[r_wnids[1]][0]))
    solid(root / f"imagenet-r/{r_wnids[2]}/art_0.png", outside)
    # ImageNet-C: right at severities 1-2, wrong at 3-5, for all 15 corruptions
    for name in COMMON_CORRUPTIONS:
        for severity in range(1, 6):
            solid(root / f"imagenet-c/{name}/{severity}/{wnids[0]}/x.png", 0 if severity <= 2 else 1)
    return root


def test_real_suite_on_fixtures_matches_hand_computed_values(data_root: Path, isolated_workspace: Path) -> None:
    suite = load_suite("synthetic-clones")
    result = run_suite(colour_code_model(), suite, data_root=data_root, n_resamples=50, progress=False)
    rows = result.table
    whole = rows[rows["slice_factor"] == ""]

    def value(axis: str, metric: str, shift: str = "none", dataset: str | None = None) -> float:
        chosen = whole[(whole["axis"] == axis) & (whole["metric"] == metric) & (whole["shift"] == shift)]
        if dataset is not None:
            chosen = chosen[chosen["dataset"].str.startswith(dataset)]
        assert len(chosen) == 1, chosen
        return float(chosen["value"].iloc[0])

    assert value("shape_bias", "shape_bias") == pytest.approx(1 / 3)
    assert value("shape_bias", "shape_match") == pytest.approx(1 / 4)
    assert value("shape_bias", "texture_match") == pytest.approx(2 / 4)
    assert value("background_bias", "bg_gap") == 1.0
    assert [value("context_bias", f"P{k}") for k in range(4)] == [0.5, 1.0, 0.0, 1.0]
    assert value("context_bias", "relative_drop_P2") == 1.0
    assert value("calibration", "top1", dataset="imagenet-val") == 0.75
    assert value("calibration", "top1", dataset="imagenet-r") == 0.5
    for score in ("entropy", "msp", "maxlogit", "energy"):
        assert value("ood", f"auroc_{score}") == 1.0 and value("ood", f"fpr95_{score}") == 0.0
    clean = value("adversarial", "top1")
    pgd = "pgd:linf:eps=1/255:steps=20:alpha=2/255"  # the canonical spec (issue 11)
    assert clean == 0.75 and value("adversarial", "top1", pgd) == clean  # the colour code has no useful gradient
    # mCE: error 1 at severities 3-5, 0 at 1-2, against AlexNet's published errors
    alexnet = alexnet_errors()
    expected = float(np.mean([100 * 3 / alexnet.loc[c].sum() for c in COMMON_CORRUPTIONS]))
    assert value("corruptions", "mce[imagenet_c]", "summary") == pytest.approx(expected)
    assert value("corruptions", "mean_corruption_top1[imagenet_c]", "summary") == pytest.approx(0.4)
    # missing benchmarks are skipped with the paths tried, never a crash
    skipped = {(s.axis, s.role): s.reason for s in result.skipped}
    assert ("ood", "sun") in skipped and str(data_root / "ood" / "SUN") in skipped[("ood", "sun")]
    assert ("corruptions", "imagenet_3dcc") in skipped
    # rows are stored with their suite and axis; the summary has one row for the model
    stored = ResultStore(isolated_workspace / "results.duckdb").query(suite="synthetic-clones")
    assert len(stored) == len(rows) and set(stored["axis"]) == set(load_suite("synthetic-clones").axes[i].axis
                                                                     for i in range(7))
    summary = result.summary()
    assert summary["shape bias"].iloc[0] == pytest.approx(1 / 3) and summary["BG-gap"].iloc[0] == 1.0


def test_missing_data_root_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_suite(colour_code_model(), "synthetic-clones", data_root=tmp_path, axes=["shape_bias"],
                       progress=False)
    assert result.table.empty and len(result.skipped) == 1
    assert str(tmp_path / "cue-conflict") in result.skipped[0].reason


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from robustscope.config import workspace
    from robustscope.train.recipes import train_recipe

    ws = workspace(tmp_path_factory.mktemp("ws"))
    # the cheapest known-answer recipe (320 images), one epoch: any trained model will do here
    return train_recipe("overconfident", "tiny", models_dir=ws.models, renders=ws.renders, epochs=1, workers=1,
                        progress=False)


def test_offline_suite_runs_every_axis_on_the_tiny_world(tiny_model: Path, isolated_workspace: Path) -> None:
    suite = load_suite("synthetic-clones-offline")
    cheap = SuiteSpec(suite.name, suite.description, tuple(
        AxisSpec(a.axis, a.datasets, a.shifts, {**a.params, "severities": [3]}) if a.axis == "corruptions" else a
        for a in suite.axes
    ))
    result = run_suite(f"file:{tiny_model}", cheap, world="tiny", n_resamples=20, progress=False)
    assert not result.skipped
    assert set(result.table["axis"]) == set(a.axis for a in suite.axes)
    summary = result.summary()
    for column in ("shape bias", "context P0", "BG-gap", "ECE (20 bins)", "OOD AUROC (entropy)",
                   "corruption top-1", "clean top-1", "PGD top-1"):
        assert column in summary.columns and np.isfinite(summary[column].iloc[0]), column
    assert 0.0 <= summary["shape bias"].iloc[0] <= 1.0
    assert summary["PGD top-1"].iloc[0] <= summary["clean top-1"].iloc[0]
    corruption_shifts = result.table.query("axis == 'corruptions' and metric == 'top1'")["shift"]
    assert corruption_shifts.str.startswith("corruption:").sum() == len(COMMON_CORRUPTIONS)
    # a second run reads every prediction from the store
    shards = sorted(p.name for p in (isolated_workspace / "predictions").rglob("*.parquet"))
    again = run_suite(f"file:{tiny_model}", cheap, world="tiny", n_resamples=20, progress=False)
    assert sorted(p.name for p in (isolated_workspace / "predictions").rglob("*.parquet")) == shards
    pd.testing.assert_series_equal(again.table["value"], result.table["value"])


def test_cli_lists_suites_and_runs_one(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "suites"]) == 0
    assert "synthetic-clones-offline" in capsys.readouterr().out
    assert main(["-q", "run", "--model", f"file:{tiny_model}", "--suite", "synthetic-clones-offline",
                 "--world", "tiny", "--axis", "calibration", "ood", "--n-resamples", "10"]) == 0
    out = capsys.readouterr().out
    assert "ECE (20 bins)" in out and "OOD AUROC (entropy)" in out
    assert main(["run", "--model", f"file:{tiny_model}"]) == 2
    assert "exactly one of --data" in capsys.readouterr().err


def test_suite_specs_are_validated() -> None:
    with pytest.raises(SpecError, match="did you mean 'shape_bias'"):
        SuiteSpec.from_dict({"name": "s", "axes": {"shape_bais": {"datasets": {"a": "folder:x"}}}})
    with pytest.raises(SpecError, match="datasets"):
        SuiteSpec.from_dict({"name": "s", "axes": {"calibration": {"datasets": ["folder:x"]}}})
    assert suite_summary(pd.DataFrame()).empty
