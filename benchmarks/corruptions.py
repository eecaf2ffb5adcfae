"""Time robustscope's batched ImageNet-C corruptions against the reference ``imagecorruptions`` package.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Both run in this one process on the same images (scikit-image sample
photographs, cropped, flipped and resized to ``--size``): ours on batches of ``--batch`` tensors, the
reference one uint8 image at a time, as it is meant to be used. Every corruption registered in
``robustscope.shifts.corruptions.CORRUPTIONS`` that the reference also knows is timed.

Example::

    .venv/bin/python benchmarks/corruptions.py --n 32 --size 224 --severity 3
    .venv/bin/python benchmarks/corruptions.py --only glass_blur,motion_blur --n 8
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from robustscope.compat.imagecorruptions import load_imagecorruptions
from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS, corrupt


def sample_images(n: int, size: int) -> np.ndarray:
    """``n`` varied ``size``-px HWC uint8 images: crops and flips of scikit-image's photographs."""
    from skimage import data, transform

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        image = sources[i % len(sources)]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = image[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append((transform.resize(crop, (size, size), anti_aliasing=True) * 255).round().astype(np.uint8))
    return np.stack(out)


def time_ours(images: torch.Tensor, name: str, severity: int, batch: int) -> float:
    """Images per second, batched; one warm-up batch first."""
    corrupt(images[:batch], name, severity, seed=0)
    start = time.perf_counter()
    for i in range(0, len(images), batch):
        ids = [str(j) for j in range(i, min(i + batch, len(images)))]
        corrupt(images[i : i + batch], name, severity, seed=0, sample_ids=ids)
    return len(images) / (time.perf_counter() - start)


def time_reference(images: np.ndarray, name: str, severity: int) -> float:
    """Images per second, one image at a time."""
    ic = load_imagecorruptions()
    start = time.perf_counter()
    for image in images:
        ic.corrupt(image, corruption_name=name, severity=severity)
    return len(images) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="images per corruption")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="our batch size")
    parser.add_argument("--only", default="", help="comma-separated corruption names")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # the reference's pkg_resources / skimage deprecations

    ic = load_imagecorruptions()
    known = set(ic.get_corruption_names("all"))
    names = [n for n in CORRUPTIONS.keys() if n in known]  # noqa: SIM118 (a Registry, not a dict)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        names = [n for n in wanted if n in names]
    uint8 = sample_images(args.n, args.size)
    tensor = torch.from_numpy(uint8).permute(0, 3, 1, 2).float() / 255

    print(f"{args.n} images, {args.size} px, severity {args.severity}, our batch {args.batch}, "
          f"torch threads {torch.get_num_threads()}\n")
    print("| corruption | ours images/s | reference images/s | speed-up |\n|---|---:|---:|---:|")
    seconds = {}
    for name in names:
        ours = time_ours(tensor, name, args.severity, args.batch)
        ref = time_reference(uint8, name, args.severity)
        seconds[name] = (1 / ours, 1 / ref)
        print(f"| {name} | {ours:,.1f} | {ref:,.1f} | {ours / ref:,.1f}× |", flush=True)
    common = [n for n in COMMON_CORRUPTIONS if n in seconds]
    if common:
        ours_s = sum(seconds[n][0] for n in common)
        ref_s = sum(seconds[n][1] for n in common)
        label = "all 15 common" if len(common) == len(COMMON_CORRUPTIONS) else f"{len(common)} of 15 common"
        print(f"| **{label}** (per image, all corruptions) | {1 / ours_s:,.1f} | {1 / ref_s:,.1f} "
              f"| {ref_s / ours_s:,.1f}× |")


if __name__ == "__main__":
    main()
