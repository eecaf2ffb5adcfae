"""Crash-resume: SIGKILL a run mid-way in a subprocess, rerun, and get exactly the uninterrupted result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from robustscope.engine import PredictionStore, Runner
from test_engine_support import ForwardCounter, make_dataset, tiny_model

BATCH, SHARD, N = 4, 8, 48  # 6 shards of 2 batches

# The child builds the same dataset (same files: same fingerprint) and the same weights, with a
# forward pass slow enough to be killed between shards.
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_engine_support import tiny_model
    from robustscope.data import Dataset
    from robustscope.engine import PredictionStore, Runner
    import pandas as pd
    manifest = pd.read_csv({manifest!r}, dtype={{"sample_id": str}})
    dataset = Dataset("toy", {root!r}, {classes!r}, manifest)
    model = tiny_model(delay=0.15)
    Runner(PredictionStore({store!r}), batch_size={batch}, shard_size={shard}, progress=False).run(model, dataset)
    print("finished")
    """
)


@pytest.mark.timeout(120)
def test_kill_and_resume(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "data", n=N)
    manifest = tmp_path / "manifest.csv"
    dataset.manifest.to_csv(manifest, index=False)
    store_root = tmp_path / "preds"
    key = Runner(PredictionStore(store_root), progress=False).key(tiny_model(), dataset)
    key_dir = store_root / key

    code = CHILD.format(
        tests=str(Path(__file__).parent),
        manifest=str(manifest),
        root=str(dataset.root),
        classes=list(dataset.classes),
        store=str(store_root),
        batch=BATCH,
        shard=SHARD,
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while len(list(key_dir.glob("shard-*.parquet"))) < 2:
            assert child.poll() is None, child.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "child wrote no shard in time"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    written = sorted(int(p.name[6:11]) for p in key_dir.glob("shard-*.parquet"))
    assert 2 <= len(written) < N // SHARD, written
    # No partial shard is visible: every shard file on disk reads back whole.
    store = PredictionStore(store_root)
    for index in written:
        assert len(store.read_shard(key, index).sample_ids) == SHARD

    model = tiny_model()  # same weights, no delay: same key
    counter = ForwardCounter(model)
    resumed = Runner(store, batch_size=BATCH, shard_size=SHARD, progress=False).run(model, dataset)
    missing = N // SHARD - len(written)
    assert resumed.key == key
    assert (resumed.shards_computed, resumed.shards_reused) == (missing, len(written))
    assert counter.calls == missing * SHARD // BATCH  # only the missing shards were computed

    fresh = Runner(PredictionStore(tmp_path / "fresh"), batch_size=BATCH, shard_size=SHARD, progress=False)
    reference = fresh.run(tiny_model(), dataset).predictions
    preds = resumed.predictions
    assert len(set(preds.sample_ids)) == len(preds) == N
    np.testing.assert_array_equal(preds.sample_ids, reference.sample_ids)
    np.testing.assert_array_equal(preds.labels, reference.labels)
    np.testing.assert_allclose(preds.logits, reference.logits, rtol=1e-6, atol=1e-7)
    assert preds.factors.equals(reference.factors)
    assert not list(key_dir.glob(".*.tmp"))  # a temp file of the killed writer is cleaned up
