"""Tests of robustscope.synth: specs, sampling, rendering, labels that match the pictures, caching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from robustscope.errors import SpecError, UnknownNameError
from robustscope.synth import (
    BACKGROUNDS,
    PUG_COLUMNS,
    SHAPES,
    TEXTURES,
    WorldSpec,
    ensure_rendered,
    load_spec,
    render_world,
)
from robustscope.synth import render as render_module
from robustscope.synth.meshes import make_mesh

PUG = [
    "filename",
    "world_name",
    "character_name",
    "character_label",
    "character_rotation_yaw",
    "character_rotation_roll",
    "character_rotation_pitch",
    "character_scale",
    "camera_roll",
    "camera_pitch",
    "camera_yaw",
    "character_texture",
    "scene_light",
]
EXTRA = [
    "split",
    "sample_id",
    "mask_filename",
    "color",
    "position_x",
    "position_y",
    "light_azimuth",
    "light_elevation",
    "light_intensity",
    "light_color",
    "background",
]
DEMO_SPLITS = [
    "train-narrow", "train-diverse", "train-texture-shortcut", "train-background-shortcut", "train-context-shortcut",
    "pose-instances", "pose-instances-test", "disentangle", "disentangle-test",
    "test-id", "test-pose", "test-background", "test-lighting", "test-texture",
    "context", "ood-shapes",
]


def _spec(**overrides: Any) -> WorldSpec:
    raw: dict[str, Any] = {"name": "unit", "classes": ["cube"], "resolution": 32, "spp": 4, "n": 4}
    raw.update(overrides)
    return WorldSpec.from_dict(raw)


def _masks(out: Path) -> tuple[pd.DataFrame, list[np.ndarray]]:
    labels = pd.read_csv(out / "labels.csv")
    return labels, [np.asarray(Image.open(out / m)) for m in labels["mask_filename"]]


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.glob("*/*.png"))}


# -- names and assets -----------------------------------------------------------------------------


def test_enough_shapes_textures_backgrounds() -> None:
    assert len(SHAPES) >= 8 and len(TEXTURES) >= 6 and len(BACKGROUNDS) >= 6


@pytest.mark.parametrize("shape", SHAPES)
def test_meshes_are_valid_unit_meshes(shape: str) -> None:
    mesh = make_mesh(shape)
    assert mesh.faces.max() < mesh.n_vertices
    assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-4)
    assert np.isclose(np.linalg.norm(mesh.positions, axis=1).max(), 1, atol=1e-4)
    assert mesh.uvs.min() >= 0 and mesh.uvs.max() <= 1


# -- specs ----------------------------------------------------------------------------------------


def test_builtin_worlds_have_the_demo_splits() -> None:
    demo = load_spec("demo")
    assert demo.split_names() == DEMO_SPLITS
    assert len(demo.classes) == 8 and demo.resolution == 64
    tiny = load_spec("tiny")
    assert tiny.split_names() == DEMO_SPLITS and tiny.resolution == 32
    narrow, pose = demo.resolve("train-narrow"), demo.resolve("test-pose")
    assert pose.split == "test-pose" and pose.factors["yaw"].range != narrow.factors["yaw"].range
    # test-pose moves only the pose: everything else is the narrow distribution.
    for name in ("texture", "background", "light_intensity", "scale"):
        assert pose.factors[name] == narrow.factors[name]


def test_star_ties_every_class_and_cue_conflict_never_wears_its_own_texture() -> None:
    demo = load_spec("demo")
    context = demo.resolve("context")
    assert set(context.factors["light_color"].tie_to_class) == set(demo.classes)
    lights = [s["light_color"] for s in context.samples()]
    assert 0.35 < lights.count("white") / len(lights) < 0.65
    own = demo.resolve("train-narrow").factors["texture"].tie_to_class
    conflict = demo.resolve("test-texture").samples()
    assert all(s["texture"] not in own[s["character_label"]] for s in conflict)
    narrow = demo.resolve("train-narrow").samples()
    tied = sum(s["texture"] in own[s["character_label"]] for s in narrow) / len(narrow)
    assert 0.85 < tied < 0.95


def test_unknown_world_suggests_near_misses() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_spec("dmeo")
    assert "demo" in info.value.suggestions
    with pytest.raises(UnknownNameError) as info:
        load_spec("demo").resolve("test-poses")
    assert "test-pose" in info.value.suggestions


def test_yaml_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nclasses: [sphere, cube]\nfactors:\n  yaw: {range: [-10, 10]}\nsplits:\n  a: {n: 3}\n")
    spec = load_spec(str(path))
    assert spec.split_names() == ["a"] and spec.resolve("a").n == 3
    again = WorldSpec.from_dict(spec.to_dict())
    assert again.resolve("a").fingerprint() == spec.resolve("a").fingerprint()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"factors": {"yawn": {"range": [0, 1]}}}, "yawn"),
        ({"factors": {"yaw": {"range": [10, -10]}}}, "factors.yaw.range"),
        ({"factors": {"texture": ["stripez"]}}, "stripez"),
        ({"factors": {"texture": {"range": [0, 1]}}}, "factors.texture.range"),
        ({"factors": {"texture": {"values": ["plain"], "tie_to_class": {"cone": ["plain"]}}}}, "cone"),
        ({"factors": {"texture": {"values": ["plain"], "tie_prob": 2}}}, "tie_prob"),
        ({"factors": {"scale": -1}}, "scale"),
        ({"sampling": "sobol"}, "sampling"),
        ({"classes": ["cub"]}, "classes"),
        ({"n": 0}, "n"),
        ({"colour": "red"}, "colour"),
        ({"splits": {"s": {"factors": {"pitch": {"range": [5]}}}}}, "splits.s.factors.pitch.range"),
    ],
)
def test_invalid_fields_raise_spec_error_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=field.replace(".", r"\.")):
        _spec(**raw)


def test_tied_factors_follow_their_probability() -> None:
    spec = _spec(
        classes=["cube", "sphere"],
        n=2000,
        seed=5,
        factors={
            "texture": {
                "values": ["plain", "stripes", "checker"],
                "tie_to_class": {"cube": ["stripes"]},
                "tie_prob": 0.8,
            },
            "yaw": {"range": [-90, 90], "tie_to_class": {"sphere": [0, 10]}},
        },
    )
    frame = pd.DataFrame(spec.samples())
    cubes, spheres = frame[frame.character_label == "cube"], frame[frame.character_label == "sphere"]
    assert len(cubes) == len(spheres) == 1000
    assert 0.75 < (cubes.texture == "stripes").mean() < 0.85
    # Untied classes draw uniformly from all values.
    assert 0.28 < (spheres.texture == "stripes").mean() < 0.39
    assert spheres.yaw.between(0, 10).all() and cubes.yaw.min() < -60 and cubes.yaw.max() > 60


def test_grid_sampling_is_the_full_product() -> None:
    spec = _spec(
        classes=["cube", "sphere"],
        sampling="grid",
        factors={
            "background": ["sky", "night"],
            "yaw": {"range": [0, 90], "steps": 4},
            "texture": {"values": ["plain", "dots"], "tie_to_class": {"cube": ["dots"]}},
        },
    )
    frame = pd.DataFrame(spec.samples())
    assert len(frame) == 2 * 4 * (1 + 2)  # cube: 1 tied texture; sphere: 2
    assert set(frame.yaw) == {0.0, 30.0, 60.0, 90.0}
    assert set(frame[frame.character_label == "cube"].texture) == {"dots"}


# -- rendering ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_world("tiny", tmp_path_factory.mktemp("tiny") / "test-id", split="test-id", workers=1, progress=False)


def test_labels_schema_and_files(tiny_render: Path) -> None:
    labels = pd.read_csv(tiny_render / "labels.csv")
    assert list(labels.columns[: len(PUG)]) == PUG == list(PUG_COLUMNS)
    assert set(EXTRA) <= set(labels.columns)
    assert len(labels) == load_spec("tiny").resolve("test-id").n
    assert labels.sample_id.is_unique and labels.sample_id.iloc[0] == "test-id-000000"
    assert (labels.split == "test-id").all() and (labels.world_name == labels.background).all()
    for image, mask in zip(labels.filename, labels.mask_filename, strict=True):
        rgb = Image.open(tiny_render / image)
        assert rgb.mode == "RGB" and rgb.size == (32, 32)
        assert Image.open(tiny_render / mask).mode == "L"
    assert len(list((tiny_render / "images").glob("*.png"))) == len(labels)
    info = json.loads((tiny_render / "world.json").read_text())
    assert info["split"] == "test-id" and info["seed"] == 3 and info["renderer_version"]
    assert info["spec"]["name"] == "tiny"


def test_images_show_a_lit_object_on_the_background(tiny_render: Path) -> None:
    labels, masks = _masks(tiny_render)
    for image, mask in zip(labels.filename, masks, strict=True):
        rgb = np.asarray(Image.open(tiny_render / image)).astype(float)
        inside, outside = rgb[mask > 200], rgb[mask == 0]
        assert len(inside) > 30 and len(outside) > 300, "object should fill part of the frame"
        assert inside.mean() > 20, "object should be lit, not black"
        assert np.abs(inside.mean(0) - outside.mean(0)).max() > 8 or inside.std() > 20


def test_same_seed_same_bytes_across_worker_counts(tiny_render: Path, tmp_path: Path) -> None:
    again = render_world("tiny", tmp_path / "again", split="test-id", workers=2, progress=False)
    assert _files(again) == _files(tiny_render)
    assert (again / "labels.csv").read_bytes() == (tiny_render / "labels.csv").read_bytes()


def test_different_seed_different_images(tiny_render: Path, tmp_path: Path) -> None:
    spec = load_spec("tiny")
    spec.splits["test-id"] = {**spec.splits["test-id"], "seed": 99}
    other = render_world(spec, tmp_path / "other", split="test-id", workers=1, progress=False)
    assert _files(other) != _files(tiny_render)


def test_mask_area_grows_with_scale(tmp_path: Path) -> None:
    spec = _spec(
        classes=["cube", "sphere"], sampling="grid", factors={"scale": [0.4, 0.7, 1.0], "yaw": 25, "pitch": 15}
    )
    labels, masks = _masks(render_world(spec, tmp_path, workers=1, progress=False))
    area = np.array([(m > 127).sum() for m in masks])
    for shape in ("cube", "sphere"):
        rows = labels[labels.character_label == shape].sort_values("character_scale")
        a = area[rows.index]
        assert a[0] < a[1] < a[2]
        # Projected area goes roughly with the square of the size.
        assert 3.5 < a[2] / a[0] < 9


def test_mask_is_centred_and_moves_with_position(tmp_path: Path) -> None:
    spec = _spec(
        classes=["sphere"],
        sampling="grid",
        factors={"position_x": [-0.4, 0.0, 0.4], "position_y": [0.0, 0.4], "scale": 0.5},
    )
    labels, masks = _masks(render_world(spec, tmp_path, workers=1, progress=False))
    centre = {}
    for (x, y), mask in zip(zip(labels.position_x, labels.position_y, strict=True), masks, strict=True):
        rows, cols = np.nonzero(mask > 127)
        centre[(x, y)] = (cols.mean(), rows.mean())
    mid = 15.5
    assert abs(centre[(0.0, 0.0)][0] - mid) < 1 and abs(centre[(0.0, 0.0)][1] - mid) < 1
    assert centre[(-0.4, 0.0)][0] < mid - 4 and centre[(0.4, 0.0)][0] > mid + 4
    assert centre[(0.0, 0.4)][1] < mid - 4  # +y is up, i.e. towards row 0


def test_tied_factors_correlate_in_labels_csv(tmp_path: Path) -> None:
    spec = _spec(
        classes=["cube", "sphere", "torus"],
        n=24,
        resolution=16,
        spp=1,
        seed=4,
        factors={
            "texture": {
                "values": ["plain", "stripes", "dots"],
                "tie_to_class": {"cube": ["stripes"], "sphere": ["dots"]},
            },
            "background": {"values": ["sky", "night"], "tie_to_class": {"torus": "night"}},
        },
    )
    labels = pd.read_csv(render_world(spec, tmp_path, workers=1, progress=False) / "labels.csv")
    by_class = labels.groupby("character_label")
    assert set(by_class.get_group("cube").character_texture) == {"stripes"}
    assert set(by_class.get_group("sphere").character_texture) == {"dots"}
    assert set(by_class.get_group("torus").world_name) == {"night"}


def test_ensure_rendered_renders_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(n=3, resolution=16, spp=1, splits={"a": {"seed": 1}, "b": {"seed": 2}})
    first = ensure_rendered(spec, "a", tmp_path, workers=1, progress=False)
    assert first.parent == tmp_path and first.name.startswith("unit-a-")
    assert (first / "labels.csv").exists()

    def no_render(*args: Any, **kwargs: Any) -> Path:
        raise AssertionError("a complete render was rendered again")

    monkeypatch.setattr(render_module, "render_world", no_render)
    assert ensure_rendered(spec, "a", tmp_path) == first
    # Another split, or an edited spec, is a different cache entry.
    monkeypatch.undo()
    other = ensure_rendered(spec, "b", tmp_path, workers=1, progress=False)
    assert other != first
    spec.splits["a"]["n"] = 2
    assert ensure_rendered(spec, "a", tmp_path, workers=1, progress=False) != first
