"""ImageNet-X annotations and the predictions they are joined to, by image file name.

ImageNet-X (B. Y. Idrissi, D. Bouchacourt, R. Balestriero, I. Evtimov, C. Hazirbas, N. Ballas, P. Vincent,
M. Drozdzal, D. Lopez-Paz, M. Ibrahim, "ImageNet-X: Understanding Model Mistakes with Factor of Variation
Annotations", ICLR 2023) annotates the 50,000 ImageNet-1k validation images (48,868 kept after the
authors' quality control) and 12k training images with 16 factors of variation. The annotations ship
in the ``imagenet-x`` PyPI package (``pip install 'imagenet-x==0.0.7'``, or ``robustscope[imagenet-x]``)
under ``imagenet_x/annotations/``; robustscope reads those files and never imports the package:

* ``imagenet_x_{val,train}_{top,multi}_factor.jsonl``: one JSON object per image with ``file_name``
  (``ILSVRC2012_val_00004487.JPEG``), ``class`` (ImageNet index), the 16 factors as 0/1, and the
  annotator's ``justification`` and ``one_word``. ``top`` marks the one factor the annotator chose as
  the most salient, ``multi`` every factor that applies.
* ``prototypical_paths.csv``: 3,000 prototypical images the annotators compared against; the
  package's ``load_annotations(filter_prototypes=True)`` drops them, and so does
  :func:`load_imagenet_x_annotations` by default.
* ``imagenet_1k_classes_to_100_metaclasses.csv``: ImageNet class → one of 100 metaclasses; the
  package keeps 16 of them (:data:`METACLASSES`) and files every other class under ``other``.
* ``imagenet_real_labels.jsonl``: the ReaL labels (Beyer et al., 2020), one list per val image.

Predictions are joined to annotations by the image's file-name stem (``ILSVRC2012_val_00004487``), so
the ``imagenet-val:`` loader's sample ids (``<wnid>/ILSVRC2012_val_00004487.JPEG``) and re-encoded copies
(``.png``) match as well as the package's own CSVs (``file_name, predicted_class,
predicted_probability``).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from robustscope.errors import LabelSpaceError, MissingDataError, RobustscopeError, SpecError
from robustscope.models.labels import imagenet_classes, imagenet_wnids

__all__ = [
    "FACTORS",
    "METACLASSES",
    "PACKAGE",
    "PREDICTION_COLUMNS",
    "ScoredSamples",
    "annotations_dir",
    "image_key",
    "imagenet_indices",
    "join_annotations",
    "load_imagenet_x_annotations",
    "metaclass_of_classes",
    "predictions_frame",
    "read_predictions_csv",
    "real_labels",
]

#: The 16 factors in the order of ``imagenet_x.FACTORS`` (0.0.7).
FACTORS: tuple[str, ...] = (
    "pose", "background", "pattern", "color", "smaller", "shape", "partial_view", "subcategory", "texture",
    "larger", "darker", "object_blocking", "person_blocking", "style", "brighter", "multiple_objects",
)  # fmt: skip
#: The metaclasses ImageNet-X reports (``imagenet_x.METACLASSES``); every other metaclass is ``other``.
METACLASSES: tuple[str, ...] = (
    "device", "dog", "commodity", "bird", "structure", "covering", "wheeled_vehicle", "food", "equipment", "insect",
    "vehicle", "furniture", "primate", "vessel", "snake", "natural_object", "other",
)  # fmt: skip
#: The PyPI requirement that ships the annotation files.
PACKAGE = "imagenet-x==0.0.7"
#: Columns of an ImageNet-X predictions CSV (the package's ``load_model_predictions`` format).
PREDICTION_COLUMNS: tuple[str, ...] = ("file_name", "predicted_class", "predicted_probability")
_MODES = ("top", "multi")
_PARTITIONS = ("val", "train")


def annotations_dir(path: str | Path | None = None) -> Path:
    """The folder holding the ImageNet-X annotation files: ``path``, or the installed package's.

    The package is located with :func:`importlib.util.find_spec`, so it is not imported (its
    ``__init__`` imports scipy and tqdm, which robustscope does not need).

    Example:
        >>> (annotations_dir() / "imagenet_x_val_top_factor.jsonl").is_file()  # doctest: +SKIP
        True
    """
    if path is not None:
        folder = Path(path).expanduser()
        if not (folder / "imagenet_x_val_top_factor.jsonl").is_file():
            raise MissingDataError(
                f"{folder} is not an ImageNet-X annotation folder: expected {folder}/imagenet_x_val_top_factor.jsonl "
                "(the imagenet_x/annotations folder of the imagenet-x package or of "
                "https://github.com/facebookresearch/imagenetx)"
            )
        return folder
    spec = importlib.util.find_spec("imagenet_x")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location) / "annotations"
        if (folder / "imagenet_x_val_top_factor.jsonl").is_file():
            return folder
    raise MissingDataError(
        "ImageNet-X annotations not found: install the package that ships them "
        f"(pip install '{PACKAGE}', or pip install 'robustscope[imagenet-x]'), "
        "or pass the folder that holds imagenet_x_val_top_factor.jsonl (axis param `annotations`, "
        "CLI --annotations)"
    )


def image_key(name: str) -> str:
    """The join key of an image: its file name without folders and extension.

    Example:
        >>> image_key("n01440764/ILSVRC2012_val_00000293.png"), image_key("ILSVRC2012_val_00000293.JPEG")
        ('ILSVRC2012_val_00000293', 'ILSVRC2012_val_00000293')
    """
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, _ = base.rpartition(".")
    return stem if dot else base


@lru_cache(maxsize=8)
def _read_jsonl(path: str) -> pd.DataFrame:
    import pyarrow.json as pa_json

    table = pa_json.read_json(path)
    return table.to_pandas()


@lru_cache(maxsize=4)
def _prototypes(path: str) -> frozenset[str]:
    return frozenset(pd.read_csv(path)["file_name"].astype(str))


@lru_cache(maxsize=4)
def _metaclasses(path: str) -> tuple[str, ...]:
    names = pd.read_csv(path)["name"].astype(str).tolist()
    if len(names) != 1000:
        raise MissingDataError(f"{path}: expected 1000 rows (one per ImageNet class), found {len(names)}")
    return tuple(name if name in METACLASSES else "other" for name in names)


def metaclass_of_classes(path: str | Path | None = None) -> np.ndarray:
    """The ImageNet-X metaclass of each of the 1000 ImageNet classes (``other`` outside :data:`METACLASSES`).

    As the package's ``to_metaclass``: the metaclass CSV's ``name`` where it is one of the 16 kept
    metaclasses, ``other`` elsewhere (Idrissi et al., ICLR 2023).

    Example:
        >>> meta = metaclass_of_classes()  # doctest: +SKIP
        >>> meta[0], meta[207]  # doctest: +SKIP
        ('other', 'dog')
    """
    folder = annotations_dir(path)
    return np.asarray(_metaclasses(str(folder / "imagenet_1k_classes_to_100_metaclasses.csv")), dtype=object)


def load_imagenet_x_annotations(
    factors: str = "top",
    partition: str = "val",
    filter_prototypes: bool = True,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """ImageNet-X annotations, one row per image, as the package's ``load_annotations`` returns them.

    Args:
        factors: ``"top"`` (the one most salient factor per image, the paper's main setting) or
            ``"multi"`` (every factor that applies).
        partition: ``"val"`` (the 50k validation images, 48,868 annotated) or ``"train"`` (12k images).
        filter_prototypes: drop the 3,000 prototypical images, as the package does by default.
        path: the annotation folder (default: the installed ``imagenet-x`` package's).

    Returns:
        Columns ``file_name``, ``image_key`` (:func:`image_key`), ``class`` (ImageNet index), the 16
        :data:`FACTORS` as booleans, and ``metaclass``; the annotators' free text is dropped.

    Example:
        >>> notes = load_imagenet_x_annotations()  # doctest: +SKIP
        >>> len(notes), notes.loc[0, "file_name"], int(notes[list(FACTORS)].sum(axis=1).max())  # doctest: +SKIP
        (46110, 'ILSVRC2012_val_00004487.JPEG', 1)
    """
    if factors not in _MODES:
        raise SpecError(f"ImageNet-X factors={factors!r}: choose 'top' (the most salient factor) or 'multi'")
    if partition not in _PARTITIONS:
        raise SpecError(f"ImageNet-X partition={partition!r}: choose 'val' or 'train'")
    folder = annotations_dir(path)
    source = folder / f"imagenet_x_{partition}_{factors}_factor.jsonl"
    if not source.is_file():
        raise MissingDataError(f"ImageNet-X annotation file {source} is missing")
    raw = _read_jsonl(str(source))
    missing = [c for c in ("file_name", "class", *FACTORS) if c not in raw.columns]
    if missing:
        raise MissingDataError(f"{source}: missing column(s) {missing}; is this an ImageNet-X annotation file?")
    out = pd.DataFrame({"file_name": raw["file_name"].astype(str).to_numpy()})
    out["image_key"] = [image_key(name) for name in out["file_name"]]
    out["class"] = raw["class"].to_numpy(dtype=np.int64)
    for factor in FACTORS:
        out[factor] = raw[factor].to_numpy() == 1
    out["metaclass"] = metaclass_of_classes(folder)[out["class"].to_numpy()]
    if filter_prototypes:
        prototypes = _prototypes(str(folder / "prototypical_paths.csv"))
        out = out[~out["file_name"].isin(prototypes)].reset_index(drop=True)
    return out


def real_labels(keys: Sequence[str], path: str | Path | None = None) -> list[tuple[int, ...]]:
    """The ReaL labels (Beyer et al., "Are we done with ImageNet?", 2020) of val images, by image key.

    The package's ``imagenet_real_labels.jsonl`` lists them in val order (``ILSVRC2012_val_00000001``
    first). A key outside the val set gets ``()``, as do the 3,163 val images ReaL left unlabelled.

    Example:
        >>> real_labels(["ILSVRC2012_val_00000002"])  # doctest: +SKIP
        [(970, 795)]
    """
    folder = annotations_dir(path)
    table = _real_table(str(folder / "imagenet_real_labels.jsonl"))
    return [table.get(str(k), ()) for k in keys]


@lru_cache(maxsize=2)
def _real_table(path: str) -> dict[str, tuple[int, ...]]:
    with open(path, encoding="utf-8") as handle:
        lists = json.load(handle)
    return {f"ILSVRC2012_val_{i + 1:08d}": tuple(int(x) for x in labels) for i, labels in enumerate(lists)}


def imagenet_indices(class_names: Sequence[str]) -> np.ndarray:
    """The ImageNet-1k index of each model label (by class name or WordNet id), ``-1`` where it has none.

    Example:
        >>> imagenet_indices(["goldfish", "n01440764", "unicorn"]).tolist()
        [1, 0, -1]
    """
    by_name = {name: i for i, name in enumerate(imagenet_classes())}
    by_wnid = {wnid: i for i, wnid in enumerate(imagenet_wnids())}
    return np.array([by_wnid.get(str(c), by_name.get(str(c), -1)) for c in class_names], dtype=np.int64)


def _top1_softmax(logits: np.ndarray, rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 index (first maximum) and its softmax probability, in float64, a block of rows at a time."""
    n = logits.shape[0]
    top = np.zeros(n, dtype=np.int64)
    probability = np.zeros(n, dtype=np.float64)
    for start in range(0, n, rows):
        block = np.asarray(logits[start : start + rows], dtype=np.float64)
        top[start : start + rows] = block.argmax(axis=1)
        shifted = block - block.max(axis=1, keepdims=True)
        probability[start : start + rows] = 1.0 / np.exp(shifted).sum(axis=1)
    return top, probability


class ScoredSamples(Protocol):
    """What :func:`predictions_frame` reads of a run (:class:`robustscope.engine.Predictions` has it); declared
    here because ``data/`` sits below ``engine/`` and the ImageNet-X format needs only these arrays."""

    sample_ids: np.ndarray
    logits: np.ndarray
    labels: np.ndarray
    class_names: list[str]


def predictions_frame(predictions: ScoredSamples) -> pd.DataFrame:
    """Stored predictions of an ImageNet-val run as an ImageNet-X predictions frame.

    Columns: ``file_name`` (the last part of the sample id), ``predicted_class`` (the ImageNet index
    of the top-1 model label), ``predicted_probability`` (the top-1 softmax probability, as the
    package computes it from logits), and ``label_class`` (the ImageNet index of the stored label,
    ``-1`` where there is none), used to check the folder labels against the annotations.

    Example:
        >>> from types import SimpleNamespace
        >>> p = SimpleNamespace(sample_ids=np.array(["n01440764/ILSVRC2012_val_00000293.JPEG"]),
        ...                     logits=np.array([[3.0, 0.0]]), labels=np.array([0]), class_names=["tench", "goldfish"])
        >>> frame = predictions_frame(p)
        >>> frame[["file_name", "predicted_class", "label_class"]].values.tolist()
        [['ILSVRC2012_val_00000293.JPEG', 0, 0]]
        >>> round(float(frame.predicted_probability[0]), 4)
        0.9526
    """
    index = imagenet_indices(predictions.class_names)
    if len(index) and (index < 0).all():
        raise LabelSpaceError(
            f"none of the model's {len(index)} labels is an ImageNet-1k class name or WordNet id "
            f"(e.g. {predictions.class_names[:3]}); ImageNet-X scores ImageNet-1k predictions"
        )
    top, top_probability = _top1_softmax(predictions.logits)
    labels = predictions.labels
    known = (labels >= 0) & (labels < len(index))
    return pd.DataFrame(
        {
            "file_name": [str(s).replace("\\", "/").rsplit("/", 1)[-1] for s in predictions.sample_ids],
            "predicted_class": index[top] if len(top) else np.zeros(0, dtype=np.int64),
            "predicted_probability": top_probability,
            "label_class": np.where(known, index[np.clip(labels, 0, max(len(index) - 1, 0))], -1),
        }
    )


def read_predictions_csv(path: str | Path) -> pd.DataFrame:
    """An ImageNet-X predictions CSV: ``file_name, predicted_class, predicted_probability`` (one row per image).

    The format the package's ``load_model_predictions`` reads; ``predicted_class`` is an ImageNet
    index and ``predicted_probability`` the top-1 probability (used for ECE).

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "m.csv")
        >>> text = "file_name,predicted_class,predicted_probability\\nILSVRC2012_val_00000001.JPEG,65,0.9\\n"
        >>> _ = open(f, "w").write(text)
        >>> read_predictions_csv(f).predicted_class.tolist()
        [65]
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise MissingDataError(f"predictions file {source} does not exist")
    frame = pd.read_csv(source)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise SpecError(
            f"{source}: missing column(s) {missing}; an ImageNet-X predictions CSV has the columns "
            f"{', '.join(PREDICTION_COLUMNS)} (ImageNet index and top-1 probability per image)"
        )
    classes = pd.to_numeric(frame["predicted_class"], errors="coerce")
    probability = pd.to_numeric(frame["predicted_probability"], errors="coerce")
    bad = classes.isna() | (classes != classes.round()) | (classes < 0) | (classes > 999)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SpecError(
            f"{source}: predicted_class must be an ImageNet index 0..999; row {row + 2} has "
            f"{frame['predicted_class'].iloc[row]!r}"
        )
    bad = probability.isna() | (probability < 0) | (probability > 1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SpecError(
            f"{source}: predicted_probability must lie in [0, 1]; row {row + 2} has "
            f"{frame['predicted_probability'].iloc[row]!r}"
        )
    return pd.DataFrame(
        {
            "file_name": frame["file_name"].astype(str),
            "predicted_class": classes.astype(np.int64),
            "predicted_probability": probability.astype(np.float64),
        }
    )


def join_annotations(predictions: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """Inner join of predictions (``file_name`` …) and annotations on the image key (file-name stem).

    Like the package's ``augment_model_predictions`` (an inner merge on ``file_name``), but a
    ``<wnid>/ILSVRC2012_val_00000001.png`` sample matches ``ILSVRC2012_val_00000001.JPEG``. Predictions
    that name one image twice are an error. Rows keep the predictions' order and the annotation's
    ``file_name``; ``attrs["unmatched"]`` counts predictions without an annotation.

    Example:
        >>> notes = pd.DataFrame({"file_name": ["ILSVRC2012_val_00000001.JPEG"], "class": [65], "pose": [True]})
        >>> notes["image_key"] = ["ILSVRC2012_val_00000001"]
        >>> preds = pd.DataFrame({"file_name": ["n01751748/ILSVRC2012_val_00000001.png", "x/other.png"],
        ...                       "predicted_class": [65, 1], "predicted_probability": [0.9, 0.5]})
        >>> joined = join_annotations(preds, notes)
        >>> joined[["file_name", "class", "predicted_class"]].values.tolist(), joined.attrs["unmatched"]
        ([['ILSVRC2012_val_00000001.JPEG', 65, 65]], 1)
    """
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise SpecError(f"predictions lack column(s) {missing}; expected {', '.join(PREDICTION_COLUMNS)}")
    keys = pd.Series([image_key(n) for n in predictions["file_name"].astype(str)], index=predictions.index)
    repeated = keys[keys.duplicated(keep=False)]
    if len(repeated):
        raise RobustscopeError(
            f"predictions name {repeated.nunique()} image(s) more than once (by file name), e.g. "
            f"{sorted(set(predictions.loc[repeated.index, 'file_name']))[:3]}; give one prediction per image"
        )
    left = predictions.drop(columns=["file_name"]).assign(image_key=keys.to_numpy())
    joined = left.merge(annotations, on="image_key", how="inner", validate="one_to_one")
    joined.attrs["unmatched"] = int(len(predictions) - len(joined))
    return joined
