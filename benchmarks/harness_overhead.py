"""How much does the Runner add on top of a bare decode → preprocess → forward loop?

Writes N random PNGs, then times (best of ``--repeats``):

* ``forward only``: the model on pre-decoded tensors (the floor);
* ``bare loop``: decode + preprocess + batch + forward, same batch size, nothing stored;
* ``Runner.run``: the same work through the harness, fresh store each time (label mapping,
  fingerprints, DataLoader, shift, finiteness checks, Parquet shards, atomic writes, reload);
* ``Runner.run (cached)``: the second run of the same key (no forward pass).

Not a test. Example::

    .venv/bin/python benchmarks/harness_overhead.py --n 512 --model resnet18 --batch-size 64
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from robustscope.data import Dataset
from robustscope.engine import PredictionStore, Runner
from robustscope.models import Model, Preprocessing


def make_images(root: Path, n: int, size: int, classes: int) -> Dataset:
    """``n`` random ``size``-px PNGs with a label and one factor."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        # Smooth-ish noise so PNG sizes (and decode cost) resemble photos more than white noise.
        small = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR)
        image.save(root / "img" / f"{i:05d}.png")
        rows.append({"sample_id": f"s{i:05d}", "path": f"img/{i:05d}.png", "label": i % classes, "group": i % 4})
    return Dataset("bench", root, [f"c{i}" for i in range(classes)], pd.DataFrame(rows))


def make_model(kind: str, input_size: int, classes: int) -> Model:
    """A small CNN or a torchvision architecture (random weights: timing only)."""
    torch.manual_seed(0)
    if kind == "small":
        net: nn.Module = nn.Sequential(
            nn.Conv2d(3, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, classes),
        )
    else:
        import torchvision

        net = getattr(torchvision.models, kind)(weights=None, num_classes=classes)
    pre = Preprocessing(input_size=input_size, crop_pct=0.875, interpolation="bilinear")
    return Model.from_module(net, preprocessing=pre, labels=[f"c{i}" for i in range(classes)], name=kind)


def interleaved_best(repeats: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best time of each function, running them round-robin so load drifts hit all alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512, help="images")
    parser.add_argument("--image-size", type=int, default=96, help="side of the PNGs on disk")
    parser.add_argument("--input-size", type=int, default=64, help="model input side")
    parser.add_argument("--model", default="resnet18", help="'small' or a torchvision model name")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="rs-bench-"))
    try:
        classes = 10
        dataset = make_images(work / "data", args.n, args.image_size, classes)
        model = make_model(args.model, args.input_size, classes).eval().to(args.device)
        pre = model.preprocessing
        batches = [range(s, min(s + args.batch_size, args.n)) for s in range(0, args.n, args.batch_size)]

        decoded = [torch.stack([pre.to_tensor(dataset.load_image(i)) for i in rows]) for rows in batches]

        def forward_only() -> None:
            with torch.inference_mode():
                for batch in decoded:
                    model(batch.to(args.device)).float().cpu()

        def bare_loop() -> None:
            with torch.inference_mode():
                for rows in batches:
                    batch = torch.stack([pre.to_tensor(dataset.load_image(i)) for i in rows])
                    model(batch.to(args.device)).float().cpu().numpy()

        counter = iter(range(10**6))

        def runner_fresh() -> None:
            store = PredictionStore(work / f"preds-{next(counter)}")
            Runner(
                store,
                batch_size=args.batch_size,
                shard_size=args.shard_size,
                device=args.device,
                num_workers=args.num_workers,
                progress=False,
            ).run(model, dataset)

        cached_runner = Runner(PredictionStore(work / "preds-cached"), batch_size=args.batch_size, progress=False)
        cached_runner.run(model, dataset)

        def fingerprints() -> None:
            model.fingerprint()
            dataset.fingerprint()

        forward_only()  # warm-up (allocator, kernels)
        best = interleaved_best(
            args.repeats,
            {
                "forward": forward_only,
                "bare": bare_loop,
                "runner": runner_fresh,
                "cached": lambda: cached_runner.run(model, dataset),
                "fingerprints": fingerprints,
            },
        )
        t_forward, t_bare, t_runner, t_cached = (best[k] for k in ("forward", "bare", "runner", "cached"))

        print(
            f"\n{args.n} PNGs {args.image_size}px → {args.input_size}px, model {args.model}, batch {args.batch_size}, "
            f"shard {args.shard_size}, workers {args.num_workers}, device {args.device}, "
            f"torch threads {torch.get_num_threads()}, best of {args.repeats}\n"
        )
        print(f"{'':28}{'seconds':>10}{'images/s':>12}{'vs bare':>10}")
        for label, seconds in [
            ("forward only (pre-decoded)", t_forward),
            ("bare loop (decode+fwd)", t_bare),
            ("Runner.run (fresh store)", t_runner),
            ("Runner.run (cache hit)", t_cached),
            ("  of which fingerprints", best["fingerprints"]),
        ]:
            print(f"{label:28}{seconds:10.3f}{args.n / seconds:12.0f}{seconds / t_bare:10.3f}")
        fixed = best["fingerprints"]
        print(
            f"\nharness overhead vs bare loop: {100 * (t_runner / t_bare - 1):+.1f}%  "
            f"(ratio {t_runner / t_bare:.3f}); vs pure forward: {100 * (t_runner / t_forward - 1):+.1f}%"
        )
        print(
            f"per-run fixed cost (hashing weights + manifest, once per run, independent of N): {fixed:.3f} s; "
            f"overhead without it: {100 * ((t_runner - fixed) / t_bare - 1):+.1f}%"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
