"""``imagenet-c:PATH[:CORRUPTION[:SEVERITY]]`` and ``imagenet-3dcc:…`` — corrupted ImageNet validation sets.

* ImageNet-C: Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
  Perturbations", ICLR 2019 (15 corruptions plus 4 extra, 5 severities).
* ImageNet-3DCC: Kar, Yeo, Atanov & Zamir, "3D Common Corruptions and Data Augmentation", CVPR 2022.

Both are released as ``PATH/<corruption>/<severity 1-5>/<wnid>/*.JPEG`` (the ImageNet validation set's
class folders under each corruption and severity). The classes are the 1000 wnids in index order; the
factors are ``corruption`` and ``severity``; the sample id is the path relative to ``PATH``, unique across
corruptions and severities. The corruptions are whatever folders are present (no fixed list), so the
extra ImageNet-C corruptions and every 3DCC corruption are read the same way.
"""

from __future__ import annotations

from pathlib import Path

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, scan_images, subfolders
from robustscope.errors import MissingDataError, SpecError
from robustscope.models.labels import imagenet_wnids

LAYOUT = "<corruption>/<severity 1-5>/<wnid>/<image>"


def _load(path: str | Path, benchmark: str, corruption: str | None, severity: int | str | None) -> Dataset:
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, benchmark)
    if severity is not None and corruption is None:
        raise SpecError(f"{benchmark}: a severity needs a corruption ({benchmark}:PATH:CORRUPTION:SEVERITY)")
    if corruption is not None:
        if not (root / corruption).is_dir():
            raise MissingDataError(
                f"{benchmark} corruption folder {root / corruption} does not exist; expected "
                f"{root / corruption}/<severity 1-5>/<wnid>/<image> (corruptions present: {subfolders(root) or 'none'})"
            )
        corruptions = [corruption]
    else:
        corruptions = subfolders(root)
        if not corruptions:
            raise MissingDataError(f"{benchmark} folder {root} has no corruption folders; expected {root}/{LAYOUT}")
    wanted: str | None = None
    if severity is not None:
        wanted = str(severity).strip()
        if wanted not in {"1", "2", "3", "4", "5"}:
            raise SpecError(f"{benchmark}: severity {severity!r} is not one of 1..5")
    wnids = imagenet_wnids()
    index = {w: i for i, w in enumerate(wnids)}
    columns: dict[str, list] = {"sample_id": [], "path": [], "label": [], "corruption": [], "severity": []}
    for name in corruptions:
        levels = subfolders(root / name)
        bad = [level for level in levels if not level.isdigit()]
        if bad:
            raise MissingDataError(
                f"{root / name} has folders that are not severities 1-5: {bad[:5]}; expected {LAYOUT}"
            )
        if wanted is not None:
            if wanted not in levels:
                raise MissingDataError(
                    f"{benchmark} severity folder {root / name / wanted} does not exist; expected "
                    f"{root / name / wanted}/<wnid>/<image> (severities present: {levels or 'none'})"
                )
            levels = [wanted]
        for level in sorted(levels, key=int):
            folder = root / name / level
            for wnid in subfolders(folder):
                if wnid not in index:
                    raise MissingDataError(f"{folder} has a folder that is not an ImageNet wnid: {wnid!r}")
                for relative in scan_images(folder / wnid):
                    relative_path = f"{name}/{level}/{wnid}/{relative}"
                    columns["sample_id"].append(relative_path)
                    columns["path"].append(relative_path)
                    columns["label"].append(index[wnid])
                    columns["corruption"].append(name)
                    columns["severity"].append(int(level))
    spec = f"{benchmark}:{root}" + "".join(f":{v}" for v in (corruption, wanted) if v is not None)
    metadata = {"benchmark": benchmark, "corruptions": corruptions}
    return build_dataset(spec, root, wnids, columns, metadata, LAYOUT)


def load_imagenet_c(path: str | Path, corruption: str | None = None, severity: int | str | None = None) -> Dataset:
    """``imagenet-c:PATH[:CORRUPTION[:SEVERITY]]`` — every corruption and severity present, or one of them.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for c, s in (("fog", 1), ("fog", 3), ("snow", 3)):
        ...     os.makedirs(f"{root}/{c}/{s}/n01440764")
        ...     Image.new("RGB", (8, 8)).save(f"{root}/{c}/{s}/n01440764/ILSVRC2012_val_00000293.JPEG")
        >>> ds = load_imagenet_c(root)
        >>> ds.manifest[["corruption", "severity"]].values.tolist()
        [['fog', 1], ['fog', 3], ['snow', 3]]
        >>> load_imagenet_c(root, "fog", 3).manifest["sample_id"].tolist()
        ['fog/3/n01440764/ILSVRC2012_val_00000293.JPEG']
    """
    return _load(path, "imagenet-c", corruption, severity)


def load_imagenet_3dcc(path: str | Path, corruption: str | None = None, severity: int | str | None = None) -> Dataset:
    """``imagenet-3dcc:PATH[:CORRUPTION[:SEVERITY]]`` — ImageNet-3DCC's released folders (same layout as -C).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/near_focus/5/n01440764")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/near_focus/5/n01440764/ILSVRC2012_val_00000293.JPEG")
        >>> ds = load_imagenet_3dcc(root, "near_focus")
        >>> ds.manifest[["corruption", "severity", "label"]].values.tolist()
        [['near_focus', 5, 0]]
    """
    return _load(path, "imagenet-3dcc", corruption, severity)
