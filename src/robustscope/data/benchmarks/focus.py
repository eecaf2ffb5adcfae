"""``focus:PATH`` — FOCUS, familiar objects in common and uncommon settings.

Kattakinda & Feizi, "FOCUS: Familiar Objects in Common and Uncommon Settings", ICML 2022.

The release format, as read by the authors' code (priyathamkat/focus, ``src/experiments/dataset.py``
``Focus`` and ``experiments.database.BGVarDB``): a folder of images plus an SQLite database
``PATH/annotations.db`` with one table::

    annotations(file_name TEXT PRIMARY KEY, category TEXT, time TEXT, weather TEXT, locations TEXT, humans TEXT)

``file_name`` is the image path relative to ``PATH`` with a leading ``/`` (the authors' loader opens
``PATH / file_name[1:]``); ``category`` is one of ``truck car plane ship cat dog horse deer frog bird``;
``time`` one of ``day night none``; ``weather`` one of ``cloudy foggy partly cloudy raining snowing sunny
none``; ``locations`` the sorted, ``", "``-joined subset of ``forest grass indoors rocks sand street snow
water none``; ``humans`` ``yes``/``no``. The authors evaluate on every row (their ``humans="yes"`` default
applies no filter), and so does this loader; ``humans`` is kept as a factor.

"Uncommon" is defined per class in the authors' evaluation code (``evaluate_model.py``, the ``uncommon``
table, shipped here in ``label_sets/focus.json``): night is uncommon for every class but frog (none is),
fog, rain and snow for every class, and a class-specific set of locations (for a dog: forest, rocks and
snow). ``n_uncommon`` counts, as ``count_uncommon_attributes`` does, whether the time is uncommon, whether
the weather is, and whether *any* of the image's locations is (so 0 … 3). A class is correct iff the
model's top-1 ImageNet class is in the class's index set (``label_to_correct_idxes`` of the same file;
``set_reduction: top1_in_set``). Assumption: rows whose value is outside the vocabularies above are an
error rather than silently dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from robustscope.data.base import Dataset
from robustscope.data.benchmarks._common import (
    LabelSets,
    build_dataset,
    check_folder,
    label_set_file,
    resolve_label_sets,
)
from robustscope.errors import MissingDataError

DATABASE = "annotations.db"
LAYOUT = f"{DATABASE} (SQLite table annotations(file_name, category, time, weather, locations, humans)) and images"
#: Per class: the uncommon values of ``time``, ``weather`` and ``locations``.
Uncommon = Mapping[str, Mapping[str, Sequence[str]]]


def read_annotations(database: str | Path) -> list[tuple[str, str, str, str, str, str]]:
    """All rows of a FOCUS ``annotations.db``: (file_name, category, time, weather, locations, humans).

    Example:
        >>> import tempfile, sqlite3
        >>> db = tempfile.mkdtemp() + "/annotations.db"
        >>> with sqlite3.connect(db) as c:
        ...     _ = c.execute("CREATE TABLE annotations (file_name TEXT PRIMARY KEY, category TEXT, time TEXT, "
        ...                   "weather TEXT, locations TEXT, humans TEXT)")
        ...     _ = c.execute("INSERT INTO annotations VALUES "
        ...                   "('/dog-snow/1.jpeg', 'dog', 'day', 'snowing', 'snow', 'no')")
        >>> read_annotations(db)
        [('/dog-snow/1.jpeg', 'dog', 'day', 'snowing', 'snow', 'no')]
    """
    path = Path(database)
    if not path.is_file():
        raise MissingDataError(f"FOCUS annotation database {path} does not exist; expected {path.parent}/{LAYOUT}")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT file_name, category, time, weather, locations, humans FROM annotations ORDER BY file_name"
        ).fetchall()
    except sqlite3.DatabaseError as err:
        raise MissingDataError(f"{path} is not a FOCUS annotation database ({err}); expected {LAYOUT}") from None
    finally:
        connection.close()
    return [tuple("" if v is None else str(v) for v in row) for row in rows]  # type: ignore[misc]


def uncommon_flags(
    category: str, time: str, weather: str, locations: Sequence[str], uncommon: Uncommon
) -> tuple[bool, bool, bool]:
    """Whether the time, the weather and any of the locations of an image of ``category`` are uncommon.

    Example:
        >>> table = label_set_file("focus")["uncommon"]
        >>> uncommon_flags("dog", "night", "sunny", ["grass", "snow"], table)
        (True, False, True)
    """
    rule = uncommon[category]
    return (
        time in rule.get("time", ()),
        weather in rule.get("weather", ()),
        any(location in rule.get("locations", ()) for location in locations),
    )


def count_uncommon(category: str, time: str, weather: str, locations: Sequence[str], uncommon: Uncommon) -> int:
    """Number of uncommon attributes (0 … 3) of an image of ``category``, as the authors count them.

    Example:
        >>> table = label_set_file("focus")["uncommon"]
        >>> count_uncommon("dog", "night", "snowing", ["snow", "street"], table)
        3
        >>> count_uncommon("frog", "night", "sunny", ["grass"], table)
        0
    """
    return sum(uncommon_flags(category, time, weather, locations, uncommon))


def load_focus(path: str | Path, label_sets: LabelSets = None, uncommon: Uncommon | None = None) -> Dataset:
    """Read FOCUS: label = category; factors time, weather, location, n_uncommon (+ per-attribute flags, humans).

    Args:
        path: the unzipped release: ``PATH/annotations.db`` and the images it names.
        label_sets: category → model labels, replacing the 10 categories → ImageNet index sets.
        uncommon: per category, the uncommon ``time``/``weather``/``locations`` values (default: the
            authors' table, ``label_sets/focus.json``).

    Example:
        >>> import tempfile, sqlite3, os
        >>> from PIL import Image
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(f"{root}/dog-snow")
        >>> Image.new("RGB", (8, 8)).save(f"{root}/dog-snow/1.jpeg")
        >>> with sqlite3.connect(f"{root}/annotations.db") as c:
        ...     _ = c.execute("CREATE TABLE annotations (file_name TEXT PRIMARY KEY, category TEXT, time TEXT, "
        ...                   "weather TEXT, locations TEXT, humans TEXT)")
        ...     _ = c.execute("INSERT INTO annotations VALUES ('/dog-snow/1.jpeg', 'dog', 'night', 'sunny', "
        ...                   "'grass, snow', 'no')")
        >>> ds = load_focus(root)
        >>> ds.class_names(), ds.manifest[["time", "location", "n_uncommon"]].values.tolist()
        (['dog'], [['night', 'grass, snow', 2]])
    """
    root = Path(path).expanduser()
    check_folder(root, LAYOUT, "focus")
    table = label_set_file("focus")
    rows = read_annotations(root / DATABASE)
    classes, sets, source = resolve_label_sets(label_sets, "focus", sorted({row[1] for row in rows}))
    rules = dict(uncommon) if uncommon is not None else table["uncommon"]
    index = {name: i for i, name in enumerate(classes)}
    vocabulary = {"time": set(table["times"]), "weather": set(table["weathers"]), "location": set(table["locations"])}
    columns: dict[str, list] = {
        key: []
        for key in ("sample_id", "path", "label", "time", "weather", "location", "n_uncommon",
                    "time_uncommon", "weather_uncommon", "location_uncommon", "humans")
    }  # fmt: skip
    missing: list[str] = []
    for file_name, category, time, weather, locations, humans in rows:
        where = f"{root / DATABASE} row {file_name!r}"
        if category not in index:
            raise MissingDataError(f"{where}: category {category!r} is not one of {classes}")
        if category not in rules:
            raise MissingDataError(f"{where}: no uncommon-attribute rule for category {category!r}")
        places = [p for p in locations.split(", ") if p] or ["none"]
        if uncommon is None and label_sets is None:
            for key, values in (("time", [time]), ("weather", [weather]), ("location", places)):
                bad = [v for v in values if v not in vocabulary[key]]
                if bad:
                    raise MissingDataError(f"{where}: {key} {bad[0]!r} is not one of {sorted(vocabulary[key])}")
        relative = file_name.lstrip("/")
        if not (root / relative).is_file():
            missing.append(relative)
        flags = uncommon_flags(category, time, weather, places, rules)
        columns["sample_id"].append(relative)
        columns["path"].append(relative)
        columns["label"].append(index[category])
        columns["time"].append(time)
        columns["weather"].append(weather)
        columns["location"].append(", ".join(places))
        columns["n_uncommon"].append(sum(flags))
        columns["time_uncommon"].append(flags[0])
        columns["weather_uncommon"].append(flags[1])
        columns["location_uncommon"].append(flags[2])
        columns["humans"].append(humans == "yes")
    if missing:
        raise MissingDataError(
            f"{len(missing)} of {len(rows)} images named in {root / DATABASE} are missing, e.g. {root / missing[0]}"
        )
    metadata = {"benchmark": "focus", "label_sets": sets, "set_reduction": "top1_in_set", "label_sets_source": source}
    return build_dataset(f"focus:{root}", root, classes, columns, metadata, LAYOUT)
