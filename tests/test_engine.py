"""Runner, PredictionStore and ResultStore on tiny models and tiny PNG datasets."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from robustscope.data import Dataset
from robustscope.engine import (
    RESULT_COLUMNS,
    Predictions,
    PredictionStore,
    ResultStore,
    Runner,
    execute_task,
    prediction_key,
)
from robustscope.errors import BadImageError, LabelSpaceError, NonFiniteLogitsError, StoreVersionError
from robustscope.models import Model, Preprocessing
from robustscope.shifts import Identity, Shift
from test_engine_support import (
    CLASSES,
    MODEL_LABELS,
    PRE,
    ForwardCounter,
    bare_logits,
    make_dataset,
    tiny_model,
)


class Invert(Shift):
    """1 - x, with a strength parameter so keys can differ by parameters."""

    name = "invert"

    def __init__(self, strength: float = 1.0):
        self.strength = strength

    def params(self) -> dict[str, Any]:
        return {"strength": self.strength}

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        return images + self.strength * (1 - 2 * images)


@pytest.fixture()
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "data", n=24)


def runner(root: Path, **kwargs: Any) -> Runner:
    options = {"batch_size": 4, "shard_size": 8, "progress": False, **kwargs}
    return Runner(PredictionStore(root), **options)


# -- Runner ----------------------------------------------------------------------------------------
def test_predictions_equal_bare_loop(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    result = runner(tmp_path / "preds").run(model, dataset)
    preds = result.predictions
    assert isinstance(preds, Predictions)
    np.testing.assert_allclose(preds.logits, bare_logits(model, dataset, batch_size=4), rtol=1e-5, atol=1e-6)
    assert preds.logits.dtype == np.float32 and preds.labels.dtype == np.int64
    assert preds.sample_ids.tolist() == dataset.manifest["sample_id"].tolist()
    # labels are model logit indices, mapped by class name (model order differs from dataset order)
    expected = [MODEL_LABELS.index(CLASSES[i]) for i in dataset.manifest["label"]]
    assert preds.labels.tolist() == expected
    assert preds.class_names == MODEL_LABELS
    assert list(preds.factors.columns) == ["pose", "scale"]
    assert preds.factors["scale"].tolist() == [str(i % 2) for i in range(24)]
    np.testing.assert_allclose(preds.probs().sum(axis=1), 1.0, rtol=1e-6)
    assert (result.shards_computed, result.shards_reused, result.bad_images) == (3, 0, [])


def test_train_mode_restored_and_shift_applied(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    model.train()
    result = runner(tmp_path / "preds").run(model, dataset, Invert(), seed=3)
    assert model.training
    model.eval()
    with torch.inference_mode():
        images = torch.stack([PRE.to_tensor(dataset.load_image(i)) for i in range(len(dataset))])
        expected = model(1 - images).numpy()
    np.testing.assert_allclose(result.predictions.logits, expected, rtol=1e-5, atol=1e-5)


def test_second_run_is_a_cache_hit(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    counter = ForwardCounter(model)
    first = runner(tmp_path / "preds").run(model, dataset)
    assert counter.calls == 6  # 24 images / batch 4
    # a new Runner (other batch size, new store object) on the same root: zero forward passes
    again = runner(tmp_path / "preds", batch_size=16).run(model, dataset)
    assert counter.calls == 6
    assert (again.key, again.shards_computed, again.shards_reused) == (first.key, 0, 3)
    np.testing.assert_array_equal(again.predictions.logits, first.predictions.logits)
    # the shard layout belongs to the key: another shard_size reuses the stored shards
    assert runner(tmp_path / "preds", shard_size=5).run(model, dataset).shards_reused == 3
    assert counter.calls == 6
    # an identical model rebuilt from scratch hits the cache too
    twin = tiny_model()
    twin_counter = ForwardCounter(twin)
    assert runner(tmp_path / "preds").run(twin, dataset).shards_computed == 0
    assert twin_counter.calls == 0


def test_key_names_model_preprocessing_dataset_shift_and_seed(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    base = prediction_key(model, dataset, Identity(), 0)
    assert base == prediction_key(tiny_model(), dataset, Identity(), 0)
    assert len(base) == 24
    with torch.no_grad():
        changed = tiny_model()
        changed.network.head.bias.add_(1e-3)
    other_pre = tiny_model(pre=Preprocessing(input_size=16, crop_pct=1.0, interpolation="bicubic"))
    other_data = make_dataset(tmp_path / "other", n=24, seed=1)  # same manifest, other file sizes
    fewer = dataset.subset(range(23))
    keys = {
        "weights": prediction_key(changed, dataset, Identity(), 0),
        "preprocessing": prediction_key(other_pre, dataset, Identity(), 0),
        "labels": prediction_key(tiny_model(labels=["bird", "cat", "dog", "fox"]), dataset, Identity(), 0),
        "dataset": prediction_key(model, fewer, Identity(), 0),
        "shift": prediction_key(model, dataset, Invert(), 0),
        "shift params": prediction_key(model, dataset, Invert(0.5), 0),
        "seed": prediction_key(model, dataset, Identity(), 1),
    }
    if other_data.fingerprint() != dataset.fingerprint():
        keys["dataset files"] = prediction_key(model, other_data, Identity(), 0)
    assert base not in keys.values()
    assert len(set(keys.values())) == len(keys)


def test_label_outside_model_space(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model(labels=["bird", "cats", "dog"])
    counter = ForwardCounter(model)
    with pytest.raises(LabelSpaceError) as err:
        runner(tmp_path / "preds").run(model, dataset)
    message = str(err.value)
    assert "'cat'" in message and "'toy'" in message and "'cats'" in message and "tiny" in message
    assert counter.calls == 0


def test_nan_logits_raise_naming_model_and_samples(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()

    def poison(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if args[0].shape[0] == 4 and not hasattr(poison, "done"):
            poison.done = True  # type: ignore[attr-defined]
            output = output.clone()
            output[2, 0] = float("nan")
        return output

    model.register_forward_hook(poison)
    store = PredictionStore(tmp_path / "preds")
    with pytest.raises(NonFiniteLogitsError) as err:
        Runner(store, batch_size=4, shard_size=8, progress=False).run(model, dataset)
    assert "'tiny'" in str(err.value) and "s0002" in str(err.value) and "Hint" in str(err.value)
    key = prediction_key(model, dataset, Identity(), 0)
    assert not store.has_shard(key, 0)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_bad_image_raise_names_file(tmp_path: Path, dataset: Dataset) -> None:
    _truncate(dataset.image_path(5))
    with pytest.raises(BadImageError) as err:
        runner(tmp_path / "preds").run(tiny_model(), dataset)
    assert "0005.png" in str(err.value)
    assert str(err.value).count("on_bad_image") == 1


@pytest.mark.parametrize("num_workers", [0, 2])
def test_bad_image_skip_is_counted_and_remembered(tmp_path: Path, dataset: Dataset, num_workers: int) -> None:
    _truncate(dataset.image_path(5))
    bad_path = str(dataset.image_path(5))
    model = tiny_model()
    result = runner(tmp_path / "preds", on_bad_image="skip", num_workers=num_workers).run(model, dataset)
    assert result.bad_images == [bad_path]
    assert len(result.predictions) == 23 and "s0005" not in result.predictions.sample_ids
    good = [i for i in range(24) if i != 5]
    expected = bare_logits(model, dataset.subset(good), batch_size=4)
    np.testing.assert_allclose(result.predictions.logits, expected, rtol=1e-4, atol=1e-5)
    # the resumed/cached run reports the skipped file too, without a forward pass
    counter = ForwardCounter(model)
    again = runner(tmp_path / "preds", on_bad_image="skip").run(model, dataset)
    assert (again.bad_images, again.shards_computed, counter.calls) == ([bad_path], 0, 0)
    # a strict run refuses to silently use predictions that skipped files
    with pytest.raises(BadImageError, match=r"0005\.png"):
        runner(tmp_path / "preds", on_bad_image="raise").run(model, dataset)


def test_worker_decoding_matches_in_process(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    serial = runner(tmp_path / "a").run(model, dataset)
    parallel = runner(tmp_path / "b", num_workers=2).run(model, dataset)
    np.testing.assert_array_equal(serial.predictions.logits, parallel.predictions.logits)


def test_tasks_pickle_and_run_elsewhere(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    run = runner(tmp_path / "preds")
    tasks = run.plan(model, dataset)
    assert [t.shard_index for t in tasks] == [0, 1, 2] and tasks[2].row_range == (16, 24)
    outcome = execute_task(pickle.loads(pickle.dumps(tasks[1])))
    assert (outcome.shard_index, outcome.rows) == (1, 8)
    assert [t.shard_index for t in run.plan(model, dataset)] == [0, 2]
    result = run.run(model, dataset)
    assert (result.shards_computed, result.shards_reused) == (2, 1)
    np.testing.assert_allclose(result.predictions.logits, bare_logits(model, dataset, 4), rtol=1e-5, atol=1e-6)


# -- PredictionStore ---------------------------------------------------------------------------------
def test_tampered_meta_raises_store_version_error(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    store = PredictionStore(tmp_path / "preds")
    key = Runner(store, batch_size=4, shard_size=8, progress=False).run(model, dataset).key
    meta_path = store.meta_path(key)
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreVersionError, match="999"):
        store.load(key)
    with pytest.raises(StoreVersionError):
        Runner(store, progress=False).run(model, dataset)


def test_foreign_shard_raises_store_version_error(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    store = PredictionStore(tmp_path / "preds")
    key = Runner(store, batch_size=4, shard_size=8, progress=False).run(model, dataset).key
    foreign = pa.table({"sample_id": ["x"], "label": [0], "logits": [[0.0, 1.0, 2.0, 3.0]]})
    pq.write_table(foreign, store.shard_path(key, 1))
    with pytest.raises(StoreVersionError, match="shard-00001"):
        store.load(key)
    store.shard_path(key, 2).write_bytes(b"garbage")
    with pytest.raises(StoreVersionError):
        store.read_shard(key, 2)


def test_leftover_temp_files_are_ignored_and_cleaned(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    store = PredictionStore(tmp_path / "preds")
    run = Runner(store, batch_size=4, shard_size=8, progress=False)
    key = run.plan(model, dataset)[0].key
    leftover = store.key_dir(key) / ".shard-00000.parquet.otherhost.12345.abc123.tmp"
    leftover.write_bytes(b"half a parquet file")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))  # stale: its writer is long gone
    result = run.run(model, dataset)
    assert result.shards_computed == 3 and not leftover.exists()
    assert sorted(p.name for p in store.key_dir(key).iterdir()) == [
        "meta.json",
        "shard-00000.parquet",
        "shard-00001.parquet",
        "shard-00002.parquet",
    ]


def test_incomplete_store_refuses_to_load(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    store = PredictionStore(tmp_path / "preds")
    key = Runner(store, batch_size=4, shard_size=8, progress=False).run(model, dataset).key
    store.shard_path(key, 1).unlink()
    with pytest.raises(Exception, match="incomplete"):
        store.load(key)
    assert store.missing_shards(key) == [1]


# -- ResultStore -------------------------------------------------------------------------------------
def result_rows(metric: str = "top1", value: float = 0.5, slices: Sequence[str] = ("", "front")) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": "tiny",
                "model_fingerprint": "mfp",
                "dataset": "toy",
                "dataset_fingerprint": "dfp",
                "shift": "none",
                "metric": metric,
                "slice_factor": "pose" if s else "",
                "slice_value": s,
                "value": value,
                "ci_low": value - 0.1,
                "ci_high": value + 0.1,
                "n": 24,
                "protocol": {"name": metric, "k": 1},
                "prediction_key": "abc",
            }
            for s in slices
        ]
    )


def test_result_store_write_replace_query_export(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.duckdb")
    assert store.write(result_rows("top1", 0.5)) == 2
    assert store.write(result_rows("ece", 0.1, slices=[""])) == 1
    assert store.write(result_rows("top1", 0.7)) == 2  # recomputation replaces, never duplicates
    table = store.query()
    assert list(table.columns) == list(RESULT_COLUMNS)
    assert len(table) == 3 and len(store) == 3
    top1 = store.query(metric="top1", slice_value="")
    assert top1["value"].tolist() == [0.7]
    assert json.loads(top1["protocol"][0]) == {"k": 1, "name": "top1"}
    assert "numpy" in json.loads(top1["versions"][0])
    assert len(store.query(metric=["top1", "ece"], slice_factor="")) == 2
    summary = store.query("SELECT metric, count(*) AS rows FROM results GROUP BY metric", metric="top1")
    assert summary["rows"].tolist() == [2]
    with pytest.raises(ValueError, match="metric"):
        store.query(metrc="top1")
    with pytest.raises(ValueError, match="unknown columns"):
        store.write(result_rows().assign(extra=1))
    with pytest.raises(ValueError, match="lack"):
        store.write(result_rows().drop(columns=["n"]))
    csv = pd.read_csv(store.export(tmp_path / "r.csv"))
    assert len(csv) == 3 and list(csv.columns) == list(RESULT_COLUMNS)
    records = json.loads(store.export(tmp_path / "r.json", format="json", metric="ece").read_text())
    assert len(records) == 1 and records[0]["value"] == pytest.approx(0.1)
    # reopening sees the same rows
    assert len(ResultStore(tmp_path / "results.duckdb").query()) == 3


def test_result_store_other_schema_version(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "results.duckdb"
    ResultStore(path).write(result_rows())
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(StoreVersionError, match="schema version '0'"):
        ResultStore(path)
    (tmp_path / "junk.duckdb").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreVersionError):
        ResultStore(tmp_path / "junk.duckdb")


def test_result_store_migrates_a_version_1_store_in_place(tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "results.duckdb"
    ResultStore(path).write(result_rows())
    con = duckdb.connect(str(path))  # turn it back into the version-1 layout (no suite/axis columns)
    con.execute("ALTER TABLE results DROP COLUMN suite")
    con.execute("ALTER TABLE results DROP COLUMN axis")
    con.execute("ALTER TABLE results DROP COLUMN shift_params")  # added by version 3
    con.execute("ALTER TABLE results DROP COLUMN private")  # added by version 4
    con.execute("ALTER TABLE results DROP COLUMN private_protocol")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    store = ResultStore(path)
    rows = store.query()
    n = len(result_rows())
    assert len(rows) == n and list(rows.columns) == list(RESULT_COLUMNS)
    assert set(rows["suite"]) == {""} and set(rows["axis"]) == {""}
    store.write(result_rows().assign(suite="s", axis="calibration"))  # another identity: added, not replaced
    assert len(store.query()) == 2 * n and len(store.query(suite="s")) == n


def _write_many(path: str, worker: int) -> None:
    store = ResultStore(path)
    for i in range(8):
        store.write(result_rows(metric=f"m{worker}_{i}", slices=[""]))


def test_result_store_shared_by_two_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.duckdb")
    ResultStore(path)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_many, args=(path, w)) for w in range(2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    assert len(ResultStore(path).query()) == 16


def test_progress_bar_run(tmp_path: Path, dataset: Dataset) -> None:
    result = runner(tmp_path / "preds", progress=True).run(tiny_model(), dataset)
    assert len(result.predictions) == 24


def test_model_from_module_smoke() -> None:
    # Guards the helper itself: 4 logits for 16-px inputs.
    assert isinstance(tiny_model(), Model)
    assert tiny_model()(torch.rand(2, 3, 16, 16)).shape == (2, len(MODEL_LABELS))


def test_two_writers_of_the_same_shard(tmp_path: Path, dataset: Dataset) -> None:
    # Two executors racing on one shard: atomic replace makes last-writer-wins, content identical.
    from concurrent.futures import ThreadPoolExecutor

    model = tiny_model()
    run = runner(tmp_path / "preds")
    task = run.plan(model, dataset)[0]
    twin = pickle.loads(pickle.dumps(task))  # its own model copy, as in another process
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(execute_task, [task, twin]))
    assert [o.rows for o in outcomes] == [8, 8]
    assert len(run.store.read_shard(task.key, 0).sample_ids) == 8
    assert not list(run.store.key_dir(task.key).glob(".*.tmp"))
    result = run.run(model, dataset)
    assert (result.shards_computed, len(set(result.predictions.sample_ids))) == (2, 24)


def test_predictions_probs_are_stable() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    preds = Predictions(np.array(["a", "b"]), logits, np.array([0, 1]), pd.DataFrame(index=range(2)), list("xyz"))
    probs = preds.probs()
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(probs[1], [1 / 3] * 3)
    assert preds.predicted().tolist() == [0, 0] and preds.num_classes == 3
    with pytest.raises(ValueError):
        Predictions(np.array(["a"]), logits, np.array([0, 1]), pd.DataFrame(index=range(2)), list("xyz"))
