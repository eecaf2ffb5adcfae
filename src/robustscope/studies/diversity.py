"""``robustscope study diversity``: how much factor diversity must training see before a model generalises?

Ibrahim et al., "The robustness limits of SoTA vision models to natural variation" (arXiv 2210.13604, 2022): train
on data where only a fraction p of the instances (or of the classes) vary in one factor — pose, background,
lighting, size or position — and the rest keep one fixed value; test on held-out instances under the factor's
full variation, on classes that varied in training (*seen*) and classes that did not (*unseen*, with
``--over classes``). The paper finds that models need a large share of varied instances, and that variation seen
for some classes does not transfer to the others.

Here, on the rendered world:

- **Instances** are draws of the world's ``pose-instances`` split with the studied factor's ``varied``
  distribution (``studies/data/diversity.yaml``); every instance is rendered twice, as drawn (*varied*) and with
  the factor set to its ``fixed`` value (all else equal), so each p reuses the same two renders per instance.
- **Training set** for p: the varied image of ``round(p·N)`` instances chosen with the seed (``over instances``),
  or of every instance of ``round(p·C)`` chosen classes (``over classes``), the fixed image of the others.
- **Test set**: other instances (a different seed: :func:`check_disjoint`), all varied.
- One SmallCNN per (factor, p, seed) (:func:`robustscope.train.train_classifier`, flips and crops, cached by its
  recipe and data fingerprint); accuracy with a CI over test images within seeds, averaged over seeds
  (:func:`~robustscope.metrics.bootstrap.pooled_paired_difference` against zero).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from robustscope.errors import SpecError
from robustscope.metrics.bootstrap import pooled_paired_difference
from robustscope.studies.base import Study

__all__ = ["STUDY", "DiversityResult", "check_disjoint", "diversity_factors", "instance_records", "run_diversity",
           "varied_mask", "write_diversity"]  # fmt: skip

BASE_SPLIT = "pose-instances"
TRAIN_SEED, TEST_SEED = 30, 31
#: The study's network: a SmallCNN small enough to train one model per (factor, p, seed) in seconds.
DIVERSITY_ARCH = {"width": 16, "depth": 3}


def diversity_factors() -> dict[str, dict[str, dict[str, Any]]]:
    """The study's factors (``studies/data/diversity.yaml``): name → ``{"varied": …, "fixed": …}``.

    Example:
        >>> sorted(diversity_factors())
        ['background', 'lighting', 'pose', 'position', 'size']
    """
    text = resources.files("robustscope.studies").joinpath("data/diversity.yaml").read_text()
    return yaml.safe_load(text)["factors"]


def instance_records(world: str, factor: str, n: int, seed: int) -> tuple[Any, list[dict[str, Any]],
                                                                         list[dict[str, Any]]]:  # fmt: skip
    """``(spec, varied, fixed)``: ``n`` instances of the world drawn with ``factor`` varied, and the same instances
    with it fixed (each fixed record samples with its varied twin's seed: they differ in the factor alone).

    Example:
        >>> _, varied, fixed = instance_records("tiny", "size", 4, seed=0)
        >>> [r["scale"] for r in fixed], varied[0]["texture"] == fixed[0]["texture"]
        ([0.8, 0.8, 0.8, 0.8], True)
    """
    from robustscope.synth import load_spec
    from robustscope.synth.spec import WorldSpec

    factors = diversity_factors()
    if factor not in factors:
        raise SpecError(f"diversity factor {factor!r} is not one of {sorted(factors)}")
    raw = load_spec(world).resolve(BASE_SPLIT).to_dict()
    raw["factors"].update(factors[factor]["varied"])
    raw.update(n=n, seed=seed, split=f"diversity-{factor}-s{seed}")
    spec = WorldSpec.from_dict(raw)
    varied = spec.samples()
    fixed = [{**record, **factors[factor]["fixed"], "seed_index": record["index"]} for record in varied]
    return spec, varied, fixed


def varied_mask(classes_of: np.ndarray, p: float, over: str, seed: int) -> np.ndarray:
    """Which instances are shown varied: ``round(p·N)`` instances, or all instances of ``round(p·C)`` classes.

    Example:
        >>> classes = np.array([0, 0, 1, 1, 2, 2])
        >>> int(varied_mask(classes, 0.5, "instances", 0).sum())
        3
        >>> classes[varied_mask(classes, 0.34, "classes", 0)].tolist()  # round(0.34 · 3) = 1 class, both instances
        [2, 2]
    """
    if not 0 <= p <= 1:
        raise SpecError(f"a diversity fraction is between 0 and 1, got {p}")
    rng = np.random.default_rng(seed)
    if over == "instances":
        chosen = rng.permutation(len(classes_of))[: round(p * len(classes_of))]
        mask = np.zeros(len(classes_of), bool)
        mask[chosen] = True
        return mask
    if over == "classes":
        classes = np.unique(classes_of)
        picked = rng.permutation(classes)[: round(p * len(classes))]
        return np.isin(classes_of, picked)
    raise SpecError(f"--over is 'instances' or 'classes', not {over!r}")


def check_disjoint(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> None:
    """Raise if a test instance equals a training instance in every factor (the splits must be disjoint).

    Example:
        >>> check_disjoint([{"index": 0, "yaw": 1.0}], [{"index": 0, "yaw": 2.0}])
    """
    def key(record: dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in record.items() if k not in ("index", "seed_index")}, sort_keys=True)

    shared = {key(r) for r in train} & {key(r) for r in test}
    if shared:
        raise SpecError(f"{len(shared)} test instances also appear in training; use different seeds")


@dataclass
class DiversityResult:
    """Per (factor, p, seed) test correctness and seen-class masks; the accuracy table; seconds per model."""

    over: str
    correct: dict[tuple[str, float, int], np.ndarray] = field(default_factory=dict)
    seen: dict[tuple[str, float, int], np.ndarray] = field(default_factory=dict)
    seconds: dict[tuple[str, float, int], float] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=pd.DataFrame)


def _dataset(folders: dict[str, Path], use_varied: np.ndarray, classes: list[str], name: str) -> Any:
    from robustscope.data.base import Dataset

    frames = {kind: pd.read_csv(folder / "labels.csv") for kind, folder in folders.items()}
    rows = []
    for i, varied in enumerate(use_varied):
        kind = "varied" if varied else "fixed"
        row = frames[kind].iloc[i]
        rows.append({"sample_id": f"{kind}-{i}", "path": f"{folders[kind].name}/{row['filename']}",
                     "label": classes.index(row["character_label"]), "varied": bool(varied)})  # fmt: skip
    return Dataset(name, folders["varied"].parent, classes, pd.DataFrame(rows))


def _train(dataset: Any, ws: Any, key: dict[str, Any], epochs: int, seed: int, size: int, progress: bool) -> Path:
    from robustscope.train.recipes import training_code_digest
    from robustscope.train.trainer import train_classifier

    # The key covers everything that determines the weights: data, settings and the training code itself.
    settings = {"epochs": epochs, "seed": seed, "image_size": size, "batch_size": 64, "arch_kwargs": DIVERSITY_ARCH}
    recipe = json.dumps({**key, **settings, "data": dataset.fingerprint(), "code": training_code_digest()},
                        sort_keys=True)  # fmt: skip
    folder = ws.models / f"diversity-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if not (folder / "config.json").is_file():
        train_classifier(dataset, folder, epochs=epochs, seed=seed, image_size=size, batch_size=64,
                         arch_kwargs=DIVERSITY_ARCH, progress=progress, name=folder.name)  # fmt: skip
    return folder


def run_diversity(world: str, factors: list[str], fractions: list[float], over: str, seeds: tuple[int, ...], ws: Any,
                  *, n_train: int = 800, n_test: int = 400, epochs: int = 15, n_resamples: int = 1000,
                  progress: bool = True) -> DiversityResult:  # fmt: skip
    """Render, train and test every (factor, p, seed); tabulate (see the module docstring).

    Example:
        >>> result = run_diversity("tiny", ["pose"], [0.0, 1.0], "instances", (0,), workspace())  # doctest: +SKIP
    """
    from robustscope.models.registry import load_model
    from robustscope.synth import load_spec
    from robustscope.synth.records import render_records
    from robustscope.train.trainer import load_images

    classes = list(load_spec(world).classes)
    size = load_spec(world).resolution
    result = DiversityResult(over)
    for factor in factors:
        spec, varied, fixed = instance_records(world, factor, n_train, TRAIN_SEED)
        test_spec, test_varied, _ = instance_records(world, factor, n_test, TEST_SEED)
        check_disjoint(varied, test_varied)
        folders = {kind: render_records(spec, records, ws.renders, f"diversity-{kind}", progress=progress)
                   for kind, records in (("varied", varied), ("fixed", fixed))}  # fmt: skip
        test_folder = render_records(test_spec, test_varied, ws.renders, "diversity-test", progress=progress)
        test = _dataset({"varied": test_folder, "fixed": test_folder}, np.ones(n_test, bool), classes, "test")
        train_classes = np.array([classes.index(r["character_label"]) for r in varied])
        for p in fractions:
            for seed in seeds:
                started = time.perf_counter()
                mask = varied_mask(train_classes, p, over, seed)
                train = _dataset(folders, mask, classes, f"diversity:{world}:{factor}:{over}:{p:g}")
                folder = _train(train, ws, {"world": world, "factor": factor, "p": p, "over": over}, epochs, seed,
                                size, progress)  # fmt: skip
                model = load_model(f"file:{folder}")
                images = load_images(test, model.preprocessing).float() / 255
                with torch.no_grad():
                    predictions = model.eval()(images).argmax(1).numpy()
                labels = test.manifest["label"].to_numpy()
                result.correct[(factor, p, seed)] = predictions == labels
                result.seen[(factor, p, seed)] = np.isin(labels, np.unique(train_classes[mask]))
                result.seconds[(factor, p, seed)] = time.perf_counter() - started
    result.table = _table(result, factors, fractions, seeds, n_resamples)
    return result


def _table(result: DiversityResult, factors: list[str], fractions: list[float], seeds: tuple[int, ...],
           n_resamples: int) -> pd.DataFrame:  # fmt: skip
    rows = []
    groups = ("all", "seen classes", "unseen classes") if result.over == "classes" else ("all",)
    for factor in factors:
        for p in fractions:
            for group in groups:
                values = []
                for seed in seeds:
                    correct, seen = result.correct[(factor, p, seed)], result.seen[(factor, p, seed)]
                    pick = {"all": np.ones_like(seen), "seen classes": seen, "unseen classes": ~seen}[group]
                    values.append(correct[pick].astype(float))
                if any(len(v) == 0 for v in values):
                    continue
                test = pooled_paired_difference(values, [np.zeros_like(v) for v in values], n_resamples)
                rows.append({"factor": factor, "p": p, "over": result.over, "classes": group,
                             "accuracy": test.difference, "ci_low": test.ci[0], "ci_high": test.ci[1],
                             "n": int(np.mean([len(v) for v in values])),
                             "seconds": float(np.mean([result.seconds[(factor, p, s)] for s in seeds]))})  # fmt: skip
    return pd.DataFrame(rows)


def write_diversity(result: DiversityResult, out: str | Path, command: str = "") -> list[Path]:
    """``diversity.csv``, ``diversity.md`` and ``diversity.html`` (the curve: accuracy vs p, one line per factor
    and class group, with CIs) in ``out``."""
    from robustscope.report.kit import Figures
    from robustscope.report.study_page import curve_chart, write_study_page

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table
    table.to_csv(out / "diversity.csv", index=False)
    lines = [f"Command: `{command}`", "", "| factor | classes | p | accuracy [95% CI] | n | s / model |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in table.itertuples():
        lines.append(f"| {r.factor} | {r.classes} | {r.p:g} | {r.accuracy:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] "
                     f"| {r.n} | {r.seconds:.0f} |")  # fmt: skip
    (out / "diversity.md").write_text("\n".join(lines) + "\n")
    figures = Figures()
    curves = table.assign(line=table["factor"] + " · " + table["classes"])
    chart = curve_chart(curves, "p", "line", figures, f"Test accuracy under full variation (over {result.over})",
                        f"share of varied {result.over} in training (p)", "top-1", y="accuracy")  # fmt: skip
    sections = [("Generalisation vs p", chart), ("Table", table)]
    page = write_study_page(out / "diversity.html", "Diversity study", sections, figures, note=command)
    return [out / "diversity.csv", out / "diversity.md", page]


def _fractions(text: str) -> list[float]:
    return [float(v) for v in text.replace(",", " ").split()]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--world", default="demo", help="world with a pose-instances split (default: demo)")
    parser.add_argument("--factor", nargs="+", default=["pose"], choices=sorted(diversity_factors()),
                        help="factors to study (one curve each)")
    parser.add_argument("--fractions", type=_fractions, default=[0.0, 0.1, 0.25, 0.5, 1.0],
                        help="shares p of varied instances/classes, e.g. 0,0.1,0.25,0.5,1")
    parser.add_argument("--over", choices=["instances", "classes"], default="instances")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=800, help="training instances")
    parser.add_argument("--n-test", type=int, default=400, help="test instances")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--out", required=True, help="folder for diversity.csv, .md and .html")


def _run(args: argparse.Namespace) -> int:
    import sys

    from robustscope.config import workspace
    from robustscope.report.study_page import record_study

    result = run_diversity(args.world, args.factor, args.fractions, args.over, tuple(args.seeds),
                           workspace(args.workspace), n_train=args.n_train, n_test=args.n_test, epochs=args.epochs,
                           n_resamples=args.n_resamples, progress=not args.quiet)  # fmt: skip
    command = "robustscope " + " ".join(sys.argv[1:])
    paths = write_diversity(result, args.out, command)
    table = result.table.assign(line=result.table["factor"] + " · " + result.table["classes"])
    curve = {"table": "accuracy", "x": "p", "y": "accuracy", "series": "line", "x_title": f"share of varied "
             f"{result.over} (p)", "y_title": "top-1", "title": "Test accuracy under full variation"}  # fmt: skip
    record_study(workspace(args.workspace).root, f"diversity-{result.over}", f"Diversity study (over {result.over})",
                 command, {"accuracy": table}, curve)  # fmt: skip
    print(paths[1].read_text())
    return 0


STUDY = Study("diversity", "train with a share p of instances/classes varying in one factor; test on full variation",
              "robustscope study diversity --factor pose --fractions 0,0.1,0.25,0.5,1 --over instances --out div/",
              _add_arguments, _run)
