"""Reading a PUG release: its label CSV, the image each row names, and the class each row's label is.

Every PUG dataset (:mod:`robustscope.data.benchmarks.pug`) is a folder of rendered images and one CSV with a
row per image: the image's file and its factors of variation. Image files are looked up at ``PATH/<file>``,
then at ``PATH/<label>/<file>`` (PUG:Animals), then by unique file name anywhere under ``PATH``; a file found
nowhere, or found twice, is an error naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from robustscope.data.benchmarks._common import scan_images
from robustscope.errors import MissingDataError

__all__ = ["FILE_COLUMNS", "PAPER", "PugRelease", "match_class_names", "open_release", "read_pug_csv",
           "release_manifest"]

PAPER = (
    "Bordes et al., PUG: Photorealistic and Semantically Controllable Synthetic Data for Representation "
    "Learning, NeurIPS 2023 Datasets and Benchmarks"
)
#: Column names tried, in order, for a row's image file.
FILE_COLUMNS = ("filename", "filepath", "file_name", "path")


class PugRelease(NamedTuple):
    """A release's label CSV, opened: the CSV, the folder its images are under, its rows and its image column."""

    csv: Path
    root: Path
    frame: pd.DataFrame
    file_column: str


def open_release(path: str | Path, default_csv: str, benchmark: str, required: Sequence[str] = ()) -> PugRelease:
    """Open a release given as its folder (``PATH/<default_csv>``) or its CSV; :class:`MissingDataError` names
    what is missing (the folder, the CSV, a ``required`` column, the image column).

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> _ = open(f"{root}/labels.csv", "w").write("filepath,Level\\na.png,1\\n")
        >>> release = open_release(root, "labels.csv", "pug-x", ["Level"])
        >>> release.root == Path(root), release.file_column, len(release.frame)
        (True, 'filepath', 1)
    """
    csv, root = _csv_and_root(path, default_csv, benchmark)
    frame = read_pug_csv(csv, required)
    return PugRelease(csv, root, frame, _file_column(frame, csv))


def _csv_and_root(path: str | Path, default_csv: str, benchmark: str) -> tuple[Path, Path]:
    given = Path(path).expanduser()
    if given.is_file():
        return given, given.parent
    if not given.is_dir():
        raise MissingDataError(f"{benchmark} folder {given} does not exist; expected {given}/{default_csv} and images")
    csv = given / default_csv
    if not csv.is_file():
        found = sorted(p.name for p in given.glob("*.csv"))
        raise MissingDataError(
            f"{benchmark}: no {default_csv} in {given}"
            + (f" (CSV files there: {found}; pass PATH/<file>.csv)" if found else "")
        )
    return csv, given


def read_pug_csv(csv: str | Path, required: Sequence[str] = ()) -> pd.DataFrame:
    """A PUG label CSV as strings (index columns dropped); :class:`MissingDataError` names missing columns.

    Example:
        >>> import tempfile
        >>> csv = tempfile.mkdtemp() + "/labels.csv"
        >>> _ = open(csv, "w").write(",filename,world_name\\n0,a.png,Desert\\n")
        >>> read_pug_csv(csv, ["filename"]).to_dict("records")
        [{'filename': 'a.png', 'world_name': 'Desert'}]
    """
    path = Path(csv)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise MissingDataError(f"{path} is not a PUG label CSV ({err})") from None
    frame = frame.loc[:, [c for c in frame.columns if c and not str(c).startswith("Unnamed")]]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise MissingDataError(f"{path} lacks column(s) {missing}; its columns: {list(frame.columns)}")
    if frame.empty:
        raise MissingDataError(f"{path} has no rows")
    return frame.reset_index(drop=True)


def _file_column(frame: pd.DataFrame, csv: Path) -> str:
    for name in FILE_COLUMNS:
        if name in frame.columns:
            return name
    raise MissingDataError(f"{csv} has no image column (tried {list(FILE_COLUMNS)}); columns: {list(frame.columns)}")


def _resolve_files(root: Path, files: Sequence[str], subfolders: Sequence[str] | None, csv: Path) -> list[str]:
    """Each file as a path relative to ``root``: as given, under its label folder, or by unique file name."""
    resolved: list[str] = []
    by_name: dict[str, list[str]] | None = None
    missing: list[str] = []
    ambiguous: list[tuple[str, list[str]]] = []
    for i, raw in enumerate(files):
        name = str(raw).replace("\\", "/").lstrip("/")
        candidates = [name] + ([f"{subfolders[i]}/{name}"] if subfolders is not None else [])
        hit = next((c for c in candidates if os.path.isfile(root / c)), None)
        if hit is None:
            if by_name is None:  # scanning the tree costs a pass over it: only when a direct lookup fails
                by_name = {}
                for relative in scan_images(root):
                    by_name.setdefault(relative.rsplit("/", 1)[-1], []).append(relative)
            matches = [m for m in by_name.get(name.rsplit("/", 1)[-1], []) if m.endswith(name)]
            if len(matches) == 1:
                hit = matches[0]
            elif matches:
                ambiguous.append((name, matches[:3]))
            else:
                missing.append(name)
        resolved.append(hit or name)
    if missing:
        raise MissingDataError(
            f"{len(missing)} of {len(files)} images named in {csv} are missing under {root}, e.g. {missing[0]!r} "
            f"(looked for {root}/<file>, {root}/<label>/<file> and the file name anywhere below {root})"
        )
    if ambiguous:
        name, matches = ambiguous[0]
        raise MissingDataError(f"{csv}: image {name!r} is not under {root} as named; several files match: {matches}")
    return resolved



def release_manifest(
    root: Path,
    frame: pd.DataFrame,
    file_column: str,
    labels: Sequence[int],
    csv: Path,
    subfolders: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> dict[str, list[Any]]:
    """The manifest columns of a release's rows: ``sample_id`` and ``path`` (each image's file, found under
    ``root``; ``subfolders`` are the per-row label folders to try), ``label`` and every other column but ``skip``.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "a.png").touch()
        >>> frame = pd.DataFrame({"filename": ["a.png"], "world_name": ["Desert"], "Actor": ["x"]})
        >>> release_manifest(root, frame, "filename", [0], root / "labels.csv", skip=("Actor",))
        {'sample_id': ['a.png'], 'path': ['a.png'], 'label': [0], 'world_name': ['Desert']}
    """
    paths = _resolve_files(root, frame[file_column].tolist(), subfolders, csv)
    columns: dict[str, list[Any]] = {"sample_id": list(paths), "path": list(paths), "label": [int(v) for v in labels]}
    for column in frame.columns:
        if column not in {file_column, "sample_id", "path", "label", *skip}:
            columns[column] = frame[column].tolist()
    return columns


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def match_class_names(values: Sequence[str], classes: Sequence[str], where: str) -> list[int]:
    """Index in ``classes`` of each value: exact name first, then ignoring case and punctuation.

    Raises :class:`MissingDataError` listing the values that match no class.

    Example:
        >>> match_class_names(["Goldfish", "GoldFish", "Table_Lamb"], ["Goldfish", "Table_Lamb"], "x")
        [0, 0, 1]
    """
    exact = {name: i for i, name in enumerate(classes)}
    loose: dict[str, int] = {}
    for i, name in enumerate(classes):
        loose.setdefault(_normalise(name), i)
    out, unknown = [], []
    for value in values:
        index = exact.get(str(value), loose.get(_normalise(value)))
        if index is None:
            unknown.append(str(value))
            index = -1
        out.append(index)
    if unknown:
        shown = sorted(set(unknown))[:5]
        raise MissingDataError(f"{where}: label(s) {shown} are not among the {len(classes)} classes")
    return out
