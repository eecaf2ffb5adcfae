"""``imagenet-9:PATH[:VARIANT]`` — the backgrounds challenge (ImageNet-9 and its background variants).

Xiao, Engstrom, Ilyas & Madry, "Noise or Signal: The Role of Image Backgrounds in Object Recognition",
ICLR 2021. The release (MadryLab/backgrounds_challenge, ``backgrounds_challenge_data.tar.gz``, the
``bg_challenge`` folder) is ``PATH/<variant>/val/<class>/*.JPEG`` for the variants ``original``,
``only_fg``, ``only_bg_b``, ``only_bg_t``, ``no_fg``, ``mixed_same``, ``mixed_rand`` and ``mixed_next``,
over the nine class folders ``00_dog`` … ``08_fish``. Without ``VARIANT`` every variant present is read,
with a ``variant`` factor; the sample id is the path relative to ``PATH``, so it is unique across variants.

A 1000-way model is scored as in the release's ``in9_eval.py``: correct iff its top-1 ImageNet class
maps to the image's class (``set_reduction: top1_in_set``), through the repository's official
``in_to_in9.json`` (ImageNet index → IN-9 class, -1 for the 630 classes outside IN-9). A copy of that file
ships as ``label_sets/in_to_in9.json``, its 1000 entries verbatim, with a ``_source`` field citing repository,
commit and path; an ``in_to_in9.json`` in ``PATH`` (or passed as ``mapping=``) is used instead. Its class sizes
are the paper's Table 4 (116 dog, 52 bird, 42 wheeled vehicle, …); golf cart (575) and mobile home (660), for
instance, are outside IN-9 (-1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import (
    LabelSets,
    build_dataset,
    check_folder,
    label_set_file,
    resolve_label_sets,
    scan_images,
    subfolders,
)
from robustscope.errors import MissingDataError, SpecError

#: The variants of the release, in the paper's order.
VARIANTS = ("original", "only_fg", "only_bg_b", "only_bg_t", "no_fg", "mixed_same", "mixed_rand", "mixed_next")
#: The class folders of the release, in label order.
CLASSES = (
    "00_dog", "01_bird", "02_wheeled vehicle", "03_reptile", "04_carnivore",
    "05_insect", "06_musical instrument", "07_primate", "08_fish",
)  # fmt: skip
#: File name of the official ImageNet index → IN-9 class map (``{"0": 8, …, "999": -1}``).
OFFICIAL_MAPPING = "in_to_in9.json"
#: The shipped copy of the official map (``label_sets/in_to_in9.json``), by its label-set file name.
SHIPPED_MAPPING = "in_to_in9"
LAYOUT = "<variant>/val/<class>/<image>"


def read_in_to_in9(mapping: str | Path | Mapping[str, Any], classes: tuple[str, ...] = CLASSES) -> dict[str, list[int]]:
    """Label sets from an ``in_to_in9.json`` (ImageNet index → IN-9 class index, -1 for none), a file or its dict.

    Keys starting with ``_`` (the shipped copy's ``_source``) are not entries.

    Example:
        >>> import tempfile, json
        >>> f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        >>> json.dump({"0": 8, "1": 8, "2": -1, "151": 0}, f); f.close()
        >>> sets = read_in_to_in9(f.name)
        >>> sets["08_fish"], sets["00_dog"], sets["01_bird"]
        ([0, 1], [151], [])
        >>> read_in_to_in9({"_source": "a note", "575": -1, "407": 2})["02_wheeled vehicle"]
        [407]
    """
    where = "in_to_in9" if isinstance(mapping, Mapping) else str(mapping)
    try:
        raw = mapping if isinstance(mapping, Mapping) else json.loads(Path(mapping).read_text(encoding="utf-8"))
        pairs = sorted((int(k), int(v)) for k, v in raw.items() if not str(k).startswith("_"))
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as err:
        raise SpecError(f"{where} is not an ImageNet → IN-9 map like {{\"0\": 8, \"575\": -1}} ({err})") from None
    sets: dict[str, list[int]] = {name: [] for name in classes}
    for index, target in pairs:
        if target >= 0:
            if target >= len(classes):
                raise SpecError(f"{where}: ImageNet class {index} maps to IN-9 class {target}, not in 0..8")
            sets[classes[target]].append(index)
    return sets


def load_imagenet9(
    path: str | Path,
    variant: str | None = None,
    label_sets: LabelSets = None,
    mapping: str | Path | None = None,
) -> Dataset:
    """Read ImageNet-9 (one variant, or all present with a ``variant`` factor).

    Args:
        path: the ``bg_challenge`` folder: ``PATH/<variant>/val/<class>/<image>``.
        variant: one of :data:`VARIANTS` (or any variant folder present); ``None`` reads all.
        label_sets: class → model labels, replacing the IN-9 → ImageNet map (a synthetic world's
            classes, or ``"identity"`` for its folder names).
        mapping: an ``in_to_in9.json``; default ``PATH/in_to_in9.json`` when it exists, else the shipped copy
            of the official one.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for v in ("original", "mixed_rand"):
        ...     os.makedirs(f"{root}/{v}/val/00_dog")
        ...     Image.new("RGB", (8, 8)).save(f"{root}/{v}/val/00_dog/n02085620_1.JPEG")
        >>> ds = load_imagenet9(root)
        >>> ds.manifest["variant"].tolist(), ds.class_names()
        (['original', 'mixed_rand'], ['00_dog', '00_dog'])
        >>> len(load_imagenet9(root, "mixed_rand")), ds.metadata["set_reduction"]
        (1, 'top1_in_set')
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "imagenet-9")
    if variant is not None:
        if not (root / variant / "val").is_dir():
            present = [v for v in subfolders(root) if (root / v / "val").is_dir()]
            raise MissingDataError(
                f"imagenet-9 variant folder {root / variant / 'val'} does not exist; expected "
                f"{root / variant}/val/<class>/<image> (variants present: {present or 'none'})"
            )
        variants = [variant]
    else:
        variants = [v for v in VARIANTS if (root / v / "val").is_dir()]
        if not variants:
            raise MissingDataError(
                f"no imagenet-9 variant folders ({', '.join(VARIANTS)}) under {root}; expected {root}/{LAYOUT}"
            )
    found = sorted({name for v in variants for name in subfolders(root / v / "val")})
    official = Path(mapping).expanduser() if mapping is not None else root / OFFICIAL_MAPPING
    if label_sets is None and official.is_file():
        classes, sets, source = list(CLASSES), read_in_to_in9(official), f"official map {official}"
    elif label_sets is None:
        if mapping is not None:
            raise MissingDataError(f"ImageNet-9 map {official} does not exist (the release's {OFFICIAL_MAPPING})")
        shipped = label_set_file(SHIPPED_MAPPING)
        classes, sets, source = list(CLASSES), read_in_to_in9(shipped), f"official map: {shipped['_source']}"
    else:
        classes, sets, source = resolve_label_sets(label_sets, "in_to_in9", found)
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise MissingDataError(f"{root} has class folders that are not ImageNet-9 classes {classes}: {unknown[:5]}")
    columns: dict[str, list] = {"sample_id": [], "path": [], "label": [], "variant": []}
    for v in variants:
        for name in subfolders(root / v / "val"):
            for relative in scan_images(root / v / "val" / name):
                columns["sample_id"].append(f"{v}/val/{name}/{relative}")
                columns["path"].append(f"{v}/val/{name}/{relative}")
                columns["label"].append(index[name])
                columns["variant"].append(v)
    metadata = {
        "benchmark": "imagenet-9",
        "label_sets": sets,
        "set_reduction": "top1_in_set",
        "label_sets_source": source,
        "variants": variants,
    }
    name = f"imagenet-9:{root}" + (f":{variant}" if variant else "")
    return build_dataset(name, root, classes, columns, metadata, LAYOUT)
