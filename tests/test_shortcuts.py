"""Multiple shortcuts (Li et al., "A Whac-A-Mole Dilemma", CVPR 2023): the UrbanCars loader on fixtures in the
release's layout, the metrics on hand-computed cases, the tiny world's synthetic UrbanCars, its reference model's
shortcut gaps, both suites end to end through the CLI (a TorchScript probe whose every decision is known), and
the report view."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from benchmark_fixtures import C, U, write_urbancars
from robustscope.cli import main
from robustscope.config import Workspace, workspace
from robustscope.data.benchmarks.urbancars import cell_folders, load_urbancars
from robustscope.data.registry import load_dataset
from robustscope.engine import ResultStore
from robustscope.errors import MissingDataError, SpecError
from robustscope.metrics.shortcuts import (
    bootstrap_cells,
    carton_accuracy,
    carton_gap,
    cell_accuracies,
    cell_counts,
    delta_p_carton,
    group_weights,
    in_w_gap,
    urbancars_summary,
)
from robustscope.models import Model, Preprocessing
from robustscope.models.labels import imagenet_classes, imagenet_wnids

#: (object, background, co-occurring object) → (images, correct predictions), picked by hand.
CELLS = {
    (U, U, U): (4, 4), (C, C, C): (4, 4),  # both shortcuts present
    (U, C, U): (4, 2), (C, U, C): (4, 3),  # background absent, co-occurring object present
    (U, U, C): (4, 4), (C, C, U): (4, 3),  # background present, co-occurring object absent
    (U, C, C): (4, 1), (C, U, U): (4, 0),  # both absent
}  # fmt: skip
#: Group accuracy = the mean over the two objects of the group's cell accuracies (the authors' _eval_split).
GROUPS = {
    "bg_present_coobj_present": 1.0,
    "bg_absent_coobj_present": (2 / 4 + 3 / 4) / 2,  # 0.625
    "bg_present_coobj_absent": (4 / 4 + 3 / 4) / 2,  # 0.875
    "bg_absent_coobj_absent": (1 / 4 + 0 / 4) / 2,  # 0.125
}
#: ID accuracy: groups weighted by their training frequency, 0.95·0.95, 0.05·0.95, 0.95·0.05, 0.05·0.05.
ID_ACC = 0.9025 * 1.0 + 0.0475 * 0.625 + 0.0475 * 0.875 + 0.0025 * 0.125
assert pytest.approx(0.9740625) == ID_ACC
CARTON = 478
#: ImageNet val fixture: (true class, class the probe says on the clean image); watermarked, it says carton.
IMAGENET = ((0, 0), (CARTON, CARTON), (CARTON, 1), (207, 207), (207, 5))


def code_colour(index: int) -> tuple[int, int, int]:
    """The solid colour whose mean the probe decodes as ImageNet class ``index``."""
    return index % 256, 20 + 60 * (index // 256), 255


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """UrbanCars and ImageNet val in their releases' layouts."""
    root = tmp_path_factory.mktemp("data")
    write_urbancars(root / "urbancars", test=CELLS)  # one image per cell in train and val
    wnids = imagenet_wnids()
    for i, (true, said) in enumerate(IMAGENET):
        path = root / f"imagenet/val/{wnids[true]}/ILSVRC2012_val_{i:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), code_colour(said)).save(path)
    return root


class ShortcutProbe(nn.Module):
    """1002 logits (ImageNet's 1000, then urban, country), 12 on the decided class and 0 elsewhere.

    A solid image with green at 255 (UrbanCars fixture) → urban if red > 0.5, else country; another solid
    image → the ImageNet class of its colour (:func:`code_colour`); an image whose green channel is not
    flat (the watermark's white text on a solid image) → carton.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3)) * 255
        index = (torch.round(mean[:, 0]) + 256 * torch.round((mean[:, 1] - 20) / 60)).long().clamp(0, 999)
        green = x[:, 1].flatten(1)
        marked = (green.amax(dim=1) - green.amin(dim=1)) > 0.02
        index = torch.where(marked, torch.full_like(index, CARTON), index)
        urbancars = mean[:, 1] > 0.9 * 255
        index = torch.where(urbancars, torch.where(mean[:, 0] > 127.5, 1000, 1001), index)
        logits = torch.zeros(x.shape[0], 1002, dtype=x.dtype, device=x.device)
        return logits.scatter(1, index[:, None], 12.0)


PROBE_LABELS = [*imagenet_wnids(), U, C]  # ImageNet val's classes are WordNet ids
PROBE_PRE = {"input_size": 64, "crop_pct": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The probe as a ``file:`` TorchScript checkpoint (what the CLI loads)."""
    folder = tmp_path_factory.mktemp("probe")
    torch.jit.save(torch.jit.trace(ShortcutProbe(), torch.rand(2, 3, 64, 64)), str(folder / "model.ts"))
    config = {"name": "probe", "labels": PROBE_LABELS, "label_space": "custom", "preprocessing": PROBE_PRE}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


# -- loader ---------------------------------------------------------------------------------------------------


def test_loader_reads_the_release_layout(data_root: Path, tmp_path: Path) -> None:
    root = data_root / "urbancars"
    test = load_urbancars(root)  # the reference's split folders: train in bg-0.95…, val and test in bg-0.5…
    assert test.classes == [U, C] and len(test) == 32  # masks are not images
    man = test.manifest
    counts = man.groupby(["object", "background", "co_occur"]).size().to_dict()
    assert counts == {cell: n for cell, (n, _) in CELLS.items()}
    assert (man["label"] == man["object"].map({U: 0, C: 1})).all()
    row = man[man["sample_id"] == "obj-urban_bg-country_co_occur_obj-urban/001.jpg"].iloc[0]
    assert (row["group"], row["mask_filename"]) == ("bg_absent_coobj_present",
                                                    "obj-urban_bg-country_co_occur_obj-urban/001_mask.png")
    assert all((test.root / p).is_file() for p in [*man["mask_filename"], *man["co_occur_obj_mask_filename"]])
    assert test.metadata["split"] == "test" and test.metadata["ratios"] == {"bg": 0.5, "co_occur_obj": 0.5}
    assert test.metadata["train_ratios"] == {"bg": 0.95, "co_occur_obj": 0.95}
    # the same set from the ratio folder or the split folder; the scheme takes :SPLIT
    for path in (root / "bg-0.5_co_occur_obj-0.5", root / "bg-0.5_co_occur_obj-0.5" / "test"):
        assert load_urbancars(path).manifest["sample_id"].tolist() == man["sample_id"].tolist()
    train = load_dataset(f"urbancars:{root}:train")
    assert len(train) == 8 and train.metadata["ratios"] == {"bg": 0.95, "co_occur_obj": 0.95}  # no *_bg_only.png
    assert len(load_urbancars(root, "val")) == 8
    # another training correlation is read from its folder name
    other = tmp_path / "urbancars"
    shutil.copytree(root / "bg-0.5_co_occur_obj-0.5", other / "bg-0.5_co_occur_obj-0.5")
    shutil.copytree(root / "bg-0.95_co_occur_obj-0.95/train", other / "bg-0.9_co_occur_obj-0.8/train")
    assert load_urbancars(other).metadata["train_ratios"] == {"bg": 0.9, "co_occur_obj": 0.8}
    # bad input is named
    shutil.rmtree(other / "bg-0.5_co_occur_obj-0.5/test" / cell_folders()[3])
    with pytest.raises(MissingDataError, match=cell_folders()[3]):
        load_urbancars(other)
    with pytest.raises(SpecError, match="split must be one of"):
        load_urbancars(root, "dev")
    with pytest.raises(MissingDataError, match="does not exist"):
        load_urbancars(tmp_path / "nowhere")


# -- metrics --------------------------------------------------------------------------------------------------


def _arrays(cells: dict[tuple[str, str, str], tuple[int, int]]) -> tuple[list[str], list[str], list[str], list[bool]]:
    objects, backgrounds, co_occur, correct = [], [], [], []
    for (o, b, c), (n, right) in cells.items():
        objects += [o] * n
        backgrounds += [b] * n
        co_occur += [c] * n
        correct += [True] * right + [False] * (n - right)
    return objects, backgrounds, co_occur, correct


def test_urbancars_metrics_by_hand() -> None:
    hits, totals = cell_counts(*_arrays(CELLS))
    assert totals.sum() == 32 and hits[1, 0, 0] == 0 and hits[0, 1, 0] == 2  # [object, background, co_occur]
    s = urbancars_summary(hits, totals)
    for group, value in GROUPS.items():
        assert float(s[group]) == pytest.approx(value)
    assert float(s["id_acc"]) == pytest.approx(ID_ACC)
    assert float(s["bg_gap"]) == pytest.approx(0.625 - ID_ACC)  # -0.3490625
    assert float(s["coobj_gap"]) == pytest.approx(0.875 - ID_ACC)  # -0.0990625
    assert float(s["bg_coobj_gap"]) == pytest.approx(0.125 - ID_ACC)  # -0.8490625
    assert float(s["worst_group_acc"]) == 0.0  # the cell (country, urban, urban)
    # (object, background) pooled over co-occurring objects: (urban, country) 3/8 and (country, urban) 3/8
    assert float(s["bg_worst_group_acc"]) == pytest.approx(3 / 8)
    assert float(s["coobj_worst_group_acc"]) == pytest.approx(3 / 8)  # (country, urban): 0 + 3 of 8
    assert float(s["top1"]) == pytest.approx(21 / 32)
    assert cell_accuracies(hits, totals)["obj-country_bg-urban_co_occur_obj-country"] == 0.75
    # the weights of another training correlation, and the ID accuracy they give
    weights = group_weights(0.9, 0.8)
    assert weights == pytest.approx({"bg_present_coobj_present": 0.72, "bg_absent_coobj_present": 0.08,
                                     "bg_present_coobj_absent": 0.18, "bg_absent_coobj_absent": 0.02})
    assert float(urbancars_summary(hits, totals, 0.9, 0.8)["id_acc"]) == pytest.approx(
        0.72 + 0.08 * 0.625 + 0.18 * 0.875 + 0.02 * 0.125)
    # a group is the mean of its two cells, not the pooled accuracy: 1 of 2 and 8 of 8 give 0.75, not 0.9
    uneven = {**CELLS, (U, C, U): (2, 1), (C, U, C): (8, 8)}
    assert float(urbancars_summary(*cell_counts(*_arrays(uneven)))["bg_absent_coobj_present"]) == 0.75
    # a group with one empty cell is its other cell; an empty group leaves the ID accuracy undefined; the
    # worst group skips empty cells
    one = urbancars_summary(*cell_counts(*_arrays({k: v for k, v in CELLS.items() if k != (C, U, U)})))
    assert float(one["bg_absent_coobj_absent"]) == 0.25 and float(one["worst_group_acc"]) == 0.25
    both_absent = ((C, U, U), (U, C, C))
    empty = urbancars_summary(*cell_counts(*_arrays({k: v for k, v in CELLS.items() if k not in both_absent})))
    assert np.isnan(empty["id_acc"]) and float(empty["worst_group_acc"]) == 0.5
    # stratified bootstrap: every cell keeps its size; the intervals hold the point estimates
    draws, sizes = bootstrap_cells(hits, totals, n_resamples=400, seed=1)
    assert (sizes == totals).all() and (draws <= sizes).all() and (draws[:, 0, 0, 0] == 4).all()
    boot = urbancars_summary(draws, sizes)
    for key in ("id_acc", "bg_gap", "coobj_gap", "bg_coobj_gap"):
        low, high = np.percentile(boot[key], [2.5, 97.5])
        assert low <= float(s[key]) <= high
    with pytest.raises(ValueError, match="not one of"):
        cell_counts(["truck"], [U], [U], [True])


def test_imagenet_w_metrics_by_hand() -> None:
    labels = np.array([t for t, _ in IMAGENET])
    clean = np.array([s for _, s in IMAGENET])
    marked = np.full(len(IMAGENET), CARTON)
    assert in_w_gap(clean == labels, marked == labels) == pytest.approx(0.4 - 0.6)
    assert carton_accuracy(clean, labels) == 0.5 and carton_accuracy(marked, labels) == 1.0
    assert carton_gap(clean, marked, labels) == 0.5
    assert np.isnan(carton_accuracy(clean, np.zeros(5, dtype=int)))
    # softmax p(carton) with a logit of 12 on one of 1002 classes: a when it is carton, b otherwise
    a, b = math.exp(12) / (math.exp(12) + 1001), 1 / (math.exp(12) + 1001)

    def one_hot(classes: np.ndarray) -> np.ndarray:
        logits = np.zeros((len(classes), 1002))
        logits[np.arange(len(classes)), classes] = 12.0
        return logits

    assert delta_p_carton(one_hot(clean), one_hot(marked)) == pytest.approx(4 * (a - b) / 5)


# -- the synthetic UrbanCars and its reference model ------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """The tiny world's UrbanCars (built once) and its ERM reference model (trained once), in one workspace."""
    from robustscope.train.urbancars import train_urbancars_reference

    ws = workspace(tmp_path_factory.mktemp("shortcuts-ws"))
    return ws, train_urbancars_reference("tiny", ws, num_threads=1, workers=1, progress=False)


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _bbox(mask_path: Path) -> tuple[float, float, int]:
    """(centre row, centre column, longer side) of a mask's region above one half."""
    rows, cols = np.nonzero(np.asarray(Image.open(mask_path).convert("L")) > 127)
    return (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2, max(np.ptp(rows), np.ptp(cols)) + 1


def test_synthetic_urbancars_on_the_tiny_world(reference: tuple[Workspace, Path], tmp_path: Path) -> None:
    from robustscope.synth import load_spec
    from robustscope.synth.urbancars import build_synthetic_urbancars
    from robustscope.synth.urbancars_design import BACKGROUND_FAMILIES, default_design

    ws, _ = reference
    root = build_synthetic_urbancars("tiny", ws.renders, workers=1, progress=False)  # the cached build
    train = load_urbancars(root, "train").manifest
    assert train.groupby(["object", "background", "co_occur"]).size().to_dict() == {
        (o, b, c): {(True, True): 361, (True, False): 19, (False, True): 19, (False, False): 1}[(b == o, c == o)]
        for o in (U, C) for b in (U, C) for c in (U, C)
    }  # fmt: skip
    for _, rows in train.groupby("object"):  # each shortcut agrees with the object in exactly 95% of images
        bg, co = rows["background"] == rows["object"], rows["co_occur"] == rows["object"]
        assert bg.mean() == 0.95 and co.mean() == 0.95 and (bg & co).mean() == 361 / 400  # = 0.95²
    test = load_urbancars(root, "test")
    assert set(test.manifest.groupby(["object", "background", "co_occur"]).size()) == {20}
    assert set(load_urbancars(root, "val").manifest.groupby(["object", "background", "co_occur"]).size()) == {10}
    assert test.metadata["train_ratios"] == {"bg": 0.95, "co_occur_obj": 0.95}
    # masks saved beside every image, placed as the generator places them (32 px: object 16 px centred,
    # co-occurring object 8 px centred at row 16, column 28)
    assert Image.open(test.image_path(0)).size == (32, 32)
    for i in range(0, len(test), 7):
        row = test.manifest.iloc[i]
        r, c, side = _bbox(test.root / row["mask_filename"])
        assert abs(r - 16) <= 1 and abs(c - 16) <= 1 and 15 <= side <= 17, (row["sample_id"], r, c, side)
        r, c, side = _bbox(test.root / row["co_occur_obj_mask_filename"])
        assert abs(r - 16) <= 1 and abs(c - 28) <= 1 and 7 <= side <= 9, (row["sample_id"], r, c, side)
    # each factor's value comes from its family
    design = default_design(load_spec("tiny"))
    samples = pd.read_csv(root / "samples.csv")
    assert len(samples) == 800 + 80 + 160
    assert all(s in design.objects[o] for s, o in zip(samples["object_shape"], samples["object"], strict=True))
    assert all(s in design.co_occur[c] for s, c in zip(samples["co_occur_shape"], samples["co_occur"], strict=True))
    assert all(m in BACKGROUND_FAMILIES[b] for m, b in zip(samples["background_map"], samples["background"],
                                                            strict=True))  # fmt: skip
    # deterministic: a build from scratch elsewhere writes the same bytes
    again = build_synthetic_urbancars("tiny", tmp_path / "renders", workers=1, progress=False)
    assert again.name == root.name and _digest(again) == _digest(root)


def test_reference_model_leans_on_both_shortcuts(reference: tuple[Workspace, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from robustscope.api import load_model
    from robustscope.report.kit import Figures, Palette, ViewInputs
    from robustscope.report.views_shortcuts import shortcuts_view
    from robustscope.train.trainer import load_images

    ws, folder = reference
    assert main(["--workspace", str(ws.root), "-q", "run", "--model", f"file:{folder}", "--suite",
                 "shortcuts-offline", "--world", "tiny", "--n-resamples", "50"]) == 0
    assert "UrbanCars BG gap" in capsys.readouterr().out
    rows = ResultStore(ws.results_db).query(suite="shortcuts-offline", model="tiny-urbancars-erm")
    whole = rows[rows["slice_factor"] == ""].set_index(["shift", "metric"])["value"]
    # ERM on 95%-correlated shortcuts leans on both: each alone costs accuracy, both together most
    assert whole["none", "bg_gap"] < -0.05 and whole["none", "coobj_gap"] < -0.05
    assert whole["none", "bg_coobj_gap"] < min(whole["none", "bg_gap"], whole["none", "coobj_gap"])
    assert whole["none", "id_acc"] > 0.9 and np.isfinite(whole["watermark", "in_w_gap"])
    assert not rows["metric"].str.startswith("carton").any()  # a two-class model has no carton class
    # the axis's numbers against the model's own predictions, grouped by pandas
    model = load_model(f"file:{folder}")
    test = load_dataset("synth-urbancars:tiny:test", root=ws.renders, progress=False)
    with torch.no_grad():
        said = np.array(model.labels)[model(load_images(test, model.preprocessing).float() / 255).argmax(1).numpy()]
    frame = test.manifest.assign(correct=said == test.manifest["object"])
    cells = frame.groupby(["object", "background", "co_occur"])["correct"].mean()
    stored = rows[rows["metric"] == "cell_acc"].set_index("slice_value")["value"]
    for (o, b, c), value in cells.items():
        assert stored[f"obj-{o}_bg-{b}_co_occur_obj-{c}"] == pytest.approx(value)
    group = {(bg, co): np.mean([cells[(o, o if bg else _other(o), o if co else _other(o))] for o in (U, C)])
             for bg in (True, False) for co in (True, False)}  # fmt: skip
    expected_id = sum(group[(bg, co)] * (0.95 if bg else 0.05) * (0.95 if co else 0.05) for bg, co in group)
    assert whole["none", "id_acc"] == pytest.approx(expected_id)
    assert whole["none", "bg_gap"] == pytest.approx(group[(False, True)] - expected_id)
    assert whole["none", "coobj_gap"] == pytest.approx(group[(True, False)] - expected_id)
    config = json.loads((folder / "config.json").read_text())
    assert config["labels"] == [U, C] and config["training"]["val_accuracy"] is not None
    # the report view draws the group table and the watermark table of these rows
    shown = rows.assign(dataset=rows["dataset"].astype(str))
    html = shortcuts_view(ViewInputs(shown, Figures(), Palette(shown["model"])))
    assert "UrbanCars" in html and "BG ✗ CoObj ✓" in html and "IN-W gap" in html
    assert f"{whole['none', 'bg_gap']:.3f}" in html


def _other(value: str) -> str:
    return C if value == U else U


# -- the real-data suite --------------------------------------------------------------------------------------


def test_real_suite_through_the_cli_matches_hand_computed_values(
    data_root: Path, probe: Path, isolated_workspace: Path, tmp_path: Path
) -> None:
    assert main(["-q", "run", "--model", f"file:{probe}", "--suite", "shortcuts", "--data-root", str(data_root),
                 "--n-resamples", "50"]) == 0
    rows = ResultStore(isolated_workspace / "results.duckdb").query(suite="shortcuts")
    urban = rows[rows["dataset"].str.startswith("urbancars")]
    whole = urban[urban["slice_factor"] == ""].set_index("metric")["value"]
    assert whole["id_acc"] == pytest.approx(ID_ACC)
    assert whole["bg_gap"] == pytest.approx(0.625 - ID_ACC)
    assert whole["coobj_gap"] == pytest.approx(0.875 - ID_ACC)
    assert whole["bg_coobj_gap"] == pytest.approx(0.125 - ID_ACC)
    assert whole["worst_group_acc"] == 0.0 and whole["top1"] == pytest.approx(21 / 32)
    groups = urban[urban["metric"] == "group_acc"].set_index("slice_value")["value"].to_dict()
    assert groups == pytest.approx(GROUPS)
    cells = urban[urban["metric"] == "cell_acc"].set_index("slice_value")["value"].to_dict()
    assert cells == pytest.approx({f"obj-{o}_bg-{b}_co_occur_obj-{c}": r / n for (o, b, c), (n, r) in CELLS.items()})
    gaps = urban[urban["metric"].isin(["bg_gap", "coobj_gap", "bg_coobj_gap"])]
    assert ((gaps["ci_low"] <= gaps["value"]) & (gaps["value"] <= gaps["ci_high"])).all()
    # ImageNet-W: the probe calls every watermarked image carton
    net = rows[rows["dataset"].str.startswith("imagenet-val")].set_index(["shift", "metric"])["value"]
    assert net["none", "top1"] == pytest.approx(0.6) and net["watermark", "top1"] == pytest.approx(0.4)
    assert net["watermark", "in_w_gap"] == pytest.approx(-0.2)
    assert net["none", "carton_acc"] == 0.5 and net["watermark", "carton_acc"] == 1.0
    assert net["watermark", "carton_gap"] == 0.5
    a, b = math.exp(12) / (math.exp(12) + 1001), 1 / (math.exp(12) + 1001)
    assert net["watermark", "delta_p_carton"] == pytest.approx(4 * (a - b) / 5, rel=1e-4)
    # the report shows the UrbanCars group table and the ImageNet-W table
    out = tmp_path / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    html = out.read_text()
    for text in ("UrbanCars", "BG ✗ CoObj ✗", "BG+CoObj gap", f"{0.625 - ID_ACC:.3f}", "IN-W gap", "carton gap",
                 "-0.200"):
        assert text in html, text


def test_an_imagenet_model_skips_urbancars_with_a_warning(data_root: Path) -> None:
    from robustscope.suites import run_suite

    pre = Preprocessing(**PROBE_PRE)
    model = Model.from_module(ShortcutProbe(), pre, PROBE_LABELS, name="probe").to("cpu")
    imagenet_only = Model.from_module(_FirstThousand(), pre, imagenet_classes(), name="in1k",
                                      label_space="imagenet-1k")
    with pytest.warns(UserWarning, match="skipping UrbanCars set"):
        result = run_suite(imagenet_only, "shortcuts", data_root=data_root, n_resamples=0, progress=False)
    assert set(result.table["dataset"].str.split(":").str[0]) == {"imagenet-val"}
    assert result.summary()["IN-W gap"].iloc[0] == pytest.approx(-0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model with both label spaces is scored on both, silently
        both = run_suite(model, "shortcuts", data_root=data_root, n_resamples=0, progress=False)
    assert both.summary()["UrbanCars ID acc"].iloc[0] == pytest.approx(ID_ACC)


class _FirstThousand(nn.Module):
    """The probe's ImageNet logits only."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = ShortcutProbe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probe(x)[:, :1000]
