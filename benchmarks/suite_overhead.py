"""Wall time of the offline suite's shift grid vs the model's pure forward passes, before and after decode-once.

Runs the ``corruptions`` (clean + 15 corruptions × 5 severities, on the fly) and ``adversarial`` (FGSM, PGD-20)
axes of ``synthetic-clones-offline`` on a demo-world model, from an empty prediction store each time:

* ``before``: one Runner pass per shift (what the axes did before decode-once: every pass decodes every image);
* ``after``: the axes as they are (``Evaluation.metric_rows_many``: one pass per axis, each image decoded once);
* ``pure forward``: the model alone on the pre-decoded clean tensors (batches of the suite's 64), once per distinct
  shift: the floor the issue's ratio is taken against. It is measured right before and right after each suite run
  (the smaller kept), so both see the same load on a shared machine.

Where the time goes is measured inside each suite run by timers wrapped around the functions that do the work:
decode (``RowImages.__getitem__``: read + decode + preprocess), corrupt (every non-attack shift's ``__call__``),
attack (every attack's ``__call__``: its own forward and backward passes included), forward (``_logits`` minus the
corruptions it applies), store (shard writes and loads), metrics (``Evaluation.metric_table``, bootstrap included);
``rest`` is the remainder (keys, label mapping, DataLoader, result rows, DuckDB write). ``report`` is the HTML page
of the rows, written after the ``after`` run.

Not a test. Example (the demo world's 400-image ``test-id`` split must be under ``WORKSPACE/renders``, or it is
rendered there first)::

    flock /tmp/rs-heavy.lock nice -n 10 .venv/bin/python benchmarks/suite_overhead.py \\
        --model file:/path/to/models/demo-clean-… --workspace /tmp/me/ws --threads 2
    # a bigger model (random weights), the corruption grid only:
    ... benchmarks/suite_overhead.py --arch resnet18 --input-size 64 --axes corruptions --workspace /tmp/me/ws
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

AXES = ("corruptions", "adversarial")


def random_model(arch: str, input_size: int, labels: list[str]) -> Any:
    """A torchvision architecture with random weights over ``labels`` (timing only: cost does not depend on weights)."""
    import torchvision

    from robustscope.models import Model, Preprocessing

    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None, num_classes=len(labels))
    return Model.from_module(net, Preprocessing(input_size=input_size, crop_pct=1.0), labels, name=f"{arch}-random")


def _separate_runs(self: Any, dataset: Any, shifts: Sequence[Any], metrics: Sequence[str] = ("top1",),
                   slice_by: Any = None, binned: bool = False) -> list[Any]:  # fmt: skip
    """The axes' code before decode-once: one ``metric_rows`` (one Runner pass) per shift."""
    return [self.metric_rows(dataset, shift, metrics, slice_by, binned) for shift in shifts]


@contextmanager
def timers() -> Iterator[dict[str, float]]:
    """Seconds spent in each part of the work while the block runs (functions wrapped, then restored)."""
    from robustscope.engine import shard_tasks
    from robustscope.engine.evaluation import Evaluation
    from robustscope.engine.image_loading import RowImages
    from robustscope.engine.prediction_store import PredictionStore
    from robustscope.shifts.base import Shift

    spent: dict[str, float] = defaultdict(float)

    def timed(part: Callable[..., str] | str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part(*args) if callable(part) else part] += time.perf_counter() - start

        return wrapper

    patches = [
        (RowImages, "__getitem__", "decode"),
        (Shift, "__call__", lambda shift, *_: "attack" if shift.needs_model else "corrupt"),
        (shard_tasks, "_logits", "logits"),
        (PredictionStore, "write_shard", "store"),
        (PredictionStore, "load_with_bad_images", "store"),
        (Evaluation, "metric_table", "metrics"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, part in patches:
        setattr(owner, name, timed(part, getattr(owner, name)))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
        # _logits applies the corruptions: what is left of it is the forward pass (and its finiteness check).
        spent["forward"] = spent.pop("logits", 0.0) - spent.get("corrupt", 0.0)


def suite_run(model: Any, ws_root: Path, renders: Path, world: str, n_resamples: int, decode_once: bool,
              axes: Sequence[str] = AXES) -> tuple[float, dict[str, float]]:  # fmt: skip
    """Seconds of ``run_suite`` on the two axes from an empty store (renders shared, read only), and its breakdown."""
    from robustscope.config import workspace
    from robustscope.engine.evaluation import Evaluation
    from robustscope.suites import run_suite

    shutil.rmtree(ws_root, ignore_errors=True)
    ws_root.mkdir(parents=True)
    (ws_root / "renders").symlink_to(renders)
    original = Evaluation.metric_rows_many
    if not decode_once:
        Evaluation.metric_rows_many = _separate_runs  # type: ignore[method-assign]
    try:
        with timers() as spent:
            start = time.perf_counter()
            result = run_suite(model, "synthetic-clones-offline", world=world, axes=list(axes),
                               store=workspace(ws_root), progress=False, n_resamples=n_resamples)  # fmt: skip
            seconds = time.perf_counter() - start
    finally:
        Evaluation.metric_rows_many = original  # type: ignore[method-assign]
    assert result.shards_computed > 0 and len(result.table)
    return seconds, dict(spent)


def pure_forward(model: Any, batches: list[torch.Tensor]) -> float:
    """Seconds of one forward pass over the pre-decoded batches (best of 3, after one warm-up pass)."""
    model.eval()
    best = float("inf")
    with torch.inference_mode():
        for batch in batches:  # warm-up (every batch shape)
            model(batch)
        for _ in range(3):
            start = time.perf_counter()
            for batch in batches:
                model(batch)
            best = min(best, time.perf_counter() - start)
    return best


def report_seconds(ws_root: Path) -> float:
    """Seconds to write the HTML page of the suite's rows (the ``after`` workspace's result store)."""
    from robustscope.engine.result_store import ResultStore
    from robustscope.report.html import write_report

    rows = ResultStore(ws_root / "results.duckdb").query()
    start = time.perf_counter()
    write_report(rows, ws_root / "report.html")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a demo-world model spec (file:PATH)")
    parser.add_argument("--arch", help="instead of --model: a torchvision architecture with random weights")
    parser.add_argument("--input-size", type=int, default=64, help="with --arch: the model's input side (px)")
    parser.add_argument("--axes", nargs="+", default=list(AXES), choices=AXES)
    parser.add_argument("--workspace", required=True, help="a folder of your own (renders are kept, runs are not)")
    parser.add_argument("--world", default="demo")
    parser.add_argument("--n-resamples", type=int, default=1000, help="the suite's bootstrap resamples")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    parser.add_argument("--repeats", type=int, default=1, help="suite runs each way (interleaved)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from robustscope.api import load_dataset, load_model
    from robustscope.suites import load_suite

    root = Path(args.workspace).expanduser()
    renders = root / "renders"
    dataset = load_dataset(f"synth:{args.world}:test-id", root=renders, progress=False)  # renders once if missing
    model = load_model(args.model) if args.model else random_model(args.arch, args.input_size, dataset.classes)
    adversarial = [s for s in load_suite("synthetic-clones-offline").axis("adversarial").shifts if s != "none"]
    # clean, the common corruptions × severities, the attacks
    n_shifts = 1 + 15 * 5 * ("corruptions" in args.axes) + len(adversarial) * ("adversarial" in args.axes)
    pre = model.preprocessing
    batches = [torch.stack([pre.to_tensor(dataset.load_image(i)) for i in range(s, min(s + 64, len(dataset)))])
               for s in range(0, len(dataset), 64)]  # fmt: skip
    print(f"{model.name} · {dataset.name}: {len(dataset)} images × {n_shifts} shifts, batch 64, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    for repeat in range(args.repeats):
        for mode in ("before", "after"):
            forward = pure_forward(model, batches)
            seconds, spent = suite_run(model, root / mode, renders, args.world, args.n_resamples, mode == "after",
                                       args.axes)  # fmt: skip
            forward = min(forward, pure_forward(model, batches))  # before and after the run: the less disturbed
            floor = forward * n_shifts
            rest = seconds - sum(spent.values())
            parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1]))
            print(f"[{repeat}] {mode:6s} suite {seconds:6.1f} s; pure forward {forward:.3f} s × {n_shifts} = "
                  f"{floor:5.1f} s → {seconds / floor:4.2f}×; model floor (forwards + attacks) "
                  f"{floor + spent.get('attack', 0.0):5.1f} s → {seconds / (floor + spent.get('attack', 0.0)):4.2f}×")
            print(f"      in the run: {parts}, rest {rest:.1f} s")  # fmt: skip
    print(f"report (HTML of the rows): {report_seconds(root / 'after'):.2f} s")


if __name__ == "__main__":
    main()
