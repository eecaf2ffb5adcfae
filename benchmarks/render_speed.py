"""Render speed of the synthetic world: images per second at the demo world's 64 px.

Usage::

    .venv/bin/python benchmarks/render_speed.py --n 400 --workers 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from robustscope.synth import load_spec, render_world
from robustscope.synth.spec import WorldSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="images to render")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--split", default="train-diverse", help="demo split whose factors to draw from")
    parser.add_argument("--spp", type=int, default=None, help="override samples per pixel")
    parser.add_argument("--resolution", type=int, default=None, help="override image size")
    parser.add_argument("--variant", default=None, help="Mitsuba variant (default scalar_rgb)")
    parser.add_argument("--keep", action="store_true", help="keep the rendered folder")
    args = parser.parse_args()

    raw = load_spec("demo").resolve(args.split).to_dict()
    raw.update(n=args.n, name="demo-bench")
    if args.spp:
        raw["spp"] = args.spp
    if args.resolution:
        raw["resolution"] = args.resolution
    spec = WorldSpec.from_dict(raw)
    out = Path(tempfile.mkdtemp(prefix="render-speed-"))
    start = time.perf_counter()
    render_world(spec, out, workers=args.workers, progress=False, variant=args.variant)
    elapsed = time.perf_counter() - start
    rate = args.n / elapsed
    print(
        f"{args.n} images, {spec.resolution}px, spp={spec.spp}, workers={args.workers}: "
        f"{elapsed:.2f}s -> {rate:.1f} images/s total, {rate / args.workers:.1f} images/s per worker "
        f"(includes worker start-up)"
    )
    if args.keep:
        print(f"images in {out}")
    else:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
