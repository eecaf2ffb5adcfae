"""Datasets: a manifest of samples (id, file, label, factors) plus a way to read each image."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from robustscope.data.content_index import ContentIndex, default_index
from robustscope.data.images import read_image

#: Columns every manifest has; any other column is a factor.
MANIFEST_COLUMNS = ("sample_id", "path", "label")
#: Metadata keys that change how predictions are scored (part of the fingerprint): see
#: :mod:`robustscope.engine.label_space`.
SCORING_METADATA = ("label_sets", "set_reduction", "ood", "external_labels")


@dataclass
class Dataset:
    """A labelled image dataset described by a manifest.

    Attributes:
        name: the spec it was loaded from (``folder:/data/x``, ``csv:labels.csv``, ``synth:demo``…).
        root: folder the manifest's ``path`` column is relative to.
        classes: class names; ``manifest.label`` indexes into them.
        metadata: free-form facts about the dataset. Keys the engine reads: ``label_sets`` (class
            name → model labels that count as it) with ``set_reduction`` (``mean_prob``,
            ``top1_in_set`` or ``subset``; see :mod:`robustscope.metrics.label_space`), ``ood``
            (``True`` for out-of-distribution data, whose labels are never scored), and
            ``external_labels`` (``True`` when an axis scores the labels itself from the full logits,
            e.g. Dollar Street's per-image ImageNet index sets).
        manifest: one row per sample with ``sample_id`` (unique str), ``path`` (relative to ``root``),
            ``label`` (int) and any number of factor columns (pose, background, region, …).

    Example:
        >>> import pandas as pd
        >>> ds = Dataset("toy", ".", ["cat", "dog"],
        ...              pd.DataFrame({"sample_id": ["a", "b"], "path": ["a.png", "b.png"],
        ...                            "label": [0, 1], "pose": ["front", "side"]}))
        >>> len(ds), ds.factor_columns
        (2, ['pose'])
    """

    name: str
    root: str | Path
    classes: list[str]
    manifest: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in MANIFEST_COLUMNS if c not in self.manifest.columns]
        if missing:
            raise ValueError(f"dataset {self.name}: manifest lacks columns {missing}")
        self.manifest = self.manifest.reset_index(drop=True)
        self.manifest["sample_id"] = self.manifest["sample_id"].astype(str)
        self.manifest["label"] = self.manifest["label"].astype("int64")
        if self.manifest["sample_id"].duplicated().any():
            dupes = self.manifest.loc[self.manifest["sample_id"].duplicated(), "sample_id"].head(3).tolist()
            raise ValueError(f"dataset {self.name}: duplicate sample ids, e.g. {dupes}")
        bad = self.manifest[(self.manifest["label"] < 0) | (self.manifest["label"] >= len(self.classes))]
        if len(bad):
            raise ValueError(f"dataset {self.name}: label index out of range in row {bad.index[0]}")
        self.root = Path(self.root)

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def factor_columns(self) -> list[str]:
        return [c for c in self.manifest.columns if c not in MANIFEST_COLUMNS]

    def image_path(self, index: int) -> Path:
        return self.root / str(self.manifest.at[index, "path"])

    def load_image(self, index: int, max_pixels: int | None = None) -> Image.Image:
        """Read sample ``index`` as an RGB PIL image (raises :class:`~robustscope.errors.BadImageError` naming
        the file); images over ``max_pixels`` pixels (default: PIL's limit) are refused (see :func:`read_image`)."""
        return read_image(self.image_path(index), max_pixels=max_pixels)

    def class_names(self) -> list[str]:
        """The class name of every sample, in manifest order."""
        return [self.classes[i] for i in self.manifest["label"]]

    def subset(self, rows: Sequence[int] | pd.Series, name: str | None = None) -> Dataset:
        """A dataset of some rows (by position or boolean mask), sharing root and classes."""
        frame = self.manifest[rows] if isinstance(rows, pd.Series) else self.manifest.iloc[list(rows)]
        return Dataset(name or self.name, self.root, self.classes, frame.copy(), dict(self.metadata))

    def fingerprint(self, index: ContentIndex | None = None) -> str:
        """Hash of the manifest (ids, paths, labels, factors), class names, scoring metadata and the
        contents of every image file.

        Contents are hashed through a stat index (:class:`~robustscope.data.content_index.ContentIndex`,
        by default the workspace's: :func:`~robustscope.data.content_index.default_index`), so a file
        is read only when it is new or its size, mtime, ctime or inode changed.

        Example:
            >>> import pandas as pd, tempfile, pathlib
            >>> from robustscope.data.content_index import ContentIndex
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> _ = (root / "a.png").write_bytes(b"one")
            >>> ds = Dataset("toy", root, ["a"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [0]}))
            >>> before = ds.fingerprint(ContentIndex(None))
            >>> _ = (root / "a.png").write_bytes(b"two")  # same size, other bytes
            >>> ds.fingerprint(ContentIndex(None)) == before
            False
        """
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.classes).encode())
        digest.update(pd.util.hash_pandas_object(self.manifest.astype(str), index=False).values.tobytes())
        # Metadata that changes how labels are scored belongs to the dataset's identity.
        scoring = {k: self.metadata[k] for k in SCORING_METADATA if k in self.metadata}
        if scoring:
            digest.update(json.dumps(scoring, sort_keys=True, default=str).encode())
        digest.update("\x1f".join(self.file_digests(self.manifest["path"], index)).encode())
        return digest.hexdigest()[:20]

    def file_digests(self, relative_paths: Sequence[str], index: ContentIndex | None = None) -> list[str]:
        """Content digests of files under :attr:`root` (``"missing"`` for absent ones), through the
        stat index ``index`` (default: the workspace's), so unchanged files are not read again.

        Example:
            >>> import pandas as pd, tempfile, pathlib
            >>> from robustscope.data.content_index import ContentIndex
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> ds = Dataset("toy", root, ["a"], pd.DataFrame({"sample_id": ["a"], "path": ["a.png"], "label": [0]}))
            >>> ds.file_digests(["a.png"], ContentIndex(None))
            ['missing']
        """
        paths = [os.path.join(self.root, str(relative)) for relative in relative_paths]
        return (index or default_index()).digests(paths)
