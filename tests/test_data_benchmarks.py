"""Benchmark loaders on tiny fixtures laid out exactly like the releases (``benchmark_fixtures``), and the shipped
label-set files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark_fixtures import image, write_focus, write_in9
from robustscope.data.benchmarks import load_benchmark
from robustscope.data.benchmarks._common import label_set_file, split_argument
from robustscope.data.benchmarks.corruptions import load_imagenet_3dcc, load_imagenet_c
from robustscope.data.benchmarks.cue_conflict import load_cue_conflict, parse_stimulus_name
from robustscope.data.benchmarks.focus import load_focus
from robustscope.data.benchmarks.imagenet import (
    load_imagenet_a,
    load_imagenet_r,
    load_imagenet_sketch,
    load_imagenet_v2,
    load_imagenet_val,
)
from robustscope.data.benchmarks.imagenet9 import CLASSES as IN9_CLASSES
from robustscope.data.benchmarks.imagenet9 import VARIANTS, load_imagenet9, read_in_to_in9
from robustscope.data.benchmarks.ood import load_ood_folder
from robustscope.data.benchmarks.roots import BENCHMARK_FOLDERS, benchmark_status, candidate_paths, find_benchmark
from robustscope.data.registry import DATASET_SCHEMES, load_dataset
from robustscope.errors import MissingDataError, SpecError, UnknownNameError
from robustscope.models.labels import imagenet_wnids

WNIDS = imagenet_wnids()
CUE_CATEGORIES = [
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
]  # fmt: skip


def assert_unique_ids(ds) -> None:
    assert ds.manifest["sample_id"].is_unique
    for i in range(len(ds)):
        assert ds.image_path(i).is_file()


# -- ImageNet val, V2, Sketch --------------------------------------------------------------------------
def test_imagenet_val_uses_wnid_index_order_and_allows_a_subset(tmp_path: Path) -> None:
    image(tmp_path / "val" / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    image(tmp_path / "val" / "n01440764" / "ILSVRC2012_val_00002138.JPEG")
    image(tmp_path / "val" / "n15075141" / "ILSVRC2012_val_00000014.JPEG")
    ds = load_imagenet_val(tmp_path / "val")
    assert ds.classes == WNIDS
    assert ds.manifest["label"].tolist() == [0, 0, 999]
    assert ds.manifest["sample_id"].tolist()[0] == "n01440764/ILSVRC2012_val_00000293.JPEG"
    assert ds.metadata == {"benchmark": "imagenet-val"}
    assert ds.factor_columns == []
    assert_unique_ids(ds)


def test_imagenet_val_rejects_foreign_folders_and_flat_layout(tmp_path: Path) -> None:
    image(tmp_path / "val" / "dogs" / "1.JPEG")
    with pytest.raises(MissingDataError, match=r"not classes.*'dogs'.*<wnid>/<image>"):
        load_imagenet_val(tmp_path / "val")
    image(tmp_path / "flat" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(MissingDataError, match="no class folders"):
        load_imagenet_val(tmp_path / "flat")
    with pytest.raises(MissingDataError, match=rf"{tmp_path / 'nowhere'}/<wnid>/<image>"):
        load_imagenet_val(tmp_path / "nowhere")


def test_imagenet_v2_maps_index_folders_to_wnids(tmp_path: Path) -> None:
    root = tmp_path / "imagenetv2-matched-frequency-format-val"
    image(root / "0" / "7e3b5cbd2e40ce35e34e9e2e2e5ad3a2c1b0e9a1.jpeg")
    image(root / "999" / "0a1b.jpeg")
    image(root / "10" / "ffee.jpeg")
    ds = load_imagenet_v2(root)
    assert ds.classes == WNIDS
    assert ds.manifest["label"].tolist() == [0, 10, 999]
    assert ds.class_names() == ["n01440764", WNIDS[10], "n15075141"]
    assert ds.manifest["sample_id"].tolist()[1] == "10/ffee.jpeg"
    image(root / "1000" / "x.jpeg")
    with pytest.raises(MissingDataError, match=r"not class indices 0\.\.999.*'1000'"):
        load_imagenet_v2(root)


def test_imagenet_sketch_reads_the_sketch_folder(tmp_path: Path) -> None:
    root = tmp_path / "imagenet-sketch" / "sketch"
    image(root / "n01443537" / "sketch_12.JPEG")
    ds = load_imagenet_sketch(root)
    assert ds.class_names() == ["n01443537"] and ds.manifest["label"].tolist() == [1]
    assert ds.metadata["benchmark"] == "imagenet-sketch"


# -- ImageNet-R and -A ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("loader", "benchmark", "wnid", "index"), [
    (load_imagenet_r, "imagenet-r", "n01443537", 1),
    (load_imagenet_a, "imagenet-a", "n01498041", 6),
])  # fmt: skip
def test_imagenet_r_and_a_use_the_200_class_mask(tmp_path: Path, loader, benchmark, wnid, index) -> None:
    image(tmp_path / benchmark / wnid / "art_1.jpg")
    image(tmp_path / benchmark / wnid / "cartoon_2.jpg")
    ds = loader(tmp_path / benchmark)
    assert len(ds.classes) == 200 and ds.classes == sorted(ds.classes)
    assert ds.class_names() == [wnid, wnid]
    assert ds.metadata["benchmark"] == benchmark
    assert ds.metadata["set_reduction"] == "subset"
    sets = ds.metadata["label_sets"]
    assert list(sets) == ds.classes and sets[wnid] == [index]
    assert all(sets[w] == [WNIDS.index(w)] for w in ds.classes)
    assert_unique_ids(ds)
    image(tmp_path / benchmark / "n01440764" / "x.jpg")  # tench is in neither 200-class list
    with pytest.raises(MissingDataError, match=rf"not classes \(the 200 classes of {benchmark}\).*n01440764"):
        loader(tmp_path / benchmark)


def test_imagenet_r_label_set_override_for_a_synthetic_world(tmp_path: Path) -> None:
    image(tmp_path / "r" / "cube" / "a.png")
    image(tmp_path / "r" / "cone" / "b.png")
    ds = load_imagenet_r(tmp_path / "r", label_sets="identity")
    assert ds.classes == ["cone", "cube"] and ds.metadata["label_sets"] == {"cone": ["cone"], "cube": ["cube"]}
    ds = load_imagenet_r(tmp_path / "r", label_sets={"cube": [3], "cone": [1], "torus": [2]})
    assert ds.classes == ["cube", "cone", "torus"] and ds.class_names() == ["cone", "cube"]


def test_imagenet_r_and_a_files_match_independent_facts() -> None:
    for name, first in (("imagenet_r", [1, 2, 4, 6, 8, 9, 11, 13, 22, 23]), ("imagenet_a", [6, 11, 13, 15, 17])):
        data = label_set_file(name)
        classes = data["classes"]
        assert len(classes) == len(set(classes)) == 200
        assert set(classes) <= set(WNIDS)
        indices = sorted(WNIDS.index(w) for w in classes)
        assert indices[: len(first)] == first  # the first entries of the published index lists
        assert data["source"].startswith("hendrycks/") and "commit" in data["source"]
    # ImageNet-R's published index list ends at 988 (n12267677, acorn).
    assert WNIDS.index(label_set_file("imagenet_r")["classes"][-1]) == 988
    # ImageNet-A's thousand_k_to_200 maps 988 to 199 (its last class) and 207 (golden retriever) to 38.
    a_classes = label_set_file("imagenet_a")["classes"]
    assert WNIDS.index(a_classes[-1]) == 988 and a_classes.index(WNIDS[207]) == 38


# -- cue-conflict ----------------------------------------------------------------------------------------
def test_cue_conflict_parses_shape_and_texture(tmp_path: Path) -> None:
    root = tmp_path / "cue-conflict"
    for name in (
        "cat/cat1-elephant1.png",
        "cat/cat2-cat3.png",
        "knife/knife10-bicycle2.png",
        "airplane/airplane1-oven4.png",
    ):
        image(root / name)
    ds = load_cue_conflict(root)
    assert ds.classes == CUE_CATEGORIES
    rows = ds.manifest.set_index("sample_id")
    assert rows.loc["cat/cat1-elephant1.png", ["shape", "texture", "shape_texture_agree"]].tolist() == [
        "cat", "elephant", False
    ]  # fmt: skip
    assert bool(rows.loc["cat/cat2-cat3.png", "shape_texture_agree"]) is True
    assert rows.loc["knife/knife10-bicycle2.png", "texture"] == "bicycle"
    assert ds.class_names() == [row.split("/")[0] for row in ds.manifest["sample_id"]]
    assert ds.metadata["set_reduction"] == "mean_prob" and ds.metadata["benchmark"] == "cue-conflict"
    assert ds.metadata["label_sets"]["knife"] == [499]
    assert set(ds.factor_columns) == {"shape", "texture", "shape_texture_agree"}
    assert_unique_ids(ds)


def test_cue_conflict_errors_name_the_file(tmp_path: Path) -> None:
    image(tmp_path / "cc" / "cat" / "dog1-cat1.png")
    with pytest.raises(MissingDataError, match=r"dog1-cat1\.png.*is not its folder"):
        load_cue_conflict(tmp_path / "cc")
    with pytest.raises(MissingDataError, match="not named <shape><i>-<texture><j>"):
        parse_stimulus_name("cat.png")
    image(tmp_path / "cc2" / "giraffe" / "giraffe1-cat1.png")
    with pytest.raises(MissingDataError, match="not cue-conflict categories"):
        load_cue_conflict(tmp_path / "cc2")
    with pytest.raises(MissingDataError, match=r"<shape category>/<shape><i>-<texture><j>\.png"):
        load_cue_conflict(tmp_path / "missing")


def test_cue_conflict_file_matches_model_vs_human() -> None:
    data = label_set_file("cue_conflict")
    sets = data["label_sets"]
    assert sorted(sets) == CUE_CATEGORIES == data["classes"]
    everything = [i for members in sets.values() for i in members]
    assert len(everything) == len(set(everything)) == 207  # disjoint
    assert all(0 <= i < 1000 for i in everything)
    assert sets["knife"] == [499] and sets["oven"] == [766] and sets["airplane"] == [404]
    assert sets["cat"] == [281, 282, 283, 284, 285, 286] and sets["bear"] == [294, 295, 296, 297]
    assert len(sets["dog"]) == 109 and len(sets["bird"]) == 49
    # human_categories.py lists WNIDs beside the indices: they agree where both are given.
    assert WNIDS[499] == "n03041632" and [WNIDS[i] for i in sets["elephant"]] == ["n02504013", "n02504458"]


# -- ImageNet-9 ------------------------------------------------------------------------------------------
def test_imagenet9_reads_all_variants_with_a_factor(tmp_path: Path) -> None:
    root = tmp_path / "bg_challenge"
    write_in9(root, ("original", "only_fg", "mixed_same", "mixed_rand"))
    ds = load_imagenet9(root)
    assert ds.classes == list(IN9_CLASSES)
    assert ds.manifest["variant"].value_counts().to_dict() == {v: 3 for v in ("original", "only_fg", "mixed_same",
                                                                              "mixed_rand")}  # fmt: skip
    assert ds.manifest["sample_id"].iloc[0] == "original/val/00_dog/n02085620_1234.JPEG"
    assert sorted(set(ds.class_names())) == ["00_dog", "02_wheeled vehicle", "06_musical instrument"]
    assert ds.metadata["set_reduction"] == "top1_in_set" and ds.metadata["benchmark"] == "imagenet-9"
    assert ds.metadata["variants"] == ["original", "only_fg", "mixed_same", "mixed_rand"]
    assert_unique_ids(ds)
    one = load_imagenet9(root, "mixed_rand")
    assert len(one) == 3 and set(one.manifest["variant"]) == {"mixed_rand"}
    with pytest.raises(MissingDataError, match=rf"{root / 'no_fg' / 'val'} does not exist.*mixed_rand"):
        load_imagenet9(root, "no_fg")


def test_imagenet9_spec_with_variant_and_official_map(tmp_path: Path) -> None:
    root = tmp_path / "bg_challenge"
    write_in9(root, ("original", "mixed_next"))
    assert len(load_dataset(f"imagenet-9:{root}:mixed_next")) == 3
    shipped = load_dataset(f"imagenet-9:{root}").metadata  # no in_to_in9.json in the folder: the shipped copy
    assert shipped["label_sets_source"].startswith("official map: MadryLab/backgrounds_challenge")
    assert len(shipped["label_sets"]["02_wheeled vehicle"]) == 42
    (root / "in_to_in9.json").write_text(json.dumps({"0": 8, "151": 0, "404": -1, "407": 2}))
    ds = load_dataset(f"imagenet-9:{root}")
    assert ds.metadata["label_sets"]["00_dog"] == [151] and ds.metadata["label_sets"]["02_wheeled vehicle"] == [407]
    assert ds.metadata["label_sets_source"].startswith("official map")


def test_imagenet9_shipped_map_is_consistent() -> None:
    data = label_set_file("in_to_in9")
    sets = read_in_to_in9(data)
    assert list(sets) == list(IN9_CLASSES)
    everything = [i for members in sets.values() for i in members]
    assert len(everything) == len(set(everything)) and all(0 <= i < 1000 for i in everything)
    # Ranges that follow from the WordNet hierarchy (the 9 synsets of the paper's Table 4).
    assert sets["03_reptile"] == list(range(33, 69))
    assert sets["05_insect"] == list(range(300, 327))
    assert sets["07_primate"] == list(range(365, 385))
    assert sets["08_fish"] == [*range(0, 7), *range(389, 398)]
    assert sets["00_dog"] == [i for i in range(151, 269) if i not in (171, 172)]
    # Class sizes of the paper's Table 4 (Xiao et al., ICLR 2021), every class; the other 630 classes are -1.
    paper = [116, 52, 42, 36, 35, 27, 26, 20, 16]
    assert [len(v) for v in sets.values()] == paper
    assert sorted(int(k) for k in data if not k.startswith("_")) == list(range(1000))
    assert sum(1 for k, v in data.items() if not k.startswith("_") and v == -1) == 630


def test_imagenet9_missing_and_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match=r"no imagenet-9 variant folders.*<variant>/val/<class>/<image>"):
        load_imagenet9(tmp_path / "empty")
    image(tmp_path / "x" / "original" / "val" / "dog" / "1.JPEG")
    with pytest.raises(MissingDataError, match="not ImageNet-9 classes"):
        load_imagenet9(tmp_path / "x")
    assert load_imagenet9(tmp_path / "x", label_sets="identity").classes == ["dog"]
    assert set(VARIANTS) >= {"original", "only_fg", "only_bg_b", "only_bg_t", "no_fg", "mixed_same", "mixed_rand"}


# -- FOCUS -----------------------------------------------------------------------------------------------
def test_focus_reads_the_annotation_database(tmp_path: Path) -> None:
    ds = load_focus(write_focus(tmp_path / "focus"))
    assert ds.classes == ["truck", "car", "plane", "ship", "cat", "dog", "horse", "deer", "frog", "bird"]
    rows = ds.manifest.set_index("sample_id")
    assert rows.loc["dog-snow/00001.jpeg", ["time", "weather", "location", "n_uncommon"]].tolist() == [
        "night", "snowing", "grass, snow", 3
    ]  # fmt: skip
    assert rows.loc["dog-grass/00002.jpeg", "n_uncommon"] == 0 and bool(rows.loc["dog-grass/00002.jpeg", "humans"])
    assert rows.loc["frog-night/00003.jpeg", "n_uncommon"] == 0  # night is common for frogs
    assert rows.loc["ship-street/00004.jpeg", "n_uncommon"] == 2  # rain, and a ship on a street
    assert rows.loc["plane-fog/00005.jpeg", "n_uncommon"] == 1
    assert {"time", "weather", "location", "n_uncommon"} <= set(ds.factor_columns)
    assert ds.metadata["set_reduction"] == "top1_in_set" and ds.metadata["benchmark"] == "focus"
    assert ds.metadata["label_sets"]["plane"] == [404, 895]
    assert ds.class_names()[0] == "dog"
    assert_unique_ids(ds)


def test_focus_errors(tmp_path: Path) -> None:
    (tmp_path / "nodb").mkdir()
    with pytest.raises(MissingDataError, match=r"annotations\.db does not exist.*SQLite table annotations"):
        load_focus(tmp_path / "nodb")
    write_focus(tmp_path / "noimg", images=False)
    with pytest.raises(MissingDataError, match=r"5 of 5 images named in .*annotations\.db are missing"):
        load_focus(tmp_path / "noimg")
    write_focus(tmp_path / "badcat", rows=[("/x/1.jpeg", "zebra", "day", "sunny", "grass", "no")])
    with pytest.raises(MissingDataError, match="category 'zebra'"):
        load_focus(tmp_path / "badcat")


def test_focus_file_matches_the_authors_tables() -> None:
    data = label_set_file("focus")
    sets, uncommon = data["label_sets"], data["uncommon"]
    assert data["classes"] == list(sets) == list(uncommon)
    everything = [i for members in sets.values() for i in members]
    assert len(everything) == len(set(everything)) and all(0 <= i < 1000 for i in everything)
    assert sets["cat"] == [281, 282, 283, 284, 285] and sets["frog"] == [30, 31, 32]
    assert sets["dog"][-3:] == [273, 274, 275] and len(sets["dog"]) == 121
    assert uncommon["frog"]["time"] == [] and all(uncommon[c]["time"] == ["night"] for c in sets if c != "frog")
    assert uncommon["dog"]["locations"] == ["forest", "rocks", "snow"]
    assert all(set(rule["weather"]) == {"foggy", "raining", "snowing"} for rule in uncommon.values())


# -- ImageNet-C and -3DCC --------------------------------------------------------------------------------
def test_imagenet_c_factors_and_filters(tmp_path: Path) -> None:
    root = tmp_path / "imagenet-c"
    for corruption in ("gaussian_noise", "fog"):
        for severity in (1, 5):
            image(root / corruption / str(severity) / "n01440764" / "ILSVRC2012_val_00000293.JPEG")
    ds = load_imagenet_c(root)
    assert len(ds) == 4 and ds.manifest["sample_id"].is_unique
    assert ds.manifest[["corruption", "severity"]].values.tolist() == [["fog", 1], ["fog", 5], ["gaussian_noise", 1],
                                                                        ["gaussian_noise", 5]]  # fmt: skip
    assert ds.classes == WNIDS and set(ds.manifest["label"]) == {0}
    assert_unique_ids(ds)
    assert len(load_dataset(f"imagenet-c:{root}:fog")) == 2
    one = load_dataset(f"imagenet-c:{root}:fog:5")
    assert one.manifest["sample_id"].tolist() == ["fog/5/n01440764/ILSVRC2012_val_00000293.JPEG"]
    with pytest.raises(MissingDataError, match=r"fog/3 does not exist.*severities present: \['1', '5'\]"):
        load_imagenet_c(root, "fog", 3)
    with pytest.raises(MissingDataError, match=r"snow does not exist.*<severity 1-5>/<wnid>/<image>"):
        load_imagenet_c(root, "snow")
    with pytest.raises(SpecError, match=r"not one of 1\.\.5"):
        load_imagenet_c(root, "fog", 7)


def test_imagenet_3dcc_same_layout(tmp_path: Path) -> None:
    root = tmp_path / "ImageNet-3DCC"
    image(root / "near_focus" / "3" / "n15075141" / "ILSVRC2012_val_00000001.JPEG")
    image(root / "fog_3d" / "3" / "n15075141" / "ILSVRC2012_val_00000001.JPEG")
    ds = load_imagenet_3dcc(root)
    assert ds.metadata["benchmark"] == "imagenet-3dcc" and ds.manifest["label"].tolist() == [999, 999]
    assert ds.manifest["sample_id"].is_unique and ds.metadata["corruptions"] == ["fog_3d", "near_focus"]


# -- OOD folders -----------------------------------------------------------------------------------------
def test_ood_folder_flat_and_nested(tmp_path: Path) -> None:
    flat = tmp_path / "ood" / "iNaturalist"
    image(flat / "0a1b2c.jpg")
    image(flat / "ffee.jpg")
    ds = load_ood_folder(flat)
    assert ds.classes == ["ood"] and ds.metadata["ood"] is True
    assert ds.manifest["ood_set"].tolist() == ["iNaturalist", "iNaturalist"]
    nested = tmp_path / "dtd" / "images"
    image(nested / "banded" / "banded_0002.jpg")
    image(nested / "zigzagged" / "zigzagged_0001.jpg")
    ds = load_ood_folder(nested)
    assert ds.manifest["sample_id"].tolist() == ["banded/banded_0002.jpg", "zigzagged/zigzagged_0001.jpg"]
    assert set(ds.manifest["ood_set"]) == {"dtd"}
    assert_unique_ids(ds)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="no images"):
        load_ood_folder(tmp_path / "empty")


# -- data-root resolver and specs ------------------------------------------------------------------------
def test_find_benchmark_lists_every_path_tried(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError) as info:
        find_benchmark("imagenet-val", tmp_path)
    for folder in ("imagenet/val", "ILSVRC2012/val", "val"):
        assert str(tmp_path / folder) in str(info.value)
    (tmp_path / "ILSVRC2012" / "val").mkdir(parents=True)
    assert find_benchmark("imagenet-val", tmp_path) == tmp_path / "ILSVRC2012" / "val"
    (tmp_path / "imagenet" / "val").mkdir(parents=True)  # earlier in the list wins
    assert find_benchmark("imagenet-val", tmp_path) == tmp_path / "imagenet" / "val"
    assert candidate_paths("textures", tmp_path)[0] == tmp_path / "ood" / "dtd" / "images"
    with pytest.raises(UnknownNameError, match="imagenet-r"):
        find_benchmark("imagenet-rr", tmp_path)


def test_benchmark_status_reports_missing_without_raising(tmp_path: Path) -> None:
    (tmp_path / "ood" / "SUN").mkdir(parents=True)
    status = benchmark_status(["sun", "places", "imagenet-3dcc"], tmp_path)
    assert status[0] == ("sun", tmp_path / "ood" / "SUN", f"found at {tmp_path / 'ood' / 'SUN'}")
    assert status[1][1] is None and str(tmp_path / "Places") in status[1][2]
    assert str(tmp_path / "ImageNet-3DCC") in status[2][2]
    assert set(BENCHMARK_FOLDERS) >= {
        "imagenet-val", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "cue-conflict", "imagenet-9",
        "focus", "imagenet-c", "imagenet-3dcc", "inaturalist", "sun", "places", "textures",
    }  # fmt: skip


def test_specs_resolve_under_the_data_root(tmp_path: Path) -> None:
    image(tmp_path / "imagenet-r" / "n01443537" / "a.jpg")
    image(tmp_path / "texture-shape" / "cue-conflict" / "cat" / "cat1-knife1.png")
    assert len(load_dataset("imagenet-r:", root=tmp_path)) == 1
    assert len(load_dataset("imagenet-r:imagenet-r", root=tmp_path)) == 1
    assert load_dataset("cue-conflict:", root=tmp_path).manifest["texture"].tolist() == ["knife"]
    with pytest.raises(MissingDataError, match="tried"):
        load_dataset("focus:", root=tmp_path)
    with pytest.raises(SpecError, match="no path given"):
        load_benchmark("ood-folder", "", root=tmp_path)
    with pytest.raises(SpecError, match="too many"):
        load_dataset(f"imagenet-r:{tmp_path}:extra")
    assert split_argument(r"C:\data\imagenet-c:fog:2", 2) == (r"C:\data\imagenet-c", ["fog", "2"])
    for scheme in ("imagenet-val", "imagenet-v2", "imagenet-sketch", "imagenet-r", "imagenet-a", "cue-conflict",
                   "imagenet-9", "focus", "imagenet-c", "imagenet-3dcc", "ood-folder"):  # fmt: skip
        entry = DATASET_SCHEMES.entry(scheme)
        assert entry.summary and entry.example.startswith(f"{scheme}:")
        assert callable(entry.load())
