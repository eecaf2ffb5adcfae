"""``pug-animals:``, ``pug-imagenet:``, ``pug-spar:``, ``pug-ar4t:`` — the four released PUG datasets.

F. Bordes, S. Shekhar, M. Ibrahim, D. Bouchacourt, P. Vincent, A. S. Morcos, "PUG: Photorealistic and
Semantically Controllable Synthetic Data for Representation Learning", NeurIPS 2023 Datasets and Benchmarks
(arXiv:2308.03977; release ``facebookresearch/PUG``). Every PUG dataset is a folder of rendered images and
one CSV with a row per image: the image's file and its factors of variation.

What was verified, and against what (``facebookresearch/PUG`` at commit d6b98fa unless said otherwise):

- **PUG:ImageNet** (88,328 images, 151 ImageNet classes): ``PUG_ImageNet/README.md`` lists the CSV's factor
  columns ``world_name, character_name, character_label, character_rotation_yaw, character_rotation_roll,
  character_rotation_pitch, character_scale, camera_roll, camera_pitch, camera_yaw, character_texture,
  scene_light``; ``PUG_ImageNet.ipynb`` reads ``labels_pug_imagenet.csv`` in the dataset folder and opens
  ``PATH/<filename>`` (column ``filename``). The class → ImageNet-1k index lists are the release's
  ``class_to_imagenet_idx.json``, shipped as ``label_sets/pug_imagenet.json`` (checked entry by entry against
  the release file: 151 classes, identical lists). Not verified (no copy of the CSV is stored anywhere we
  could read): the exact spellings of ``character_label`` (the notebook's example says ``GoldFish``, the JSON
  ``Goldfish``), so labels are matched to the JSON's class names exactly, then ignoring case and
  punctuation; and the ``Default`` value of factors an image does not vary (a third-party loader of the
  release counts 7 yaw values where the paper has 6, "due to 'Default' as additional value").
- **PUG:Animals** (215,040 images: 70 animals × 64 backgrounds × 3 sizes × 4 textures × 4 camera yaws,
  ``PUG_Animals/README.md``): the columns ``filename, world_name, character_name, character_scale,
  character_texture, camera_yaw`` and the CSV name ``labels_pug_animal.csv`` come from two third-party loaders
  of the release (the official notebook is not in the stored repository); one of them opens
  ``PATH/<character_name>/<filename>``. The label is ``character_name`` (the animal).
- **PUG:SPAR** (43,560 images, ``PUG_SPAR/README.md``): ``run_eval_vlms_on_spar.py`` reads ``PATH/labels.csv``
  and uses ``filename, world_name, character_name, character2_name, character1_pos, character_texture,
  character2_texture``, with ``blank`` for an absent animal; its captions and subsets are reproduced by
  :func:`~robustscope.data.benchmarks.pug_spar.spar_task` (see there for the departures).
- **PUG:AR4T** (training set for vision-language models): ``PUG_AR4T.ipynb`` reads ``PUG_ARmerged_test.csv``
  with columns ``filepath`` (image path relative to the folder), ``Actor1Category`` (used as the label) and
  ``Level``. The train CSV's name (``PUG_ARmerged_train.csv`` here) and the caption column (looked for among
  :data:`CAPTION_COLUMNS`) are not verified.

Image files are looked up at ``PATH/<file>``, then at ``PATH/<label>/<file>`` (PUG:Animals), then by unique
file name anywhere under ``PATH``; a file found nowhere, or found twice, is an error naming it (reading a
release: :mod:`robustscope.data.benchmarks.pug_release`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import LabelSets, build_dataset, resolve_label_sets
from robustscope.data.benchmarks.pug_release import PAPER, match_class_names, open_release, release_manifest
from robustscope.data.benchmarks.pug_spar import SPAR_COLUMNS, spar_task
from robustscope.errors import MissingDataError, SpecError
from robustscope.formats.pug import PUG_IMAGENET_COLUMNS  # the release's schema, also written by synth

__all__ = [
    "AR4T_CSV",
    "CAPTION_COLUMNS",
    "DEFAULT_VALUE",
    "PAPER",
    "PUG_ANIMALS_FACTORS",
    "PUG_IMAGENET_COLUMNS",
    "PUG_IMAGENET_FACTORS",
    "SWEEP_FOLDERS",
    "is_retrieval",
    "load_pug_animals",
    "load_pug_ar4t",
    "load_pug_imagenet",
    "load_pug_spar",
    "pug_factors",
    "spar_columns",
]

#: The factor columns of PUG:ImageNet: its columns minus the file name, the label and the asset name.
PUG_IMAGENET_FACTORS = tuple(
    c for c in PUG_IMAGENET_COLUMNS if c not in ("filename", "character_name", "character_label")
)
#: Per-factor folders of PUG:ImageNet (the folder names the synthetic-clones benchmark's ``run_pug_imagenet``
#: reads, one ImageFolder per factor) → the factor column each one varies (inferred from the names).
SWEEP_FOLDERS = {
    "Worlds": "world_name",
    "Camera_Pitch": "camera_pitch",
    "Camera_Yaw": "camera_yaw",
    "Camera_Roll": "camera_roll",
    "Object_Pitch": "character_rotation_pitch",
    "Object_Yaw": "character_rotation_yaw",
    "Object_Roll": "character_rotation_roll",
    "Object_Scale": "character_scale",
    "Object_Texture": "character_texture",
    "Scene_Light": "scene_light",
}
#: The factor columns of PUG:Animals (the label ``character_name`` aside).
PUG_ANIMALS_FACTORS = ("world_name", "character_scale", "camera_yaw", "character_texture")
#: The value a one-factor-at-a-time image gives the factors it does not vary (PUG:ImageNet).
DEFAULT_VALUE = "Default"
#: Column names tried, in order, for the caption of a PUG:AR4T image (not verified against the release).
CAPTION_COLUMNS = ("caption", "Caption", "captions", "text", "prompt")
IMAGENET_CSV = "labels_pug_imagenet.csv"
ANIMALS_CSV = "labels_pug_animal.csv"
SPAR_CSV = "labels.csv"
AR4T_CSV = "PUG_ARmerged_{split}.csv"


# -- PUG:ImageNet -----------------------------------------------------------------------------------------
def load_pug_imagenet(path: str | Path, label_sets: LabelSets = None) -> Dataset:
    """PUG:ImageNet: 151 classes scored through their ImageNet-1k index sets; the factor columns kept as they are.

    When the images sit in per-factor folders (``Worlds/``, ``Object_Yaw/``, … of :data:`SWEEP_FOLDERS`) the
    factor column ``sweep`` names the factor each image varies. An image is correct iff the model's top-1
    ImageNet class lies in its class's index set (``top1_in_set``):
    the rule of the authors' evaluation except for Shirt and Sweatshirt, which share index 841 and are both
    counted correct here (the authors' inverse index → class table maps 841 to Sweatshirt only).

    Args:
        path: the dataset folder (``PATH/labels_pug_imagenet.csv`` and the images) or the CSV itself.
        label_sets: class → model labels instead of the release's table, or ``"identity"`` (each
            ``character_label`` is its own model label, as for a model trained on PUG:ImageNet's classes).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> Image.new("RGB", (8, 8)).save(f"{root}/0.png")
        >>> _ = open(f"{root}/labels_pug_imagenet.csv", "w").write(
        ...     "filename,world_name,character_name,character_label,camera_yaw\\n0.png,Desert,fish_1,Goldfish,0\\n")
        >>> ds = load_pug_imagenet(root)
        >>> len(ds.classes), ds.class_names(), ds.metadata["set_reduction"], ds.factor_columns
        (151, ['Goldfish'], 'top1_in_set', ['world_name', 'character_name', 'camera_yaw'])
    """
    csv, root, frame, file_column = open_release(path, IMAGENET_CSV, "pug-imagenet", ["character_label"])
    found = sorted(set(frame["character_label"]))
    classes, sets, source = resolve_label_sets(label_sets, "pug_imagenet", found)
    labels = match_class_names(frame["character_label"].tolist(), classes, str(csv))
    columns = release_manifest(root, frame, file_column, labels, csv, skip=("character_label",))
    folders = [p.split("/", 1)[0] if "/" in p else "" for p in columns["path"]]
    if "sweep" not in columns and any(f in SWEEP_FOLDERS for f in folders):
        # Images sorted into per-factor folders name the sweep they belong to: the authors' own grouping.
        columns["sweep"] = [SWEEP_FOLDERS.get(f, "") for f in folders]
    metadata = {
        "benchmark": "pug-imagenet",
        "paper": PAPER,
        "csv": str(csv),
        "label_sets": sets,
        "set_reduction": "top1_in_set",
        "label_sets_source": source,
        "factors": [f for f in PUG_IMAGENET_FACTORS if f in frame.columns],
        "default_value": DEFAULT_VALUE,
    }
    return build_dataset(f"pug-imagenet:{root}", root, classes, columns, metadata, IMAGENET_CSV)


# -- PUG:Animals ------------------------------------------------------------------------------------------
def load_pug_animals(path: str | Path, classes: Sequence[str] | None = None) -> Dataset:
    """PUG:Animals: label = ``character_name`` (the animal); factors world, size, texture and camera yaw.

    The classes are the sorted animal names (the order a loader of the release uses) unless ``classes`` is
    given. PUG:Animals holds every combination of its factors, so it is meant for models trained on part of
    it: see :func:`robustscope.data.splits.factor_held_out_split` for training on some factor values and
    testing on the others.

    Args:
        path: the dataset folder (``PATH/labels_pug_animal.csv``, images at ``PATH/<character_name>/<filename>``
            or as named) or the CSV itself.
        classes: the animal names in label order (a model's labels).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/Penguin")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/Penguin/0.png")
        >>> _ = open(f"{root}/labels_pug_animal.csv", "w").write(
        ...     "filename,world_name,character_name,character_scale,character_texture,camera_yaw\\n"
        ...     "0.png,Desert,Penguin,1.0,Default,0\\n")
        >>> ds = load_pug_animals(root)
        >>> ds.classes, ds.manifest["path"].tolist(), ds.factor_columns
        (['Penguin'], ['Penguin/0.png'], ['world_name', 'character_scale', 'character_texture', 'camera_yaw'])
    """
    csv, root, frame, file_column = open_release(path, ANIMALS_CSV, "pug-animals", ["character_name"])
    names = list(classes) if classes is not None else sorted(set(frame["character_name"]))
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(frame["character_name"]) - set(index))
    if unknown:
        raise MissingDataError(f"{csv}: animal(s) {unknown[:5]} are not in classes ({len(names)} given)")
    labels = [index[n] for n in frame["character_name"]]
    animals = frame["character_name"].tolist()
    columns = release_manifest(root, frame, file_column, labels, csv, animals, ("character_name",))
    metadata = {
        "benchmark": "pug-animals",
        "paper": PAPER,
        "csv": str(csv),
        "factors": [f for f in PUG_ANIMALS_FACTORS if f in frame.columns],
    }
    return build_dataset(f"pug-animals:{root}", root, names, columns, metadata, ANIMALS_CSV)


# -- PUG:AR4T ---------------------------------------------------------------------------------------------
def load_pug_ar4t(
    path: str | Path, split: str = "test", classes: Sequence[str] | None = None, caption_column: str | None = None
) -> Dataset:
    """PUG:AR4T: label = ``Actor1Category``; ``Level`` and every other column kept as factors, captions too.

    AR4T is released for fine-tuning vision-language models; here its images are a classification set (the
    first actor's category) with their captions in the factor column ``caption`` when the CSV has one.

    Args:
        path: the dataset folder (``PATH/PUG_ARmerged_<split>.csv``) or the CSV itself.
        split: ``test`` (the file the release's notebook reads) or ``train``.
        classes: category names in label order (default: sorted).
        caption_column: the caption column (default: the first of :data:`CAPTION_COLUMNS` present).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> Image.new("RGB", (8, 8)).save(f"{root}/a.png")
        >>> _ = open(f"{root}/PUG_ARmerged_test.csv", "w").write(
        ...     "filepath,Actor1Category,Level,caption\\na.png,microphone,1,A microphone on the left\\n")
        >>> ds = load_pug_ar4t(root)
        >>> ds.classes, ds.manifest[["Level", "caption"]].values.tolist()
        (['microphone'], [['1', 'A microphone on the left']])
    """
    csv, root, frame, file_column = open_release(path, AR4T_CSV.format(split=split), "pug-ar4t", ["Actor1Category"])
    if caption_column is not None and caption_column not in frame.columns:
        raise SpecError(f"{csv}: no caption column {caption_column!r}; columns: {list(frame.columns)}")
    chosen = caption_column or next((c for c in CAPTION_COLUMNS if c in frame.columns), None)
    if chosen is not None and chosen != "caption":
        frame = frame.rename(columns={chosen: "caption"})
    names = list(classes) if classes is not None else sorted(set(frame["Actor1Category"]))
    labels = match_class_names(frame["Actor1Category"].tolist(), names, str(csv))
    columns = release_manifest(root, frame, file_column, labels, csv, skip=("Actor1Category",))
    metadata = {
        "benchmark": "pug-ar4t",
        "paper": PAPER,
        "csv": str(csv),
        "split": split,
        "caption_column": chosen,
        "factors": [c for c in ("Level",) if c in frame.columns],
    }
    return build_dataset(f"pug-ar4t:{root}:{split}", root, names, columns, metadata, csv.name)


# -- PUG:SPAR caption retrieval ---------------------------------------------------------------------------
def load_pug_spar(
    path: str | Path, task: str = "single", variant: str | None = None, with_background: bool = False
) -> Dataset:
    """One PUG:SPAR caption-retrieval task as a dataset whose classes are its captions (:func:`spar_task`).

    Each image's label is its caption's index; the factor ``hard_negative`` holds its hard-negative caption
    (empty where the task has none) and the SPAR columns are kept as factors. A CLIP-style model scores it
    when its labels are the captions (its logits are then the image/text similarities): the ``pug`` axis
    turns them into retrieval accuracy (top-1, top-5) and hard-negative accuracy
    (:mod:`robustscope.metrics.pug`), building such a model from an ``open_clip`` one when needed.

    Args:
        path: the dataset folder (``PATH/labels.csv`` and the images) or the CSV itself.
        task: one of :data:`SPAR_TASKS`; a ``+bg`` suffix (``single+bg``) writes the world into every caption.
        variant: the task's texture or the first animal's side (default: the script's first, e.g. ``Default``,
            ``left``).
        with_background: the same as the ``+bg`` suffix.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name in ("a.png", "b.png"):
        ...     Image.new("RGB", (8, 8)).save(f"{root}/{name}")
        >>> _ = open(f"{root}/labels.csv", "w").write(
        ...     "filename,world_name,character_name,character2_name,character1_pos,character_texture,"
        ...     "character2_texture\\na.png,Desert,blank,blank,left,Default,Default\\n"
        ...     "b.png,Lake,blank,blank,left,Default,Default\\n")
        >>> ds = load_pug_spar(root, "scene")
        >>> ds.classes, ds.manifest["label"].tolist()
        (['This is a photo in a Desert environment', 'This is a photo in a Lake environment'], [0, 1])
    """
    if task.endswith("+bg"):
        task, with_background = task[: -len("+bg")], True
    csv, root, frame, file_column = open_release(path, SPAR_CSV, "pug-spar", SPAR_COLUMNS)
    spec = spar_task(frame, task, variant, with_background)
    chosen = frame.iloc[spec.rows].reset_index(drop=True)
    negatives = [spec.captions[n] if n >= 0 else "" for n in spec.negatives]
    columns = release_manifest(root, chosen, file_column, spec.targets.tolist(), csv)
    columns["hard_negative"] = negatives
    metadata = {
        "benchmark": "pug-spar",
        "paper": PAPER,
        "csv": str(csv),
        "task": spec.name,
        "retrieval": True,
        "factors": [c for c in ("world_name", "character_texture") if c in chosen.columns],
    }
    return build_dataset(f"pug-spar:{root}:{spec.name}", root, spec.captions, columns, metadata, SPAR_CSV)


def spar_columns(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per image of a SPAR dataset: its caption's index and its hard negative's (-1 if none), in manifest order.

    Example:
        >>> ds = Dataset("s", ".", ["x", "y"], pd.DataFrame({"sample_id": ["a"], "path": ["a"], "label": [1],
        ...                                                     "hard_negative": ["x"]}))
        >>> [v.tolist() for v in spar_columns(ds)]
        [[1], [0]]
    """
    index = {c: i for i, c in enumerate(dataset.classes)}
    negatives = dataset.manifest.get("hard_negative", pd.Series([""] * len(dataset)))
    return (
        dataset.manifest["label"].to_numpy(dtype=np.int64),
        np.array([index.get(str(n), -1) if str(n) else -1 for n in negatives], dtype=np.int64),
    )


def is_retrieval(dataset: Dataset) -> bool:
    """Whether a dataset is a caption-retrieval task (PUG:SPAR), scored by the ``pug`` axis as retrieval.

    Example:
        >>> is_retrieval(Dataset("s", ".", ["x"], pd.DataFrame({"sample_id": ["a"], "path": ["a"], "label": [0]}),
        ...                      {"retrieval": True}))
        True
    """
    return bool(dataset.metadata.get("retrieval"))


def pug_factors(dataset: Dataset) -> list[str]:
    """The factor columns the ``pug`` axis slices by default: the release's (or, for a synthetic world, the
    PUG:ImageNet schema's) factor columns present in the manifest.

    Example:
        >>> ds = Dataset("w", ".", ["a"], pd.DataFrame({"sample_id": ["s"], "path": ["p"], "label": [0],
        ...                                              "world_name": ["sky"], "color": ["red"]}))
        >>> pug_factors(ds)
        ['world_name']
    """
    listed = dataset.metadata.get("factors")
    names = list(listed) if listed else list(PUG_IMAGENET_FACTORS)
    return [n for n in names if n in dataset.manifest.columns]
