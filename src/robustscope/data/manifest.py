"""``csv:PATH`` — a manifest with a file column, a label column and any factor columns.

The PUG release schema (``filename``, ``character_label``, ``character_rotation_yaw``, …) is
one such manifest, and so is the ``labels.csv`` the synthetic world writes.
"""

from __future__ import annotations

import csv as csv_module
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from robustscope.data.base import Dataset
from robustscope.errors import ManifestError, MissingDataError, SpecError

#: Column names tried, in order, for the image file and for the label.
FILE_COLUMNS = ("path", "filename", "file_name", "file", "image")
LABEL_COLUMNS = ("label", "character_label", "class", "class_name", "category")
#: Columns that describe bookkeeping, not a factor of variation.
NON_FACTOR_COLUMNS = ("mask_filename", "character_name")


def _pick(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], what: str, csv: Path) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise SpecError(f"{csv}: no column {wanted!r} for the {what}; columns: {list(columns)}")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise SpecError(f"{csv}: no {what} column (tried {list(candidates)}); pass {what}_column=...")


def read_manifest_csv(path: str | Path) -> tuple[pd.DataFrame, list[int]]:
    """Read a CSV manifest as a table, and the file line of each of its rows.

    What pandas would trace back on or silently garble is a :class:`ManifestError` naming the file and the
    fix: an empty file, text that is not UTF-8, a row with more or fewer fields than the header (pandas
    would pad it with empty values, or take an extra first field as the index).

    Example:
        >>> import tempfile
        >>> csv = Path(tempfile.mkdtemp()) / "labels.csv"
        >>> _ = csv.write_text("path,label\\na.png,cat\\nb.png,dog,extra\\n")
        >>> read_manifest_csv(csv)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.ManifestError: ....csv: row 3 has 3 fields, expected 2 like the header (row 1); quote \
fields that contain commas
    """
    csv = Path(path)
    raw = csv.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write, is not part of the header
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ManifestError(
            f"manifest {csv} is not UTF-8 text (byte {raw[err.start]:#04x} on line {line}); re-save it as UTF-8, "
            f"e.g. iconv -f latin1 -t utf-8 {csv.name} > utf8.csv"
        ) from None
    if not text.strip():
        raise ManifestError(f"manifest {csv} is empty; write a header line (e.g. path,label) and one row per image")
    reader = csv_module.reader(io.StringIO(text))
    header = next(reader)
    lines = []
    for row in reader:
        if not row:  # a blank line, which pandas skips as well
            continue
        if len(row) != len(header):
            raise ManifestError(
                f"{csv}: row {reader.line_num} has {len(row)} fields, expected {len(header)} like the header "
                "(row 1); quote fields that contain commas"
            )
        lines.append(reader.line_num)
    return pd.read_csv(io.StringIO(text), keep_default_na=False), lines


def _refuse_duplicates(csv: Path, sample_ids: pd.Series, lines: list[int]) -> None:
    """Two rows with one sample id would be scored twice (and break resumable runs): name both rows."""
    repeated = sample_ids.duplicated(keep=False)
    if repeated.any():
        first, second = (int(i) for i in sample_ids.index[repeated][:2])
        where = (lines[first], lines[second]) if len(lines) == len(sample_ids) else (first + 2, second + 2)
        raise ManifestError(
            f"{csv}: row {where[1]} repeats sample {sample_ids[second]!r} of row {where[0]} (duplicate rows); "
            "remove the repeated row, or give every row its own sample_id column"
        )


def load_manifest(
    path: str | Path,
    root: str | Path | None = None,
    classes: Sequence[str] | None = None,
    file_column: str | None = None,
    label_column: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Read a CSV manifest into a :class:`Dataset`.

    Args:
        path: the CSV file.
        root: folder the file column is relative to (default: the CSV's folder).
        classes: class names in label order. Default: a ``classes.txt`` beside the CSV (one name a
            line) if present, else the sorted distinct labels. String labels are matched by name,
            integer labels index into ``classes``.
        file_column, label_column: override the auto-detected columns.

    Every other column is kept as a factor (pose, background, region, …).

    Example:
        >>> import tempfile, os
        >>> from PIL import Image
        >>> d = tempfile.mkdtemp()
        >>> Image.new("RGB", (8, 8)).save(f"{d}/a.png")
        >>> _ = open(f"{d}/labels.csv", "w").write("filename,character_label,world_name\\na.png,Bear,Desert\\n")
        >>> ds = load_manifest(f"{d}/labels.csv")
        >>> ds.classes, ds.factor_columns
        (['Bear'], ['world_name'])
    """
    csv = Path(path).expanduser()
    if not csv.is_file():
        raise MissingDataError(f"manifest {csv} does not exist")
    frame, lines = read_manifest_csv(csv)
    if frame.empty:
        raise MissingDataError(f"manifest {csv} has no rows")
    file_col = _pick(list(frame.columns), file_column, FILE_COLUMNS, "file", csv)
    label_col = _pick(list(frame.columns), label_column, LABEL_COLUMNS, "label", csv)
    base = Path(root).expanduser() if root is not None else csv.parent

    if classes is None and (csv.parent / "classes.txt").is_file():
        classes = [line.strip() for line in (csv.parent / "classes.txt").read_text().splitlines() if line.strip()]
    raw_labels = frame[label_col]
    if pd.api.types.is_integer_dtype(raw_labels):
        names = list(classes) if classes is not None else [str(v) for v in range(int(raw_labels.max()) + 1)]
        bad = frame.index[(raw_labels < 0) | (raw_labels >= len(names))]
        if len(bad):
            raise SpecError(f"{csv} row {bad[0] + 2}: label {raw_labels[bad[0]]} outside 0..{len(names) - 1}")
        labels = raw_labels.astype("int64")
    else:
        text = raw_labels.astype(str)
        names = list(classes) if classes is not None else sorted(text.unique())
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise SpecError(f"{csv}: labels {unknown[:5]} are not in the class list ({len(names)} classes)")
        labels = text.map(index).astype("int64")

    _refuse_duplicates(csv, frame["sample_id"].astype(str) if "sample_id" in frame else frame[file_col].astype(str),
                       lines)
    missing = [f for f in frame[file_col].astype(str) if not (base / f).is_file()]
    if missing:
        raise MissingDataError(
            f"{len(missing)} of {len(frame)} files in {csv} are missing under {base}, e.g. {base / missing[0]}; "
            "pass root=... (--data-root) if the images live elsewhere"
        )
    manifest = pd.DataFrame(
        {
            "sample_id": frame["sample_id"].astype(str) if "sample_id" in frame else frame[file_col].astype(str),
            "path": frame[file_col].astype(str),
            "label": labels,
        }
    )
    skip = {file_col, label_col, "sample_id", *NON_FACTOR_COLUMNS}
    for column in frame.columns:
        if column not in skip:
            manifest[column] = frame[column].to_numpy()
    return Dataset(name or f"csv:{csv}", base, names, manifest, {"manifest": str(csv)})
