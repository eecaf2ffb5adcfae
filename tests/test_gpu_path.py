"""The GPU path's options on the CPU (precision through the API and CLI, the GPU benchmark at toy sizes), and what
only a CUDA device can check (skipped with the reason "no CUDA device" elsewhere)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from robustscope.api import evaluate
from robustscope.cli import build_parser
from robustscope.engine import PredictionStore
from robustscope.engine.options import check_num_workers
from robustscope.errors import OptionError
from test_engine_support import make_dataset, tiny_model

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _load_benchmark(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_evaluate_threads_precision_and_workers_to_the_store(tmp_path: Path) -> None:
    dataset = make_dataset(tmp_path / "data", n=12)
    model = tiny_model()
    options = {"metrics": ["top1"], "slice_by": None, "n_resamples": 0, "store": tmp_path / "ws", "progress": False}
    fp32 = evaluate(model, dataset, shifts=["none", "corruption:contrast:2"], **options)
    bf16 = evaluate(model, dataset, shifts=["none", "corruption:contrast:2"], precision="bf16", num_workers=1,
                    **options)  # fmt: skip
    assert bf16.attrs["shards_computed"] == 2  # not the fp32 predictions: a key of its own per shift
    assert set(bf16["prediction_key"]).isdisjoint(fp32["prediction_key"])
    store = PredictionStore(tmp_path / "ws" / "predictions")
    metas = [store.read_meta(key) for key in bf16["prediction_key"]]
    assert {m.get("precision") for m in metas} == {"bf16"}
    assert all("precision" not in store.read_meta(key) for key in fp32["prediction_key"])  # fp32 meta as before
    with pytest.raises(OptionError, match="num_workers"):
        check_num_workers(-1)


def test_cli_run_takes_precision_and_num_workers() -> None:
    run = ["run", "--model", "m", "--data", "d"]
    args = build_parser().parse_args([*run, "--precision", "bf16", "--num-workers", "2"])
    assert (args.precision, args.num_workers) == ("bf16", 2)
    defaults = build_parser().parse_args(["run", "--model", "m", "--data", "d"])
    assert (defaults.precision, defaults.num_workers) == ("fp32", 0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--model", "m", "--data", "d", "--precision", "fp8"])


def test_gpu_benchmark_runs_at_toy_sizes_on_cpu() -> None:
    pytest.importorskip("torchvision", reason="the GPU benchmark's models are torchvision's")
    bench = _load_benchmark("gpu_throughput")
    cpu = torch.device("cpu")
    rates = bench.corruption_rates(cpu, 32, 2, ["gaussian_noise", "contrast"])
    assert set(rates) == {"gaussian_noise", "contrast"} and min(rates.values()) > 0
    grid = bench.grid_vs_forward(cpu, "resnet18", 32, n=4, batch=4, workers=0, precision="fp32", severities=(1, 2),
                                 corruptions=("contrast",))  # fmt: skip
    assert grid["shifts"] == 3 and grid["wall"] > 0 and grid["forward"] > 0


@pytest.mark.skipif(shutil.which("bash") is None or torch.cuda.is_available(), reason="needs bash and no CUDA device")
def test_gpu_script_without_a_gpu_says_so_and_exits_0() -> None:
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu.sh")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


@NO_CUDA
def test_shifts_stay_on_the_cuda_device() -> None:  # pragma: no cover - needs a GPU
    from robustscope.shifts.corruptions import CORRUPTIONS
    from robustscope.shifts.registry import load_shift

    images = torch.rand(2, 3, 32, 32, device="cuda")
    for name in CORRUPTIONS:
        out = load_shift(f"corruption:{name}:3")(images.clone(), ["a", "b"], 0)
        assert out.device.type == "cuda", name
        cpu = load_shift(f"corruption:{name}:3")(images.cpu(), ["a", "b"], 0)
        # Per-sample seeds: the same draws on either device (a threshold may flip a few pixels: mean, not max).
        assert (out.cpu() - cpu).abs().mean() < 5e-3, name
    model = tiny_model().cuda()
    labels = torch.tensor([0, 1], device="cuda")
    adv = load_shift("pgd:linf:eps=0.03:steps=2")(images, ["a", "b"], 0, model=model, labels=labels)
    assert adv.device.type == "cuda"


@NO_CUDA
def test_cuda_fp16_run_is_cached_apart(tmp_path: Path) -> None:  # pragma: no cover - needs a GPU
    dataset = make_dataset(tmp_path / "data", n=8)
    options = {"metrics": ["top1"], "slice_by": None, "n_resamples": 0, "store": tmp_path / "ws", "progress": False}
    fp32 = evaluate(tiny_model(), dataset, device="cuda", **options)
    fp16 = evaluate(tiny_model(), dataset, device="cuda", precision="fp16", **options)
    assert fp16.attrs["shards_computed"] == 1 and fp32["prediction_key"][0] != fp16["prediction_key"][0]
    assert json.dumps(fp16["value"].tolist())  # finite values, stored
