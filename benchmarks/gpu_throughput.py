"""The GPU path: images/s per corruption, PGD-20 images/s, and a corruption grid's wall time vs pure forward.

Measures, on ``--device`` (default ``cuda``; without a CUDA device it says so and exits 0):

* every ImageNet-C corruption at severity 3 on ``--size``-px batches already on the device (goal: ≥ 2,000
  images/s each at 224 px);
* PGD-20 (L∞, eps 1/255, alpha 2/255) images/s against a torchvision ResNet-50 with **random weights** (timing only:
  the attack's cost does not depend on what the weights are), in fp32 and under bf16 autocast;
* ``Runner.run_many`` over the clean set + the 15 common corruptions × 5 severities of ``--n`` PNGs (decode-once,
  ``--num-workers`` decoding processes, pinned memory, channels_last) vs the model's pure forward passes over the
  same pre-decoded images × shifts.

Not a test (``tests/test_gpu_path.py`` runs it on the CPU at toy sizes so it keeps working). Example::

    bash benchmarks/gpu.sh                   # the figures in benchmarks/README.md
    .venv/bin/python benchmarks/gpu_throughput.py --device cpu --n 8 --size 32 --arch resnet18 --steps 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(device: torch.device, images: int, fn: Callable[[], Any], repeats: int = 3) -> float:
    """Images/s of ``fn`` (which handles ``images`` images): best of ``repeats`` after one warm-up."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return images / best


def corruption_rates(device: torch.device, size: int, batch: int, names: list[str]) -> dict[str, float]:
    """Images/s of each corruption (severity 3) on a ``[batch,3,size,size]`` batch on ``device``."""
    from robustscope.shifts.registry import load_shift

    generator = torch.Generator().manual_seed(0)
    small = torch.rand(batch, 3, size // 8, size // 8, generator=generator)
    images = torch.nn.functional.interpolate(small, size=(size, size), mode="bilinear").to(device)  # photo-like
    ids = [f"s{i}" for i in range(batch)]
    rates = {}
    for name in names:
        shift = load_shift(f"corruption:{name}:3")
        rates[name] = _rate(device, batch, lambda shift=shift: shift(images.clone(), ids, 0), repeats=2)
    return rates


def _model(arch: str, size: int) -> Any:
    import torchvision

    from robustscope.models import Model, Preprocessing

    torch.manual_seed(0)
    net = getattr(torchvision.models, arch)(weights=None)  # random weights: timing only
    return Model.from_module(net, Preprocessing(input_size=size, crop_pct=0.875), [f"c{i}" for i in range(1000)],
                             name=f"{arch}-random")  # fmt: skip


def pgd_rates(device: torch.device, arch: str, size: int, batch: int, steps: int) -> dict[str, float]:
    """PGD images/s in fp32 and under bf16 autocast (as the Runner runs attacks with ``--precision bf16``)."""
    from robustscope.engine.shard_tasks import autocast
    from robustscope.shifts.attacks import PGD

    model = _model(arch, size).eval().to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    images = torch.rand(batch, 3, size, size, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    ids = [f"s{i}" for i in range(batch)]
    attack = PGD("linf", eps=1 / 255, alpha=2 / 255, steps=steps)
    rates = {}
    for precision in ("fp32", "bf16"):
        def run(precision: str = precision) -> None:
            with autocast(device, precision):
                attack(images.clone(), ids, 0, model=model, labels=labels)

        rates[precision] = _rate(device, batch, run, repeats=2)
    return rates


def _pngs(root: Path, n: int, size: int) -> Any:
    from PIL import Image

    from robustscope.data import Dataset

    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BILINEAR).save(root / "img" / f"{i:05d}.png")
        rows.append({"sample_id": f"s{i:05d}", "path": f"img/{i:05d}.png", "label": i % 1000})
    return Dataset("gpu-bench", root, [f"c{i}" for i in range(1000)], pd.DataFrame(rows))


def grid_vs_forward(device: torch.device, arch: str, size: int, n: int, batch: int, workers: int,
                    precision: str, severities: tuple[int, ...],
                    corruptions: tuple[str, ...] | None = None) -> dict[str, float]:  # fmt: skip
    """Seconds of ``Runner.run_many`` over clean + corruptions (default the 15 common) × severities vs pure forward
    × shifts."""
    from robustscope.engine import PredictionStore, Runner
    from robustscope.engine.shard_tasks import autocast
    from robustscope.shifts.corruptions import COMMON_CORRUPTIONS
    from robustscope.shifts.registry import load_shift

    work = Path(tempfile.mkdtemp(prefix="rs-gpu-"))
    dataset = _pngs(work / "data", n, size * 8 // 7)  # the preprocessing resizes and crops to size
    model = _model(arch, size)
    names = corruptions or COMMON_CORRUPTIONS
    shifts = [load_shift("none"), *(load_shift(f"corruption:{c}:{s}") for c in names for s in severities)]
    runner = Runner(PredictionStore(work / "preds"), batch_size=batch, device=str(device), num_workers=workers,
                    precision=precision, progress=False)  # fmt: skip
    start = time.perf_counter()
    runner.run_many(model, dataset, shifts)
    wall = time.perf_counter() - start
    pre = model.preprocessing
    decoded = [torch.stack([pre.to_tensor(dataset.load_image(i)) for i in range(s, min(s + batch, n))]).to(device)
               for s in range(0, n, batch)]  # fmt: skip
    model.eval()

    def forward() -> None:
        with torch.inference_mode(), autocast(device, precision):
            for images in decoded:
                model(images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images)

    per_pass = n / _rate(device, n, forward, repeats=2)
    return {"shifts": len(shifts), "wall": wall, "forward": per_pass * len(shifts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", type=int, default=224, help="image side (px)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--arch", default="resnet50", help="torchvision architecture (random weights)")
    parser.add_argument("--steps", type=int, default=20, help="PGD steps")
    parser.add_argument("--n", type=int, default=1024, help="images of the corruption grid run")
    parser.add_argument("--num-workers", type=int, default=8)
    parser.add_argument("--precision", default="bf16", help="precision of the grid run: fp32, fp16, bf16")
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--corruptions", default="all", help="comma-separated names, or 'all' (the 19)")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: torch.cuda.is_available() is False; nothing measured")
        return
    from robustscope.shifts.corruptions import CORRUPTIONS

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {name}, torch {torch.__version__}, {args.size} px, batch {args.batch}")
    names = list(CORRUPTIONS.keys()) if args.corruptions == "all" else args.corruptions.split(",")
    rates = corruption_rates(device, args.size, args.batch, names)
    for corruption, rate in sorted(rates.items(), key=lambda item: item[1]):
        print(f"  {corruption:18s} {rate:10,.0f} images/s{'' if rate >= 2000 else '   < 2,000'}")
    pgd = pgd_rates(device, args.arch, args.size, args.batch, args.steps)
    print(f"PGD-{args.steps} {args.arch} (random weights): fp32 {pgd['fp32']:,.0f} images/s, "
          f"bf16 autocast {pgd['bf16']:,.0f} images/s")  # fmt: skip
    severities = tuple(int(s) for s in args.severities.split(","))
    grid = grid_vs_forward(device, args.arch, args.size, args.n, args.batch, args.num_workers, args.precision,
                           severities)  # fmt: skip
    print(f"grid of {grid['shifts']} shifts × {args.n} images ({args.precision}, {args.num_workers} decode workers): "
          f"{grid['wall']:.1f} s vs pure forward {grid['forward']:.1f} s = {grid['wall'] / grid['forward']:.2f}×")


if __name__ == "__main__":
    main()
