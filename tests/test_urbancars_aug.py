"""UrbanCars' LLE augmentations (Whac-A-Mole's ``UrbanCarsAug`` and ``LLETrainer``'s composition), on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robustscope.data.benchmarks.urbancars import cell_folders, load_urbancars
from robustscope.errors import OptionError
from robustscope.mitigate.urbancars_aug import UrbanCarsAugError, materialise_urbancars_aug

U, C = "urban", "country"
#: Markers: a background-only image's green says its image's object class; a co-occurring object's blue, too.
BG_GREEN = {U: 200, C: 40}
CO_BLUE = {U: 230, C: 20}
BG_BLUE = 128  # never a CO_BLUE value: a background pixel is never mistaken for a co-occurring object's


def _write_train(root: Path, per_cell: int = 2, bg_only: bool = True) -> Path:
    """A release-layout train split of 8×8 PNGs: per image, random pixels, an object mask (a rectangle that moves
    with the image's index, one soft pixel), a co-occurring object mask (rows 3–5, columns 6–7, one soft pixel)
    where the image's blue is CO_BLUE[object], and a background-only image whose green is BG_GREEN[object]."""
    folder = root / "bg-0.95_co_occur_obj-0.95" / "train"
    rng = np.random.default_rng(7)
    for cell in cell_folders():
        obj = cell.split("_")[0].removeprefix("obj-")
        (folder / cell).mkdir(parents=True)
        for i in range(per_cell):
            mask = np.zeros((8, 8), np.uint8)
            mask[1:6, 1 + i % 2 : 5 + i % 2] = 255
            mask[1, 1 + i % 2] = 128
            co_mask = np.zeros((8, 8), np.uint8)
            co_mask[3:6, 6:8] = 255
            co_mask[3, 6] = 128
            image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            image[3:6, 6:8, 2] = CO_BLUE[obj]
            plate = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            plate[..., 1], plate[..., 2] = BG_GREEN[obj], BG_BLUE
            Image.fromarray(image).save(folder / cell / f"{i:03d}.png")
            Image.fromarray(mask).save(folder / cell / f"{i:03d}_mask.png")
            Image.fromarray(co_mask).save(folder / cell / f"{i:03d}_co_occur_obj_mask.png")
            if bg_only:
                Image.fromarray(plate).save(folder / cell / f"{i:03d}_bg_only.png")
    return folder


def _pixels(path: Path, grey: bool = False) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L" if grey else "RGB"), np.float64) / 255


def _expected(train_root: Path, row: dict) -> np.ndarray:
    """The reference's composition written out, from the source files the manifest names and its flips."""

    def part(sample_id: str, suffix: str, flip: int, grey: bool = False) -> np.ndarray:
        array = _pixels(train_root / (sample_id.rsplit(".", 1)[0] + suffix), grey)
        return array[:, ::-1] if flip else array

    obj_img, obj_mask = part(row["source"], ".png", row["flip_object"]), part(row["source"], "_mask.png",
                                                                               row["flip_object"], True)  # fmt: skip
    bg = part(row["bg_source"], "_bg_only.png", row["flip_background"])
    co_img = part(row["co_occur_source"], ".png", row["flip_co_occur"])
    co_mask = part(row["co_occur_source"], "_co_occur_obj_mask.png", row["flip_co_occur"], True)
    img_w_co_obj = co_img * co_mask[..., None] + bg * (1 - co_mask[..., None])
    mixed = obj_img * obj_mask[..., None] + img_w_co_obj * (1 - obj_mask[..., None])
    return np.round(mixed * 255)


@pytest.fixture()
def train(tmp_path: Path):
    return load_urbancars(_write_train(tmp_path / "urbancars"), "train")


def test_composed_pixels_follow_the_reference_formula(train, tmp_path: Path) -> None:
    aug = materialise_urbancars_aug(train, "bg", copies=3, seed=1, root=tmp_path / "aug", progress=False)
    assert len(aug) == 3 * len(train) == 48 and aug.classes == [U, C]
    flips = aug.manifest[["flip_object", "flip_background", "flip_co_occur"]].to_numpy()
    assert 0 < flips.mean() < 1 and len({tuple(f) for f in flips}) > 4  # each part is flipped, independently
    for row in aug.manifest.to_dict("records"):
        got = np.asarray(Image.open(aug.root / row["path"]), np.float64)
        expected = _expected(Path(train.root), row)
        assert np.abs(got - expected).max() <= 1  # float32 in the module, float64 here: a rounding apart at most
        exact = (np.abs(got - expected) == 0).mean()
        assert exact > 0.95, exact


@pytest.mark.parametrize(("mode", "bg_from", "co_from"), [("bg", "other", "same"), ("co_occur_obj", "same", "other"),
                                                           ("both", "other", "other")])  # fmt: skip
def test_each_mode_draws_background_and_co_object_from_the_right_class(train, tmp_path: Path, mode: str,
                                                                       bg_from: str, co_from: str) -> None:  # fmt: skip
    aug = materialise_urbancars_aug(train, mode, copies=2, root=tmp_path / "aug", progress=False)
    assert set(aug.manifest["dist_shift"]) == {{"bg": 1, "co_occur_obj": 2, "both": 3}[mode]}
    objects = dict(zip(train.manifest["sample_id"], train.manifest["object"], strict=True))
    for row in aug.manifest.to_dict("records"):
        obj = row["object"]
        assert obj == objects[row["source"]] and aug.classes[row["label"]] == obj
        other = C if obj == U else U
        want_bg, want_co = (obj if bg_from == "same" else other), (obj if co_from == "same" else other)
        pixels = np.asarray(Image.open(aug.root / row["path"]))
        # rows 0 and 7 are background whatever the flips: the plate's green names its image's object class
        assert set(pixels[[0, 7], :, 1].ravel()) == {BG_GREEN[want_bg]}
        # the co-occurring object shows at column 7 (or 0 when flipped); the other end is background
        assert sorted({int(pixels[4, 0, 2]), int(pixels[4, 7, 2])}) == sorted({CO_BLUE[want_co], BG_BLUE})
        assert objects[row["bg_source"]] == want_bg and objects[row["co_occur_source"]] == want_co
        background = dict(zip(train.manifest["sample_id"], train.manifest["background"], strict=True))
        assert row["background"] == background[row["bg_source"]]


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_same_seed_same_files_and_a_finished_folder_is_reused(train, tmp_path: Path) -> None:
    first = materialise_urbancars_aug(train, "co_occur_obj", seed=3, root=tmp_path / "a", progress=False)
    second = materialise_urbancars_aug(train, "co_occur_obj", seed=3, root=tmp_path / "b", progress=False)
    assert first.root.name == second.root.name and _digests(first.root) == _digests(second.root)
    other = materialise_urbancars_aug(train, "co_occur_obj", seed=4, root=tmp_path / "a", progress=False)
    assert other.root != first.root and _digests(other.root) != _digests(first.root)
    stamp = (first.root / "manifest.csv").stat().st_mtime_ns
    again = materialise_urbancars_aug(train, "co_occur_obj", seed=3, root=tmp_path / "a", progress=False)
    assert again.root == first.root and (first.root / "manifest.csv").stat().st_mtime_ns == stamp
    assert again.manifest.equals(first.manifest)
    # a changed background plate is a different source: a new folder
    plate = Path(train.root) / train.manifest["path"][0].replace(".png", "_bg_only.png")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(plate)
    changed = materialise_urbancars_aug(train, "co_occur_obj", seed=3, root=tmp_path / "a", progress=False)
    assert changed.root != first.root


def test_missing_background_only_images_raise_a_clear_error(tmp_path: Path) -> None:
    train = load_urbancars(_write_train(tmp_path / "urbancars", bg_only=False), "train")
    with pytest.raises(UrbanCarsAugError, match=r"000_bg_only\.png is missing \(16 of 16 .*urbancars_aug_gen_bg_only"):
        materialise_urbancars_aug(train, "bg", root=tmp_path / "aug", progress=False)
    assert not (tmp_path / "aug").exists()
    with pytest.raises(OptionError, match="choose one of"):
        materialise_urbancars_aug(train, "texture", root=tmp_path / "aug", progress=False)


def test_the_synthetic_build_writes_background_plates_for_the_train_split(tmp_path: Path) -> None:
    from robustscope.synth.urbancars import build_synthetic_urbancars

    root = build_synthetic_urbancars("tiny", tmp_path / "renders", sizes={"train": 20, "val": 4, "test": 4},
                                     pool={"train": 2, "val": 2, "test": 2}, workers=1, progress=False)  # fmt: skip
    train = load_urbancars(root, "train")  # the loader skips the plates: they are not images of the set
    assert not train.manifest["path"].str.contains("bg_only").any()
    plates = sorted(root.rglob("*_bg_only.png"))
    assert len(plates) == len(train) and all("/train/" in p.as_posix() for p in plates)
    for i in range(0, len(train), 5):  # outside both masks the image is its plate (up to JPEG at quality 95)
        row = train.manifest.iloc[i]
        image = _pixels(train.root / row["path"])
        plate = _pixels(train.root / row["path"].replace(".jpg", "_bg_only.png"))
        free = (_pixels(train.root / row["mask_filename"], True) == 0) & (
            _pixels(train.root / row["co_occur_obj_mask_filename"], True) == 0)  # fmt: skip
        assert free.mean() > 0.3 and np.abs(image - plate)[free].mean() < 0.03
        assert np.abs(image - plate)[~free].mean() > 2 * np.abs(image - plate)[free].mean()
    aug = materialise_urbancars_aug(train, "bg", root=tmp_path / "aug", progress=False)
    assert len(aug) == len(train) and Image.open(aug.image_path(0)).size == (32, 32)
