"""Training throughput of the reference SmallCNN on random 64-px tensors (CPU by default).

Run:
    .venv/bin/python benchmarks/train_speed.py --images 4096 --batch-size 128

Reports images/s and the extrapolated seconds per epoch of 20,000 images, the size of the
built-in synthetic training sets.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from robustscope.models.smallcnn import SmallCNN
from robustscope.train.trainer import augment_batch


def measure(
    images: int = 4096,
    batch_size: int = 128,
    image_size: int = 64,
    num_classes: int = 10,
    width: int = 32,
    depth: int = 3,
    blocks: int = 1,
    channels_last: bool = True,
    threads: int | None = None,
    device: str = "cpu",
    augment: bool = True,
) -> dict[str, float]:
    """Train SmallCNN on random data for ``images`` images (after one warm-up batch); return timings.

    With ``augment`` each step also does what :func:`~robustscope.train.train_classifier` does to a
    batch: uint8 → float, random flips and crops.

    Example:
        >>> measure(images=64, batch_size=32, image_size=32)["images_per_s"] > 0
        True
    """
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = SmallCNN(num_classes, width=width, depth=depth, blocks=blocks).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    pixels = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8)
    target = torch.randint(0, num_classes, (batch_size,), device=device)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        data = pixels.float().div_(255.0)
        if augment:
            data = augment_batch(data, generator, pad=max(1, image_size // 16))
        data = data.to(device).contiguous(memory_format=memory_format)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(data), target).backward()
        optimizer.step()

    step()  # warm-up: allocator and kernel selection
    steps = max(1, images // batch_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    rate = steps * batch_size / elapsed
    return {"images_per_s": rate, "s_per_20k_epoch": 20_000 / rate, "threads": float(torch.get_num_threads())}


def main() -> None:
    """Command-line entry point; prints one line of results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-augment", action="store_true")
    args = parser.parse_args()
    result = measure(
        images=args.images,
        batch_size=args.batch_size,
        image_size=args.image_size,
        width=args.width,
        depth=args.depth,
        blocks=args.blocks,
        channels_last=not args.no_channels_last,
        threads=args.threads,
        device=args.device,
        augment=not args.no_augment,
    )
    print(
        f"SmallCNN(width={args.width}, depth={args.depth}, blocks={args.blocks}) "
        f"{args.image_size}px batch {args.batch_size} on {args.device} "
        f"({int(result['threads'])} threads, channels_last={not args.no_channels_last}, "
        f"augment={not args.no_augment}): "
        f"{result['images_per_s']:.0f} images/s, {result['s_per_20k_epoch']:.1f} s per 20k-image epoch"
    )


if __name__ == "__main__":
    main()
