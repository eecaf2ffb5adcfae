"""Decode once, shift many: ``Runner.run_many`` against one ``Runner.run`` per shift (keys, shards, logits, resume).

The reference is the separate run of each shift, in a store of its own: run_many must write the same keys, the
same shard files and the same logits bit for bit, decode each image once, and resume from any mix of shards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robustscope.data import Dataset
from robustscope.engine import PredictionStore, Runner
from robustscope.engine.evaluation import Evaluation
from robustscope.engine.fingerprint import prediction_key
from robustscope.engine.shard_tasks import execute_task, execute_tasks, group_by_rows
from robustscope.errors import OptionError
from robustscope.shifts.registry import load_shift
from test_engine_support import ForwardCounter, make_dataset, tiny_model

# 20 rows in shards of 8 (8, 8, 4) and batches of 3: batches end mid-shard and the last shard is short.
N, SHARD, BATCH = 20, 8, 3
#: The clean set, a deterministic corruption, a seeded random one and an attack that needs the model
#: (PGD with its seeded random start).
SHIFTS = ["none", "corruption:contrast:3", "corruption:gaussian_noise:3", "pgd:linf:eps=0.03:steps=2"]


class CountingDataset(Dataset):
    """A Dataset that counts how many images it decoded (same manifest and files: same fingerprint)."""

    reads = 0

    def load_image(self, index: int, max_pixels: int | None = None):  # type: ignore[no-untyped-def]
        type(self).reads += 1
        return super().load_image(index, max_pixels)


@pytest.fixture()
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "data", n=N)


def _runner(root: Path, **options: object) -> Runner:
    return Runner(PredictionStore(root), batch_size=BATCH, shard_size=SHARD, progress=False, **options)  # type: ignore[arg-type]


def _shard_files(root: Path, key: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / key).glob("shard-*.parquet"))}


def test_run_many_equals_separate_runs(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS]
    separate = [_runner(tmp_path / "separate").run(model, dataset, shift, seed=3) for shift in shifts]
    together = _runner(tmp_path / "together").run_many(model, dataset, shifts, seed=3)

    assert [r.key for r in together] == [r.key for r in separate]
    assert len({r.key for r in together}) == len(SHIFTS)  # four distinct predictions, not one reused
    for one, many in zip(separate, together, strict=True):
        assert np.array_equal(one.predictions.logits, many.predictions.logits)  # bit for bit
        assert one.predictions.sample_ids.tolist() == many.predictions.sample_ids.tolist()
        assert np.array_equal(one.predictions.labels, many.predictions.labels)
        assert (many.shards_computed, many.shards_reused) == (3, 0)
        # The same shard files, byte for byte (the atomic write and checksums are the separate run's).
        assert _shard_files(tmp_path / "together", many.key) == _shard_files(tmp_path / "separate", one.key)
    # The shifts really changed the logits (otherwise equality above would prove little).
    clean = together[0].predictions.logits
    assert all(not np.allclose(clean, r.predictions.logits) for r in together[1:])


def test_each_image_is_decoded_once(tmp_path: Path, dataset: Dataset) -> None:
    counting = CountingDataset(dataset.name, dataset.root, list(dataset.classes), dataset.manifest)
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS]
    CountingDataset.reads = 0
    runner = _runner(tmp_path / "many")
    runner.run_many(model, counting, shifts)
    assert CountingDataset.reads == N
    assert runner.shards_computed == 3 * len(SHIFTS)
    CountingDataset.reads = 0
    runner.run_many(model, counting, shifts)  # all cached: nothing decoded
    assert CountingDataset.reads == 0
    for shift in shifts:  # the old way, for contrast: one decode per image per shift
        _runner(tmp_path / "separate").run(model, counting, shift)
    assert CountingDataset.reads == N * len(SHIFTS)


def test_resume_from_a_mix_of_shards(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS[:3]]
    reference = [_runner(tmp_path / "reference").run(model, dataset, s, seed=1) for s in shifts[:2]]
    third = _runner(tmp_path / "reference")
    third.shard_size = 5
    reference.append(third.run(model, dataset, shifts[2], seed=1))

    root = tmp_path / "resumed"
    runner = _runner(root)
    runner.run(model, dataset, shifts[0], seed=1)  # every shard of the first shift
    (root / reference[0].key / "shard-00001.parquet").unlink()  # … then one lost
    for task in runner.plan(model, dataset, shifts[1], seed=1)[:1]:  # shard 0 only of the second
        execute_task(task)
    # The third shift is new, and written with another shard size: its shards cover other rows.
    other_layout = _runner(root)
    other_layout.shard_size = 5
    counter = ForwardCounter(model)
    results = runner.run_many(model, dataset, shifts[:2], seed=1) + other_layout.run_many(
        model, dataset, shifts[2:], seed=1
    )
    counter.remove()
    assert [(r.shards_computed, r.shards_reused) for r in results] == [(1, 2), (2, 1), (4, 0)]
    assert counter.images == 8 + 12 + N  # exactly the missing rows were forwarded
    for ref, got in zip(reference, results, strict=True):
        assert got.key == ref.key
        assert np.array_equal(got.predictions.logits, ref.predictions.logits)
    written = sorted(p.name for p in (root / results[2].key).glob("shard-*"))
    assert written == [f"shard-0000{i}.parquet" for i in range(4)]


def test_a_shift_listed_twice_is_computed_once(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    counter = ForwardCounter(model)
    first, second = _runner(tmp_path).run_many(model, dataset, [load_shift("none"), load_shift("none")])
    counter.remove()
    assert counter.images == N and first.key == second.key
    assert (first.shards_computed, second.shards_computed, second.shards_reused) == (3, 0, 3)


def test_group_by_rows_and_the_checks_of_execute_tasks(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    runner = _runner(tmp_path)
    tasks = [t for s in SHIFTS[:2] for t in runner.plan(model, dataset, load_shift(s))]
    groups = group_by_rows(tasks)
    assert [[t.row_range for t in g] for g in groups] == [[(0, 8)] * 2, [(8, 16)] * 2, [(16, 20)] * 2]
    assert all(len({t.key for t in g}) == 2 for g in groups)
    with pytest.raises(ValueError, match="listed twice"):
        list(execute_tasks(tasks + tasks[:1]))
    with pytest.raises(ValueError, match="one model, dataset"):
        list(execute_tasks(tasks[:1] + runner.plan(tiny_model(seed=1), dataset)))


def test_decode_workers_give_the_same_bits(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS[:3]]
    in_process = _runner(tmp_path / "a").run_many(model, dataset, shifts)
    with_workers = _runner(tmp_path / "b", num_workers=2).run_many(model, dataset, shifts)
    for one, two in zip(in_process, with_workers, strict=True):
        assert np.array_equal(one.predictions.logits, two.predictions.logits)


def test_metric_rows_many_equals_metric_rows(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    many = Evaluation(model, _runner(tmp_path / "a"), n_resamples=0).metric_rows_many(
        dataset, SHIFTS[:3], ["top1", "nll"]
    )
    ev = Evaluation(model, _runner(tmp_path / "b"), n_resamples=0)
    for shift, table in zip(SHIFTS[:3], many, strict=True):
        one = ev.metric_rows(dataset, shift, ["top1", "nll"])
        columns = ["shift", "metric", "value", "n", "prediction_key"]
        assert table[columns].values.tolist() == one[columns].values.tolist()


# -- precision ----------------------------------------------------------------------------------------
def test_fp32_keys_are_unchanged_and_other_precisions_are_apart(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    shift = load_shift("none")
    before = prediction_key(model, dataset, shift, 0, dataset_fingerprint=dataset.fingerprint())
    keys = {p: _runner(tmp_path, precision=p).key(model, dataset, shift) for p in ("fp32", "fp16", "bf16")}
    assert keys["fp32"] == before  # stores written before precisions existed still hit
    assert len(set(keys.values())) == 3
    with pytest.raises(OptionError, match="precision"):
        _runner(tmp_path, precision="fp8")


def test_bf16_autocast_on_cpu_agrees_with_fp32(tmp_path: Path, dataset: Dataset) -> None:
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS[:2]]
    fp32 = _runner(tmp_path, precision="fp32").run_many(model, dataset, shifts)
    bf16 = _runner(tmp_path, precision="bf16").run_many(model, dataset, shifts)
    for full, half in zip(fp32, bf16, strict=True):
        assert half.key != full.key
        a, b = full.predictions.logits, half.predictions.logits
        assert b.dtype == np.float32 and not np.array_equal(a, b)  # it ran in bf16, stored as float32
        assert np.abs(a - b).max() < 0.05  # bf16 keeps ~3 significant digits of logits of order 1
        # Top-1 agrees wherever fp32's top-2 margin exceeds what bf16 rounding can flip.
        top2 = np.sort(a, axis=1)[:, -2:]
        clear = (top2[:, 1] - top2[:, 0]) > 0.1
        assert clear.sum() >= N // 2
        assert np.array_equal(a.argmax(1)[clear], b.argmax(1)[clear])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_run_many_matches_cpu(tmp_path: Path, dataset: Dataset) -> None:  # pragma: no cover - needs a GPU
    model = tiny_model()
    shifts = [load_shift(s) for s in SHIFTS]
    cpu = _runner(tmp_path / "cpu").run_many(model, dataset, shifts)
    cuda = _runner(tmp_path / "cuda", device="cuda").run_many(tiny_model(), dataset, shifts)
    for one, two in zip(cpu, cuda, strict=True):
        assert one.key == two.key  # the device is not part of the key
        assert np.abs(one.predictions.logits - two.predictions.logits).max() < 1e-3
    fp16 = _runner(tmp_path / "fp16", device="cuda", precision="fp16").run_many(tiny_model(), dataset, shifts[:2])
    assert np.abs(fp16[0].predictions.logits - cpu[0].predictions.logits).max() < 0.05


def test_the_docs_example_runs() -> None:
    import re

    text = (Path(__file__).parent.parent / "docs" / "decode-once.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(code, "docs/decode-once.md", "exec"), {"__name__": "docs_decode_once"})


def test_the_corruption_and_adversarial_axes_decode_each_image_once(tmp_path: Path, dataset: Dataset) -> None:
    from robustscope.suites.adversarial import adversarial_axis
    from robustscope.suites.axis import NoParams
    from robustscope.suites.axis_spec import AxisSpec
    from robustscope.suites.corruptions import Params, corruptions_axis

    counting = CountingDataset(dataset.name, dataset.root, list(dataset.classes), dataset.manifest)
    ev = Evaluation(tiny_model(), _runner(tmp_path), n_resamples=0)
    CountingDataset.reads = 0
    grid = Params(corruptions=("contrast", "gaussian_noise"), severities=(1, 3), on_the_fly="always")
    tables = corruptions_axis(ev, {"clean": counting}, AxisSpec("corruptions", {"clean": "x"}), grid)
    assert CountingDataset.reads == N  # clean + 4 cells in one pass
    assert sorted(t["shift"].iloc[0] for t in tables[:5]) == sorted(
        ["none", "corruption:contrast:1", "corruption:contrast:3", "corruption:gaussian_noise:1",
         "corruption:gaussian_noise:3"]
    )  # fmt: skip
    spec = AxisSpec("adversarial", {"clean": "x"}, ("none", "fgsm:eps=0.01", "pgd:linf:eps=0.01:steps=1"))
    adversarial_axis(ev, {"clean": counting}, spec, NoParams())
    assert CountingDataset.reads == 2 * N  # "none" is stored already: both attacks on one more decode
    assert ev.shards_computed == 3 * (5 + 2)
