"""``folder:PATH`` — the ImageFolder layout: one sub-folder per class, images inside."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from robustscope.data.base import Dataset
from robustscope.errors import MissingDataError

#: File endings read as images (lower case), as torchvision's ImageFolder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def load_folder(path: str | Path, classes: list[str] | None = None) -> Dataset:
    """Read an ImageFolder tree: ``PATH/<class>/**/<image>``; the sample id is the relative path.

    Args:
        path: the root folder.
        classes: class names in label order; default: the sorted sub-folder names. Sub-folders
            not listed are an error (they would be silently dropped otherwise).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> for name in ("cat", "dog"):
        ...     os.makedirs(f"{root}/{name}")
        ...     Image.new("RGB", (8, 8)).save(f"{root}/{name}/1.png")
        >>> ds = load_folder(root)
        >>> ds.classes, len(ds)
        (['cat', 'dog'], 2)
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise MissingDataError(f"dataset folder {root} does not exist; expected {root}/<class>/<image files>")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise MissingDataError(f"dataset folder {root} has no class sub-folders; expected {root}/<class>/<images>")
    names = list(classes) if classes is not None else found
    unlisted = sorted(set(found) - set(names))
    if unlisted:
        raise MissingDataError(f"{root} has class folders not in classes=[...]: {unlisted[:5]}")
    rows = []
    for label, name in enumerate(names):
        folder = root / name
        if not folder.is_dir():
            continue
        for file in sorted(folder.rglob("*")):
            if file.suffix.lower() in IMAGE_EXTENSIONS and file.is_file():
                relative = file.relative_to(root).as_posix()
                rows.append({"sample_id": relative, "path": relative, "label": label})
    if not rows:
        raise MissingDataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
    return Dataset(f"folder:{root}", root, names, pd.DataFrame(rows))
