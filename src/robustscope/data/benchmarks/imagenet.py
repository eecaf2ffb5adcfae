"""ImageNet and its natural-shift test sets, read from their released folders.

* ``imagenet-val:PATH`` — the ILSVRC-2012 validation set (Russakovsky et al., IJCV 2015) in the usual
  class-folder layout ``PATH/<wnid>/ILSVRC2012_val_*.JPEG`` (as torchvision's ImageFolder reads it).
* ``imagenet-v2:PATH`` — ImageNet-V2 (Recht et al., "Do ImageNet Classifiers Generalize to ImageNet?",
  ICML 2019): ``PATH/<class index 0..999>/<hash>.jpeg``.
* ``imagenet-sketch:PATH`` — ImageNet-Sketch (Wang et al., "Learning Robust Global Representations by
  Penalizing Local Predictive Power", NeurIPS 2019): the release's ``sketch/<wnid>/*.JPEG``.
* ``imagenet-r:PATH`` — ImageNet-R (Hendrycks et al., "The Many Faces of Robustness", ICCV 2021) and
  ``imagenet-a:PATH`` — ImageNet-A (Hendrycks et al., "Natural Adversarial Examples", CVPR 2021):
  ``PATH/<wnid>/*`` over 200 wnids each. Their 200-class lists ship in ``label_sets/`` (sources in the
  files); the datasets ask for the 200-class mask before the softmax (``set_reduction: subset``).

The classes of val, V2 and Sketch are the 1000 wnids in index order, so a label is the ImageNet index
and ImageNet models match them through their wnid aliases; a subset of the class folders is fine.
"""

from __future__ import annotations

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
from robustscope.models.labels import imagenet_wnids


def _wnid_folders(
    path: str | Path, benchmark: str, classes: list[str], metadata: dict, layout: str = "<wnid>/<image>"
) -> Dataset:
    root = Path(path).expanduser()
    check_folder(root, layout, benchmark)
    index = {name: i for i, name in enumerate(classes)}
    found = subfolders(root)
    unknown = [name for name in found if name not in index]
    if unknown:
        hint = "" if len(classes) == 1000 else f" (the {len(classes)} classes of {benchmark})"
        raise MissingDataError(
            f"{root} has folders that are not classes{hint}: {unknown[:5]}; expected {root}/{layout}"
        )
    if not found:
        raise MissingDataError(f"{root} has no class folders; expected {root}/{layout}")
    columns: dict[str, list] = {"sample_id": [], "path": [], "label": []}
    for name in found:
        for relative in scan_images(root / name):
            path_in_root = f"{name}/{relative}"
            columns["sample_id"].append(path_in_root)
            columns["path"].append(path_in_root)
            columns["label"].append(index[name])
    return build_dataset(f"{benchmark}:{root}", root, classes, columns, metadata, layout)


def load_imagenet_val(path: str | Path) -> Dataset:
    """``imagenet-val:PATH`` — ``PATH/<wnid>/*.JPEG``; classes are the 1000 wnids in index order.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/n01443537")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/n01443537/ILSVRC2012_val_00000001.JPEG")
        >>> ds = load_imagenet_val(root)
        >>> len(ds.classes), ds.manifest["label"].tolist(), ds.manifest["sample_id"].tolist()
        (1000, [1], ['n01443537/ILSVRC2012_val_00000001.JPEG'])
    """
    return _wnid_folders(path, "imagenet-val", imagenet_wnids(), {"benchmark": "imagenet-val"})


def load_imagenet_sketch(path: str | Path) -> Dataset:
    """``imagenet-sketch:PATH`` — the release's ``sketch/`` folder: ``PATH/<wnid>/*.JPEG``.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/n01440764")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/n01440764/sketch_0.JPEG")
        >>> load_imagenet_sketch(root).manifest["label"].tolist()
        [0]
    """
    return _wnid_folders(path, "imagenet-sketch", imagenet_wnids(), {"benchmark": "imagenet-sketch"})


def load_imagenet_v2(path: str | Path) -> Dataset:
    """``imagenet-v2:PATH`` — ``PATH/<class index>/<image>`` (folders ``0`` … ``999``), mapped to wnids.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/207")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/207/a1b2.jpeg")
        >>> ds = load_imagenet_v2(root)
        >>> ds.class_names(), ds.manifest["sample_id"].tolist()
        (['n02099601'], ['207/a1b2.jpeg'])
    """
    root = Path(path).expanduser()
    layout = "<class index 0..999>/<image>"
    check_folder(root, layout, "imagenet-v2")
    wnids = imagenet_wnids()
    found = subfolders(root)
    bad = [name for name in found if not (name.isdigit() and int(name) < len(wnids))]
    if bad:
        raise MissingDataError(
            f"{root} has folders that are not class indices 0..999: {bad[:5]}; expected {root}/{layout}"
        )
    columns: dict[str, list] = {"sample_id": [], "path": [], "label": []}
    for name in sorted(found, key=int):
        for relative in scan_images(root / name):
            columns["sample_id"].append(f"{name}/{relative}")
            columns["path"].append(f"{name}/{relative}")
            columns["label"].append(int(name))
    return build_dataset(f"imagenet-v2:{root}", root, wnids, columns, {"benchmark": "imagenet-v2"}, layout)


def _two_hundred(path: str | Path, benchmark: str, label_sets: LabelSets) -> Dataset:
    root = Path(path).expanduser()
    check_folder(root, "<wnid>/<image>", benchmark)
    classes, sets, source = resolve_label_sets(label_sets, benchmark.replace("-", "_"), subfolders(root))
    metadata = {"benchmark": benchmark, "label_sets": sets, "set_reduction": "subset", "label_sets_source": source}
    return _wnid_folders(root, benchmark, classes, metadata)


def load_imagenet_r(path: str | Path, label_sets: LabelSets = None) -> Dataset:
    """``imagenet-r:PATH`` — ``PATH/<wnid>/*`` over the 200 ImageNet-R wnids, scored on the 200-class mask.

    Args:
        path: the ``imagenet-r`` folder of the release.
        label_sets: class → model labels, replacing the 200 wnids → their ImageNet index (or ``"identity"``).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/n01443537")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/n01443537/art_0.jpg")
        >>> ds = load_imagenet_r(root)
        >>> len(ds.classes), ds.metadata["set_reduction"], ds.metadata["label_sets"]["n01443537"]
        (200, 'subset', [1])
    """
    return _two_hundred(path, "imagenet-r", label_sets)


def load_imagenet_a(path: str | Path, label_sets: LabelSets = None) -> Dataset:
    """``imagenet-a:PATH`` — ``PATH/<wnid>/*`` over the 200 ImageNet-A wnids, scored on the 200-class mask.

    Args:
        path: the ``imagenet-a`` folder of the release.
        label_sets: class → model labels, replacing the 200 wnids → their ImageNet index (or ``"identity"``).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/n01498041")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/n01498041/0.000116_digital clock _ digital clock_0.865844.jpg")
        >>> ds = load_imagenet_a(root)
        >>> ds.class_names(), ds.metadata["label_sets"]["n01498041"]
        (['n01498041'], [6])
    """
    return _two_hundred(path, "imagenet-a", label_sets)
