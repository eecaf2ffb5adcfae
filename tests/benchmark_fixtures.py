"""Tiny copies of every benchmark release, laid out exactly as the release is on disk.

One builder per release format, shared by the loaders' own tests (``test_data_benchmarks``, ``test_geography``,
``test_shortcuts``, ``test_pug``) and by ``test_benchmark_registry``, which loads each registered benchmark from
:data:`RELEASES`. A builder writes images with ``draw(path, said)``: plain 8×8 images by default; a test whose
model reads its decision from an image's colour passes its own ``draw``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from robustscope.data.benchmarks.pug import ANIMALS_CSV, AR4T_CSV, IMAGENET_CSV, PUG_IMAGENET_COLUMNS, SPAR_CSV
from robustscope.data.benchmarks.pug_spar import SPAR_COLUMNS
from robustscope.models.labels import imagenet_wnids

#: Writes the image at a path; the int is what a colour-reading test model should "say" for it.
Draw = Callable[[Path, int], None]


def image(path: Path, colour: tuple[int, int, int] = (90, 120, 30)) -> Path:
    """An 8×8 solid image at ``path`` (PNG for ``.png``, else JPEG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path, format="PNG" if path.suffix == ".png" else "JPEG")
    return path


def plain(path: Path, said: int = 0) -> None:
    """The default ``draw``: a plain image; nothing reads its colour."""
    image(path)


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([list(r) for r in rows], columns=list(header)).to_csv(path, index=False)
    return path


# -- ImageNet-9 ------------------------------------------------------------------------------------------
def write_in9(root: Path, variants: tuple[str, ...]) -> None:
    """``<variant>/val/<class>/<image>`` for three classes, and the release's ``fg_mask`` (not a variant)."""
    for variant in variants:
        image(root / variant / "val" / "00_dog" / "n02085620_1234.JPEG")
        image(root / variant / "val" / "02_wheeled vehicle" / "n04037443_10.JPEG")
        image(root / variant / "val" / "06_musical instrument" / "n02672831_7.JPEG")
    (root / "fg_mask" / "val" / "00_dog").mkdir(parents=True)  # present in the release, not a variant


# -- FOCUS -----------------------------------------------------------------------------------------------
FOCUS_ROWS = [
    # file_name, category, time, weather, locations, humans
    ("/dog-snow/00001.jpeg", "dog", "night", "snowing", "grass, snow", "no"),
    ("/dog-grass/00002.jpeg", "dog", "day", "sunny", "grass", "yes"),
    ("/frog-night/00003.jpeg", "frog", "night", "cloudy", "water", "no"),
    ("/ship-street/00004.jpeg", "ship", "none", "raining", "street", "no"),
    ("/plane-fog/00005.jpeg", "plane", "day", "foggy", "none", "no"),
]


def write_focus(root: Path, rows=FOCUS_ROWS, images: bool = True) -> Path:
    """``annotations.db`` (SQLite table ``annotations``) and the images it names."""
    root.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(root / "annotations.db") as connection:
        connection.execute(
            "CREATE TABLE annotations (file_name TEXT PRIMARY KEY, category TEXT, time TEXT, weather TEXT, "
            "locations TEXT, humans TEXT)"
        )
        connection.executemany("INSERT INTO annotations VALUES (?, ?, ?, ?, ?, ?)", rows)
    if images:
        for row in rows:
            image(root / row[0].lstrip("/"))
    return root


# -- UrbanCars -------------------------------------------------------------------------------------------
U, C = "urban", "country"
URBAN_RGB, COUNTRY_RGB = (220, 255, 0), (30, 255, 0)  # what test_shortcuts' probe reads as "urban" / "country"


def write_cells(folder: Path, cells: dict[tuple[str, str, str], tuple[int, int]], bg_only: bool = False) -> Path:
    """UrbanCars cell folders ``obj-{o}_bg-{b}_co_occur_obj-{c}/{i:03d}.jpg`` with the generator's two masks
    (and, for the train split, the release script's background-only copies); the first ``right`` images of
    a cell carry the colour of their object, the others of the other object."""
    for (obj, bg, co), (n, right) in cells.items():
        cell = folder / f"obj-{obj}_bg-{bg}_co_occur_obj-{co}"
        cell.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            said = obj if i < right else (C if obj == U else U)
            Image.new("RGB", (8, 8), URBAN_RGB if said == U else COUNTRY_RGB).save(cell / f"{i:03d}.jpg")
            Image.new("L", (8, 8), 255).save(cell / f"{i:03d}_mask.png")
            Image.new("L", (8, 8), 0).save(cell / f"{i:03d}_co_occur_obj_mask.png")
            if bg_only:
                Image.new("RGB", (8, 8)).save(cell / f"{i:03d}_bg_only.png")
    return folder


def write_urbancars(root: Path, test: dict[tuple[str, str, str], tuple[int, int]] | None = None) -> Path:
    """The reference generator's tree: train in ``bg-0.95_co_occur_obj-0.95``, val and test in ``bg-0.5…``."""
    one_each = {(o, b, c): (1, 1) for o in (U, C) for b in (U, C) for c in (U, C)}
    write_cells(root / "bg-0.95_co_occur_obj-0.95/train", one_each, bg_only=True)
    write_cells(root / "bg-0.5_co_occur_obj-0.5/val", one_each)
    write_cells(root / "bg-0.5_co_occur_obj-0.5/test", test or one_each)
    return root


# -- Dollar Street and GeoDE -----------------------------------------------------------------------------
#: Columns of Dollar Street's images_v2_imagenet_{test,train}.csv, in the release's order.
DS_COLUMNS = ["id", "country.id", "country.name", "region.id", "type", "imageRelPath", "topics", "place", "income",
              "imagenet_synonyms", "imagenet_sysnet_id"]  # fmt: skip


def write_dollar_street(
    folder: Path, rows: list[tuple], csv: str = "images_v2_imagenet_test.csv", draw: Draw = plain
) -> Path:
    """``dataset_dollarstreet/``: the split CSV (list columns as JSON literals) and the images under ``assets/``.

    A row is (id, country code, country, region code, income, topic, ImageNet index set, what the image says).
    """
    records = []
    for id_, code, country, region, income, topic, indices, said in rows:
        rel = f"assets/{id_}/{id_}.png"  # PNG, not the release's JPEG: lossless, so a colour code decodes
        draw(folder / rel, said)
        records.append([id_, code, country, region, "image", rel, json.dumps([topic]), "home", income,
                        json.dumps([topic]), json.dumps(indices)])  # fmt: skip
    pd.DataFrame(records, columns=DS_COLUMNS).to_csv(folder / csv, index=False)
    return folder


def write_geode(folder: Path, rows: list[tuple], draw: Draw = plain) -> Path:
    """``geode/index.csv`` (file_path, object, region, ip_country) and ``geode/images/<file_path>``.

    A row is (file_path, object, region, ip_country, what the image says).
    """
    for file_path, *_, said in rows:
        draw(folder / "images" / file_path, said)
    table = pd.DataFrame([r[:4] for r in rows], columns=["file_path", "object", "region", "ip_country"])
    table.to_csv(folder / "index.csv", index=False)
    return folder


# -- PUG -------------------------------------------------------------------------------------------------
def write_pug_imagenet(folder: Path, rows: Sequence[Sequence[object]], said: Sequence[int] = (),
                       draw: Draw = plain) -> Path:  # fmt: skip
    """``PUG_ImageNet/``: ``labels_pug_imagenet.csv`` (the release's columns, in order) and ``<filename>``."""
    for i, row in enumerate(rows):
        draw(folder / str(row[0]), said[i] if said else 0)
    return write_csv(folder / IMAGENET_CSV, PUG_IMAGENET_COLUMNS, rows).parent


#: PUG:Animals' CSV columns (as two third-party loaders of the release read them; see robustscope.data.benchmarks.pug).
ANIMALS_HEADER = ["filename", "world_name", "character_name", "character_scale", "character_texture", "camera_yaw"]


def write_pug_animals(folder: Path, rows: Sequence[Sequence[object]], said: Sequence[int] = (),
                      draw: Draw = plain) -> Path:  # fmt: skip
    """``PUG_Animal/``: ``labels_pug_animal.csv`` (:data:`ANIMALS_HEADER`) and ``<character_name>/<filename>``."""
    for i, row in enumerate(rows):
        draw(folder / str(row[2]) / str(row[0]), said[i] if said else 0)
    return write_csv(folder / ANIMALS_CSV, ANIMALS_HEADER, rows).parent


def write_pug_spar(folder: Path, rows: Sequence[Sequence[object]], said: Sequence[int] = (),
                   draw: Draw = plain) -> Path:  # fmt: skip
    """``PUG_SPAR/``: ``labels.csv`` (the columns the authors' evaluation reads) and ``<filename>``."""
    for i, row in enumerate(rows):
        draw(folder / str(row[0]), said[i] if said else 0)
    return write_csv(folder / SPAR_CSV, SPAR_COLUMNS, rows).parent


AR4T_HEADER = ["filepath", "Actor1Category", "Level", "caption"]


def write_pug_ar4t(folder: Path, rows: Sequence[Sequence[object]], split: str = "test", draw: Draw = plain) -> Path:
    """``PUG_AR4T/``: ``PUG_ARmerged_<split>.csv`` (:data:`AR4T_HEADER`) and ``<filepath>``."""
    for row in rows:
        draw(folder / str(row[0]), 0)
    return write_csv(folder / AR4T_CSV.format(split=split), AR4T_HEADER, rows).parent


# -- one release of every registered benchmark -----------------------------------------------------------
@dataclass(frozen=True)
class Release:
    """A benchmark written by :data:`RELEASES`: the spec values after PATH that read it, and its sample count."""

    extras: str  # ":"-prefixed spec values after PATH ("" for none), exercising the scheme's extras
    samples: int


def _wnid_tree(root: Path, wnids: Sequence[str], name: str = "ILSVRC2012_val_00000001.JPEG") -> None:
    for wnid in wnids:
        image(root / wnid / name)


def _imagenet_val(root: Path) -> Release:
    _wnid_tree(root, [imagenet_wnids()[0], imagenet_wnids()[999]])
    return Release("", 2)


def _imagenet_v2(root: Path) -> Release:
    image(root / "0" / "7e3b5cbd.jpeg")
    image(root / "999" / "0a1b.jpeg")
    return Release("", 2)


def _imagenet_sketch(root: Path) -> Release:
    _wnid_tree(root, ["n01443537"], "sketch_12.JPEG")
    return Release("", 1)


def _imagenet_r(root: Path) -> Release:
    _wnid_tree(root, ["n01443537"], "art_1.jpg")  # goldfish, one of ImageNet-R's 200 classes
    return Release("", 1)


def _imagenet_a(root: Path) -> Release:
    _wnid_tree(root, ["n01498041"], "0.jpg")  # stingray, one of ImageNet-A's 200 classes
    return Release("", 1)


def _cue_conflict(root: Path) -> Release:
    image(root / "cat" / "cat1-elephant1.png")
    image(root / "knife" / "knife10-bicycle2.png")
    return Release("", 2)


def _imagenet_9(root: Path) -> Release:
    write_in9(root, ("original", "mixed_rand"))
    return Release(":mixed_rand", 3)


def _focus(root: Path) -> Release:
    write_focus(root)
    return Release("", len(FOCUS_ROWS))


def _urbancars(root: Path) -> Release:
    write_urbancars(root)
    return Release(":val", 8)


def _corruptions(root: Path) -> Release:
    for corruption in ("fog", "near_focus"):
        for severity in (1, 3):
            image(root / corruption / str(severity) / imagenet_wnids()[0] / "ILSVRC2012_val_00000293.JPEG")
    return Release(":fog:3", 1)


def _ood_folder(root: Path) -> Release:
    image(root / "0a1b2c.jpg")
    image(root / "banded" / "banded_0002.jpg")
    return Release("", 2)


def _dollar_street(root: Path) -> Release:
    rows = [
        ("d1", "bf", "Burkina Faso", "af", 27.0, "toothbrush", [409, 530], 530),
        ("d2", "fr", "France", "eu", 2500.0, "sofa", [500, 501], 501),
    ]
    write_dollar_street(root, rows)
    write_dollar_street(root, rows[:1], csv="images_v2_imagenet_train.csv")
    return Release(":train", 1)


def _geode(root: Path) -> Release:
    write_geode(root, [("bag/bag_000.png", "bag", "Africa", "Nigeria", 0), ("candle/c.png", "candle", "", "Italy", 0)])
    return Release(":all", 2)


def _pug_imagenet(root: Path) -> Release:
    default = ["Default"] * 9
    write_pug_imagenet(root, [["a.png", "Desert", "goldfish_01", "Goldfish", *default],
                              ["b.png", "Forest", "bear_01", "Bear", *default]])  # fmt: skip
    return Release("", 2)


def _pug_animals(root: Path) -> Release:
    write_pug_animals(root, [["e.png", "Desert", "Elephant", "1", "Default", "0"],
                             ["p.png", "Lake", "Penguin", "2", "Default", "0"]])  # fmt: skip
    return Release("", 2)


def _pug_spar(root: Path) -> Release:
    write_pug_spar(root, [["s1.png", "Desert", "Cat", "blank", "left", "Default", "Default"],
                          ["s2.png", "Lake", "Dog", "blank", "left", "Default", "Default"]])  # fmt: skip
    return Release(":single:Default", 2)


def _pug_ar4t(root: Path) -> Release:
    write_pug_ar4t(root, [["val/0.png", "lamp", "1", "A lamp"]], split="val")
    return Release(":val", 1)


#: Dataset scheme → a builder that writes a small copy of the release at a folder (made for it) and says how to
#: read it. ``test_benchmark_registry`` checks that every registered benchmark has one.
RELEASES: dict[str, Callable[[Path], Release]] = {
    "imagenet-val": _imagenet_val,
    "imagenet-v2": _imagenet_v2,
    "imagenet-sketch": _imagenet_sketch,
    "imagenet-r": _imagenet_r,
    "imagenet-a": _imagenet_a,
    "cue-conflict": _cue_conflict,
    "imagenet-9": _imagenet_9,
    "focus": _focus,
    "urbancars": _urbancars,
    "imagenet-c": _corruptions,
    "imagenet-3dcc": _corruptions,
    "ood-folder": _ood_folder,
    "dollar-street": _dollar_street,
    "geode": _geode,
    "pug-imagenet": _pug_imagenet,
    "pug-animals": _pug_animals,
    "pug-spar": _pug_spar,
    "pug-ar4t": _pug_ar4t,
}
