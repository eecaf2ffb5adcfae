"""What does keying a dataset on its file contents cost, against the old size-only fingerprint?

Writes N small files (``--min-kb`` to ``--max-kb`` random bytes each: the hash does not care what
they depict) and a manifest, then times (best of ``--repeats``):

* ``size-only (old)``: the fingerprint before issue 10, manifest hash + ``stat`` of every file;
* ``contents, first time``: ``Dataset.fingerprint`` with an empty stat index (every file read and
  hashed, the index written);
* ``contents, unchanged re-run``: the same with the index of the previous call (only ``stat``);
* ``contents, no index``: every file read and hashed on every call (``ContentIndex(None)``).

The files are written, then left ``RACY_WINDOW_NS`` (2 s) to age, so that the re-run measures the
steady state and not racy entries (see ``robustscope.data.content_index``); the re-run's count of
files read is printed. Files are read from the page cache (just written): a cold cache adds the
disk's read time to the first pass only. Not a test. Example::

    .venv/bin/python benchmarks/fingerprint_cost.py --n 50000 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from robustscope.data import Dataset
from robustscope.data import content_index as ci
from robustscope.data.content_index import ContentIndex


def size_only_fingerprint(dataset: Dataset) -> str:
    """The dataset fingerprint as it was before contents were keyed (the reference)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(dataset.classes).encode())
    digest.update(pd.util.hash_pandas_object(dataset.manifest.astype(str), index=False).values.tobytes())
    for relative in dataset.manifest["path"]:
        path = dataset.root / str(relative)
        digest.update(str(path.stat().st_size if path.exists() else -1).encode())
    return digest.hexdigest()[:20]


def make_files(root: Path, n: int, min_kb: int, max_kb: int) -> Dataset:
    """``n`` files of random bytes in 100 sub-folders, with a manifest like a folder dataset's."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(min_kb * 1024, max_kb * 1024 + 1, n)
    blob = rng.integers(0, 256, int(sizes.max()) + n, dtype=np.uint8).tobytes()
    rows = []
    for i, size in enumerate(sizes):
        relative = f"c{i % 100:03d}/{i:06d}.png"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(blob[i : i + int(size)])  # distinct contents per file
        rows.append({"sample_id": f"s{i:06d}", "path": relative, "label": i % 100})
    return Dataset("bench", root, [f"c{i:03d}" for i in range(100)], pd.DataFrame(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="files")
    parser.add_argument("--min-kb", type=int, default=2)
    parser.add_argument("--max-kb", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rs-fingerprint-"))
    try:
        started = time.perf_counter()
        dataset = make_files(work / "data", args.n, args.min_kb, args.max_kb)
        total_mb = sum((work / "data" / p).stat().st_size for p in dataset.manifest["path"]) / 1e6
        print(f"wrote {args.n:,} files ({total_mb:.0f} MB) in {time.perf_counter() - started:.1f} s")
        time.sleep(ci.RACY_WINDOW_NS / 1e9 + 0.5)  # let every file age past the racy window

        reads = 0
        real_hash = ci.hash_file

        def counting_hash(path: str | Path) -> str:
            nonlocal reads
            reads += 1
            return real_hash(path)

        ci.hash_file = counting_hash
        times: dict[str, list[float]] = {"old": [], "first": [], "rerun": [], "none": []}
        rerun_reads = []
        for repeat in range(args.repeats):
            index = ContentIndex(work / f"index-{repeat}.sqlite")
            for name, run in [
                ("old", lambda: size_only_fingerprint(dataset)),
                ("first", lambda: dataset.fingerprint(index)),  # noqa: B023 - called in this iteration
                ("rerun", lambda: dataset.fingerprint(index)),  # noqa: B023
                ("none", lambda: dataset.fingerprint(ContentIndex(None))),
            ]:
                reads = 0
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
                if name == "rerun":
                    rerun_reads.append(reads)
        ci.hash_file = real_hash
        index_mb = (work / "index-0.sqlite").stat().st_size / 1e6

        old = min(times["old"])
        print(f"\n{args.n:,} files of {args.min_kb}-{args.max_kb} KB, best (median) of {args.repeats}\n")
        print(f"{'':30}{'seconds':>10}{'median':>10}{'files/s':>12}{'vs old':>9}")
        for name, label in [
            ("old", "size-only (old)"),
            ("first", "contents, first time"),
            ("rerun", "contents, unchanged re-run"),
            ("none", "contents, no index"),
        ]:
            best, median = min(times[name]), statistics.median(times[name])
            print(f"{label:30}{best:10.3f}{median:10.3f}{args.n / best:12,.0f}{best / old:9.2f}")
        print(f"\nfiles read by the unchanged re-runs: {rerun_reads}; index file {index_mb:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
