"""Do checksummed shards catch damage, and what does verifying cost against a plain Parquet read?

Two measurements in one run:

* **fuzz**: writes one small shard (``--rows`` × ``--classes`` logits, two factors), then flips every byte
  of it, once with mask 0x01 and once with 0xFF, and reads it back through ``PredictionStore.read_shard``.
  Each flip is *caught* (a ``StoreVersionError``/``CorruptStoreError``), *harmless* (the shard reads back
  equal: the byte was one nothing reads) or *silent* (different values read as data: must be 0).
* **cost**: a 512 × 1000 shard (ImageNet-sized logits), best of ``--repeats``: a bare ``pyarrow`` read
  (the reference) vs ``read_shard`` (read + checksum + decode), as a ratio.

Not a test. Example::

    .venv/bin/python benchmarks/shard_integrity.py --repeats 20
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from robustscope.engine import PredictionStore
from robustscope.errors import StoreVersionError


def _write(store: PredictionStore, rows: int, classes: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    store.write_meta("k", {"num_rows": rows, "shard_size": rows, "num_shards": 1,
                           "class_names": [f"c{i}" for i in range(classes)]})
    factors = pd.DataFrame({"pose": rng.choice(["front", "side"], rows), "scale": rng.choice(["0", "1"], rows)})
    return store.write_shard("k", 0, [f"s{i}" for i in range(rows)], rng.integers(0, classes, rows),
                             rng.normal(size=(rows, classes)).astype(np.float32), factors)


def fuzz(rows: int, classes: int) -> collections.Counter[str]:
    """Flip every byte of a shard two ways; count caught, harmless and silent outcomes."""
    store = PredictionStore(tempfile.mkdtemp())
    path = _write(store, rows, classes)
    good, reference = path.read_bytes(), store.read_shard("k", 0)
    outcomes: collections.Counter[str] = collections.Counter()
    for position in range(len(good)):
        for mask in (0x01, 0xFF):
            damaged = bytearray(good)
            damaged[position] ^= mask
            path.write_bytes(bytes(damaged))
            try:
                shard = store.read_shard("k", 0)
            except StoreVersionError:  # CorruptStoreError is one
                outcomes["caught"] += 1
            else:
                same = (np.array_equal(shard.logits, reference.logits)
                        and np.array_equal(shard.labels, reference.labels)
                        and list(shard.sample_ids) == list(reference.sample_ids)
                        and shard.factors.equals(reference.factors))
                outcomes["harmless" if same else "SILENT"] += 1
            for moved in path.parent.glob("*.corrupt-*"):
                moved.unlink()
    outcomes["bytes"] = len(good)
    return outcomes


def _best(call: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8, help="rows of the fuzzed shard")
    parser.add_argument("--classes", type=int, default=4, help="logits per row of the fuzzed shard")
    parser.add_argument("--repeats", type=int, default=20, help="timing repeats (best is kept)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # each caught flip warns that the file was moved aside

    started = time.perf_counter()
    outcomes = fuzz(args.rows, args.classes)
    print(f"fuzz: {outcomes['bytes']:,} bytes × 2 flips: caught {outcomes['caught']:,}, "
          f"harmless {outcomes['harmless']:,}, SILENT {outcomes['SILENT']:,} ({time.perf_counter() - started:.1f} s)")

    store = PredictionStore(tempfile.mkdtemp())
    path = _write(store, 512, 1000)
    plain = _best(lambda: pq.read_table(path), args.repeats)
    verified = _best(lambda: store.read_shard("k", 0), args.repeats)
    print(f"cost: 512 × 1000 shard ({path.stat().st_size / 1e6:.2f} MB): pyarrow read (reference) "
          f"{plain * 1e3:.1f} ms, read_shard (read + verify + decode) {verified * 1e3:.1f} ms "
          f"= {verified / plain:.2f}×")


if __name__ == "__main__":
    main()
