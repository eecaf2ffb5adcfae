"""How much does corrupting a batch on the fly add to a model's forward pass? (target: ≤10 % on the 15)

The Runner applies a corruption to each preprocessed batch right before the forward pass, so its
cost is paid once per batch per (corruption, severity). This times, on the CPU, a torchvision
ResNet-18 (random weights, eval mode, 224 px) forward pass on a batch of ``--batch`` images and
robustscope's batched corruption of the same batch (``corrupt`` under inference mode, per-sample
ids as the Runner passes them), alternating the two ``--repeats`` times per (corruption, severity)
and keeping the best of each, so load from other processes hits both alike. The overhead of a
corruption is its time over the forward time; the suite figure is the mean over the 15 ImageNet-C
corruptions (each averaged over ``--severities``).

Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/corruption_overhead.py --threads 1
    .venv/bin/python benchmarks/corruption_overhead.py --severities 3 --only glass_blur,zoom_blur
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corruptions import sample_images

from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, corrupt

TARGET = 10.0  # per cent


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--only", default="", help="comma-separated corruption names (default: the 15)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    images = torch.from_numpy(sample_images(args.batch, args.size)).permute(0, 3, 1, 2).float().div(255)
    ids = [f"img{i:04d}" for i in range(args.batch)]
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(COMMON_CORRUPTIONS)
    severities = [int(s) for s in args.severities.split(",")]

    @torch.inference_mode()
    def forward() -> torch.Tensor:
        return model((images - mean) / std)  # normalisation is part of the model's forward in robustscope

    @torch.inference_mode()
    def corrupting(name: str, severity: int) -> torch.Tensor:
        return corrupt(images, name, severity, seed=0, sample_ids=ids)

    forward()  # warm-up (allocator, kernels)
    print(
        f"ResNet-18 (random weights, eval), batch {args.batch} x {args.size} px, CPU, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s); severities {severities}; best of {args.repeats}\n"
    )
    print("| corruption | corrupt ms/batch | forward ms/batch | overhead |\n|---|---:|---:|---:|", flush=True)
    overheads, forwards = [], []
    for name in names:
        corrupting(name, severities[0])  # warm-up (cached kernels, frost images, …)
        ratios, corr_ms, fwd_ms = [], [], []
        for severity in severities:
            t_fwd, t_corr = float("inf"), float("inf")
            for _ in range(args.repeats):  # alternate, so drifting load hits both
                t_fwd = min(t_fwd, seconds(forward))
                t_corr = min(t_corr, seconds(lambda name=name, severity=severity: corrupting(name, severity)))
            ratios.append(t_corr / t_fwd)
            corr_ms.append(1000 * t_corr)
            fwd_ms.append(1000 * t_fwd)
        overhead = 100 * float(np.mean(ratios))
        overheads.append(overhead)
        forwards.extend(fwd_ms)
        print(f"| {name} | {np.mean(corr_ms):,.0f} | {np.mean(fwd_ms):,.0f} | +{overhead:.1f} % |", flush=True)
    mean_overhead = float(np.mean(overheads))
    verdict = "within" if mean_overhead <= TARGET else "above"
    print(f"| **mean over {len(names)}** | | {np.mean(forwards):,.0f} | **+{mean_overhead:.1f} %** |")
    print(
        f"\nforward {1000 * args.batch / np.mean(forwards):,.1f} images/s; corrupting adds {mean_overhead:.1f} % "
        f"on average ({verdict} the {TARGET:g} % target); worst {names[int(np.argmax(overheads))]} "
        f"+{max(overheads):.1f} %"
    )


if __name__ == "__main__":
    main()
