"""The stat index behind dataset fingerprints (issue 10 §1): racy entries, crashes, sharing, corruption.

See :mod:`robustscope.data.content_index`; the end-to-end cases (a same-size overwrite re-runs the
model, unchanged files are not re-read) are in ``test_trust_cache_keys.py``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from robustscope.data import content_index as ci
from robustscope.data.content_index import ContentIndex, hash_file


def test_racy_entries_are_rehashed_on_a_coarse_timestamp_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def one_second_stat(path: str) -> SimpleNamespace:  # a filesystem with whole-second timestamps
        info = os.stat(path)
        second = lambda ns: ns - ns % 1_000_000_000  # noqa: E731
        return SimpleNamespace(
            st_mode=info.st_mode,
            st_size=info.st_size,
            st_mtime_ns=second(info.st_mtime_ns),
            st_ctime_ns=second(info.st_ctime_ns),
            st_ino=info.st_ino,
            st_dev=info.st_dev,
        )

    monkeypatch.setattr(ci, "_stat", one_second_stat)
    target = tmp_path / "img.bin"

    def rewrite_within_one_tick(window_ns: int) -> tuple[str, str]:
        for _ in range(5):  # retried if a second boundary falls between the two writes
            target.write_bytes(b"A" * 64)
            index = ContentIndex(tmp_path / f"index-{window_ns}.sqlite", racy_window_ns=window_ns)
            index.digests([target])
            stamp = one_second_stat(str(target))
            with open(target, "r+b") as handle:  # in place: same inode, same size
                handle.write(b"B" * 64)
            if one_second_stat(str(target)) == stamp:
                return index.digests([target])[0], hash_file(target)
            (tmp_path / f"index-{window_ns}.sqlite").unlink()
        pytest.fail("could not rewrite the file within one second")

    seen, truth = rewrite_within_one_tick(ci.RACY_WINDOW_NS)
    assert seen == truth
    # The same scenario without the racy rule returns the stale digest: the rule is what catches it.
    stale, truth = rewrite_within_one_tick(0)
    assert stale != truth


CRASH_CHILD = textwrap.dedent(
    """
    import os, sqlite3, sys
    from robustscope.data import content_index as ci
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):  # dies in the middle of the index's write transaction
        connection = real_connect(*args, **kwargs)
        def die_mid_write():
            if connection.in_transaction and connection.total_changes > 20:
                os._exit(3)
            return 0
        connection.set_progress_handler(die_mid_write, 50)
        return connection

    sqlite3.connect = connect  # this child process only
    ci.ContentIndex(sys.argv[1]).digests(sys.argv[2:])
    """
)


def test_a_crash_mid_write_leaves_the_index_as_it_was(tmp_path: Path) -> None:
    files = []
    for i in range(60):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(bytes([i]) * 100)
    index_path = tmp_path / "index.sqlite"
    child = subprocess.run(
        [sys.executable, "-c", CRASH_CHILD, str(index_path), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 3, child.stderr[-2000:]
    assert Path(f"{index_path}-journal").is_file()  # it died inside the transaction
    with sqlite3.connect(index_path) as connection:  # the next reader rolls the half-written rows back
        assert connection.execute("SELECT count(*) FROM entries").fetchone()[0] == 0
    index = ContentIndex(index_path, racy_window_ns=0)
    assert index.digests(files) == [hash_file(f) for f in files]
    with sqlite3.connect(index_path) as connection:  # and this time all of them are kept
        assert connection.execute("SELECT count(*) FROM entries").fetchone()[0] == 60


SHARED_CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("error")
    from robustscope.data.content_index import ContentIndex
    start = float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    print(" ".join(ContentIndex(sys.argv[1]).digests(sys.argv[3:])))
    """
)


def test_two_processes_share_one_index(tmp_path: Path) -> None:

    files = []
    for i in range(300):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(i.to_bytes(2, "little") * 500)
    index_path = tmp_path / "shared.sqlite"
    start = str(time.time() + 1.5)  # both children start hashing at the same moment
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SHARED_CHILD, str(index_path), start, *map(str, files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    truth = [hash_file(f) for f in files]
    for child, (out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err[-2000:]
        assert out.split() == truth
    assert ContentIndex(index_path).digests(files) == truth


def test_a_corrupt_index_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 10)
    index_path = tmp_path / "index.sqlite"
    index_path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(UserWarning, match="corrupt"):
        assert ContentIndex(index_path).digests([tmp_path / "a.bin"]) == [hash_file(tmp_path / "a.bin")]
    assert (tmp_path / "index.sqlite.corrupt").is_file()
    with sqlite3.connect(index_path) as connection:
        assert connection.execute("SELECT count(*) FROM entries").fetchone()[0] == 1
