"""``dollar-street:PATH[:SPLIT]`` — Dollar Street, household objects photographed across incomes and countries.

Gaviria Rojas et al., "The Dollar Street Dataset: Images Representing the Geographic and Socioeconomic Diversity
of the World", NeurIPS 2022 Datasets and Benchmarks (MLCommons release on Kaggle,
``mlcommons/the-dollar-street-dataset``), as evaluated by Richards et al., "Does Progress On Object Recognition
Benchmarks Improve Real-World Generalization?", 2023.

The release format, as read by the authors' code (``facebookresearch/Geographic_Generalization``,
``datasets/dollarstreet_kaggle.py``) and by the Hugging Face copy ``nlphuji/dollar_street_test``: a folder
``dataset_dollarstreet/`` with ``images_v2.csv`` (every image), ``images_v2_imagenet_test.csv`` and
``images_v2_imagenet_train.csv`` (the images whose topics map to ImageNet-1k), and the images under the paths
the CSVs name. The ImageNet CSVs' columns are::

    id, country.id, country.name, region.id, type, imageRelPath, topics, place, income,
    imagenet_synonyms, imagenet_sysnet_id

``imageRelPath`` is relative to the folder; ``topics`` and ``imagenet_synonyms`` are list literals of strings;
``imagenet_sysnet_id`` — despite its name — is a list literal of ImageNet-1k *indices* (0 … 999), the set any of
which counts as correct (the authors: ``literal_eval``, then ``len(set(labels) & set(topk)) > 0``). ``income``
is the household's monthly income per person (USD, PPP). The split is ``test`` (default; 4,308 images, the one
Richards et al. evaluate) or ``train``, or the name of another CSV in the folder.

Each image's index set goes to the factor column ``imagenet_indices`` (``;``-joined) and the dataset sets
``external_labels: True``: the ``geography`` axis scores it from the full logits (top-1 and top-5, multi-label).
The label is the image's first Dollar Street topic. Other factors: ``region`` (``region.id`` codes mapped to
names where known, see ``label_sets/dollar_street.json``), ``country``, ``country_id``, ``income``,
``income_group`` (the authors' right-closed bins at 195 / 685 / 1963 USD → ``low``, ``low-mid``, ``mid-high``,
``high``, from ``categorize_income`` in their paper-time ``datasets/dollarstreet_kaggle.py``, commit 983f5faf;
``income_bins`` takes other edges or ``"quartiles"`` of the loaded split; the edges used are
``metadata["income_edges"]``), ``place``, ``topics``, ``imagenet_synonyms``.

Assumptions: images whose index set is empty are dropped (they can never be correct; counted in
``metadata["dropped_without_imagenet_labels"]``); a missing image file is an error naming it.

Factor annotations (Gustafson et al. 2023, ``facebookresearch/dollarstreet_factors``): a CSV with 0/1 factor
columns (the release's 16, ``texture``, ``darker``, …, listed in ``label_sets/dollar_street.json``) and an image
key, joined as ``factor_<name>`` columns (NaN for images without annotations). It is the ``factors`` argument, or
``PATH/DollarStreetFactors.csv`` (the release's file name) when that file is in the folder. The key is whichever
of ``id``, ``image_id``, ``full_image_id`` matches the most loaded ``id``\\ s. Rows whose ``can_i_rate_this_job``
is ``"no"`` (the annotator could not rate the image) are dropped first, as the authors' ``Annotations`` class does
(``annotations.py``; counted in ``metadata["factor_annotations_unrated"]``). The released file was made on the
Dollar Street version of the VISSL fairness indicators (keyed by image URL), so where none matches the loader
stops and says so: map the annotations to this release's ``id``\\ s first. How many images got annotations is
``metadata["factor_annotations"]``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, label_set_file
from robustscope.data.benchmarks.index_sets import (
    format_index_set,
    income_edges_for,
    income_group,
    parse_index_set,
)
from robustscope.errors import MissingDataError, SpecError

#: The factor annotation file looked for in the Dollar Street folder (Gustafson et al. 2023's release name).
FACTORS_FILE = "DollarStreetFactors.csv"
#: The annotation column whose ``"no"`` marks a row the annotator could not rate (dropped, as the authors do).
UNRATED_COLUMN = "can_i_rate_this_job"
#: Columns of a factor annotation CSV that may hold this release's image ids, in the order tried.
FACTOR_KEYS = ("id", "image_id", "full_image_id")
#: The columns the loader needs in a split CSV.
REQUIRED_COLUMNS = ("id", "country.name", "region.id", "imageRelPath", "topics", "income", "imagenet_sysnet_id")
SPLITS = {"test": "images_v2_imagenet_test.csv", "train": "images_v2_imagenet_train.csv"}
LAYOUT = "images_v2_imagenet_test.csv (id, country.name, region.id, imageRelPath, topics, income, imagenet_sysnet_id) and the images it names"  # noqa: E501


def _string_list(value: Any) -> list[str]:
    """A list-literal column (``"['a', 'b']"`` or JSON) as a list of strings; a bare string is one item."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            return [str(v) for v in ast.literal_eval(text)]
    return [text] if text else []


def split_csv(root: Path, split: str) -> Path:
    """The CSV of ``split`` (``test``, ``train`` or a CSV file name) in a Dollar Street folder.

    Example:
        >>> split_csv(Path("/data/dataset_dollarstreet"), "test").name
        'images_v2_imagenet_test.csv'
    """
    name = SPLITS.get(split, split)
    if not name.endswith(".csv"):
        raise SpecError(f"dollar-street split {split!r}: use test, train or the name of a CSV in the folder")
    return root / name


def region_name(region_id: str, names: dict[str, str] | None = None) -> str:
    """The region of a ``region.id``: the two-letter codes mapped to names, anything else kept.

    Example:
        >>> region_name("af"), region_name("Europe")
        ('Africa', 'Europe')
    """
    table = names if names is not None else label_set_file("dollar_street")["region_names"]
    text = str(region_id).strip()
    return table.get(text.lower(), text)


def load_dollar_street(
    path: str | Path,
    split: str = "test",
    income_bins: str | Sequence[float] = "authors",
    factors: str | Path | None = None,
) -> Dataset:
    """Read a Dollar Street split: label = first topic; per-image ImageNet index sets in ``imagenet_indices``.

    Args:
        path: the ``dataset_dollarstreet`` folder (the split CSVs and the images they name).
        split: ``test`` (``images_v2_imagenet_test.csv``), ``train``, or a CSV file name in ``path``.
        income_bins: ``authors`` (Richards et al.'s right-closed bins at 195 / 685 / 1963 USD per person per month;
            ``paper`` is the same), ``quartiles`` (of this split), or three increasing edges.
        factors: CSV of factor annotations (an image key + 0/1 factor columns) to join as ``factor_*``; default
            ``PATH/DollarStreetFactors.csv`` if it exists.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/assets/a1")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/assets/a1/a1.jpg")
        >>> _ = open(f"{root}/images_v2_imagenet_test.csv", "w").write(
        ...     "id,country.id,country.name,region.id,type,imageRelPath,topics,place,income,imagenet_synonyms,"
        ...     "imagenet_sysnet_id\\n"
        ...     "a1,bf,Burkina Faso,af,image,assets/a1/a1.jpg,\\"['toothbrush']\\",rural,93.0,\\"['toothbrush']\\","
        ...     "\\"[409, 530]\\"\\n")
        >>> ds = load_dollar_street(root)
        >>> ds.manifest[["region", "income_group", "imagenet_indices"]].values.tolist(), ds.metadata["external_labels"]
        ([['Africa', 'low', '409;530']], True)
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "dollar-street")
    csv = split_csv(root, split)
    if not csv.is_file():
        present = sorted(p.name for p in root.glob("*.csv"))
        raise MissingDataError(
            f"Dollar Street split file {csv} does not exist (CSV files there: {present}); expected {root}/{LAYOUT}"
        )
    try:
        # Everything as text, no NA parsing: a country code like "na" (Namibia) must stay a string.
        table = pd.read_csv(csv, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise MissingDataError(f"{csv} is not a Dollar Street CSV ({err}); expected {LAYOUT}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise MissingDataError(f"{csv} lacks column(s) {missing}; a Dollar Street split has {list(REQUIRED_COLUMNS)}")
    table = table.loc[:, ~table.columns.str.startswith("Unnamed")]
    sets = [parse_index_set(v) for v in table["imagenet_sysnet_id"]]
    keep = np.array([bool(s) for s in sets])
    dropped = int((~keep).sum())
    table = table[keep].reset_index(drop=True)
    sets = [s for s, k in zip(sets, keep, strict=True) if k]
    if table["id"].duplicated().any():
        raise MissingDataError(f"{csv}: duplicate image ids, e.g. {table['id'][table['id'].duplicated()].iloc[0]!r}")
    topics = [_string_list(v) for v in table["topics"]]
    synonyms = [_string_list(v) for v in table.get("imagenet_synonyms", pd.Series([""] * len(table)))]
    names = [t[0] if t else (s[0] if s else "unknown") for t, s in zip(topics, synonyms, strict=True)]
    classes = sorted(set(names))
    index = {name: i for i, name in enumerate(classes)}
    income = pd.to_numeric(table["income"], errors="coerce").to_numpy(dtype=np.float64)
    info = label_set_file("dollar_street")
    if income_bins in ("authors", "paper"):
        edges = tuple(float(e) for e in info["income_edges"])  # the shipped, cited copy of PAPER_INCOME_EDGES
    else:
        edges = income_edges_for(income_bins, income)
    relative = table["imageRelPath"].astype(str).str.lstrip("/").tolist()
    absent = [r for r in relative if not (root / r).is_file()]
    if absent:
        raise MissingDataError(
            f"{len(absent)} of {len(relative)} images named in {csv} are missing, e.g. {root / absent[0]}"
        )
    columns: dict[str, list[Any]] = {
        "sample_id": table["id"].astype(str).tolist(),
        "path": relative,
        "label": [index[n] for n in names],
        "region": [region_name(r, info["region_names"]) for r in table["region.id"].astype(str)],
        "region_id": table["region.id"].astype(str).tolist(),
        "country": table["country.name"].astype(str).tolist(),
        "country_id": table.get("country.id", pd.Series([""] * len(table))).astype(str).tolist(),
        "income": income.tolist(),
        "income_group": income_group(income, edges, info["income_groups"]),
        "place": table.get("place", pd.Series([""] * len(table))).fillna("").astype(str).tolist(),
        "topics": [";".join(t) for t in topics],
        "imagenet_synonyms": [";".join(s) for s in synonyms],
        "imagenet_indices": [format_index_set(s) for s in sets],
    }
    if factors is None and (root / FACTORS_FILE).is_file():
        factors = root / FACTORS_FILE
    annotated, unrated = 0, 0
    if factors is not None:
        joined, unrated = _factor_columns(Path(factors).expanduser(), columns["sample_id"])
        annotated = int(pd.DataFrame(joined).notna().all(axis=1).sum())
        columns.update(joined)
    metadata = {
        "benchmark": "dollar-street",
        "external_labels": True,
        "label_space": "imagenet-1k",
        "split": split,
        "income_bins": income_bins if isinstance(income_bins, str) else "custom",
        "income_edges": list(edges),
        "dropped_without_imagenet_labels": dropped,
        "factor_annotations": annotated,
        "factor_annotations_unrated": unrated,
        "source": info["source"],
    }
    return build_dataset(f"dollar-street:{root}:{split}", root, classes, columns, metadata, LAYOUT)


def _factor_columns(csv: Path, ids: list[str]) -> tuple[dict[str, list[Any]], int]:
    """0/1 factor annotations by image id, as ``factor_<name>`` columns (NaN for images without annotations).

    Also returns how many rows were dropped as unrated (``can_i_rate_this_job == "no"``).
    """
    if not csv.is_file():
        raise MissingDataError(f"Dollar Street factor annotations {csv} do not exist")
    try:
        table = pd.read_csv(csv, dtype={k: str for k in FACTOR_KEYS})
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise MissingDataError(f"{csv} is not a factor annotation CSV ({err})") from None
    unrated = 0
    if UNRATED_COLUMN in table.columns:
        # The authors' Annotations keeps `annotations_all[can_i_rate_this_job] != "no"` (NaN kept, as there).
        rated = table[UNRATED_COLUMN].astype(str) != "no"
        unrated = int((~rated).sum())
        table = table[rated]
    known = label_set_file("dollar_street")["factors"]
    names = [c for c in known if c in table.columns]
    if not names:
        raise MissingDataError(f"{csv} has none of the factor columns {known}")
    wanted = set(ids)
    matches = {k: int(table[k].isin(wanted).sum()) for k in FACTOR_KEYS if k in table.columns}
    if not matches:
        raise MissingDataError(f"{csv} has no image key column to join on: one of {list(FACTOR_KEYS)}")
    key = max(matches, key=lambda k: (matches[k], -FACTOR_KEYS.index(k)))
    if matches[key] == 0:
        raise MissingDataError(
            f"none of the {len(table)} annotations in {csv} matches an image id of this Dollar Street split "
            f"(tried columns {list(matches)}); the released annotations are keyed by the image URLs of another "
            "Dollar Street version: map them to this release's `id` column first"
        )
    table = table.drop_duplicates(key).set_index(key)
    joined = {
        f"factor_{name}": pd.to_numeric(table[name].reindex(ids), errors="coerce").astype(float).tolist()
        for name in names
    }
    return joined, unrated
