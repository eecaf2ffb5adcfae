"""Verified storage (issue 10, section 2): checksummed shards and meta.json, and one clear line for a
full disk or a read-only workspace. The rebuildable results database is in test_trust_rebuild.py."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import save_file

from conftest import write_colour_folder
from robustscope.cli import main
from robustscope.data import Dataset
from robustscope.engine import PredictionStore, ResultStore, Runner
from robustscope.engine import result_store as result_store_module
from robustscope.engine.integrity import CHECKSUM_FIELD
from robustscope.errors import CorruptStoreError, StorageError, StoreIntegrityWarning
from robustscope.models.smallcnn import SmallCNN
from test_engine_support import MODEL_LABELS, ForwardCounter, make_dataset, tiny_model

SHARD = 8  # 24 rows → shards 0, 1, 2


def runner(root: Path) -> Runner:
    return Runner(PredictionStore(root), batch_size=4, shard_size=SHARD, progress=False)


@pytest.fixture()
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "data", n=24)


def flip(path: Path, offset: int, mask: int = 0xFF, length: int = 1) -> None:
    """XOR ``length`` bytes at ``offset`` with ``mask``; the size stays the same."""
    data = bytearray(path.read_bytes())
    for i in range(offset, offset + length):
        data[i] ^= mask
    path.write_bytes(bytes(data))


def moved_aside(folder: Path) -> list[str]:
    return sorted(p.name.split(".corrupt-")[0] for p in folder.glob("*.corrupt-*"))


def smallcnn_checkpoint(folder: Path, labels: list[str]) -> Path:
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    save_file(SmallCNN(len(labels), width=4).state_dict(), str(folder / "model.safetensors"))
    preprocessing = {"input_size": 16, "crop_pct": 1.0, "interpolation": "bilinear",
                     "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4}, "labels": labels, "preprocessing": preprocessing}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
# -- 1. every shard and meta.json carries a checksum, verified on read ----------------------------------
def logit_offset(path: Path, logits: np.ndarray) -> int:
    """Where the shard's first logit row sits in the file (Parquet stores incompressible floats verbatim)."""
    offset = path.read_bytes().find(logits[0].astype("<f4").tobytes())
    assert offset > 0, "the logits are not stored verbatim: pick another position"
    return offset


def footer_offset(path: Path, changes: Callable[[pa.Table | None], bool]) -> int:
    """The first byte of the Parquet footer whose flip ``changes`` what is read (None: the file no longer parses)."""
    data = path.read_bytes()
    for offset in range(len(data) - 8 - int.from_bytes(data[-8:-4], "little"), len(data) - 8):
        damaged = bytearray(data)
        damaged[offset] ^= 0x01
        try:
            table = pq.read_table(pa.BufferReader(bytes(damaged)))
        except Exception:  # any parse failure is what some cases look for
            table = None
        if changes(table):
            return offset
    raise AssertionError("no such byte in the footer")


def metadata_changes(key: bytes, original: dict[bytes, bytes]) -> Callable[[pa.Table | None], bool]:
    return lambda table: table is not None and (table.schema.metadata or {}).get(key) != original[key]


@pytest.mark.parametrize("where", ["logits", "shard metadata", "checksum", "footer", "truncated"])
def test_a_damaged_shard_is_reported_and_recomputed(where: str, tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    clean = runner(tmp_path / "preds").run(model, dataset)
    store = PredictionStore(tmp_path / "preds")
    shard = store.shard_path(clean.key, 1)
    size = shard.stat().st_size
    if where == "logits":
        flip(shard, logit_offset(shard, clean.predictions.logits[SHARD:]) + 2, length=2)
        # Without a checksum this file reads fine, with other numbers: the silent wrong result of the issue.
        garbage = np.stack(pq.read_table(shard).column("logits").to_numpy(zero_copy_only=False))
        assert not np.array_equal(garbage, clean.predictions.logits[SHARD : 2 * SHARD])
    elif where in ("shard metadata", "checksum"):  # a flip that changes what is read, yet parses
        key = {"shard metadata": b"robustscope.shard", "checksum": b"robustscope.content_sha256"}[where]
        flip(shard, footer_offset(shard, metadata_changes(key, pq.read_schema(shard).metadata)), mask=0x01)
    elif where == "footer":  # a flip that makes the file unreadable
        flip(shard, footer_offset(shard, lambda table: table is None), mask=0x01)
    else:
        shard.write_bytes(shard.read_bytes()[: size // 2])
    if where != "truncated":
        assert shard.stat().st_size == size

    with pytest.warns(StoreIntegrityWarning, match="shard-00001.parquet"):
        again = runner(tmp_path / "preds").run(model, dataset)
    assert (again.shards_computed, again.shards_reused) == (1, 2)
    np.testing.assert_array_equal(again.predictions.logits, clean.predictions.logits)
    assert again.predictions.labels.tolist() == clean.predictions.labels.tolist()
    assert moved_aside(store.key_dir(clean.key)) == ["shard-00001.parquet"]
    assert store.read_shard(clean.key, 1).logits.shape == (SHARD, len(MODEL_LABELS))


def test_load_never_returns_a_damaged_shard_and_a_plain_rerun_heals(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    clean = runner(tmp_path / "preds").run(model, dataset)
    store = PredictionStore(tmp_path / "preds")
    for index in (0, 2):
        shard = store.shard_path(clean.key, index)
        flip(shard, logit_offset(shard, clean.predictions.logits[index * SHARD :]))
    with pytest.warns(StoreIntegrityWarning), pytest.raises(CorruptStoreError, match=r"shard-00000\.parquet.*rerun"):
        store.load(clean.key)
    assert store.missing_shards(clean.key) == [0, 2]  # both moved aside: they count as missing
    counter = ForwardCounter(model)
    healed = runner(tmp_path / "preds").run(model, dataset)
    assert (healed.shards_computed, counter.images) == (2, 2 * SHARD)
    np.testing.assert_array_equal(healed.predictions.logits, clean.predictions.logits)


def test_every_single_byte_flip_in_a_shard_is_caught_or_harmless(tmp_path: Path) -> None:
    # Every 17th byte of the exhaustive check. Exhaustive, on an 8×4 shard with two factors (every byte
    # XOR 0x01 and 0xFF): 3,802 flips caught, 1,172 harmless (bytes nothing reads), 0 read as other values.
    store = PredictionStore(tmp_path / "preds")
    rng = np.random.default_rng(0)
    path = store.write_shard("k", 0, [f"s{i}" for i in range(8)], rng.integers(0, 4, 8),
                             rng.normal(size=(8, 4)).astype(np.float32), pd.DataFrame({"pose": ["a", "b"] * 4}))
    good, reference = path.read_bytes(), store.read_shard("k", 0)
    caught = 0
    for offset in range(0, len(good), 17):
        path.write_bytes(good)
        flip(path, offset)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            try:
                shard = store.read_shard("k", 0)
            except CorruptStoreError:
                caught += 1
                assert not path.exists()  # moved aside: never read again
                assert [str(path) in str(w.message) for w in warned] == [True]
                continue
        assert warned == []  # not caught: then it must read exactly what was written
        np.testing.assert_array_equal(shard.logits, reference.logits)
        assert shard.labels.tolist() == reference.labels.tolist()
        assert shard.sample_ids.tolist() == reference.sample_ids.tolist()
        assert shard.factors.equals(reference.factors)
    assert caught > len(good) // 17 // 2


@pytest.mark.parametrize("damage", ["digit", "class name", "not json", "truncated"])
def test_a_damaged_meta_json_recomputes_its_key(damage: str, tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    clean = runner(tmp_path / "preds").run(model, dataset)
    store = PredictionStore(tmp_path / "preds")
    meta = store.meta_path(clean.key)
    text = meta.read_text()
    assert CHECKSUM_FIELD in json.loads(text)
    if damage == "digit":  # shard_size 8 → 9: a layout that no longer matches the shards
        meta.write_text(text.replace('"shard_size": 8', '"shard_size": 9'))
    elif damage == "class name":
        meta.write_text(text.replace('"bird"', '"bard"'))
    elif damage == "not json":
        flip(meta, text.index("{"))
    else:
        meta.write_text(text[: len(text) // 2])
    with pytest.warns(StoreIntegrityWarning, match="meta.json"):
        again = runner(tmp_path / "preds").run(model, dataset)
    assert (again.shards_computed, again.shards_reused) == (3, 0)
    np.testing.assert_array_equal(again.predictions.logits, clean.predictions.logits)
    assert again.predictions.class_names == MODEL_LABELS
    assert moved_aside(store.key_dir(clean.key)) == ["meta.json", *[f"shard-0000{i}.parquet" for i in range(3)]]


# -- 2. a full disk or a read-only workspace: one line, nothing half-written ----------------------------
def enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_a_shard(
    tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny_model()
    store = PredictionStore(tmp_path / "preds")
    real_write = pq.write_table
    written = []

    def fills_up(table: Any, where: Any, **kwargs: Any) -> None:
        if written:  # the second shard: half its bytes reach the disk, then the disk is full
            real_write(table, where, **kwargs)
            Path(where).write_bytes(Path(where).read_bytes()[:100])
            raise OSError(errno.ENOSPC, "[Errno 28] Error writing bytes to file. Detail: No space left on device")
        written.append(where)
        real_write(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", fills_up)
    with pytest.raises(StorageError, match=r"cannot write .*shard-00001\.parquet: no space left on device") as err:
        runner(tmp_path / "preds").run(model, dataset)
    assert "\n" not in str(err.value)
    (key,) = store.keys()
    assert sorted(p.name for p in store.key_dir(key).iterdir()) == ["meta.json", "shard-00000.parquet"]
    monkeypatch.setattr(pq, "write_table", real_write)  # space freed: the rerun finishes the job
    resumed = runner(tmp_path / "preds").run(model, dataset)
    assert (resumed.shards_computed, resumed.shards_reused) == (2, 1)
    np.testing.assert_array_equal(resumed.predictions.logits, runner(tmp_path / "fresh").run(model, dataset)
                                  .predictions.logits)


def test_disk_full_while_writing_meta_json(tmp_path: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    from robustscope.engine import integrity

    monkeypatch.setattr(integrity.os, "fsync", enospc)  # delayed allocation: the error comes at fsync
    with pytest.raises(StorageError, match=r"meta\.json: no space left on device\. To fix: free space"):
        runner(tmp_path / "preds").run(tiny_model(), dataset)
    assert [p for p in (tmp_path / "preds").rglob("*") if p.is_file()] == []  # no temporary file left


class CommitFails:
    """A real DuckDB connection whose COMMIT fails as DuckDB's does on a full disk (measured on a 600 KiB tmpfs)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str):
        self._con, self._path = con, path

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            self._con.execute("ROLLBACK")  # as DuckDB does: the failed commit has ended the transaction
            raise duckdb.TransactionException(
                f'TransactionContext Error: Failed to commit: Could not write file "{self._path}.wal": '
                "No space left on device"
            )
        return self._con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_disk_full_while_writing_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_engine import result_rows

    db = tmp_path / "results.duckdb"
    store = ResultStore(db)
    store.write(result_rows("top1", 0.5), recipe={"kind": "evaluate", "metrics": ["top1"]})
    real_connect = duckdb.connect
    monkeypatch.setattr(result_store_module.duckdb, "connect",
                        lambda path, read_only=False: CommitFails(real_connect(path, read_only=read_only), path))
    with pytest.raises(StorageError) as err:  # not DuckDB's "cannot rollback - no transaction is active"
        store.write(result_rows("top1", 0.9), recipe={"kind": "evaluate", "metrics": ["top1", "ece"]})
    assert str(err.value).startswith(f"cannot write {db}: no space left on device") and "\n" not in str(err.value)
    # a new database on the full disk: no empty shell left behind to read as corrupt next time
    with pytest.raises(StorageError, match="no space left on device"):
        ResultStore(tmp_path / "new.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.duckdb", "results.recipes"]
    monkeypatch.setattr(result_store_module.duckdb, "connect", real_connect)
    # the failed write left nothing behind: neither its rows nor its recipe
    assert store.query()["value"].tolist() == [0.5, 0.5]
    assert [r["metrics"] for r in store.recipes.recipes()[0]] == [["top1"]]


def test_disk_full_in_the_cli_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = smallcnn_checkpoint(tmp_path / "model", list(COLOURS))
    data = write_colour_folder(tmp_path / "colours", COLOURS, per_class=2)
    monkeypatch.setattr(pq, "write_table", enospc)
    assert main(["-q", "run", "--model", f"file:{model}", "--data", f"folder:{data}", "--n-resamples", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("robustscope: error: cannot write ") and "no space left on device" in error
    assert "\n" not in error


def read_only(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.EROFS, "Read-only file system")


def test_read_only_workspace_simulated(
    tmp_path: Path, isolated_workspace: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Always runs (root in CI writes through chmod): the errors a read-only mount gives, measured on one.
    real_mkstemp = tempfile.mkstemp
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(StorageError, match=r"meta\.json: read-only file system\. To fix: point --workspace"):
        runner(tmp_path / "preds").run(tiny_model(), dataset)
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)

    db = tmp_path / "results.duckdb"
    message = f'IO Error: Cannot open file "{db}": Read-only file system'

    def refuses(path: str, read_only: bool = False) -> Any:
        raise duckdb.IOException(message)

    monkeypatch.setattr(result_store_module.duckdb, "connect", refuses)
    with pytest.raises(StorageError, match=f"cannot write {db}: read-only file system"):
        ResultStore(db)
    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["results"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"robustscope: error: cannot write {isolated_workspace}: read-only file system. To fix: point "
                     "--workspace (ROBUSTSCOPE_HOME) at a writable folder.")


def writes_despite_chmod(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except PermissionError:
        return False
    probe.unlink()
    return True


def test_read_only_workspace_for_real(tmp_path: Path, dataset: Dataset) -> None:
    workspace = tmp_path / "ws"
    (workspace / "predictions").mkdir(parents=True)
    for folder in (workspace, workspace / "predictions"):
        folder.chmod(0o555)
    try:
        if writes_despite_chmod(workspace):
            pytest.skip("running as root: chmod does not stop writes (the simulated test covers this)")
        with pytest.raises(StorageError, match="permission denied"):
            runner(workspace / "predictions").run(tiny_model(), dataset)
        with pytest.raises(StorageError, match="permission denied"):
            ResultStore(workspace / "results.duckdb")
        assert sorted(p.name for p in workspace.rglob("*")) == ["predictions"]
    finally:
        for folder in (workspace, workspace / "predictions"):
            folder.chmod(0o755)
    assert os.access(workspace, os.W_OK)
