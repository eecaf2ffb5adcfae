"""``robustscope study lie``: self-supervised features with and without a Lie operator, on poses never seen.

The experiment of Ibrahim et al. (arXiv 2210.13356) on the rendered world, end to end and offline:

1. **Instances** are the samples of the world's ``pose-instances`` split, drawn ``instances`` at a time (class,
   shape, appearance, background, light and size fixed per instance; appearance and background independent of the
   class, so only the shape names it — with the class-tied appearance of ``train-narrow`` a random network's
   colour statistics already classify every instance). Each is rendered at the training pose offsets (default
   −20°, 0°, +20° of yaw about its own pose: :mod:`robustscope.synth.pairs`); those images are the SimCLR
   training set and the kNN bank.
2. **Pose pairs** are every ordered pair of training offsets of one instance, ``t`` = their difference in radians.
3. Two SimCLR runs per seed (:func:`robustscope.represent.simclr.train_ssl`), identical but for the Lie loss
   (``lie_weight`` λ): ``simclr`` and ``simclr+lie``.
4. **Evaluation** of the backbone features by kNN (DINO protocol) and the linear probe, both fitted on the bank:
   (a) *known instances, unseen poses*: the training instances at offsets far outside the training range
   (default 90°, 135°, 180°); (b) *unseen instances*: another split's instances at any pose (0°, 90°, 180°).
5. The table gives each method's accuracy (mean over seeds, CI over evaluation images within seeds) and the
   difference ``simclr+lie − simclr`` with a paired bootstrap CI pooled over seeds
   (:func:`~robustscope.metrics.bootstrap.pooled_paired_difference`).

Departures: a SmallCNN at the world's resolution and a few epochs instead of a ResNet-50/ViT trained for hundreds
(2 CPU cores); one generator ``L`` acting on the backbone features; ``t`` from the renderer (not predicted).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from robustscope.metrics.bootstrap import pooled_paired_difference
from robustscope.metrics.linear_probe import linear_probe
from robustscope.metrics.representation import knn_correct, knn_scores
from robustscope.studies.base import Study

__all__ = ["STUDY", "LieSetup", "LieStudyResult", "pose_pairs_of", "run_lie_study", "write_lie"]

METHODS = ("simclr", "simclr+lie")
EVAL_SETS = ("known instances, unseen poses", "unseen instances")


@dataclass(frozen=True)
class LieSetup:
    """The study's settings (defaults: the demo world at 64 px, minutes per model on 2 cores)."""

    world: str = "demo"
    train_split: str = "pose-instances"
    test_split: str = "pose-instances-test"
    instances: int = 300
    test_instances: int = 200
    train_offsets: tuple[float, ...] = (-20.0, 0.0, 20.0)
    unseen_offsets: tuple[float, ...] = (90.0, 135.0, 180.0)
    test_offsets: tuple[float, ...] = (0.0, 90.0, 180.0)
    epochs: int = 30
    lie_weight: float = 1.0
    batch_size: int = 128
    arch_kwargs: tuple[tuple[str, Any], ...] = (("width", 16), ("depth", 3))


@dataclass
class LieStudyResult:
    """Per (seed, method, evaluation set, protocol) correctness, the tables, and wall times."""

    setup: LieSetup
    correct: dict[tuple[int, str, str, str], np.ndarray] = field(default_factory=dict)
    seconds: dict[tuple[int, str], float] = field(default_factory=dict)
    accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)


def pose_pairs_of(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices ``(first, second)`` of every ordered pair of distinct offsets of one instance, and ``t`` (radians).

    Example:
        >>> frame = pd.DataFrame({"instance": [0, 0, 1, 1], "pose_offset": [0.0, 90.0, 0.0, 90.0]})
        >>> first, second, t = pose_pairs_of(frame)
        >>> first.tolist(), second.tolist(), [round(float(v), 4) for v in t]
        ([0, 1, 2, 3], [1, 0, 3, 2], [1.5708, -1.5708, 1.5708, -1.5708])
    """
    first, second, t = [], [], []
    for _, rows in frame.groupby("instance", sort=True):
        index, offset = rows.index.to_numpy(), rows["pose_offset"].to_numpy(float)
        for i in range(len(rows)):
            for j in range(len(rows)):
                if i != j:
                    first.append(index[i])
                    second.append(index[j])
                    t.append(math.radians(offset[j] - offset[i]))
    return np.array(first), np.array(second), np.array(t, dtype=np.float32)


def _render(setup: LieSetup, split: str, n: int, offsets: tuple[float, ...], renders: Path, progress: bool) -> Any:
    from robustscope.data.manifest import load_manifest
    from robustscope.synth import load_spec
    from robustscope.synth.pairs import render_pose_pairs

    world = load_spec(setup.world)
    resolved = dataclasses.replace(world.resolve(split), n=n)
    folder = render_pose_pairs(resolved, None, offsets, renders, progress=progress)
    return load_manifest(folder / "labels.csv", classes=list(world.classes), name=f"pairs:{setup.world}:{split}")


def _features(model: Any, images: torch.Tensor) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        chunks = [model.network.forward_features(model.normalize(images[i : i + 256].float() / 255))
                  for i in range(0, len(images), 256)]  # fmt: skip
    return torch.cat(chunks).numpy()


def run_lie_study(setup: LieSetup, seeds: tuple[int, ...], renders: str | Path, *, n_resamples: int = 1000,
                  progress: bool = True) -> LieStudyResult:  # fmt: skip
    """Train both methods per seed, evaluate both sets by kNN and probe, and tabulate (see the module docstring).

    Example:
        >>> result = run_lie_study(LieSetup(world="tiny", instances=8, epochs=1), (0,), "renders")  # doctest: +SKIP
    """
    from robustscope.models.preprocessing import Preprocessing
    from robustscope.represent.simclr import PosePairs, train_ssl
    from robustscope.train.trainer import load_images

    renders = Path(renders)
    sets = {"train": _render(setup, setup.train_split, setup.instances, setup.train_offsets, renders, progress),
            EVAL_SETS[0]: _render(setup, setup.train_split, setup.instances, setup.unseen_offsets, renders, progress),
            EVAL_SETS[1]: _render(setup, setup.test_split, setup.test_instances, setup.test_offsets, renders,
                                  progress)}  # fmt: skip
    from robustscope.synth import load_spec

    size = load_spec(setup.world).resolution
    images = {name: load_images(data, Preprocessing(size, 1.0)) for name, data in sets.items()}
    labels = {name: data.manifest["label"].to_numpy() for name, data in sets.items()}
    first, second, t = pose_pairs_of(sets["train"].manifest.reset_index(drop=True))
    pairs = PosePairs(images["train"][first], images["train"][second], torch.from_numpy(t))
    classes = list(sets["train"].classes)
    result = LieStudyResult(setup)
    for seed in seeds:
        for method in METHODS:
            started = time.perf_counter()
            trained = train_ssl(images["train"], classes, pairs=pairs if method == "simclr+lie" else None,
                                lie_weight=setup.lie_weight if method == "simclr+lie" else 0.0, epochs=setup.epochs,
                                batch_size=setup.batch_size, seed=seed, arch_kwargs=dict(setup.arch_kwargs),
                                progress=progress)  # fmt: skip
            bank = _features(trained.model, images["train"])
            for name in EVAL_SETS:
                feats = _features(trained.model, images[name])
                scores = knn_scores(bank, labels["train"], feats, len(classes), k=min(20, len(bank)))
                result.correct[(seed, method, name, "knn")] = knn_correct(scores, labels[name], 1)
                probe = linear_probe(bank, labels["train"], feats, seed=seed)
                result.correct[(seed, method, name, "probe")] = probe.predictions == labels[name]
            result.seconds[(seed, method)] = time.perf_counter() - started
    result.accuracy, result.differences = _tables(result, seeds, n_resamples)
    return result


def _tables(result: LieStudyResult, seeds: tuple[int, ...], n_resamples: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    accuracy, differences = [], []
    for name in EVAL_SETS:
        for protocol in ("knn", "probe"):
            per = {m: [result.correct[(s, m, name, protocol)].astype(float) for s in seeds] for m in METHODS}
            for method in METHODS:
                # The mean's CI: a paired difference against zero, resampled within seeds.
                test = pooled_paired_difference(per[method], [np.zeros_like(v) for v in per[method]], n_resamples)
                accuracy.append({"set": name, "protocol": protocol, "method": method, "top1": test.difference,
                                 "ci_low": test.ci[0], "ci_high": test.ci[1],
                                 "seconds": float(np.mean([result.seconds[(s, method)] for s in seeds]))})  # fmt: skip
            test = pooled_paired_difference(per["simclr+lie"], per["simclr"], n_resamples)
            differences.append({"set": name, "protocol": protocol, "difference": test.difference,
                                "ci_low": test.ci[0], "ci_high": test.ci[1], "p_value": test.p_value})  # fmt: skip
    return pd.DataFrame(accuracy), pd.DataFrame(differences)


def write_lie(result: LieStudyResult, out: str | Path, command: str = "") -> list[Path]:
    """``accuracy.csv``, ``differences.csv`` and ``lie.md`` (both tables, the command and the setup) in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result.accuracy.to_csv(out / "accuracy.csv", index=False)
    result.differences.to_csv(out / "differences.csv", index=False)
    lines = [f"Command: `{command}`", "", f"Setup: {dataclasses.asdict(result.setup)}", "",
             "| set | protocol | method | top-1 [95% CI] | s / model |", "|---|---|---|---|---|"]  # fmt: skip
    for r in result.accuracy.itertuples():
        lines.append(f"| {r.set} | {r.protocol} | {r.method} | {r.top1:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
                     f"{r.seconds:.0f} |")  # fmt: skip
    lines += ["", "| set | protocol | simclr+lie − simclr [95% CI] | p |", "|---|---|---|---|"]
    for r in result.differences.itertuples():
        lines.append(f"| {r.set} | {r.protocol} | {r.difference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | "
                     f"{r.p_value:.3f} |")  # fmt: skip
    (out / "lie.md").write_text("\n".join(lines) + "\n")
    return [out / "accuracy.csv", out / "differences.csv", out / "lie.md"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="world (default: demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--instances", type=int, default=LieSetup.instances, help="training instances")
    parser.add_argument("--test-instances", type=int, default=LieSetup.test_instances)
    parser.add_argument("--epochs", type=int, default=LieSetup.epochs)
    parser.add_argument("--lie-weight", type=float, default=LieSetup.lie_weight, help="λ of the Lie loss")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--out", required=True, help="folder for accuracy.csv, differences.csv, lie.md")


def _run(args: argparse.Namespace) -> int:
    import sys

    from robustscope.config import workspace
    from robustscope.report.study_page import record_study

    setup = LieSetup(world=args.world, instances=args.instances, test_instances=args.test_instances,
                     epochs=args.epochs, lie_weight=args.lie_weight)  # fmt: skip
    result = run_lie_study(setup, tuple(args.seeds), workspace(args.workspace).renders,
                           n_resamples=args.n_resamples, progress=not args.quiet)  # fmt: skip
    command = "robustscope " + " ".join(sys.argv[1:])
    paths = write_lie(result, args.out, command)
    record_study(workspace(args.workspace).root, "lie", "Lie operator: SimCLR with and without", command,
                 {"accuracy": result.accuracy, "simclr+lie − simclr": result.differences})  # fmt: skip
    print(paths[-1].read_text())
    return 0


STUDY = Study("lie", "SimCLR with and without a Lie operator: kNN/probe on unseen poses and unseen instances",
              "robustscope study lie --world demo --seeds 0 1 2 --out lie/", _add_arguments, _run)
