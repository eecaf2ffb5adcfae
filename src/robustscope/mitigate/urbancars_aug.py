"""UrbanCars' shortcut augmentations for the Last Layer Ensemble, written to disk as datasets.

Reference: github.com/facebookresearch/Whac-A-Mole, commit ``c91b097043246bc726fccd70f9860873e28d6122``,
``dataset/urbancars_aug.py`` (``UrbanCarsAug``), ``model/transforms.py`` (``CoRandomHorizontalFlip``) and the
composition in ``urbancars_trainers/lle.py`` (``LLETrainer.train``). For every training image of object class ``o``:

- the object: the image and its mask ``_mask.png``, flipped together with probability ½ (``CoRandomHorizontalFlip``);
- the background: the ``_bg_only.png`` of a random training image, from the *other* class ``1 − o`` in mode ``bg``
  (and ``both``), from the *same* class in mode ``co_occur_obj``; flipped with probability ½ (``RandomHorizontalFlip``);
- the co-occurring object: a random training image and its ``_co_occur_obj_mask.png``, flipped together, from the
  *same* class in mode ``bg``, from the *other* class in ``co_occur_obj`` (and ``both``);
- composed as ``img_w_co_obj = co_img·co_mask + bg·(1 − co_mask)``, ``mixed = obj_img·obj_mask +
  img_w_co_obj·(1 − obj_mask)`` (pixels in [0, 1]; the reference composes normalised tensors, and normalisation is
  per-channel affine, so the two agree);
- its distribution label ``dist_shift``: ``bg`` 1, ``co_occur_obj`` 2, ``both`` 3 (0 is the original data).

Where robustscope departs, and why: the reference draws a fresh augmentation of every image each epoch, in the data
loader; last-layer methods here train on frozen features computed once, so :func:`materialise_urbancars_aug` draws
``copies`` fixed augmentations per training image and mode (seeded per sample id, copy and mode: the same files
whatever the order or the machine) and writes them as PNG (lossless: the stored pixels are the composition rounded
to 8 bits). The reference labels an augmented image with its source image's (object, background, co-occurring
object) triple and uses only the object; here the factors are the composed image's (the object of the source, the
background of the image the plate came from, the co-occurring object of the image it came from).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from robustscope.config import Workspace
from robustscope.data.base import Dataset
from robustscope.data.content_index import ContentIndex
from robustscope.errors import MissingDataError, OptionError
from robustscope.shifts.base import sample_seed

__all__ = ["AUG_MODES", "UrbanCarsAugError", "compose", "materialise_urbancars_aug"]

#: The reference's ``aug_mode_to_dist_shift``: each mode's distribution label (the original data is 0).
AUG_MODES = {"bg": 1, "co_occur_obj": 2, "both": 3}
#: Suffixes of the files beside each training image (the release's naming).
MASK, CO_OCCUR_MASK, BG_ONLY = "_mask.png", "_co_occur_obj_mask.png", "_bg_only.png"
_FACTORS = ("object", "background", "co_occur")
_FORMAT = 1


class UrbanCarsAugError(MissingDataError):
    """A training split the augmentations cannot be made from (no masks, no background-only images, not UrbanCars)."""


def compose(obj_img: np.ndarray, obj_mask: np.ndarray, bg: np.ndarray, co_img: np.ndarray,
            co_mask: np.ndarray) -> np.ndarray:  # fmt: skip
    """The reference's composition: the co-occurring object pasted on the background, the object on top.

    Images ``[H, W, 3]`` and masks ``[H, W]`` in [0, 1]; returns ``[H, W, 3]``.

    Example:
        >>> one = np.ones((1, 2, 3)); mask = np.array([[1.0, 0.0]])
        >>> compose(0.9 * one, mask, 0.1 * one, 0.5 * one, np.array([[0.0, 1.0]]))[0, :, 0].round(2).tolist()
        [0.9, 0.5]
    """
    co_mask, obj_mask = co_mask[..., None], obj_mask[..., None]
    img_w_co_obj = co_img * co_mask + bg * (1 - co_mask)
    return obj_img * obj_mask + img_w_co_obj * (1 - obj_mask)


@dataclass(frozen=True)
class _Sources:
    """Per training image: its path and the three files beside it (relative to the dataset root)."""

    images: list[str]
    masks: list[str]
    co_masks: list[str]
    bg_only: list[str]


def _sources(train: Dataset) -> _Sources:
    """The files each augmentation reads; a clear error for the first one missing."""
    missing = [c for c in _FACTORS if c not in train.manifest.columns]
    if missing:
        raise UrbanCarsAugError(
            f"dataset {train.name!r} has no {missing} factor(s): the UrbanCars augmentations need an UrbanCars train "
            "split (urbancars:PATH:train or synth-urbancars:WORLD:train)"
        )
    images = train.manifest["path"].astype(str).tolist()
    stems = [path.rsplit(".", 1)[0] for path in images]
    sources = _Sources(images, [s + MASK for s in stems], [s + CO_OCCUR_MASK for s in stems],
                       [s + BG_ONLY for s in stems])  # fmt: skip
    fixes = {
        MASK: "the release's generator saves it beside each image (gen_urbancars.py); copy the masks too",
        CO_OCCUR_MASK: "the release's generator saves it beside each image (gen_urbancars.py); copy the masks too",
        BG_ONLY: "write them with the release's create_datasets/urbancars/urbancars_aug_gen_bg_only.py "
        "(--data_root …/bg-0.95_co_occur_obj-0.95/train), or rebuild a synthetic UrbanCars (builder 3 writes them)",
    }
    for suffix, paths in ((MASK, sources.masks), (CO_OCCUR_MASK, sources.co_masks), (BG_ONLY, sources.bg_only)):
        absent = [p for p in paths if not (Path(train.root) / p).is_file()]
        if absent:
            raise UrbanCarsAugError(
                f"{Path(train.root) / absent[0]} is missing ({len(absent)} of {len(paths)} {suffix} files in "
                f"{train.name!r}): the UrbanCars augmentations need it; {fixes[suffix]}"
            )
    return sources


def _read(path: Path, grey: bool = False) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L" if grey else "RGB"), np.float32) / 255


def _key(train: Dataset, sources: _Sources, mode: str, copies: int, seed: int, index: ContentIndex | None) -> str:
    """Content address: the source dataset's fingerprint, the masks' and plates' contents, the settings, this code."""
    aux = train.file_digests([*sources.masks, *sources.co_masks, *sources.bg_only], index)
    identity = {
        "format": _FORMAT,
        "dataset": train.fingerprint(index),
        "aux": hashlib.sha256("\x1f".join(aux).encode()).hexdigest(),
        "mode": mode,
        "copies": int(copies),
        "seed": int(seed),
        "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _group(obj: str, bg: str, co: str) -> str:
    return f"bg_{'present' if bg == obj else 'absent'}_coobj_{'present' if co == obj else 'absent'}"


def materialise_urbancars_aug(
    train: Dataset,
    mode: str,
    *,
    copies: int = 1,
    seed: int = 0,
    root: str | Path | Workspace | None = None,
    progress: bool = True,
    content_index: ContentIndex | None = None,
) -> Dataset:
    """``copies`` augmented images per image of the UrbanCars train split ``train``, in ``mode`` (``bg``,
    ``co_occur_obj`` or ``both``), written once to a content-addressed folder and returned as a dataset.

    Args:
        train: an UrbanCars train split as ``urbancars:PATH:train`` or ``synth-urbancars:WORLD:train`` loads it
            (the release layout; beside each image its ``_mask.png``, ``_co_occur_obj_mask.png`` and
            ``_bg_only.png``, else :class:`UrbanCarsAugError` names the first missing file and how to make it).
        mode: which shortcut the augmentation breaks (the module docstring has the draws).
        copies: augmented images per training image (the reference draws a fresh one every epoch).
        seed: the draws' seed (with each sample id, copy and mode).
        root: where the folder ``urbancars-aug-<key>/`` goes (a :class:`~robustscope.config.Workspace`: its
            ``renders`` folder; default: the current workspace's). The key covers the source dataset's
            fingerprint, the masks' and background plates' contents, ``mode``, ``copies``, ``seed`` and this module's
            code, so a finished folder is reused and anything else is written anew.
        content_index: the stat index files are hashed through (default: the workspace's).

    Returns:
        A dataset with the train split's classes: label = the object; factors ``object``, ``background``,
        ``co_occur`` and ``group`` of the composed image, ``dist_shift`` (the mode's label, :data:`AUG_MODES`),
        ``source``, ``bg_source`` and ``co_occur_source`` (sample ids of the images drawn) and ``flip_object``,
        ``flip_background``, ``flip_co_occur`` (1 where that part was flipped).

    Example:
        >>> import tempfile
        >>> from robustscope.data import load_dataset
        >>> train = load_dataset("synth-urbancars:tiny:train")  # doctest: +SKIP
        >>> aug = materialise_urbancars_aug(train, "bg", root=tempfile.mkdtemp(), progress=False)  # doctest: +SKIP
        >>> len(aug) == len(train), set(aug.manifest["dist_shift"])  # doctest: +SKIP
        (True, {1})
    """
    if mode not in AUG_MODES:
        raise OptionError(f"UrbanCars augmentation mode {mode!r}: choose one of {list(AUG_MODES)}")
    if isinstance(copies, bool) or int(copies) < 1:
        raise OptionError(f"copies must be a positive number of augmented images per training image, got {copies!r}")
    if isinstance(root, Workspace):
        folder_root = root.renders
    elif root is None:
        from robustscope.config import workspace

        folder_root = workspace().renders
    else:
        folder_root = Path(root).expanduser()
    sources = _sources(train)
    out = folder_root / f"urbancars-aug-{_key(train, sources, mode, copies, seed, content_index)}"
    if not (out / ".complete").is_file():
        _write(train, sources, mode, int(copies), int(seed), out, progress)
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False, dtype={"sample_id": str, "source": str,
                           "bg_source": str, "co_occur_source": str})  # fmt: skip
    metadata = {"benchmark": "urbancars augmentations", "mode": mode, "copies": int(copies), "seed": int(seed),
                "source": train.name}  # fmt: skip
    return Dataset(f"urbancars-aug:{mode}:{train.name}", out, list(train.classes), manifest, metadata)


def _write(train: Dataset, sources: _Sources, mode: str, copies: int, seed: int, out: Path, progress: bool) -> None:
    """Draw and compose every augmented image into a temporary folder, then move it to ``out`` (never half-written)."""
    from tqdm.auto import tqdm

    frame = train.manifest
    labels = frame["label"].to_numpy()
    ids = frame["sample_id"].astype(str).tolist()
    num_classes = len(train.classes)
    by_class = {c: np.flatnonzero(labels == c) for c in range(num_classes)}
    base = Path(train.root)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    rows: list[dict[str, Any]] = []
    steps = tqdm(range(len(frame) * copies), desc=f"UrbanCars augmentation {mode}", disable=not progress)
    for step in steps:
        i, copy = divmod(step, copies)
        label = int(labels[i])
        other = (label + 1) % num_classes
        # The reference's draws, in its order: the object's joint flip, the background image and its flip,
        # the co-occurring object's image and its joint flip.
        rng = np.random.default_rng(sample_seed(ids[i], "urbancars_aug", mode, seed, copy))
        flip_obj = rng.random() < 0.5
        bg_pool = by_class[label if mode == "co_occur_obj" else other]
        bg_i = int(bg_pool[rng.integers(len(bg_pool))])
        flip_bg = rng.random() < 0.5
        co_pool = by_class[label if mode == "bg" else other]
        co_i = int(co_pool[rng.integers(len(co_pool))])
        flip_co = rng.random() < 0.5
        parts = [
            (_read(base / sources.images[i]), flip_obj),
            (_read(base / sources.masks[i], grey=True), flip_obj),
            (_read(base / sources.bg_only[bg_i]), flip_bg),
            (_read(base / sources.images[co_i]), flip_co),
            (_read(base / sources.co_masks[co_i], grey=True), flip_co),
        ]
        shapes = {array.shape[:2] for array, _ in parts}
        if len(shapes) != 1:
            raise UrbanCarsAugError(
                f"{base / sources.images[i]} and the images drawn with it ({sources.bg_only[bg_i]}, "
                f"{sources.images[co_i]}) differ in size {sorted(shapes)}: UrbanCars images and their masks share one "
                "size (256×256 in the release); regenerate the mismatched files"
            )
        obj_img, obj_mask, bg, co_img, co_mask = (array[:, ::-1] if flip else array for array, flip in parts)
        mixed = compose(obj_img, obj_mask, bg, co_img, co_mask)
        path = f"images/{len(rows):06d}.png"
        Image.fromarray(np.round(np.clip(mixed, 0, 1) * 255).astype(np.uint8)).save(tmp / path)
        obj, background, co = (str(frame.at[i, "object"]), str(frame.at[bg_i, "background"]),
                               str(frame.at[co_i, "co_occur"]))  # fmt: skip
        rows.append({"sample_id": f"{mode}/{ids[i]}#{copy}", "path": path, "label": label, "object": obj,
                     "background": background, "co_occur": co, "group": _group(obj, background, co),
                     "dist_shift": AUG_MODES[mode], "source": ids[i], "bg_source": ids[bg_i],
                     "co_occur_source": ids[co_i], "flip_object": int(flip_obj), "flip_background": int(flip_bg),
                     "flip_co_occur": int(flip_co)})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp / "manifest.csv", index=False)
    (tmp / ".complete").write_text(f"UrbanCars augmentation {mode} of {train.name}\n")
    if out.exists():  # an unfinished folder from an interrupted run
        shutil.rmtree(out)
    os.replace(tmp, out)
