"""``ood-folder:PATH`` — out-of-distribution image sets (iNaturalist, SUN, Places, Textures) as folders.

The large-scale OOD benchmark of Huang & Li ("MOS: Towards Scaling Out-of-distribution Detection for Large
Semantic Space", CVPR 2021) ships its iNaturalist, SUN and Places subsets as flat folders of images, and
Textures is DTD (Cimpoi et al., "Describing Textures in the Wild", CVPR 2014), whose ``images/`` folder has
one sub-folder per texture; OpenOOD (Yang et al., "OpenOOD: Benchmarking Generalized Out-of-Distribution
Detection", NeurIPS 2022 Datasets and Benchmarks) uses the same sets. Both layouts are read: every image
under ``PATH``, recursively. All samples get the one class ``"ood"`` and the factor ``ood_set``;
``metadata["ood"]`` is ``True``, so their labels are never scored against a model's label space.
"""

from __future__ import annotations

from pathlib import Path

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import build_dataset, check_folder, scan_images

OOD_CLASS = "ood"
LAYOUT = "<image> or <sub-folder>/<image> (any depth)"


def default_set_name(root: Path) -> str:
    """The name of an OOD set from its folder (``dtd/images`` → ``dtd``, ``ood/iNaturalist`` → ``iNaturalist``).

    Example:
        >>> default_set_name(Path("/data/ood/iNaturalist")), default_set_name(Path("/data/dtd/images"))
        ('iNaturalist', 'dtd')
    """
    return root.parent.name if root.name.lower() == "images" and root.parent.name else root.name


def load_ood_folder(path: str | Path, name: str | None = None) -> Dataset:
    """Read an OOD image folder (flat or with sub-folders): class ``"ood"``, factor ``ood_set``.

    Args:
        path: the folder.
        name: the ``ood_set`` value (default: the folder's name, see :func:`default_set_name`).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp() + "/Textures"
        >>> os.makedirs(f"{root}/banded")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/banded/banded_0002.jpg")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/flat.jpg")
        >>> ds = load_ood_folder(root)
        >>> ds.classes, ds.manifest["sample_id"].tolist(), ds.manifest["ood_set"].unique().tolist(), ds.metadata["ood"]
        (['ood'], ['banded/banded_0002.jpg', 'flat.jpg'], ['Textures'], True)
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "ood-folder")
    set_name = name or default_set_name(root)
    files = scan_images(root)
    columns = {
        "sample_id": files,
        "path": list(files),
        "label": [0] * len(files),
        "ood_set": [set_name] * len(files),
    }
    metadata = {"benchmark": "ood-folder", "ood": True, "ood_set": set_name}
    return build_dataset(f"ood-folder:{root}", root, [OOD_CLASS], columns, metadata, LAYOUT)
