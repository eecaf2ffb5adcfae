"""The multiple-shortcuts reference experiment on a synthetic world: build its UrbanCars, train ERM, measure the gaps.

Li et al., "A Whac-A-Mole Dilemma", CVPR 2023 (their ERM on UrbanCars: BG+CoObj gap -69.2 points, smaller
single-shortcut gaps). Same protocol on ``synth-urbancars:WORLD``: train the reference
model (:func:`robustscope.train.urbancars.train_urbancars_reference`) on the 95%-correlated train split, run
the ``shortcuts-offline`` suite on the balanced test split, and print the per-cell and per-group accuracies,
ID accuracy, the three gaps, the worst group and the wall time of each step.

Run:
    .venv/bin/python benchmarks/urbancars_reference.py --world demo --threads 1 --workers 1 --workspace /tmp/uc-demo

Everything is cached in the workspace: a second run reuses the build, the model and the predictions.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def run(world: str, workspace_root: str | None, epochs: int, threads: int, workers: int, seed: int,
        n_resamples: int) -> dict[str, object]:  # fmt: skip
    """Build, train, evaluate; return the suite's rows and the seconds each step took.

    Example:
        >>> out = run("tiny", None, 20, 1, 1, 0, 200)  # doctest: +SKIP
        >>> sorted(out["seconds"])  # doctest: +SKIP
        ['build', 'evaluate', 'total', 'train']
    """
    import torch

    from robustscope.config import workspace
    from robustscope.data.registry import load_dataset
    from robustscope.suites import run_suite
    from robustscope.train.urbancars import train_urbancars_reference

    torch.set_num_threads(threads)
    ws = workspace(workspace_root)
    started = time.perf_counter()
    for split in ("train", "val", "test"):
        load_dataset(f"synth-urbancars:{world}:{split}", root=ws.renders, workers=workers, progress=False)
    built = time.perf_counter()
    folder = train_urbancars_reference(world, ws, epochs=epochs, seed=seed, num_threads=threads, workers=workers,
                                       progress=False)  # fmt: skip
    trained = time.perf_counter()
    result = run_suite(f"file:{folder}", "shortcuts-offline", world=world, store=ws, n_resamples=n_resamples,
                       progress=False)  # fmt: skip
    done = time.perf_counter()
    seconds = {"build": built - started, "train": trained - built, "evaluate": done - trained, "total": done - started}
    return {"rows": result.table, "model": folder, "seconds": seconds}


def _fmt(row: pd.Series) -> str:
    return f"{row['value']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="demo")
    parser.add_argument("--workspace", default=None, help="default: $ROBUSTSCOPE_HOME or ./.robustscope")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training and evaluation")
    parser.add_argument("--workers", type=int, default=1, help="render processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-resamples", type=int, default=1000)
    args = parser.parse_args()
    out = run(args.world, args.workspace, args.epochs, args.threads, args.workers, args.seed, args.n_resamples)
    rows: pd.DataFrame = out["rows"]  # type: ignore[assignment]
    urban = rows[rows["dataset"].str.endswith(":test") & (rows["shift"] == "none")]
    print(f"model: file:{out['model']}")
    for metric in ("cell_acc", "group_acc"):
        print(f"\n{metric} (n, value [95% CI])")
        for _, row in urban[urban["metric"] == metric].iterrows():
            print(f"  {row['slice_value']:<46} {row['n']:>5}  {_fmt(row)}")
    whole = rows[rows["slice_factor"] == ""]
    print("\nsummary")
    for shift, metric in (("none", "id_acc"), ("none", "bg_gap"), ("none", "coobj_gap"), ("none", "bg_coobj_gap"),
                          ("none", "worst_group_acc"), ("none", "top1"), ("none", "cue_bg_acc"),
                          ("none", "cue_coobj_acc"), ("watermark", "in_w_gap")):  # fmt: skip
        chosen = whole[(whole["shift"] == shift) & (whole["metric"] == metric)]
        if len(chosen):
            print(f"  {metric:<22} {_fmt(chosen.iloc[0])}")
    print("\nseconds: " + ", ".join(f"{k} {v:.1f}" for k, v in out["seconds"].items()))  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
