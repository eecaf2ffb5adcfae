"""PUG: the four release loaders on fixtures in the released CSV layouts, factor-held-out splits (on PUG and
on the synthetic world's labels.csv), the metrics on hand-computed cases, the ``pug`` suite end to end
(``run_suite`` and ``robustscope run --suite pug``) with models whose every decision is written in the
image, and the report view."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from benchmark_fixtures import write_pug_animals, write_pug_ar4t, write_pug_imagenet, write_pug_spar
from robustscope.cli import main
from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import label_set_file
from robustscope.data.benchmarks.pug import (
    PUG_IMAGENET_FACTORS,
    load_pug_animals,
    load_pug_ar4t,
    load_pug_imagenet,
    load_pug_spar,
    spar_columns,
)
from robustscope.data.benchmarks.pug_spar import spar_task
from robustscope.data.registry import load_dataset
from robustscope.data.splits import HeldOut, choose_held_out, factor_held_out_split, held_out_mask
from robustscope.errors import MissingDataError, SpecError
from robustscope.metrics.pug import (
    factor_value_accuracy,
    hard_negative_correct,
    retrieval_accuracy,
    retrieval_correct,
    sweep_mask,
)
from robustscope.models import Model, Preprocessing
from robustscope.models.labels import imagenet_classes
from robustscope.report.kit import Figures, Palette, ViewInputs
from robustscope.report.suite import suite_sections
from robustscope.report.views_pug import pug_view
from robustscope.suites import AxisSpec, SuiteSpec, load_suite, run_suite, suite_summary

torch.set_num_threads(1)

# -- a model whose prediction is written in the image's colour -------------------------------------------


def code_colour(index: int) -> tuple[int, int, int]:
    """The solid colour that makes :class:`ColourCode` predict label ``index`` (< 1024)."""
    return index % 256, 20 + 60 * (index // 256), 200


class ColourCode(nn.Module):
    """Decodes a label index from the mean colour (:func:`code_colour`): logit 5 there, 0 elsewhere."""

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3)) * 255
        index = (torch.round(mean[:, 0]) + 256 * torch.round((mean[:, 1] - 20) / 60)).long()
        index = index.clamp(0, self.num_labels - 1)
        logits = torch.zeros(x.shape[0], self.num_labels, dtype=x.dtype, device=x.device)
        return logits.scatter(1, index[:, None], torch.full_like(logits[:, :1], 5.0))


PRE = Preprocessing(input_size=8, crop_pct=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def imagenet_model() -> Model:
    return Model.from_module(ColourCode(1000), PRE, imagenet_classes(), name="in-colour", label_space="imagenet-1k")


def solid(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), code_colour(index)).save(path)


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=header).to_csv(path, index=False)


# -- fixtures in the released layouts ----------------------------------------------------------------------

IMAGENET_HEADER = ["filename", "world_name", "character_name", "character_label", *PUG_IMAGENET_FACTORS[1:]]
D = "Default"
# (file, world, asset, label, yaw, texture, predicted ImageNet index). One factor varied per image, the
# others at Default; "GoldFish" is the spelling of the release notebook's example, the JSON has "Goldfish".
IMAGENET_ROWS = [
    ("w_desert.png", "Desert", "goldfish_01", "GoldFish", D, D, 1),  # right (Goldfish = [1])
    ("w_forest.png", "Forest", "bear_01", "Bear", D, D, 0),  # wrong (0: tench)
    ("yaw0.png", "Desert", "goldfish_01", "Goldfish", "0", D, 1),  # right
    ("yaw90.png", "Desert", "bear_01", "Bear", "90", D, 296),  # right (Bear = [294..297])
    ("yaw90b.png", "Desert", "goldfish_02", "Goldfish", "90", D, 2),  # wrong (2: shark)
    ("tex.png", "Desert", "shirt_01", "Shirt", D, "Grass", 841),  # right (Shirt shares 841 with Sweatshirt)
]
ANIMALS = ["Elephant", "Penguin"]
SPAR_HEADER = ["filename", "world_name", "character_name", "character2_name", "character1_pos",
               "character_texture", "character2_texture"]  # fmt: skip
B = "blank"
SPAR_ROWS = [
    ("s1.png", "Desert", B, B, "left", D, D),
    ("s2.png", "Lake", B, B, "left", D, D),
    ("s3.png", "Desert", "Cat", B, "left", D, D),
    ("s4.png", "Lake", B, "Dog", "left", D, D),
    ("s5.png", "Desert", "Cat", "Dog", "left", D, D),
    ("s6.png", "Lake", "Dog", "Cat", "left", D, D),
    ("s7.png", "Desert", "Cat", "Dog", "left", "Blue", D),
]
#: Each SPAR image's prediction: the caption its colour encodes in the native model's labels.
SPAR_SAYS = {
    "s1.png": "This is a photo in a Desert environment",  # scene: right
    "s2.png": "This is a photo in a Desert environment",  # scene: wrong (Lake)
    "s3.png": "This is a photo of a Cat on the right of the picture",  # relation wrong; single: tie → first
    "s4.png": "This is a photo of a Dog",  # single right; relation: all tied
    "s5.png": "This is a photo of a Cat on the left and a Dog on the right of the picture",  # right
    "s6.png": "This is a photo of a Cat on the left and a Dog on the right of the picture",  # its hard negative
    "s7.png": "This is a photo of a Dog textured with Blue and a Cat textured with Default",  # its hard negative
}
SPAR_TASK_SPECS = [("scene", None), ("single", "Default"), ("single_relation", "left"), ("double", "Default"),
                   ("double_relation", "left"), ("double_attribute", "Blue")]  # fmt: skip


def animal_rows() -> list[tuple[str, str, str, str, bool]]:
    """(file, animal, world, scale, right?) of a full 2 × 2 × 2 PUG:Animals design."""
    rows = []
    for animal in ANIMALS:
        for world in ("Desert", "Lake"):
            for scale in ("1", "2"):
                wrong = (animal == "Elephant" and world == "Lake") or (
                    animal == "Penguin" and world == "Desert" and scale == "2"
                )
                rows.append((f"{animal[:3]}_{world}_{scale}.png", animal, world, scale, not wrong))
    return rows


def native_labels() -> list[str]:
    """Labels of a model trained on PUG:Animals whose text head also holds every SPAR caption of the fixture."""
    frame = pd.DataFrame(SPAR_ROWS, columns=SPAR_HEADER)
    captions = [c for task, variant in SPAR_TASK_SPECS for c in spar_task(frame, task, variant).captions]
    return list(dict.fromkeys([*ANIMALS, *captions]))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PUG_ImageNet, PUG_Animal, PUG_SPAR and PUG_AR4T folders in the releases' layouts (``benchmark_fixtures``)."""
    root = tmp_path_factory.mktemp("data")
    rows = [[file, world, asset, label, yaw, D, D, D, D, D, D, texture, D]
            for file, world, asset, label, yaw, texture, _ in IMAGENET_ROWS]  # fmt: skip
    write_pug_imagenet(root / "PUG_ImageNet", rows, [row[-1] for row in IMAGENET_ROWS], draw=solid)
    labels = native_labels()
    animals = animal_rows()
    said = [labels.index(animal if right else ANIMALS[1 - ANIMALS.index(animal)]) for _, animal, *_, right in animals]
    animal_csv = [[file, world, animal, scale, D, "0"] for file, animal, world, scale, _ in animals]
    write_pug_animals(root / "PUG_Animal", animal_csv, said, draw=solid)
    write_pug_spar(root / "PUG_SPAR", SPAR_ROWS, [labels.index(SPAR_SAYS[row[0]]) for row in SPAR_ROWS], draw=solid)
    ar4t = [["test/0.png", "microphone", "1", "A microphone"], ["test/1.png", "lamp", "2", "A lamp and a cup"]]
    write_pug_ar4t(root / "PUG_AR4T", ar4t, draw=solid)
    return root


# -- loaders -------------------------------------------------------------------------------------------------


def test_pug_imagenet_label_sets_are_the_release_file() -> None:
    # Entries typed from facebookresearch/PUG PUG_ImageNet/class_to_imagenet_idx.json (commit d6b98fa).
    data = label_set_file("pug_imagenet")
    sets = data["label_sets"]
    assert len(sets) == 151 and data["classes"] == sorted(sets) and data["set_reduction"] == "top1_in_set"
    expected = {"Goldfish": [1], "Wolf": [269, 270, 271, 272], "Skirt": [601, 655, 689], "Shirt": [841],
                "Sweatshirt": [841], "Bycicle": [444, 671], "Mask": [643, 691, 796]}  # fmt: skip
    assert {k: sets[k] for k in expected} == expected
    assert all(0 <= i < 1000 for v in sets.values() for i in v)


def test_pug_imagenet_loader_reads_the_release_csv(data_root: Path) -> None:
    ds = load_dataset("pug-imagenet:", root=data_root)  # found as <root>/PUG_ImageNet
    assert ds.name == f"pug-imagenet:{data_root / 'PUG_ImageNet'}"
    assert ds.class_names() == ["Goldfish", "Bear", "Goldfish", "Bear", "Goldfish", "Shirt"]
    assert ds.factor_columns == ["world_name", "character_name", *PUG_IMAGENET_FACTORS[1:]]
    assert ds.manifest["character_rotation_yaw"].tolist() == [D, D, "0", "90", "90", D]
    assert ds.metadata["label_sets"]["Bear"] == [294, 295, 296, 297]
    # "identity": each character_label is its own model label (a model trained on PUG:ImageNet's classes)
    assert load_pug_imagenet(data_root / "PUG_ImageNet", label_sets="identity").classes == [
        "Bear",
        "GoldFish",
        "Goldfish",
        "Shirt",
    ]
    bad = data_root.parent / "bad_imagenet"
    write_csv(bad / "labels_pug_imagenet.csv", ["filename", "character_label"], [["x.png", "Unicorn"]])
    with pytest.raises(MissingDataError, match="Unicorn"):
        load_pug_imagenet(bad)


def test_pug_imagenet_in_per_factor_folders_uses_them_as_sweeps(tmp_path: Path) -> None:
    # The synthetic-clones benchmark reads PUG:ImageNet as one ImageFolder per factor (Worlds/, Object_Yaw/, …);
    # with the CSV naming bare files, each image is found in its folder, which names its sweep.
    root = tmp_path / "PUG_ImageNet"
    entries = [("Worlds", "a.png", "Desert", D, 1), ("Worlds", "b.png", "Forest", D, 0),
               ("Object_Yaw", "c.png", "Desert", D, 0), ("Object_Yaw", "d.png", "Desert", "90", 1),
               ("Object_Yaw", "e.png", "Desert", "90", 0)]  # fmt: skip
    for folder, file, _, _, said in entries:
        solid(root / folder / "Goldfish" / file, said)
    rows = [[file, world, "fish_1", "Goldfish", yaw, *[D] * 8] for _, file, world, yaw, _ in entries]
    write_csv(root / "labels_pug_imagenet.csv", IMAGENET_HEADER, rows)
    ds = load_pug_imagenet(root)
    assert ds.manifest["path"].iloc[0] == "Worlds/Goldfish/a.png"
    assert ds.manifest["sweep"].tolist() == ["world_name"] * 2 + ["character_rotation_yaw"] * 3
    spec = SuiteSpec("s", "", (AxisSpec("pug", {"pug_imagenet": f"pug-imagenet:{root}"}),))
    table = run_suite(imagenet_model(), spec, n_resamples=0, progress=False).table
    # the Default rule would put c.png (yaw at Default, world Desert, wrong) into the world curve: 1/2
    assert rows_of(table, "pug-imagenet", "top1", "world_name") == {"Desert": 1.0, "Forest": 0.0}
    assert rows_of(table, "pug-imagenet", "top1", "character_rotation_yaw") == {"90": 0.5, D: 0.0}


def test_pug_animals_finds_images_in_animal_folders_and_names_missing_ones(data_root: Path, tmp_path: Path) -> None:
    ds = load_dataset("pug-animals:", root=data_root)
    assert ds.classes == ANIMALS and len(ds) == 8
    assert ds.manifest["path"].iloc[0] == "Elephant/Ele_Desert_1.png"
    assert ds.factor_columns == ["world_name", "character_scale", "character_texture", "camera_yaw"]
    write_csv(tmp_path / "labels_pug_animal.csv", ["filename", "character_name"], [["gone.png", "Penguin"]])
    with pytest.raises(MissingDataError, match=r"gone\.png"):
        load_pug_animals(tmp_path)
    # the same file name twice below the folder, and nowhere as named: ambiguous, not guessed
    for sub in ("a", "b"):
        solid(tmp_path / sub / "twice.png", 0)
    write_csv(tmp_path / "labels_pug_animal.csv", ["filename", "character_name"], [["twice.png", "Penguin"]])
    with pytest.raises(MissingDataError, match="several files match"):
        load_pug_animals(tmp_path)


def test_pug_ar4t_reads_filepath_category_level_and_caption(data_root: Path) -> None:
    ds = load_dataset("pug-ar4t::test", root=data_root)
    assert ds.classes == ["lamp", "microphone"] and ds.class_names() == ["microphone", "lamp"]
    assert ds.manifest[["path", "Level", "caption"]].values.tolist() == [
        ["test/0.png", "1", "A microphone"], ["test/1.png", "2", "A lamp and a cup"]]  # fmt: skip
    with pytest.raises(MissingDataError, match=r"PUG_ARmerged_train\.csv"):
        load_pug_ar4t(data_root / "PUG_AR4T", split="train")


def test_spar_tasks_build_the_authors_captions_targets_and_hard_negatives() -> None:
    frame = pd.DataFrame(SPAR_ROWS, columns=SPAR_HEADER)
    scene = spar_task(frame, "scene")
    assert scene.rows.tolist() == [0, 1] and scene.targets.tolist() == [0, 1]
    assert scene.captions == ["This is a photo in a Desert environment", "This is a photo in a Lake environment"]
    single = spar_task(frame, "single", "Default")  # "blank" is never a caption (the script lists it)
    assert single.captions == ["This is a photo of a Cat", "This is a photo of a Dog"]
    assert single.rows.tolist() == [2, 3] and single.targets.tolist() == [0, 1]
    assert (single.negatives == -1).all()
    relation = spar_task(frame, "single_relation", "left")  # s4's Dog is character 2: on the right
    assert [relation.captions[t] for t in relation.targets] == [
        "This is a photo of a Cat on the left of the picture",
        "This is a photo of a Dog on the right of the picture",
    ]
    assert [relation.captions[n] for n in relation.negatives] == [
        "This is a photo of a Cat on the right of the picture",
        "This is a photo of a Dog on the left of the picture",
    ]
    double = spar_task(frame, "double", "Default")  # names sorted: both images are "a Cat and a Dog"
    assert double.captions == ["This is a photo of a Cat and a Dog"] and double.rows.tolist() == [4, 5]
    pairs = spar_task(frame, "double_relation", "left")
    assert pairs.targets.tolist() == [0, 1] and pairs.negatives.tolist() == [1, 0]
    attribute = spar_task(frame, "double_attribute", "Blue")
    assert attribute.captions == [
        "This is a photo of a Cat textured with Blue and a Dog textured with Default",
        "This is a photo of a Dog textured with Blue and a Cat textured with Default",
    ]
    background = spar_task(frame, "single", "Default", with_background=True)  # every caption × every world
    assert len(background.captions) == 4 and background.captions[background.targets[1]] == (
        "This is a photo of a Dog in a Lake environment")  # fmt: skip
    with pytest.raises(SpecError, match="variant"):
        spar_task(frame, "single_relation", "diagonal")
    with pytest.raises(MissingDataError, match="no image fits"):
        spar_task(frame, "double_attribute", "Grass")


def test_spar_loader_gives_captions_as_classes(data_root: Path) -> None:
    ds = load_dataset("pug-spar::double_relation:left", root=data_root)
    assert ds.name.endswith(":double_relation:left") and ds.metadata["retrieval"]
    targets, negatives = spar_columns(ds)
    assert targets.tolist() == [0, 1] and negatives.tolist() == [1, 0]
    assert ds.manifest["hard_negative"].tolist() == [ds.classes[1], ds.classes[0]]
    assert load_pug_spar(data_root / "PUG_SPAR", "single+bg").metadata["task"] == "single:Default+bg"


# -- factor-held-out splits ----------------------------------------------------------------------------------


def check_split(data: Dataset | pd.DataFrame, factor: str, held: HeldOut) -> None:
    """The properties every split must have: a partition, held-out values only in test, none in train."""
    frame = data.manifest if hasattr(data, "manifest") else data
    split = factor_held_out_split(data, factor, held)
    train = split.train.manifest if hasattr(split.train, "manifest") else split.train
    test = split.test.manifest if hasattr(split.test, "manifest") else split.test
    assert len(train) + len(test) == len(frame)
    assert set(train["sample_id"]).isdisjoint(test["sample_id"])
    assert set(train["sample_id"]) | set(test["sample_id"]) == set(frame["sample_id"])
    assert held_out_mask(test[factor], held).all() and not held_out_mask(train[factor], held).any()
    assert set(split.held_out).isdisjoint(split.seen)


def synthetic_labels_csv(folder: Path) -> Path:
    """The tiny world's test-background labels.csv exactly as the renderer writes it (PNGs stand in for renders)."""
    from robustscope.synth import load_spec
    from robustscope.synth.render import label_rows

    spec = load_spec("tiny").resolve("test-background")
    table = label_rows(spec, spec.samples())
    for name in table["filename"]:
        solid(folder / name, 0)
    (folder / "classes.txt").write_text("".join(f"{c}\n" for c in spec.classes))
    table.to_csv(folder / "labels.csv", index=False)
    return folder / "labels.csv"


def test_held_out_splits_partition_pug_and_the_synthetic_world_alike(data_root: Path, tmp_path: Path) -> None:
    animals = load_dataset("pug-animals:", root=data_root)
    split = factor_held_out_split(animals, "world_name", ["Lake"])
    assert (split.seen, split.held_out) == (["Desert"], ["Lake"])
    assert split.train.classes == animals.classes and split.test.metadata["held_out"]["side"] == "test"
    world = load_dataset(f"csv:{synthetic_labels_csv(tmp_path)}")  # the synthetic world's labels.csv
    rng = np.random.default_rng(0)
    for data in (animals, world, world.manifest):
        frame = data.manifest if hasattr(data, "manifest") else data
        for factor in ("world_name", "character_texture"):
            values = sorted(set(frame[factor].astype(str)))
            for _ in range(5):
                chosen = list(rng.choice(values, size=rng.integers(1, len(values) + 1), replace=False))
                check_split(data, factor, chosen)
    yaw = pd.to_numeric(world.manifest["character_rotation_yaw"])
    low, high = float(yaw.quantile(0.25)), float(yaw.quantile(0.75))
    check_split(world, "character_rotation_yaw", {"range": [low, high]})
    inside = factor_held_out_split(world, "character_rotation_yaw", {"range": [low, high]}).test
    assert pd.to_numeric(inside.manifest["character_rotation_yaw"]).between(low, high).all()
    assert held_out_mask(pd.Series(["0.0", "90.0", "Default", None]), [90]).tolist() == [False, True, False, False]
    assert choose_held_out(world, "world_name", 2, seed=3) == choose_held_out(world, "world_name", 2, seed=3)
    with pytest.raises(SpecError, match="keep at least one"):
        choose_held_out(animals, "world_name", 2)
    with pytest.raises(SpecError, match="no factor"):
        factor_held_out_split(animals, "weather", ["rain"])


# -- metrics -------------------------------------------------------------------------------------------------


def test_factor_accuracy_and_sweeps_on_hand_computed_cases() -> None:
    table = factor_value_accuracy(np.array([1, 0, 1, 1, 0, 1]), ["90", "90", "0", D, "10", None], n_resamples=200)
    assert table[["value", "accuracy", "n"]].values.tolist() == [["0", 1.0, 1], ["10", 0.0, 1], ["90", 0.5, 2],
                                                                  [D, 1.0, 1]]  # fmt: skip
    ninety = table.iloc[2]
    assert ninety.ci_low == 0.0 and ninety.ci_high == 1.0  # two images, one right: resamples span 0..1
    factors = pd.DataFrame({"world": ["A", "B", "A", "A"], "yaw": [D, D, "90", D], "scale": [D, D, D, "2"]})
    assert sweep_mask(factors, "world").tolist() == [True, True, False, False]
    assert sweep_mask(factors, "yaw").tolist() == [True, True, True, False]
    assert sweep_mask(factors[["world"]], "world").all()  # a full factorial design: every image


def test_retrieval_metrics_match_a_sort_based_reference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n, c = rng.integers(1, 12), rng.integers(2, 9)
        scores = rng.integers(0, 4, size=(n, c)).astype(float)  # small integers: many ties
        targets = rng.integers(0, c, size=n)
        order = np.argsort(-scores, axis=1, kind="stable")  # stable: among ties the lower index first
        rank = np.array([np.flatnonzero(order[i] == targets[i])[0] for i in range(n)])
        for k in (1, 2, 5):
            assert retrieval_correct(scores, targets, k).tolist() == (rank < k).tolist()
        assert retrieval_accuracy(scores, targets, 1) == float((scores.argmax(1) == targets).mean())
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.2, 0.0], [0.0, 0.7, 0.1]])
    values = hard_negative_correct(scores, np.array([0, 0, 0]), np.array([2, 1, -1]))
    assert values[:2].tolist() == [1.0, 0.5] and np.isnan(values[2])
    with pytest.raises(ValueError, match="index"):
        retrieval_correct(scores, np.array([0, 3, 0]))


# -- the suite end to end --------------------------------------------------------------------------------------


def rows_of(table: pd.DataFrame, dataset: str, metric: str, factor: str = "") -> dict[str, float]:
    part = table[(table.dataset.str.startswith(dataset)) & (table.metric == metric) & (table.slice_factor == factor)]
    return dict(zip(part.slice_value, part.value.round(6), strict=True))


def test_pug_suite_on_fixtures_matches_hand_computed_values(data_root: Path) -> None:
    with pytest.warns(UserWarning, match="pug: skipping") as caught:
        result = run_suite(imagenet_model(), "pug", data_root=data_root, n_resamples=50, progress=False)
    skipped = {str(w.message).split(" (")[0] for w in caught if "skipping" in str(w.message)}
    assert "pug: skipping pug_animals" in skipped and "pug: skipping SPAR task spar_scene" in skipped
    # SPAR tasks no fixture image fits are reported as skipped data, with the loader's reason
    assert {s.role for s in result.skipped} == {"spar_single_relation_bottom", "spar_double_relation_bottom",
                                                "spar_double_attribute_grass"}  # fmt: skip
    table = result.table
    assert set(table.dataset.str.split(":").str[0]) == {"pug-imagenet"}
    assert rows_of(table, "pug-imagenet", "top1") == {"": round(4 / 6, 6)}
    assert rows_of(table, "pug-imagenet", "top1", "world_name") == {"Desert": 1.0, "Forest": 0.0}
    assert rows_of(table, "pug-imagenet", "top1", "character_rotation_yaw") == {"0": 1.0, "90": 0.5, D: 0.5}
    assert rows_of(table, "pug-imagenet", "top1", "character_texture") == {D: 0.5, "Grass": 1.0}
    assert rows_of(table, "pug-imagenet", "factor_gap", "pug_factor") == {
        "world_name": 1.0, "character_rotation_yaw": 0.5, "character_texture": 0.5}  # fmt: skip
    assert not (table.slice_factor == "camera_roll").any()  # a factor with one value draws no curve
    yaw = table[(table.slice_factor == "character_rotation_yaw")].set_index("slice_value")
    assert yaw.loc["90", "n"] == 2 and "sweep" in json.loads(yaw.loc["90", "protocol"])["rows"]
    assert result.summary().loc[0, "PUG top-1"] == pytest.approx(4 / 6)


def test_held_out_gap_and_native_models_on_animals_and_spar(data_root: Path) -> None:
    native = Model.from_module(ColourCode(len(native_labels())), PRE, native_labels(), name="pug-native")
    suite = load_suite("pug")
    axis = suite.axis("pug")
    params = {**axis.params, "held_out": {"world_name": ["Lake", "Forest"]}}
    spec = SuiteSpec("pug", "", (AxisSpec("pug", axis.datasets, axis.shifts, params),))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the label-space skips are checked in the test above
        result = run_suite(native, spec, data_root=data_root, n_resamples=50, progress=False)
        in_result = run_suite(imagenet_model(), spec, data_root=data_root, n_resamples=0, progress=False)
    table = result.table
    assert rows_of(table, "pug-animals", "top1") == {"": 5 / 8}
    assert rows_of(table, "pug-animals", "top1", "world_name") == {"Desert": 0.75, "Lake": 0.5}
    assert rows_of(table, "pug-animals", "top1", "character_scale") == {"1": 0.75, "2": 0.5}
    assert rows_of(table, "pug-animals", "held_out_gap[world_name]") == {"": 0.25}
    assert rows_of(table, "pug-animals", "top1_held_out[world_name]") == {"": 0.5}
    assert rows_of(in_result.table, "pug-imagenet", "held_out_gap[world_name]") == {"": 0.8}  # 4/5 seen, 0/1 Forest
    spar = f"pug-spar:{data_root / 'PUG_SPAR'}:"

    def per_task(metric: str) -> dict[str, float]:
        part = table[(table.metric == metric) & (table.slice_factor == "") & table.dataset.str.startswith(spar)]
        return {name[len(spar) :]: value for name, value in zip(part.dataset, part.value, strict=True)}

    assert per_task("retrieval_top1") == {"scene": 0.5, "single:Default": 1.0, "single_relation:left": 0.0,
                                          "double:Default": 1.0, "double_relation:left": 0.5,
                                          "double_attribute:Blue": 0.0}  # fmt: skip
    assert per_task("hard_negative_acc") == {"single_relation:left": 0.25, "double_relation:left": 0.5,
                                             "double_attribute:Blue": 0.0}  # fmt: skip
    scene_worlds = rows_of(table, f"pug-spar:{data_root / 'PUG_SPAR'}:scene", "retrieval_top1", "world_name")
    assert scene_worlds == {"Desert": 1.0, "Lake": 0.0}
    assert not (table.metric == "retrieval_top5").any()  # no task of the fixture has more than 5 captions
    summary = suite_summary(table).iloc[0]
    assert summary["SPAR retrieval top-1"] == pytest.approx(0.5)
    assert summary["SPAR hard-negative acc"] == pytest.approx(0.25)
    assert summary["PUG held-out gap"] == pytest.approx(0.25)


def test_cli_runs_the_pug_suite_on_fixtures(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's model column holds the long temporary path
    folder = tmp_path / "colour"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice; TorchScript still loads
        torch.jit.script(ColourCode(1000)).save(str(folder / "model.ts"))
    (folder / "config.json").write_text(json.dumps({"labels": imagenet_classes(), "label_space": "imagenet-1k",
                                                    "preprocessing": PRE.to_dict()}))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["-q", "run", "--model", f"file:{folder}", "--suite", "pug", "--data-root", str(data_root),
                     "--n-resamples", "10"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "PUG top-1" in out and "0.6667" in out and "skipped pug/spar_single_relation_bottom" in out


def test_pug_offline_suite_bins_the_worlds_continuous_factors(isolated_workspace: Path) -> None:
    net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    model = Model.from_module(net, Preprocessing(input_size=32, crop_pct=1.0), ["sphere", "cube", "torus", "cone"],
                              name="tiny-linear")  # fmt: skip
    axis = load_suite("pug-offline").axis("pug")
    spec = SuiteSpec("pug-offline", "", (AxisSpec("pug", {"test_pose": axis.datasets["test_pose"]}, ("none",),
                                                  axis.params),))  # fmt: skip
    table = run_suite(model, spec, world="tiny", n_resamples=0, progress=False).table
    top1 = float(table[(table.metric == "top1") & (table.slice_factor == "")].value.iloc[0])
    yaw = table[(table.metric == "top1") & (table.slice_factor == "character_rotation_yaw")]
    assert len(yaw) > 1 and all(v.startswith("[") for v in yaw.slice_value)  # continuous: equal-width bins
    for factor, part in table[(table.metric == "top1") & (table.slice_factor != "")].groupby("slice_factor"):
        # every curve partitions the split (no Default values: every image is in every sweep)
        assert part.n.sum() == 8, factor
        assert float((part.n * part.value).sum() / 8) == pytest.approx(top1), factor


TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def test_an_open_clip_model_is_reheaded_with_each_tasks_captions(data_root: Path, tmp_path: Path) -> None:
    import open_clip

    from robustscope.errors import LabelSpaceError
    from robustscope.models.clip_adapter import load_clip
    from robustscope.suites.pug import caption_model

    (tmp_path / "rs-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(tmp_path / "rs-tiny-clip.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = open_clip.create_model("rs-tiny-clip", pretrained=None).eval()
    torch.save(clip.state_dict(), tmp_path / "tiny.pt")
    model = load_clip("rs-tiny-clip", checkpoint=tmp_path / "tiny.pt", labels=["unused"], templates=["{}"])
    captions = ["This is a photo of a Cat", "This is a photo of a Dog", "This is a photo in a Lake environment"]
    head = caption_model(model, captions)
    assert head.labels == captions
    images = torch.rand(3, 3, 32, 32)
    tokenize = open_clip.get_tokenizer("rs-tiny-clip")
    with torch.no_grad():  # the reference: open_clip's own towers, cosine similarity times the logit scale
        image = torch.nn.functional.normalize(clip.encode_image(head.normalize(images)), dim=-1)
        text = torch.nn.functional.normalize(clip.encode_text(tokenize(captions)), dim=-1)
        torch.testing.assert_close(head(images), clip.logit_scale.exp() * image @ text.T)
    roles = {r: s for r, s in load_suite("pug").axis("pug").datasets.items() if r.startswith("spar")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = run_suite(model, SuiteSpec("s", "", (AxisSpec("pug", roles),)), data_root=data_root,
                          n_resamples=0, progress=False).table  # fmt: skip
    whole = table[(table.metric == "retrieval_top1") & (table.slice_factor == "")]
    assert sorted(whole.n) == [1, 2, 2, 2, 2, 2]  # every task the fixture fits: scored through the caption head
    assert set(table[table.metric == "hard_negative_acc"].dataset.str.split(":").str[-2]) == {
        "single_relation", "double_relation", "double_attribute"}  # fmt: skip
    with pytest.raises(LabelSpaceError, match="not a CLIP-style model"):
        caption_model(imagenet_model(), captions)
    random_towers = Model(model.network, model.preprocessing, ["unused"], name="clip:rs-tiny-clip",
                          metadata={"source": "open_clip", "architecture": "rs-tiny-clip"})  # fmt: skip
    with pytest.raises(LabelSpaceError, match="random towers"):
        caption_model(random_towers, captions)


# -- the report view ---------------------------------------------------------------------------------------------


def test_pug_view_draws_a_curve_per_factor_and_model(data_root: Path) -> None:
    native = Model.from_module(ColourCode(len(native_labels())), PRE, native_labels(), name="pug-native")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = run_suite(imagenet_model(), "pug", data_root=data_root, n_resamples=20, progress=False).table
        b = run_suite(native, "pug", data_root=data_root, n_resamples=20, progress=False).table
    rows = pd.concat([a, b], ignore_index=True)
    text = pug_view(ViewInputs(rows, Figures(), Palette(rows.model)))
    assert text.count('"top-1 vs world_name') == 2  # PUG:ImageNet (one model) and PUG:Animals (the other)
    assert '"x":["0","90","Default"]' in text  # natural value order
    assert "retrieval top-1 vs world_name" in text and "hard-negative acc vs world_name" in text
    assert "Factor gap" in text and "in-colour" in text and "pug-native" in text
    sections, toc = suite_sections(rows.astype({"suite": str, "axis": str}), Figures())
    assert ("suite-pug-pug", "pug: PUG factors") in toc and "SPAR retrieval top-1" in sections
    assert pug_view(ViewInputs(rows.iloc[:0], Figures(), Palette([]))) == '<p class="note">No PUG rows.</p>'
