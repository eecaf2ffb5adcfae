"""``geode:PATH`` — GeoDE, crowd-sourced photos of 40 objects from 6 world regions.

Ramaswamy et al., "GeoDE: a Geographically Diverse Evaluation Dataset for Object Recognition" (arXiv:2301.02560,
"Beyond web-scraping: Crowd-sourcing a geographically diverse image dataset"), NeurIPS 2023 Datasets and
Benchmarks, as evaluated by Richards et al., "Does Progress On Object Recognition Benchmarks Improve Real-World
Generalization?", 2023.

The release format, as read by the authors' code (``facebookresearch/Geographic_Generalization``,
``datasets/geode.py``): ``PATH/index.csv`` with one row per image and the columns ``file_path`` (the image,
relative to ``PATH/images/``; where there is no ``images/`` folder, relative to ``PATH``), ``object`` (one of
40 objects, words joined by ``_``: ``hand_soap``, ``cooking_pot``, …), ``region`` (``Africa``, ``Americas``,
``EastAsia``, ``Europe``, ``SouthEastAsia``, ``WestAsia``) and ``ip_country`` (the contributor's country). When
``region`` is absent or empty it is derived from ``ip_country`` with the authors' table (``get_country_to_region``).

GeoDE's objects are scored against ImageNet-1k through the authors' corrected object → ImageNet index lists
(``NEW_GEODE_CLASSES_TO_IMAGENET_INDICIES``, shipped in ``label_sets/geode.json``; every index checked against
the ImageNet class names they were written from). Objects with no ImageNet class (toothbrush, toothpaste, spices,
tree) are dropped, as the authors' ``metadata_1k`` filter does (counted in
``metadata["dropped_without_imagenet_labels"]``). Each image's set is stored in the factor column
``imagenet_indices`` and the dataset sets ``external_labels: True``: the ``geography`` axis scores top-1 and
top-5 (multi-label) from the full logits. Factors: ``region``, ``country``, ``object``. An object outside the
table, or a missing image, is an error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, label_set_file
from robustscope.data.benchmarks.index_sets import format_index_set
from robustscope.errors import MissingDataError

INDEX = "index.csv"
LAYOUT = f"{INDEX} (file_path, object, region or ip_country) and images/<file_path>"


def object_name(raw: str) -> str:
    """A GeoDE object as the mapping names it: ``_`` read as a space, as the authors do.

    Example:
        >>> object_name("hand_soap")
        'hand soap'
    """
    return str(raw).replace("_", " ").strip()


def load_geode(path: str | Path, label_sets: Mapping[str, Sequence[int]] | None = None) -> Dataset:
    """Read GeoDE: label = object; per-image ImageNet index sets in ``imagenet_indices``; region and country.

    Args:
        path: the unzipped release: ``PATH/index.csv`` and ``PATH/images/...``.
        label_sets: object → ImageNet-1k indices, replacing the authors' table (objects with an empty list are
            dropped).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/images/bag")
        >>> for name in ("bag_1.jpg", "tree_1.jpg"):
        ...     Image.new("RGB", (8, 8)).save(f"{root}/images/bag/{name}")
        >>> _ = open(f"{root}/index.csv", "w").write(
        ...     "file_path,object,region,ip_country\\n"
        ...     "bag/bag_1.jpg,bag,Africa,Nigeria\\nbag/tree_1.jpg,tree,Europe,Italy\\n")
        >>> ds = load_geode(root)
        >>> ds.manifest[["path", "region", "imagenet_indices"]].values.tolist()
        [['images/bag/bag_1.jpg', 'Africa', '414;728;747;748;797']]
        >>> ds.metadata["dropped_without_imagenet_labels"]
        1
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "geode")
    csv = root / INDEX
    if not csv.is_file():
        raise MissingDataError(f"GeoDE index {csv} does not exist; expected {root}/{LAYOUT}")
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise MissingDataError(f"{csv} is not a GeoDE index ({err}); expected {LAYOUT}") from None
    table = table.loc[:, ~table.columns.str.startswith("Unnamed")]
    missing = [c for c in ("file_path", "object") if c not in table.columns]
    if missing or not ({"region", "ip_country"} & set(table.columns)):
        raise MissingDataError(
            f"{csv} has columns {list(table.columns)}; GeoDE's index.csv has file_path, object, region and ip_country"
        )
    info = label_set_file("geode")
    if label_sets is None:
        sets = {str(k): [int(i) for i in v] for k, v in info["label_sets"].items()}
    else:
        sets = {object_name(k): [int(i) for i in v] for k, v in label_sets.items()}
    classes = [c for c in sorted(sets) if sets[c]]
    index = {name: i for i, name in enumerate(classes)}
    country_region = info["region_of_country"]
    if not len(table):
        raise MissingDataError(f"{csv} has no rows")
    # The release's file_path is relative to PATH/images/; decided once, from the folder, so that a missing
    # first image is reported at the path it should be at.
    first = str(table["file_path"].iloc[0]).lstrip("/")
    base = "images/" if (root / "images").is_dir() and not first.startswith("images/") else ""
    columns: dict[str, list[Any]] = {
        k: [] for k in ("sample_id", "path", "label", "object", "region", "country", "imagenet_indices")
    }
    dropped, absent = 0, []
    for row in table.itertuples(index=False):
        file_path = str(row.file_path).lstrip("/")
        name = object_name(row.object)
        if name not in sets:
            raise MissingDataError(
                f"{csv} row {file_path!r}: object {row.object!r} is not one of GeoDE's {sorted(sets)}"
            )
        if not sets[name]:
            dropped += 1
            continue
        country = str(getattr(row, "ip_country", "") or "")
        region = str(getattr(row, "region", "") or "") or country_region.get(country.replace(" ", "_"), "")
        if not region:
            raise MissingDataError(f"{csv} row {file_path!r}: no region, and country {country!r} is not in the table")
        relative = base + file_path
        if not (root / relative).is_file():
            absent.append(relative)
        columns["sample_id"].append(file_path)
        columns["path"].append(relative)
        columns["label"].append(index[name])
        columns["object"].append(name)
        columns["region"].append(region)
        columns["country"].append(country)
        columns["imagenet_indices"].append(format_index_set(sets[name]))
    if absent:
        raise MissingDataError(
            f"{len(absent)} of {len(columns['path'])} images named in {csv} are missing, e.g. {root / absent[0]}"
        )
    metadata = {
        "benchmark": "geode",
        "external_labels": True,
        "label_space": "imagenet-1k",
        "dropped_without_imagenet_labels": dropped,
        "label_sets_source": info["source"] if label_sets is None else "label_sets argument",
    }
    return build_dataset(f"geode:{root}", root, classes, columns, metadata, LAYOUT)
