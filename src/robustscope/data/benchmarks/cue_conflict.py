"""``cue-conflict:PATH`` — the shape/texture cue-conflict stimuli of Geirhos et al.

Geirhos, Rubisch, Michaelis, Bethge, Wichmann & Brendel, "ImageNet-trained CNNs are biased towards
texture; increasing shape bias improves accuracy and robustness", ICLR 2019. The 1,280 stimuli are
released (bethgelab/model-vs-human, ``cue-conflict``) as ``PATH/<shape category>/<shape><i>-<texture><j>.png``,
e.g. ``cat/cat1-elephant1.png``, over 16 categories. The label is the shape category; the factors are
``shape``, ``texture`` (parsed from the file name) and ``shape_texture_agree`` (stimuli whose shape and
texture agree are skipped by the shape-bias protocol). The 16 categories' ImageNet index lists
(``label_sets/cue_conflict.json``, from model-vs-human's ``human_categories.py``) are averaged over
(``set_reduction: mean_prob``).
"""

from __future__ import annotations

import re
from pathlib import Path

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import (
    LabelSets,
    build_dataset,
    check_folder,
    resolve_label_sets,
    scan_images,
    subfolders,
)
from robustscope.errors import MissingDataError

LAYOUT = "<shape category>/<shape><i>-<texture><j>.png"
#: ``<shape><i>-<texture><j>``: category names followed by an instance number.
STIMULUS_NAME = re.compile(r"^(?P<shape>.+?)(?P<shape_i>\d+)-(?P<texture>.+?)(?P<texture_i>\d+)$")


def parse_stimulus_name(filename: str) -> tuple[str, str]:
    """The (shape, texture) categories of a cue-conflict file name.

    Example:
        >>> parse_stimulus_name("cat1-elephant1.png")
        ('cat', 'elephant')
        >>> parse_stimulus_name("airplane10-bicycle2.png")
        ('airplane', 'bicycle')
    """
    match = STIMULUS_NAME.match(Path(filename).stem)
    if match is None:
        raise MissingDataError(f"cue-conflict file {filename!r} is not named <shape><i>-<texture><j>.png")
    return match["shape"], match["texture"]


def load_cue_conflict(path: str | Path, label_sets: LabelSets = None) -> Dataset:
    """Read the cue-conflict stimuli: label = shape category; factors shape, texture, shape_texture_agree.

    Args:
        path: the ``cue-conflict`` folder (16 category folders).
        label_sets: category → model labels, replacing the 16 categories → ImageNet indices (a synthetic
            world's classes, or ``"identity"`` for its folder names).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/cat")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/cat/cat1-elephant1.png")
        >>> ds = load_cue_conflict(root)
        >>> ds.class_names(), ds.manifest[["shape", "texture", "shape_texture_agree"]].values.tolist()
        (['cat'], [['cat', 'elephant', False]])
        >>> ds.metadata["set_reduction"], ds.metadata["label_sets"]["knife"]
        ('mean_prob', [499])
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "cue-conflict")
    found = subfolders(root)
    classes, sets, source = resolve_label_sets(label_sets, "cue_conflict", found)
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise MissingDataError(f"{root} has folders that are not cue-conflict categories {classes}: {unknown[:5]}")
    columns: dict[str, list] = {
        "sample_id": [],
        "path": [],
        "label": [],
        "shape": [],
        "texture": [],
        "shape_texture_agree": [],
    }
    for name in found:
        for relative in scan_images(root / name):
            shape, texture = parse_stimulus_name(relative)
            if shape != name:
                raise MissingDataError(
                    f"{root / name / relative}: the shape in the file name ({shape!r}) is not its folder ({name!r})"
                )
            columns["sample_id"].append(f"{name}/{relative}")
            columns["path"].append(f"{name}/{relative}")
            columns["label"].append(index[name])
            columns["shape"].append(shape)
            columns["texture"].append(texture)
            columns["shape_texture_agree"].append(shape == texture)
    metadata = {
        "benchmark": "cue-conflict",
        "label_sets": sets,
        "set_reduction": "mean_prob",
        "label_sets_source": source,
    }
    return build_dataset(f"cue-conflict:{root}", root, classes, columns, metadata, LAYOUT)
