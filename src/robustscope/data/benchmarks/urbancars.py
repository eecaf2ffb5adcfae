"""``urbancars:PATH[:SPLIT]`` — UrbanCars, the multiple-shortcut benchmark of Whac-A-Mole.

Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others",
CVPR 2023.

The layout is the one the authors' generator writes and their loader reads (facebookresearch/Whac-A-Mole,
``create_datasets/urbancars/gen_urbancars.py`` and ``dataset/urbancars.py``)::

    urbancars/
      bg-0.95_co_occur_obj-0.95/train/obj-{o}_bg-{b}_co_occur_obj-{c}/{i:03d}.jpg
      bg-0.5_co_occur_obj-0.5/{val,test}/obj-{o}_bg-{b}_co_occur_obj-{c}/{i:03d}.jpg

with ``o, b, c ∈ {urban, country}`` (object, background, co-occurring object; all 8 folders present).
Beside each image the generator saves its object mask ``{i:03d}_mask.png`` and its co-occurring object's
mask ``{i:03d}_co_occur_obj_mask.png``; in the train split the release script then writes a
background-only copy ``{i:03d}_bg_only.png`` (``urbancars_aug_gen_bg_only.py``, for augmentation). The
ratio folder names the training correlation of each shortcut (0.95) and the balanced val/test (0.5).
Generated at 256×256 px: the object's longer side is half the image, centred; the co-occurring object's
longer side a quarter, centred at (row 0.5, column 0.875).

``PATH`` may be the ``urbancars`` folder (``SPLIT`` picks ``train``/``val``/``test``, default ``test``,
in the reference's ratio folder), one ratio folder (``SPLIT`` inside it), or one split folder holding
the 8 cell folders. Images are the files in each cell folder whose name does not end in ``_mask`` or
``_bg_only`` (the authors glob ``*.jpg``; other image extensions are accepted too). Label = the object;
factors ``object``, ``background``, ``co_occur``, ``group`` (``bg_{present|absent}_coobj_{present|absent}``:
whether each shortcut agrees with the object), and ``mask_filename`` / ``co_occur_obj_mask_filename``
where masks exist (so mask-based shifts such as ``background_swap`` work on UrbanCars).
``metadata["train_ratios"]`` holds the training correlation of each shortcut, read from the
``bg-…_co_occur_obj-…`` folder of the train split when it is found (``None`` otherwise; the shortcuts
axis then uses 0.95).

Models are scored on the classes ``urban`` and ``country`` by name: evaluate a model trained on UrbanCars
(its labels ``urban``, ``country``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, subfolders
from robustscope.data.folder import IMAGE_EXTENSIONS
from robustscope.errors import MissingDataError, SpecError

#: The values of each factor, in the authors' index order; the classes are the object values.
VALUES: tuple[str, str] = ("urban", "country")
SPLITS = ("train", "val", "test")
#: The ratio folder the reference generator writes each split into.
REFERENCE_RATIO_FOLDERS = {
    "train": "bg-0.95_co_occur_obj-0.95",
    "val": "bg-0.5_co_occur_obj-0.5",
    "test": "bg-0.5_co_occur_obj-0.5",
}
MASK_SUFFIX = "_mask"
CO_OCCUR_MASK_SUFFIX = "_co_occur_obj_mask"
#: Stems of files derived from an image (its masks, its background-only copy): not images of the set.
DERIVED_SUFFIXES = (MASK_SUFFIX, "_bg_only")
LAYOUT = "bg-<ratio>_co_occur_obj-<ratio>/<split>/obj-<o>_bg-<b>_co_occur_obj-<c>/<i>.jpg (o, b, c: urban|country)"
_CELL = re.compile(r"^obj-(urban|country)_bg-(urban|country)_co_occur_obj-(urban|country)$")
_RATIO = re.compile(r"^bg-([0-9.]+)_co_occur_obj-([0-9.]+)$")


def cell_folders() -> list[str]:
    """The 8 cell folder names, in the authors' loop order (object, then background, then co-occurring object).

    Example:
        >>> cell_folders()[:2]
        ['obj-urban_bg-urban_co_occur_obj-urban', 'obj-urban_bg-urban_co_occur_obj-country']
    """
    return [f"obj-{o}_bg-{b}_co_occur_obj-{c}" for o in VALUES for b in VALUES for c in VALUES]


def parse_ratio_folder(name: str) -> dict[str, float] | None:
    """The (background, co-occurring object) correlations a ratio folder's name states, or ``None``.

    Example:
        >>> parse_ratio_folder("bg-0.95_co_occur_obj-0.95")
        {'bg': 0.95, 'co_occur_obj': 0.95}
        >>> parse_ratio_folder("test") is None
        True
    """
    match = _RATIO.match(name)
    if match is None:
        return None
    try:
        return {"bg": float(match.group(1)), "co_occur_obj": float(match.group(2))}
    except ValueError:
        return None


def _has_cells(folder: Path) -> bool:
    return any(_CELL.match(name) for name in subfolders(folder))


def _ratio_folder_for(root: Path, split: str) -> Path:
    """The ratio folder of ``root`` (the ``urbancars`` folder) that holds ``split``."""
    reference = root / REFERENCE_RATIO_FOLDERS[split] / split
    if _has_cells(reference):
        return reference.parent
    candidates = [root / name for name in subfolders(root) if _RATIO.match(name) and _has_cells(root / name / split)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise MissingDataError(
            f"urbancars: no {split!r} split under {root}; expected {root}/{REFERENCE_RATIO_FOLDERS[split]}/{split}/"
            "obj-<o>_bg-<b>_co_occur_obj-<c>/<i>.jpg"
        )
    names = ", ".join(p.name for p in candidates)
    raise MissingDataError(
        f"urbancars: several ratio folders under {root} hold a {split!r} split ({names}); give one of them as PATH"
    )


def _locate(root: Path, split: str | None) -> tuple[Path, str, dict[str, float] | None, dict[str, float] | None]:
    """(split folder, split name, its ratios, the training ratios) for PATH and SPLIT."""
    if split is not None and split not in SPLITS:
        raise SpecError(f"urbancars: split must be one of {list(SPLITS)}, got {split!r}")
    if _has_cells(root):  # a split folder
        ratios = parse_ratio_folder(root.parent.name)
        name = root.name if root.name in SPLITS else (split or root.name)
        train = ratios if name == "train" else _train_ratios(root.parent.parent)
        return root, name, ratios, train
    chosen = split or "test"
    if _has_cells(root / chosen):  # a ratio folder
        ratios = parse_ratio_folder(root.name)
        train = ratios if chosen == "train" else _train_ratios(root.parent)
        return root / chosen, chosen, ratios, train
    ratio_folder = _ratio_folder_for(root, chosen)  # the urbancars folder
    return ratio_folder / chosen, chosen, parse_ratio_folder(ratio_folder.name), _train_ratios(root)


def _train_ratios(root: Path) -> dict[str, float] | None:
    """The training correlations, from the ratio folder that holds ``train`` under ``root`` (if any)."""
    try:
        folder = _ratio_folder_for(root, "train")
    except MissingDataError:
        return None
    return parse_ratio_folder(folder.name)


def load_urbancars(path: str | Path, split: str | None = None) -> Dataset:
    """Read one UrbanCars split: label = object; factors object, background, co_occur, group (+ mask paths).

    Args:
        path: the ``urbancars`` folder, a ``bg-…_co_occur_obj-…`` ratio folder, or a split folder.
        split: ``train``, ``val`` or ``test`` (default ``test``) when ``path`` holds several splits.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for cell in cell_folders():
        ...     os.makedirs(f"{root}/bg-0.5_co_occur_obj-0.5/test/{cell}")
        >>> cell = "obj-country_bg-urban_co_occur_obj-country"
        >>> Image.new("RGB", (8, 8)).save(f"{root}/bg-0.5_co_occur_obj-0.5/test/{cell}/000.jpg")
        >>> Image.new("L", (8, 8)).save(f"{root}/bg-0.5_co_occur_obj-0.5/test/{cell}/000_mask.png")
        >>> ds = load_urbancars(root)
        >>> ds.classes, ds.manifest[["label", "object", "background", "co_occur", "group"]].values.tolist()
        (['urban', 'country'], [[1, 'country', 'urban', 'country', 'bg_absent_coobj_present']])
        >>> ds.manifest["mask_filename"].tolist(), ds.metadata["ratios"]
        (['obj-country_bg-urban_co_occur_obj-country/000_mask.png'], {'bg': 0.5, 'co_occur_obj': 0.5})
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "urbancars")
    folder, split_name, ratios, train_ratios = _locate(root, split)
    missing = [name for name in cell_folders() if not (folder / name).is_dir()]
    if missing:
        raise MissingDataError(
            f"urbancars split folder {folder} lacks {len(missing)} of the 8 cell folders, e.g. {folder / missing[0]}; "
            f"expected {folder}/obj-<o>_bg-<b>_co_occur_obj-<c>/ for o, b, c in urban, country"
        )
    columns: dict[str, list[Any]] = {
        key: []
        for key in ("sample_id", "path", "label", "object", "background", "co_occur", "group",
                    "mask_filename", "co_occur_obj_mask_filename")
    }  # fmt: skip
    for name in cell_folders():
        match = _CELL.match(name)
        assert match is not None
        obj, bg, co = match.groups()
        group = f"bg_{'present' if bg == obj else 'absent'}_coobj_{'present' if co == obj else 'absent'}"
        files = sorted(p.name for p in (folder / name).iterdir() if p.is_file() and not p.name.startswith("."))
        present = set(files)
        for file in files:
            stem, extension = file.rsplit(".", 1) if "." in file else (file, "")
            if f".{extension.lower()}" not in IMAGE_EXTENSIONS or stem.endswith(DERIVED_SUFFIXES):
                continue
            relative = f"{name}/{file}"
            columns["sample_id"].append(relative)
            columns["path"].append(relative)
            columns["label"].append(VALUES.index(obj))
            columns["object"].append(obj)
            columns["background"].append(bg)
            columns["co_occur"].append(co)
            columns["group"].append(group)
            mask, co_mask = f"{stem}{MASK_SUFFIX}.png", f"{stem}{CO_OCCUR_MASK_SUFFIX}.png"
            columns["mask_filename"].append(f"{name}/{mask}" if mask in present else "")
            columns["co_occur_obj_mask_filename"].append(f"{name}/{co_mask}" if co_mask in present else "")
    for column in ("mask_filename", "co_occur_obj_mask_filename"):
        if not any(columns[column]):
            del columns[column]
    metadata = {
        "benchmark": "urbancars",
        "split": split_name,
        "ratios": ratios,
        "train_ratios": train_ratios,
        "paper": "Li et al., CVPR 2023 (Whac-A-Mole)",
    }
    return build_dataset(f"urbancars:{folder}", folder, list(VALUES), columns, metadata, LAYOUT)


def load_synth_urbancars(
    spec: str, root: str | Path | None = None, workers: int | None = None, progress: bool = True
) -> Dataset:
    """``synth-urbancars:WORLD[:SPLIT]`` — the world's UrbanCars (built once, cached), read by :func:`load_urbancars`.

    ``SPLIT`` is ``train``, ``val`` or ``test`` (default ``test``). The build
    (:func:`robustscope.synth.urbancars.build_synthetic_urbancars`) writes the release layout under the
    render cache ``root`` (default: the workspace's ``renders/``).

    Example:
        >>> ds = load_synth_urbancars("tiny:train", progress=False)  # doctest: +SKIP
        >>> ds.metadata["train_ratios"]  # doctest: +SKIP
        {'bg': 0.95, 'co_occur_obj': 0.95}
    """
    from robustscope.config import workspace
    from robustscope.data.synthetic import parse_synth_spec
    from robustscope.synth import load_spec
    from robustscope.synth.urbancars import build_synthetic_urbancars

    world_name, split = parse_synth_spec(spec)
    if split is not None and split not in SPLITS:  # "WORLD" alone may be a path with a colon-free name
        raise SpecError(f"synth-urbancars:{spec}: the split must be one of {list(SPLITS)}, got {split!r}")
    world = load_spec(world_name)
    cache_root = Path(root) if root is not None else workspace().renders
    folder = build_synthetic_urbancars(world, cache_root, workers=workers, progress=progress)
    data = load_urbancars(folder, split or "test")
    data.name = f"synth-urbancars:{world_name}:{split or 'test'}"
    data.metadata["benchmark"] = "synthetic urbancars"
    data.metadata["world"] = world.name
    return data


__all__ = ["LAYOUT", "VALUES", "cell_folders", "load_synth_urbancars", "load_urbancars", "parse_ratio_folder"]
