"""Dataset loaders: ImageFolder, CSV manifests (the PUG schema), specs and their errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from conftest import write_colour_folder
from robustscope.data.folder import load_folder
from robustscope.data.manifest import load_manifest
from robustscope.data.registry import load_dataset
from robustscope.data.synthetic import parse_synth_spec
from robustscope.errors import BadImageError, MissingDataError, SpecError, UnknownNameError

PUG_COLUMNS = [
    "filename", "world_name", "character_name", "character_label", "character_rotation_yaw",
    "character_rotation_roll", "character_rotation_pitch", "character_scale", "camera_roll",
    "camera_pitch", "camera_yaw", "character_texture", "scene_light",
]


def test_folder_layout_gives_sorted_classes_and_relative_ids(tmp_path: Path) -> None:
    write_colour_folder(tmp_path / "d", {"red": (255, 0, 0), "blue": (0, 0, 255)}, per_class=3)
    ds = load_folder(tmp_path / "d")
    assert ds.classes == ["blue", "red"]
    assert len(ds) == 6
    assert ds.manifest["sample_id"].iloc[0] == "blue/000.png"
    assert ds.class_names().count("red") == 3
    assert ds.load_image(0).size == (16, 16)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="nowhere"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")


def test_pug_schema_manifest_keeps_factors(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "bear_1.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "goldfish_1.png")
    row = dict.fromkeys(PUG_COLUMNS, 0)
    rows = [
        {**row, "filename": "bear_1.png", "character_label": "Bear", "world_name": "Desert", "character_name": "Bear"},
        {**row, "filename": "goldfish_1.png", "character_label": "Goldfish", "world_name": "Arena",
         "character_name": "Goldfish"},
    ]
    pd.DataFrame(rows, columns=PUG_COLUMNS).to_csv(tmp_path / "labels.csv", index=False)
    ds = load_dataset(f"csv:{tmp_path / 'labels.csv'}")
    assert ds.classes == ["Bear", "Goldfish"]
    assert ds.manifest["label"].tolist() == [0, 1]
    assert "world_name" in ds.factor_columns and "character_rotation_yaw" in ds.factor_columns
    assert "character_name" not in ds.factor_columns
    assert ds.manifest["world_name"].tolist() == ["Desert", "Arena"]


def test_manifest_errors_name_the_problem(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text("filename,label\na.png,cat\nb.png,dog\n")
    with pytest.raises(MissingDataError, match=r"1 of 2 files .*b\.png"):
        load_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("filename,label\na.png,cat\n")
    with pytest.raises(SpecError, match="not in the class list"):
        load_manifest(tmp_path / "n.csv", classes=["dog"])
    (tmp_path / "o.csv").write_text("filename,label\na.png,7\n")
    with pytest.raises(SpecError, match=r"outside 0\.\.1"):
        load_manifest(tmp_path / "o.csv", classes=["cat", "dog"])
    (tmp_path / "p.csv").write_text("picture,label\na.png,cat\n")
    with pytest.raises(SpecError, match="no file column"):
        load_manifest(tmp_path / "p.csv")


def test_classes_txt_beside_manifest_fixes_label_order(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("filename,label\na.png,cat\n")
    (tmp_path / "classes.txt").write_text("zebra\ncat\n")
    ds = load_manifest(tmp_path / "labels.csv")
    assert ds.classes == ["zebra", "cat"] and ds.manifest["label"].tolist() == [1]


def test_corrupt_image_error_names_file(tmp_path: Path) -> None:
    write_colour_folder(tmp_path / "d", {"red": (255, 0, 0)}, per_class=1)
    broken = tmp_path / "d" / "red" / "000.png"
    broken.write_bytes(broken.read_bytes()[:20])
    with pytest.raises(BadImageError, match=r"000\.png"):
        load_folder(tmp_path / "d").load_image(0)


def test_unknown_scheme_suggests_near_miss() -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'csv:x\.csv'"):
        load_dataset("cvs:x.csv")


def test_relative_spec_resolves_under_data_root(tmp_path: Path) -> None:
    write_colour_folder(tmp_path / "root" / "set", {"red": (255, 0, 0)}, per_class=2)
    assert len(load_dataset("folder:set", root=tmp_path / "root")) == 2


def test_fingerprint_follows_manifest_and_files(tmp_path: Path) -> None:
    write_colour_folder(tmp_path / "d", {"red": (255, 0, 0), "blue": (0, 0, 255)}, per_class=2)
    first = load_folder(tmp_path / "d").fingerprint()
    assert load_folder(tmp_path / "d").fingerprint() == first
    Image.new("RGB", (32, 32)).save(tmp_path / "d" / "red" / "000.png")
    assert load_folder(tmp_path / "d").fingerprint() != first


def test_synth_spec_parsing() -> None:
    assert parse_synth_spec("demo:test-pose") == ("demo", "test-pose")
    assert parse_synth_spec("my/world.yaml") == ("my/world.yaml", None)
