"""``geode:PATH[:SPLIT]`` — GeoDE, crowd-sourced photos of 40 objects from 6 world regions.

Ramaswamy et al., "GeoDE: a Geographically Diverse Evaluation Dataset for Object Recognition" (arXiv:2301.02560,
"Beyond web-scraping: Crowd-sourcing a geographically diverse image dataset"), NeurIPS 2023 Datasets and
Benchmarks, as evaluated by Richards et al., "Does Progress On Object Recognition Benchmarks Improve Real-World
Generalization?", 2023 (code: ``facebookresearch/Geographic_Generalization``, ``datasets/geode.py``).

The release: ``PATH/index.csv`` with one row per image and the columns ``file_path`` (the image, relative to
``PATH/images/``; where there is no ``images/`` folder, relative to ``PATH``), ``object`` (one of 40 objects,
words joined by ``_``: ``hand_soap``, ``cooking_pot``, …), ``region`` (``Africa``, ``Americas``, ``EastAsia``,
``Europe``, ``SouthEastAsia``, ``WestAsia``) and ``ip_country``. When ``region`` is absent or empty it is derived
from ``ip_country`` with the authors' table (``get_country_to_region``).

Splits (``SPLIT``): the authors evaluate a held-out test split, ``metadata_test_1k_final.csv`` — rows of
``index.csv`` (a 60/20/20 ``train_test_split`` with ``random_state=42``, then filtered to objects with an ImageNet
class) plus a ``1k_index`` column, each image's ImageNet-1k index list. Their ``download_data.py`` puts it at
``PATH/metadata_test_1k_final.csv`` (the repository ships it as ``data/metadata_test_1k_final.csv``). ``test``
reads it (from ``PATH``, also under the name ``geode_metadata_test_1k_final.csv``); ``all`` reads every row of
``index.csv``; without ``SPLIT`` it is ``test`` when that file is in ``PATH`` and ``all`` otherwise
(``metadata["split"]`` says which).

GeoDE's objects are scored against ImageNet-1k through the ``1k_index`` column where the CSV has one (the
authors' own per-image lists), and otherwise through the authors' final object → ImageNet map,
``GEODE_CLASSES_TO_IMAGENET_INDICIES`` (``label_sets/geode.json``, whose ``_source`` cites repository, commit and
path). Objects with no ImageNet class (toothbrush, toothpaste, hairbrush/comb, spices, tree, stall) are dropped, as
the authors' ``add_indexes_and_filter_by_1k`` does (counted in ``metadata["dropped_without_imagenet_labels"]``).
Each image's set is stored in the factor column ``imagenet_indices`` and the dataset sets ``external_labels:
True``: the ``geography`` axis scores top-1 and top-5 (multi-label) from the full logits. Factors: ``region``,
``country``, ``object``. An object outside the map (where there is no ``1k_index``), or a missing image, is an
error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, label_set_file
from robustscope.data.benchmarks.index_sets import format_index_set, parse_index_set
from robustscope.errors import MissingDataError, SpecError

INDEX = "index.csv"
#: The authors' test split (``metadata_test_1k_final.csv``), by the name their ``download_data.py`` gives it in the
#: GeoDE folder and by the name it has in the release zip before that move.
TEST_SPLIT_FILES = ("metadata_test_1k_final.csv", "geode_metadata_test_1k_final.csv")
#: The column of the authors' metadata CSVs holding each image's ImageNet-1k index list.
PER_IMAGE_COLUMN = "1k_index"
LAYOUT = f"{INDEX} (file_path, object, region or ip_country) and images/<file_path>"


def object_name(raw: str) -> str:
    """A GeoDE object as the mapping names it: ``_`` read as a space, as the authors do.

    Example:
        >>> object_name("hand_soap")
        'hand soap'
    """
    return str(raw).replace("_", " ").strip()


def find_test_split(root: Path) -> Path | None:
    """The authors' test-split CSV in a GeoDE folder, under either of its names, or None.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> find_test_split(root) is None
        True
        >>> _ = (root / "metadata_test_1k_final.csv").write_text("file_path,object,region,1k_index\\n")
        >>> find_test_split(root).name
        'metadata_test_1k_final.csv'
    """
    for name in TEST_SPLIT_FILES:
        if (root / name).is_file():
            return root / name
    return None


def _read_table(csv: Path) -> pd.DataFrame:
    """A GeoDE CSV as text columns, without the unnamed index column the authors' CSVs start with."""
    try:
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise MissingDataError(f"{csv} is not a GeoDE index ({err}); expected {LAYOUT}") from None
    table = table.loc[:, ~table.columns.str.startswith("Unnamed")]
    missing = [c for c in ("file_path", "object") if c not in table.columns]
    if missing or not ({"region", "ip_country"} & set(table.columns)):
        raise MissingDataError(
            f"{csv} has columns {list(table.columns)}; GeoDE's index.csv has file_path, object, region and ip_country"
        )
    if not len(table):
        raise MissingDataError(f"{csv} has no rows")
    return table


def _split_csv(root: Path, split: str | None) -> tuple[Path, str]:
    """The CSV to read and the split's name: the authors' test split, or every row of ``index.csv``."""
    test = find_test_split(root)
    if split is None:
        split = "test" if test is not None else "all"
    if split == "test":
        if test is None:
            raise MissingDataError(
                f"GeoDE test split {root / TEST_SPLIT_FILES[0]} does not exist: copy the authors' "
                "data/metadata_test_1k_final.csv (facebookresearch/Geographic_Generalization) there, or use "
                f"geode:{root}:all for every image of index.csv"
            )
        return test, split
    if split != "all":
        raise SpecError(f"geode split {split!r}: use test (the authors' metadata_test_1k_final.csv) or all")
    csv = root / INDEX
    if not csv.is_file():
        raise MissingDataError(f"GeoDE index {csv} does not exist; expected {root}/{LAYOUT}")
    return csv, split


def load_geode(
    path: str | Path, split: str | None = None, label_sets: Mapping[str, Sequence[int]] | None = None
) -> Dataset:
    """Read GeoDE: label = object; per-image ImageNet index sets in ``imagenet_indices``; region and country.

    Args:
        path: the unzipped release: ``PATH/index.csv`` and ``PATH/images/...`` (and the authors'
            ``metadata_test_1k_final.csv`` if you have it).
        split: ``test`` (the authors' test CSV), ``all`` (every row of ``index.csv``), or None: ``test`` when
            the test CSV is in ``PATH``, else ``all``.
        label_sets: object → ImageNet-1k indices, replacing the authors' map and any ``1k_index`` column
            (objects with an empty list are dropped).

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
        [['images/bag/bag_1.jpg', 'Africa', '414;636;709;728;747;748;790;797']]
        >>> ds.metadata["dropped_without_imagenet_labels"], ds.metadata["split"]
        (1, 'all')
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "geode")
    csv, split = _split_csv(root, split)
    table = _read_table(csv)
    info = label_set_file("geode")
    if label_sets is None:
        sets = {str(k): [int(i) for i in v] for k, v in info["label_sets"].items()}
    else:
        sets = {object_name(k): [int(i) for i in v] for k, v in label_sets.items()}
    # The authors' per-image lists win over the map where the CSV carries them (their metadata CSVs do).
    per_image = label_sets is None and PER_IMAGE_COLUMN in table.columns
    country_region = info["region_of_country"]
    # The release's file_path is relative to PATH/images/; decided once, from the folder, so that a missing
    # first image is reported at the path it should be at.
    first = str(table["file_path"].iloc[0]).lstrip("/")
    base = "images/" if (root / "images").is_dir() and not first.startswith("images/") else ""
    columns: dict[str, list[Any]] = {
        k: [] for k in ("sample_id", "path", "object", "region", "country", "imagenet_indices")
    }
    dropped, absent = 0, []
    # Records, not itertuples: "1k_index" is not an identifier, so a namedtuple would rename it.
    for row in table.to_dict("records"):
        file_path = str(row["file_path"]).lstrip("/")
        name = object_name(row["object"])
        if per_image:
            try:
                indices = sorted(parse_index_set(row[PER_IMAGE_COLUMN]))
            except (ValueError, SyntaxError):
                raise MissingDataError(
                    f"{csv} row {file_path!r}: {PER_IMAGE_COLUMN} {row[PER_IMAGE_COLUMN]!r} is not a list "
                    "of ImageNet indices like [414, 748]"
                ) from None
        elif name in sets:
            indices = sets[name]
        else:
            raise MissingDataError(
                f"{csv} row {file_path!r}: object {row['object']!r} is not one of GeoDE's {sorted(sets)}"
            )
        if not indices:
            dropped += 1
            continue
        country = str(row.get("ip_country", "") or "")
        region = str(row.get("region", "") or "") or country_region.get(country.replace(" ", "_"), "")
        if not region:
            raise MissingDataError(f"{csv} row {file_path!r}: no region, and country {country!r} is not in the table")
        relative = base + file_path
        if not (root / relative).is_file():
            absent.append(relative)
        columns["sample_id"].append(file_path)
        columns["path"].append(relative)
        columns["object"].append(name)
        columns["region"].append(region)
        columns["country"].append(country)
        columns["imagenet_indices"].append(format_index_set(indices))
    if absent:
        raise MissingDataError(
            f"{len(absent)} of {len(columns['path'])} images named in {csv} are missing, e.g. {root / absent[0]}"
        )
    # Label = object, indexed over the map's objects with a set (stable across splits) and any further object
    # the CSV's own lists give a set to.
    classes = sorted({c for c, v in sets.items() if v} | set(columns["object"]))
    index = {name: i for i, name in enumerate(classes)}
    columns["label"] = [index[name] for name in columns["object"]]
    if label_sets is not None:
        source = "label_sets argument"
    elif per_image:
        source = f"{PER_IMAGE_COLUMN} column of {csv.name} (the authors' per-image lists)"
    else:
        source = info["source"]
    metadata = {
        "benchmark": "geode",
        "external_labels": True,
        "label_space": "imagenet-1k",
        "split": split,
        "split_file": csv.name,
        "dropped_without_imagenet_labels": dropped,
        "label_sets_source": source,
    }
    return build_dataset(f"geode:{root}:{split}", root, classes, columns, metadata, LAYOUT)
