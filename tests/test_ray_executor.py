"""The Ray executor against the serial one: same bits, a killed worker retried, a killed driver resumed.

One local Ray (2 CPUs) serves the whole module; skipped with a reason when Ray is not installed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from robustscope.engine import PredictionStore, Runner
from robustscope.engine.executors import RayExecutor, SerialExecutor, make_executor
from robustscope.errors import OptionError
from test_engine_support import make_dataset, tiny_model

TESTS = str(Path(__file__).parent)
BATCH, SHARD, N = 4, 8, 48  # 6 shards of 2 batches


@pytest.fixture(scope="module")
def executor() -> Iterator[RayExecutor]:
    pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'robustscope[ray]')")
    with pytest.MonkeyPatch.context() as patch:
        # Workers inherit the environment Ray starts with: they must import the tests' model and shift classes.
        patch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
        ray_executor = RayExecutor(num_cpus=2)
        ray_executor._ray()
        yield ray_executor
        ray_executor.shutdown()


def _runner(store: Path, executor: object | None = None) -> Runner:
    return Runner(PredictionStore(store), batch_size=BATCH, shard_size=SHARD, progress=False, executor=executor)


def _shard_files(store: Path, key: str) -> list[str]:
    return sorted(p.name for p in (store / key).iterdir() if p.name.startswith("shard-") or p.name.endswith(".tmp"))


def test_identical_to_serial(tmp_path: Path, executor: RayExecutor) -> None:
    dataset = make_dataset(tmp_path / "data", n=N)
    serial = _runner(tmp_path / "serial").run(tiny_model(), dataset)
    advanced: list[int] = []
    ray_runner = _runner(tmp_path / "ray", executor)
    tasks = ray_runner.plan(tiny_model(), dataset)
    outcomes = executor.execute(tasks, advanced.append)
    assert sorted(o.shard_index for o in outcomes) == list(range(N // SHARD))
    assert sum(advanced) == N and len(advanced) == N // SHARD  # the bar moves per finished group
    result = ray_runner.run(tiny_model(), dataset)  # everything is stored: a pure cache hit
    assert (result.key, result.shards_computed, result.shards_reused) == (serial.key, 0, N // SHARD)
    assert np.array_equal(result.predictions.logits, serial.predictions.logits)  # bit for bit
    np.testing.assert_array_equal(result.predictions.sample_ids, serial.predictions.sample_ids)
    assert result.predictions.factors.equals(serial.predictions.factors)


def test_killed_worker_is_retried(tmp_path: Path, executor: RayExecutor) -> None:
    from ray_support import DieOnce

    dataset = make_dataset(tmp_path / "data", n=N)
    marker = tmp_path / "died"
    shift = DieOnce(str(marker), trigger="s0041")  # in the last shard: others are written before
    result = _runner(tmp_path / "ray", executor).run(tiny_model(), dataset, shift)
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # a worker process did die
    assert result.shards_computed == N // SHARD
    assert _shard_files(tmp_path / "ray", result.key) == [f"shard-{i:05d}.parquet" for i in range(N // SHARD)]
    reference = _runner(tmp_path / "serial").run(tiny_model(), dataset, shift)  # marker there: no death
    assert reference.key == result.key
    assert np.array_equal(result.predictions.logits, reference.predictions.logits)
    assert len(set(result.predictions.sample_ids)) == N


# The driver: joins the module's Ray and runs slowly enough to be killed between shards.
DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import pandas as pd
    from test_engine_support import tiny_model
    from robustscope.data import Dataset
    from robustscope.engine import PredictionStore, Runner
    from robustscope.engine.executors import RayExecutor
    dataset = Dataset("toy", {root!r}, {classes!r}, pd.read_csv({manifest!r}, dtype={{"sample_id": str}}))
    runner = Runner(PredictionStore({store!r}), batch_size={batch}, shard_size={shard}, progress=False,
                    executor=RayExecutor(address={address!r}))
    runner.run(tiny_model(delay=0.25), dataset)
    print("finished")
    """
)


@pytest.mark.timeout(120)
def test_killed_driver_resumes_missing_shards(tmp_path: Path, executor: RayExecutor) -> None:
    import ray

    n = 2 * N  # 12 shards: the 2 written and the 2 in flight at the kill leave most of them missing
    dataset = make_dataset(tmp_path / "data", n=n)
    manifest = tmp_path / "manifest.csv"
    dataset.manifest.to_csv(manifest, index=False)
    store = tmp_path / "ray"
    key = _runner(store).key(tiny_model(), dataset)
    code = DRIVER.format(tests=TESTS, root=str(dataset.root), classes=list(dataset.classes), manifest=str(manifest),
                         store=str(store), batch=BATCH, shard=SHARD, address=ray.get_runtime_context().gcs_address)
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while len(list((store / key).glob("shard-*.parquet"))) < 2:
            assert driver.poll() is None, driver.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the driver wrote no shard in time"
            time.sleep(0.02)
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.wait(30)
    assert driver.returncode == -signal.SIGKILL
    # Ray cancels the dead driver's tasks; one already running may still finish its shard: wait until none does.
    written = _shard_files(store, key)
    while True:
        time.sleep(0.5)
        now = _shard_files(store, key)
        if now == written:
            break
        written = now
    assert 2 <= len(written) < n // SHARD, written

    resumed = _runner(store, executor).run(tiny_model(), dataset)
    assert (resumed.shards_computed, resumed.shards_reused) == (n // SHARD - len(written), len(written))
    assert _shard_files(store, key) == [f"shard-{i:05d}.parquet" for i in range(n // SHARD)]
    reference = _runner(tmp_path / "serial").run(tiny_model(), dataset)
    assert np.array_equal(resumed.predictions.logits, reference.predictions.logits)


def test_wrong_model_is_refused(tmp_path: Path, executor: RayExecutor) -> None:
    import ray

    from robustscope.engine.ray_worker import DatasetHandle, ModelHandle, ModelMismatchError, run_group, strip_task

    dataset = make_dataset(tmp_path / "data", n=8)
    (task,) = _runner(tmp_path / "store").plan(tiny_model(), dataset)
    other = tiny_model(seed=1)  # other weights than the planned model's
    handle = ModelHandle(tiny_model().fingerprint(), None, [ray.put(other)])
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        run_group([strip_task(task)], [handle], [DatasetHandle("d", [ray.put(dataset)])])
    assert not (tmp_path / "store" / task.key / "shard-00000.parquet").exists()


def test_a_file_model_is_loaded_from_its_weights_file(tmp_path: Path, executor: RayExecutor) -> None:
    import json

    import ray
    from safetensors.torch import save_file

    from robustscope.engine.ray_worker import DatasetHandle, ModelHandle, run_group, strip_task
    from robustscope.models.registry import load_model
    from robustscope.models.smallcnn import SmallCNN
    from test_engine_support import MODEL_LABELS

    folder = tmp_path / "model"
    folder.mkdir()
    save_file(SmallCNN(len(MODEL_LABELS), width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    preprocessing = {"input_size": 16, "crop_pct": 1.0, "interpolation": "bilinear", "mean": [0.5] * 3, "std": [1] * 3}
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": MODEL_LABELS,
              "preprocessing": preprocessing}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    model = load_model(f"file:{folder}")
    dataset = make_dataset(tmp_path / "data", n=8)
    (task,) = _runner(tmp_path / "store").plan(model, dataset)
    # No object-store copy of the model ([None]): only its weights file can serve it.
    handle = ModelHandle(model.fingerprint(), f"file:{folder}", [None])
    (outcome,) = run_group([strip_task(task)], [handle], [DatasetHandle("file-model-data", [ray.put(dataset)])])
    assert outcome.rows == 8
    stored = _runner(tmp_path / "store").run(model, dataset)
    assert stored.shards_computed == 0
    reference = _runner(tmp_path / "serial").run(model, dataset)
    assert np.array_equal(stored.predictions.logits, reference.predictions.logits)


def test_executor_names() -> None:
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert make_executor("ray", "10.0.0.5:6379").address == "10.0.0.5:6379"
    with pytest.raises(OptionError, match="HOST:PORT"):
        make_executor("ray", "nowhere")
    with pytest.raises(OptionError, match="--executor ray"):
        make_executor("serial", "auto")


def test_sweep_on_ray_equals_serial(tmp_path: Path, executor: RayExecutor) -> None:
    from robustscope.sweeps import SuiteEntry, SweepSpec, run_sweep
    from test_sweep import write_model

    model = write_model(tmp_path / "model", seed=0)  # a file: model: Ray workers load it from its weights file
    spec = SweepSpec("s", (model,), (SuiteEntry("synthetic-clones-offline", ("calibration",)),), worlds=("tiny",),
                     n_resamples=0, batch_size=16)  # fmt: skip
    on_ray = run_sweep(spec, store=tmp_path / "ray", executor=RayExecutor(), progress=False)
    serial = run_sweep(spec, store=tmp_path / "serial", progress=False)
    assert [o.status for o in on_ray.outcomes] == [o.status for o in serial.outcomes] == ["computed"]
    assert on_ray.outcomes[0].shards_computed == serial.outcomes[0].shards_computed > 0
    pd.testing.assert_frame_equal(on_ray.summary, serial.summary)


def test_worker_lost_for_good_is_one_line_and_the_rerun_resumes(tmp_path: Path, executor: RayExecutor) -> None:
    from ray_support import DieOnce
    from robustscope.engine.executors import ExecutorError

    dataset = make_dataset(tmp_path / "data", n=N)
    shift = DieOnce(str(tmp_path / "died"), trigger="s0001")  # in the first shard
    with pytest.raises(ExecutorError, match="rerun the same command") as caught:
        _runner(tmp_path / "ray", RayExecutor(max_retries=0)).run(tiny_model(), dataset, shift)
    assert "\n" not in str(caught.value)
    resumed = _runner(tmp_path / "ray", executor).run(tiny_model(), dataset, shift)
    assert resumed.shards_computed + resumed.shards_reused == N // SHARD and resumed.shards_computed >= 1
    reference = _runner(tmp_path / "serial").run(tiny_model(), dataset, shift)
    assert np.array_equal(resumed.predictions.logits, reference.predictions.logits)


def test_evaluate_with_executor_ray_gives_the_serial_table(tmp_path: Path, executor: RayExecutor) -> None:
    import robustscope

    dataset = make_dataset(tmp_path / "data", n=16)
    kwargs = {"metrics": ["top1", "nll"], "slice_by": None, "n_resamples": 20, "progress": False}
    on_ray = robustscope.evaluate(tiny_model(), dataset, store=tmp_path / "ray", executor="ray", **kwargs)
    serial = robustscope.evaluate(tiny_model(), dataset, store=tmp_path / "serial", **kwargs)
    assert on_ray.attrs["shards_computed"] == serial.attrs["shards_computed"] == 1
    columns = ["metric", "value", "ci_low", "ci_high", "n", "prediction_key"]
    pd.testing.assert_frame_equal(on_ray[columns], serial[columns])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (Ray gives a --device cuda task a GPU)")
def test_gpu_tasks_ask_ray_for_a_gpu_and_match_the_serial_gpu_run(tmp_path: Path, executor: RayExecutor) -> None:
    import ray

    if not ray.cluster_resources().get("GPU"):
        pytest.skip("the local Ray sees no GPU")
    dataset = make_dataset(tmp_path / "data", n=N)
    tasks = _runner(tmp_path / "ray", executor).plan(tiny_model(), dataset)
    assert executor._gpus(ray, [replace(t, device="cuda") for t in tasks]) == 1.0
    on_gpu = Runner(PredictionStore(tmp_path / "ray"), batch_size=BATCH, shard_size=SHARD, progress=False,
                    device="cuda", executor=executor).run(tiny_model(), dataset)  # fmt: skip
    serial = Runner(PredictionStore(tmp_path / "serial"), batch_size=BATCH, shard_size=SHARD, progress=False,
                    device="cuda").run(tiny_model(), dataset)  # fmt: skip
    np.testing.assert_allclose(on_gpu.predictions.logits, serial.predictions.logits, rtol=1e-5, atol=1e-6)
