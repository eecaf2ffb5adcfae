"""Per-image costs on this machine that the ImageNet projection in docs/scaling.md is built from.

* ``decode``: PIL decode + resize 256 + centre crop 224 + to tensor of an ImageNet-sized JPEG (500×375, quality 90,
  photo-like content), one core, through the model's own :class:`~robustscope.models.Preprocessing`;
* ``forward``: a torchvision ResNet-50 (random weights) at 224 px, batch 32, float32 on the CPU;
* ``metrics``: the driver's work per key: the default metrics (top1, top5, ece, nll, brier) with 1,000
  bootstrap resamples on 50,000 × 1,000 logits, whole set only;
* ``store``: writing and reading back one 50,000 × 1,000 key as 98 checksummed Parquet shards of 512 rows.

Not a test. Example::

    flock /tmp/rs-heavy.lock nice -n 10 .venv/bin/python benchmarks/scale_costs.py --workspace /tmp/me/ws
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
from pathlib import Path


def main() -> None:
    """Print each cost per image (and per key for metrics and store)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-decode", type=int, default=200)
    parser.add_argument("--n-forward", type=int, default=64)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import torch
    import torchvision
    from PIL import Image

    from robustscope.engine import PredictionStore
    from robustscope.metrics.registry import compute_metrics
    from robustscope.models import Preprocessing

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    # Smooth content with edges and noise: JPEG sizes near ImageNet's (~110 KB at 500×375).
    small = rng.integers(0, 256, (47, 63, 3), dtype=np.uint8)
    photo = np.asarray(Image.fromarray(small).resize((500, 375), Image.Resampling.BICUBIC), dtype=np.float32)
    photo = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    pre = Preprocessing(input_size=224, crop_pct=0.875, interpolation="bilinear")
    started = time.perf_counter()
    for _ in range(args.n_decode):
        pre.to_tensor(Image.open(io.BytesIO(data)).convert("RGB"))
    decode = (time.perf_counter() - started) / args.n_decode
    print(f"decode+preprocess: {decode * 1e3:.2f} ms/image on 1 core ({1 / decode:.0f} images/s); "
          f"JPEG {len(data) / 1e3:.0f} KB")

    net = torchvision.models.resnet50().eval()
    batch = torch.rand(32, 3, 224, 224)
    with torch.inference_mode():
        net(batch[:4])
        started = time.perf_counter()
        for _ in range(args.n_forward // 32):
            net(batch)
    forward = (time.perf_counter() - started) / (args.n_forward // 32 * 32)
    print(f"ResNet-50 forward, CPU fp32, {args.threads} threads: {forward * 1e3:.1f} ms/image "
          f"({1 / forward:.1f} images/s)")

    n, k = 50_000, 1000
    logits = rng.normal(size=(n, k)).astype(np.float32)
    labels = rng.integers(0, k, n)
    started = time.perf_counter()
    compute_metrics(logits, labels, None, ["top1", "top5", "ece", "nll", "brier"], n_resamples=1000)
    metrics = time.perf_counter() - started
    print(f"metrics per key (50,000 × 1,000, 5 metrics, 1,000 resamples): {metrics:.1f} s")

    root = Path(args.workspace) / "store"
    shutil.rmtree(root, ignore_errors=True)
    store = PredictionStore(root)
    ids = np.array([f"s{i:06d}" for i in range(n)])
    factors = pd.DataFrame(index=range(n))
    started = time.perf_counter()
    for index, start in enumerate(range(0, n, 512)):
        rows = slice(start, min(start + 512, n))
        store.write_shard("k", index, ids[rows], labels[rows], logits[rows], factors.iloc[rows], bad_images=[],
                          row_range=(rows.start, rows.stop))  # fmt: skip
    write = time.perf_counter() - started
    size = sum(p.stat().st_size for p in (root / "k").glob("shard-*"))
    started = time.perf_counter()
    for index in range((n + 511) // 512):
        store.read_shard("k", index)
    read = time.perf_counter() - started
    print(f"store per key (50,000 × 1,000 float32): write {write:.1f} s, read {read:.1f} s, "
          f"{size / 1e6:.0f} MB on disk")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
