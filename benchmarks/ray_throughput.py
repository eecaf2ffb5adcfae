"""Throughput of the Runner on Ray with 1 and 2 workers against the serial executor, same model, data and shifts.

A demo-world model (``file:``, so Ray workers load it from its weights file) on the demo world's 400-image
``test-id`` split under clean + every common corruption at one severity (a suite's corruption grid in small),
all computed in one ``Runner.run_many`` (each image decoded once for all shifts), from an empty prediction
store each time, in shards of ``--shard-size`` rows (the unit Ray spreads over workers):

* ``serial``: this process, torch with each of ``--threads`` threads (2 and 1: all cores, and one as a Ray worker);
* ``ray N``: a local Ray with ``num_cpus=N``, one single-threaded worker per core (Ray sets
  ``OMP_NUM_THREADS=1`` for a 1-CPU task); Ray's start-up and the workers' first model load are timed apart
  (a warm-up run on another store), so the rows are steady-state throughput.

images/s counts image × shift evaluations. Not a test. Example::

    flock /tmp/rs-heavy.lock nice -n 10 .venv/bin/python benchmarks/ray_throughput.py \\
        --model file:/tmp/ka/wsdemo/models/demo-clean-cd70ea33db83 --renders /tmp/ka/wsdemo/renders \\
        --workspace /tmp/me/ws
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any


def _run(args: argparse.Namespace, executor: Any, store: Path) -> tuple[float, int]:
    from robustscope.data.registry import load_dataset
    from robustscope.engine import PredictionStore, Runner
    from robustscope.models.registry import load_model
    from robustscope.shifts.corruptions import COMMON_CORRUPTIONS
    from robustscope.shifts.registry import load_shift

    model = load_model(args.model)
    dataset = load_dataset("synth:demo:test-id", root=args.renders_copy, progress=False)
    shifts = [load_shift("none")] + [load_shift(f"corruption:{c}:{args.severity}") for c in COMMON_CORRUPTIONS]
    shutil.rmtree(store, ignore_errors=True)
    runner = Runner(PredictionStore(store), batch_size=args.batch_size, shard_size=args.shard_size, progress=False,
                    executor=executor)  # fmt: skip
    started = time.perf_counter()
    results = runner.run_many(model, dataset, shifts)
    seconds = time.perf_counter() - started
    return seconds, sum(len(r.predictions) for r in results)


def main() -> None:
    """Time serial, Ray 1 worker, Ray 2 workers; print images/s side by side and the ratios to serial."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="file:PATH of a demo-world model")
    parser.add_argument("--renders", required=True, help="a render cache holding the demo world's test-id split")
    parser.add_argument("--workspace", required=True, help="scratch folder (stores, a copy of the split)")
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--shard-size", type=int, default=50)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="torch threads of each serial run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import os

    import torch

    ws = Path(args.workspace)
    os.environ["ROBUSTSCOPE_HOME"] = str(ws / "home")  # the content index goes here, never to the default
    args.renders_copy = ws / "renders"
    for split in Path(args.renders).glob("demo-test-id-*"):  # read-only source: work on a copy
        if not (args.renders_copy / split.name).exists():
            shutil.copytree(split, args.renders_copy / split.name)

    from robustscope.engine.executors import RayExecutor, SerialExecutor

    rows: list[tuple[str, float, int, float]] = []
    _run(args, SerialExecutor(), ws / "warm")  # page cache, imports
    for threads in args.threads:
        torch.set_num_threads(threads)
        seconds, evaluations = _run(args, SerialExecutor(), ws / "serial")
        rows.append((f"serial ({threads} thread(s))", seconds, evaluations, 0.0))
    for workers in args.workers:
        executor = RayExecutor(num_cpus=workers)
        started = time.perf_counter()
        _run(args, executor, ws / "warm")  # starts Ray, workers import torch and load the model once
        start_up = time.perf_counter() - started
        seconds, evaluations = _run(args, executor, ws / f"ray{workers}")
        rows.append((f"ray, {workers} worker(s)", seconds, evaluations, start_up))
        executor.shutdown()
    base = rows[0][2] / rows[0][1]
    print(f"{'executor':<24} {'wall s':>8} {'evals':>7} {'images/s':>9} {'vs serial':>9} {'start-up+warm-up s':>19}")
    for name, seconds, evaluations, start_up in rows:
        rate = evaluations / seconds
        print(f"{name:<24} {seconds:8.2f} {evaluations:7d} {rate:9.1f} {rate / base:8.2f}× {start_up:19.1f}")


if __name__ == "__main__":
    main()
