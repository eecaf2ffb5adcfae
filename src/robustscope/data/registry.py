"""Dataset specs (``folder:``, ``csv:``, ``synth:``) resolved through one registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robustscope.data.base import Dataset
from robustscope.registry import Registry, split_scheme

DATASET_SCHEMES: Registry[Dataset] = Registry("dataset")
DATASET_SCHEMES.add(
    "folder",
    "robustscope.data.folder:load_folder",
    summary="ImageFolder layout: PATH/<class>/<image>",
    example="folder:~/data/imagenet/val",
)
DATASET_SCHEMES.add(
    "csv",
    "robustscope.data.manifest:load_manifest",
    summary="CSV manifest: filename, label and factor columns (the PUG schema is one)",
    example="csv:~/data/pug_imagenet/labels.csv",
)
DATASET_SCHEMES.add(
    "synth",
    "robustscope.data.synthetic:load_synth",
    summary="a split of a synthetic world, rendered on first use and cached",
    example="synth:demo:test-pose",
)


def load_dataset(spec: str, root: str | Path | None = None, **options: Any) -> Dataset:
    """Load a dataset from a ``scheme:argument`` spec.

    ``root`` is passed on as the data root: the folder a CSV's files are relative to, or the
    render cache of a synthetic world. A relative ``folder:``/``csv:`` path is looked up under
    ``root`` when it does not exist as given.

    Example:
        >>> load_dataset("foldr:/tmp/x")
        Traceback (most recent call last):
        ...
        robustscope.errors.UnknownNameError: unknown dataset scheme 'foldr:/tmp/x'; did you mean 'folder:/tmp/x'?
    """
    scheme, argument = split_scheme(spec, "dataset", DATASET_SCHEMES.keys())
    loader = DATASET_SCHEMES.get(scheme)
    if scheme == "synth":
        return loader(argument, root=root, **options)
    path = Path(argument).expanduser()
    if root is not None and not path.is_absolute() and not path.exists():
        path = Path(root).expanduser() / path
    return loader(path, **options)
