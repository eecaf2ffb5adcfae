"""Private evaluation (CrypTen, 2 parties + dealer) against plaintext on the same images: fidelity and cost.

For each model: top-1 and ECE under MPC vs plaintext, the largest |logit difference|, the share of images whose
top-1 class agrees, and wall seconds per image (MPC / plaintext as a ratio). ``--reveal-metric`` adds a run that
decrypts only the top-1 count. Run from the repository root (see benchmarks/README.md for the command)::

    python benchmarks/private_eval.py --workspace WS --model file:WS/models/demo-clean-… --data synth:demo:test-id
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np


def _logits(ws: str, table: Any) -> Any:
    from robustscope.engine import PredictionStore

    return PredictionStore(f"{ws}/predictions").load(table["prediction_key"].iloc[0])


def measure(
    model_spec: str, data_spec: str, ws: str, batch_size: int, reveal_metric: bool, limit: int | None = None
) -> dict[str, Any]:
    """One model: plaintext then private (``reveal="logits"``, optionally ``"metric"``) on the same images."""
    import robustscope
    from robustscope.api import load_dataset

    data = load_dataset(data_spec)
    if limit is not None and limit < len(data):  # the first images of the manifest (a fixed, reproducible subset)
        data = data.subset(list(range(limit)), name=f"{data.name}[:{limit}]")
    options = {"metrics": ["top1", "ece"], "slice_by": None, "n_resamples": 0, "store": ws, "progress": False,
               "batch_size": batch_size}
    started = time.perf_counter()
    plain = robustscope.evaluate(robustscope.load_model(model_spec), data, **options)
    plain_seconds = time.perf_counter() - started
    started = time.perf_counter()
    private = robustscope.evaluate(model_spec, data, private=True, **options)
    private_seconds = time.perf_counter() - started
    p, q = _logits(ws, plain), _logits(ws, private)
    assert list(p.sample_ids) == list(q.sample_ids)
    values = {kind: table.set_index("metric")["value"] for kind, table in (("plain", plain), ("mpc", private))}
    row = {
        "model": plain["model"].iloc[0], "n": len(p.labels),
        "top1_plain": values["plain"]["top1"], "top1_mpc": values["mpc"]["top1"],
        "ece_plain": values["plain"]["ece"], "ece_mpc": values["mpc"]["ece"],
        "max_abs_logit_diff": float(np.abs(p.logits - q.logits).max()),
        "logit_scale": float(np.abs(p.logits).max()),
        "agreement": float((p.logits.argmax(1) == q.logits.argmax(1)).mean()),
        "s_per_image_plain": plain_seconds / len(p.labels), "s_per_image_mpc": private_seconds / len(p.labels),
        "mpc_loop_s_per_image": private.attrs["parties"][0]["seconds"] / len(p.labels),
    }
    if reveal_metric:
        started = time.perf_counter()
        counted = robustscope.evaluate(model_spec, data, private=True, reveal="metric",
                                       **{**options, "metrics": ["top1"]})
        row["top1_metric_only"] = float(counted["value"].iloc[0])
        row["s_per_image_metric_only"] = (time.perf_counter() - started) / len(p.labels)
    return row


def main() -> None:
    """Print MPC vs plaintext side by side for each ``--model``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", required=True, help="a workspace of your own (predictions and results go here)")
    parser.add_argument("--model", nargs="+", required=True, help="model specs (file:…)")
    parser.add_argument("--data", default="synth:demo:test-id")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--reveal-metric", action="store_true", help="also time reveal='metric' (top-1 count only)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of the dataset")
    args = parser.parse_args()
    import os

    os.environ["ROBUSTSCOPE_HOME"] = args.workspace
    for spec in args.model:
        r = measure(spec, args.data, args.workspace, args.batch_size, args.reveal_metric, args.limit)
        print(f"\n{r['model']} on {args.data} ({r['n']} images, batch {args.batch_size}, 16-bit fixed point, TTP)")
        print(f"{'':22s}{'plaintext':>12s}{'MPC':>12s}{'ratio':>10s}")
        print(f"{'top-1':22s}{r['top1_plain']:12.4f}{r['top1_mpc']:12.4f}")
        print(f"{'ECE':22s}{r['ece_plain']:12.4f}{r['ece_mpc']:12.4f}")
        print(f"{'s / image (wall)':22s}{r['s_per_image_plain']:12.5f}{r['s_per_image_mpc']:12.4f}"
              f"{r['s_per_image_mpc'] / r['s_per_image_plain']:10.0f}x")
        print(f"{'s / image (MPC loop)':22s}{'':12s}{r['mpc_loop_s_per_image']:12.4f}")
        print(f"max |logit diff| {r['max_abs_logit_diff']:.2e} (logits up to {r['logit_scale']:.1f}); "
              f"top-1 agreement {r['agreement']:.4f}")
        if "top1_metric_only" in r:
            print(f"reveal='metric': top-1 {r['top1_metric_only']:.4f}, {r['s_per_image_metric_only']:.4f} s / image")


if __name__ == "__main__":
    main()
