"""Shared pieces of the benchmark loaders: image scans, the shipped label-set files, spec arguments.

The label-set files live in ``robustscope/data/label_sets/*.json``; each names its source (repository,
file and commit) and the paper it comes from, beside ``classes`` and ``label_sets`` (class name → the
ImageNet-1k logit indices that count as that class).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from robustscope.data.base import Dataset
from robustscope.data.folder import IMAGE_EXTENSIONS
from robustscope.errors import MissingDataError, SpecError

#: A label-set override: class name → model labels (ImageNet indices or label names), or
#: ``"identity"`` (each class folder is its own model label, as for a synthetic world's models).
LabelSets = Mapping[str, Sequence[int | str]] | str | None


def scan_images(folder: str | Path) -> list[str]:
    """Image files under ``folder`` (recursively, hidden entries skipped), as sorted relative POSIX paths.

    Uses ``os.scandir``: an ImageNet-C tree has millions of files.

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/a/b")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/a/b/1.JPEG")
        >>> _ = open(f"{root}/a/notes.txt", "w").write("not an image")
        >>> scan_images(root)
        ['a/b/1.JPEG']
    """
    base = Path(folder)
    found: list[str] = []

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    walk(entry.path, f"{prefix}{entry.name}/")
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                    found.append(prefix + entry.name)

    if base.is_dir():
        walk(str(base), "")
    return found


def subfolders(folder: str | Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``folder`` (empty if it is not a folder).

    Example:
        >>> import tempfile, os
        >>> root = tempfile.mkdtemp()
        >>> for name in ("b", "a", ".cache"):
        ...     os.makedirs(f"{root}/{name}")
        >>> subfolders(root)
        ['a', 'b']
    """
    base = Path(folder)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


@cache
def _read_label_set_file(name: str) -> str:
    return resources.files("robustscope.data").joinpath("label_sets", f"{name}.json").read_text(encoding="utf-8")


def label_set_file(name: str) -> dict[str, Any]:
    """A shipped label-set file (``imagenet_r``, ``imagenet_a``, ``cue_conflict``, ``in_to_in9``, ``focus``, …).

    Example:
        >>> data = label_set_file("cue_conflict")
        >>> data["label_sets"]["knife"], data["set_reduction"]
        ([499], 'mean_prob')
    """
    return json.loads(_read_label_set_file(name))


def resolve_label_sets(
    override: LabelSets, default_file: str, found: Sequence[str] = ()
) -> tuple[list[str], dict[str, list[int | str]], str]:
    """Classes, label sets and their source: the shipped file, an override mapping, or ``"identity"``.

    Args:
        override: ``None`` (use ``default_file``), a mapping (its keys are the classes, in order), or
            ``"identity"`` (the ``found`` class folders, each its own model label).
        default_file: the shipped file to use when there is no override.
        found: class folder names on disk (for ``"identity"``).

    Example:
        >>> classes, sets, source = resolve_label_sets({"cone": ["cone"], "cube": [3]}, "cue_conflict")
        >>> classes, sets["cube"], source
        (['cone', 'cube'], [3], 'label_sets argument')
        >>> resolve_label_sets("identity", "cue_conflict", ["b", "a"])[1]
        {'a': ['a'], 'b': ['b']}
    """
    if override is None:
        data = label_set_file(default_file)
        sets = {str(k): list(v) for k, v in data["label_sets"].items()}
        return list(data["classes"]), sets, str(data["source"])
    if isinstance(override, str):
        if override != "identity":
            raise SpecError(f"label_sets={override!r}: give a mapping class → model labels, or 'identity'")
        classes = sorted(found)
        return classes, {c: [c] for c in classes}, "identity (each class is its own model label)"
    sets = {str(k): list(v) for k, v in override.items()}
    if not sets:
        raise SpecError("label_sets is empty: give at least one class → model labels")
    return list(sets), sets, "label_sets argument"


def split_argument(argument: str, extras: int) -> tuple[str, list[str]]:
    """Split a spec argument ``PATH[:A[:B]]`` into the path and up to ``extras`` further values.

    A Windows drive (``C:\\data``) stays part of the path; an empty path means "look it up under
    the data root".

    Example:
        >>> split_argument("/data/imagenet-c:fog:3", 2)
        ('/data/imagenet-c', ['fog', '3'])
        >>> split_argument(":mixed_rand", 1)
        ('', ['mixed_rand'])
        >>> split_argument("/data/x", 0)
        ('/data/x', [])
    """
    parts = argument.split(":")
    if len(parts) > 1 and len(parts[0]) == 1 and parts[0].isalpha() and parts[1][:1] in ("\\", "/"):
        parts = [f"{parts[0]}:{parts[1]}", *parts[2:]]
    path, rest = parts[0], parts[1:]
    if len(rest) > extras:
        raise SpecError(
            f"too many ':'-separated values in {argument!r}: this dataset takes PATH"
            + "".join(f"[:{i}]" for i in ("A", "B")[:extras])
        )
    return path, rest


def check_folder(root: Path, layout: str, benchmark: str) -> None:
    """Raise :class:`MissingDataError` naming ``root`` and the expected ``layout`` unless it is a folder.

    Example:
        >>> try:
        ...     check_folder(Path("/nowhere/imagenet-r"), "<wnid>/<image>", "imagenet-r")
        ... except MissingDataError as err:
        ...     print(err)
        imagenet-r folder /nowhere/imagenet-r does not exist; expected /nowhere/imagenet-r/<wnid>/<image>
    """
    if not root.is_dir():
        raise MissingDataError(f"{benchmark} folder {root} does not exist; expected {root}/{layout}")


def build_dataset(
    name: str,
    root: Path,
    classes: list[str],
    columns: dict[str, list[Any]],
    metadata: dict[str, Any],
    layout: str,
) -> Dataset:
    """A :class:`Dataset` from manifest columns; an empty manifest is a :class:`MissingDataError`.

    Example:
        >>> ds = build_dataset("toy", Path("."), ["a"], {"sample_id": ["x"], "path": ["x.png"], "label": [0]},
        ...                    {"benchmark": "toy"}, "<image>")
        >>> len(ds), ds.metadata["benchmark"]
        (1, 'toy')
    """
    if not columns.get("sample_id"):
        raise MissingDataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found: expected {root}/{layout}")
    return Dataset(name, root, classes, pd.DataFrame(columns), metadata)
