"""``robustscope study geography``: last-layer retraining on a region-balanced set (Richards et al. 2023), measured.

For each seed: train an ERM model on the synthetic geography world's region-imbalanced ``train`` split
(:func:`train_geography_reference`, cached), retrain its last layer on the region-balanced, house-separated set
(:func:`~robustscope.mitigate.geography.region_balanced_house_separated` of the ``balanced`` pool against
``test``; :func:`~robustscope.mitigate.geography.geography_last_layer`), evaluate both models with the
``geography-offline`` suite (rows land in the ResultStore), and tabulate per-region accuracy, the max−min region
disparity and the income gap before and after, with the paired bootstrap CI of each change per seed and pooled
over seeds (:mod:`robustscope.studies.geography_tables`). Writes ``geography.csv``, ``geography_changes.csv`` and
``geography.md`` under ``--out`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustscope.config import Workspace, workspace
from robustscope.studies.base import Study
from robustscope.studies.geography_tables import SeedOutcome, change_table, markdown_table, model_table, to_markdown

__all__ = ["GEOGRAPHY_TRAINING", "STUDY", "run_geography_study", "train_geography_reference"]

#: The ERM model's training: the known-answer recipes' network and trainer (flips and small crops, no photometric
#: augmentation, so that the regions' lighting stays a factor the model has to cope with).
GEOGRAPHY_TRAINING: dict[str, Any] = {"epochs": 20, "augment": True, "label_smoothing": 0.0}


def train_geography_reference(
    world: str = "geo",
    ws: Workspace | None = None,
    *,
    seed: int = 0,
    epochs: int | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Train (or reuse) an ERM model on ``world``'s ``train`` split; return its ``file:`` folder.

    Cached under ``<workspace>/models/<world>-geography-erm[-seedS]-<hash>``, the hash covering the training
    settings, the architecture, the seed, the training set's content fingerprint and the training code
    (:func:`~robustscope.train.recipes.training_code_digest`), as :func:`~robustscope.train.recipes.train_recipe`.

    Example:
        >>> folder = train_geography_reference("geo", seed=0)  # doctest: +SKIP
    """
    from robustscope.data.content_index import ContentIndex
    from robustscope.data.registry import load_dataset
    from robustscope.synth.spec import load_spec
    from robustscope.train.recipes import DEFAULT_ARCH_KWARGS, training_code_digest
    from robustscope.train.trainer import train_classifier

    ws = ws or workspace()
    spec = load_spec(world)
    data = load_dataset(f"synth:{world}:train", root=ws.renders, workers=workers, progress=progress)
    training = {**GEOGRAPHY_TRAINING, "image_size": spec.resolution}
    if epochs is not None:
        training["epochs"] = int(epochs)
    fingerprint = data.fingerprint(ContentIndex(ws.content_index))
    key = json.dumps({"study": "geography", "split": "train", "training": training, "arch": DEFAULT_ARCH_KWARGS,
                      "seed": seed, "data": fingerprint, "code": training_code_digest()}, sort_keys=True)  # fmt: skip
    display = f"{spec.name}-geography-erm" + (f"-seed{seed}" if seed else "")
    out = ws.models / f"{display}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "config.json").is_file():
        return out
    return train_classifier(data, out, arch_kwargs=DEFAULT_ARCH_KWARGS, seed=seed, name=display,
                            progress=progress, **training)  # fmt: skip


def _correct(features: np.ndarray, weight: np.ndarray, bias: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return ((features @ weight.T + bias).argmax(axis=1) == labels).astype(np.float64)


def _one_seed(world: str, ws: Workspace, seed: int, out: Path, epochs: int | None, n_resamples: int,
              progress: bool) -> SeedOutcome:  # fmt: skip
    from safetensors.numpy import load_file

    from robustscope.data.registry import load_dataset
    from robustscope.engine.features import extract_features
    from robustscope.mitigate.geography import (
        GEOGRAPHY_HEAD_CONFIG,
        geography_last_layer,
        region_balanced_house_separated,
    )
    from robustscope.models.features import split_model
    from robustscope.models.registry import load_model
    from robustscope.suites.run import run_suite
    from robustscope.synth.spec import load_spec

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    base_dir = train_geography_reference(world, ws, seed=seed, epochs=epochs, progress=progress)
    seconds["train_erm"] = time.perf_counter() - started
    base = load_model(f"file:{base_dir}")
    pool = load_dataset(f"synth:{world}:balanced", root=ws.renders, progress=progress)
    test = load_dataset(f"synth:{world}:test", root=ws.renders, progress=progress)
    test_id = load_dataset(f"synth:{world}:test-id", root=ws.renders, progress=progress)
    balanced = region_balanced_house_separated(pool, test, seed=seed)
    world_name = load_spec(world).name
    started = time.perf_counter()
    head_dir = out / "models" / f"{world_name}-seed{seed}-ll"
    retrained_dir, _ = geography_last_layer(base, balanced, store=ws, out=head_dir, base_spec=f"file:{base_dir}",
                                            config=replace(GEOGRAPHY_HEAD_CONFIG, seed=seed),
                                            progress=progress)  # fmt: skip
    seconds["retrain_last_layer"] = time.perf_counter() - started
    started = time.perf_counter()
    for folder in (base_dir, retrained_dir):
        run_suite(f"file:{folder}", "geography-offline", world=world, store=ws, n_resamples=n_resamples,
                  progress=progress)  # fmt: skip
    seconds["evaluate"] = time.perf_counter() - started
    # Per-image correctness of both heads on the same cached features: what the suite rows were computed from.
    split = split_model(base)
    head = load_file(str(retrained_dir / "head.safetensors"))
    correct = {}
    for name, data in (("test", test), ("test_id", test_id)):
        fs = extract_features(base, data, store=ws, progress=progress, split=split)
        correct[name] = (_correct(fs.features, split.weight.numpy(), split.bias.numpy(), fs.labels),
                         _correct(fs.features, head["weight"], head["bias"], fs.labels), fs.factors)  # fmt: skip
    before, after, factors = correct["test"]
    return SeedOutcome(seed, before, after, float(correct["test_id"][0].mean()), float(correct["test_id"][1].mean()),
                       factors["region"].astype(str).to_numpy(), factors["income"].astype(str).to_numpy(),
                       len(balanced), seconds)  # fmt: skip


def run_geography_study(world: str = "geo", seeds: tuple[int, ...] = (0, 1, 2), *, out: str | Path,
                        ws: Workspace | None = None, epochs: int | None = None, n_resamples: int = 1000,
                        progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, str]:  # fmt: skip
    """Run the study for every seed; write ``geography.csv``, ``geography_changes.csv``, ``geography.md`` under
    ``out`` and return (model table, change table, Markdown).

    Example:
        >>> models, changes, text = run_geography_study("geo", (0,), out="geo-study")  # doctest: +SKIP
    """
    ws = ws or workspace()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes = [_one_seed(world, ws, seed, out, epochs, n_resamples, progress) for seed in seeds]
    models = model_table(outcomes, n_resamples=n_resamples)
    changes = change_table(outcomes, n_resamples=n_resamples)
    timing = pd.DataFrame([{"seed": o.seed, "retrain_images": o.retrain_images, **{f"{k}_s": round(v, 1)
                           for k, v in o.seconds.items()}} for o in outcomes])  # fmt: skip
    models.to_csv(out / "geography.csv", index=False)
    changes.to_csv(out / "geography_changes.csv", index=False)
    timing.to_csv(out / "geography_timing.csv", index=False)
    text = (f"World {world}, seeds {list(seeds)}; test: {len(outcomes[0].before)} images balanced over regions and "
            f"incomes; top-1 throughout.\n\n" + to_markdown(models, changes) + "\nWall times (s):\n\n"
            + markdown_table(timing) + "\n")  # fmt: skip
    (out / "geography.md").write_text(text)
    return models, changes, text


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="geo", help="a world with train, balanced, test and test-id splits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--out", required=True, help="folder for the tables and the retrained heads")
    parser.add_argument("--epochs", type=int, default=None, help="ERM training epochs (default 20)")
    parser.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of every CI")


def _run(args: argparse.Namespace) -> int:
    ws = workspace(getattr(args, "workspace", None))
    _, _, text = run_geography_study(args.world, tuple(args.seeds), out=args.out, ws=ws, epochs=args.epochs,
                                     n_resamples=args.n_resamples, progress=not getattr(args, "quiet", False))
    print(text)
    return 0


STUDY = Study(
    name="geography",
    summary="last-layer retraining on a region-balanced, house-separated set (Richards et al. 2023): region and "
    "income disparities before/after with paired CIs",
    example="robustscope study geography --world geo --seeds 0 1 2 --out geo-study",
    add_arguments=_add_arguments,
    run=_run,
)
