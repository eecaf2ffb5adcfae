"""Effect-level fidelity of the ImageNet-C corruptions: a trained model's accuracy under ours vs the reference.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Pixel-level agreement is impossible for the random corruptions (the two
implementations draw different noise), so fidelity is judged where it matters: a model's accuracy
on the same test images corrupted by robustscope and by the reference ``imagecorruptions`` package
(through :mod:`robustscope.compat.imagecorruptions`) must agree within ±2 points per corruption ×
severity, on 224-px images (the size the published parameters were tuned for).

The set-up, cached in the workspace (``$ROBUSTSCOPE_HOME``, default ``./.robustscope``):

* the built-in ``demo`` world's narrow distribution (frozen in :data:`WORLD_224`) rendered at 224 px
  (``train-narrow`` with ``--train-n`` images, ``test-id`` with ``--render-n`` images, of which the
  first ``--n`` are used);
* a ``SmallCNN`` (depth 4) trained on it at 224 px for ``--epochs`` epochs with flips, crops,
  photometric jitter and Gaussian pixel noise (``--jitter``, ``--noise``): a model trained on clean
  images only collapses to one class under the mildest noise, brightness or fog, which would make
  every comparison trivially "equal" at chance level.

Then, for every corruption × severity, the same ``--n`` test images are corrupted by ours (batched
float tensors, the way the Runner applies them, seed 0) and by the reference (one uint8 image at a
time, numpy's global RNG seeded per image), and the model's accuracy on both is printed with the
paired difference, its standard error (from the per-image disagreements), and — for the random
corruptions — the difference between ours at seed 0 and seed 1: the noise floor of the comparison,
since two draws of the *same* corruption disagree on borderline images too. Reference accuracies are
cached per (model, test set, corruption, severity), so an interrupted run resumes.

Example::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/corruption_effect.py            # the full 15 x 5 table
    .venv/bin/python benchmarks/corruption_effect.py --n 50 --corruptions gaussian_noise,fog --severities 1,5
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustscope.compat.imagecorruptions import load_imagecorruptions
from robustscope.config import workspace
from robustscope.data.manifest import load_manifest
from robustscope.models import Model, load_model
from robustscope.shifts.base import sample_seed
from robustscope.shifts.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS, SEVERITIES, corrupt
from robustscope.synth import WorldSpec, ensure_rendered
from robustscope.train.trainer import load_images, train_classifier

SIZE = 224
TOLERANCE = 2.0  # points


#: The ``demo`` world's classes and narrow training distribution (its ``train-narrow`` and ``test-id``
#: splits, without the class-tied shortcuts added later), frozen here at 224 px so that edits to
#: ``demo.yaml`` do not silently change this benchmark's test set or invalidate its cached renders.
WORLD_224: dict[str, Any] = {
    "name": "demo224",
    "description": (
        "Eight procedural shape classes; train on a narrow or a diverse slice of the world and test "
        "under in-distribution, pose, background, lighting and texture shifts."
    ),
    "classes": ["sphere", "cube", "cylinder", "cone", "torus", "capsule", "octahedron", "star_prism"],
    "resolution": SIZE,
    "spp": 8,
    "n": 400,
    "factors": {
        "texture": ["plain", "stripes", "dots"],
        "color": "all",
        "yaw": {"range": [-30, 30]},
        "pitch": {"range": [-10, 10]},
        "roll": {"range": [-5, 5]},
        "scale": {"range": [0.75, 1.0]},
        "position_x": {"range": [-0.1, 0.1]},
        "position_y": {"range": [-0.1, 0.1]},
        "light_azimuth": 40,
        "light_elevation": 40,
        "light_intensity": 2.5,
        "light_color": "white",
        "background": ["sky", "studio"],
    },
    "splits": {"train-narrow": {"seed": 1}, "test-id": {"seed": 3}},
}


def world_224(train_n: int, test_n: int) -> WorldSpec:
    """The 224-px world of :data:`WORLD_224` with ``train_n`` training and ``test_n`` test images."""
    raw = copy.deepcopy(WORLD_224)
    raw["splits"]["train-narrow"]["n"] = train_n
    raw["splits"]["test-id"]["n"] = test_n
    return WorldSpec.from_dict(raw, source="benchmarks/corruption_effect.py")


def prepare(args: argparse.Namespace) -> tuple[Model, torch.Tensor, torch.Tensor, list[str], Path]:
    """Render (or reuse) the 224-px splits, train (or reuse) the model; returns the test tensors."""
    ws = workspace()
    spec = world_224(args.train_n, args.render_n)
    started = time.perf_counter()
    train_dir = ensure_rendered(spec, "train-narrow", ws.renders, workers=args.render_workers, progress=False)
    test_dir = ensure_rendered(spec, "test-id", ws.renders, workers=args.render_workers, progress=False)
    print(f"renders ready in {time.perf_counter() - started:.0f} s: {train_dir.name}, {test_dir.name}", flush=True)
    train = load_manifest(train_dir / "labels.csv", classes=list(spec.classes), name="synth:demo224:train-narrow")
    test = load_manifest(test_dir / "labels.csv", classes=list(spec.classes), name="synth:demo224:test-id")
    if args.n > len(test):
        raise SystemExit(f"--n {args.n} > {len(test)} rendered test images: raise --render-n")
    test = test.subset(range(args.n))

    model_dir = (
        ws.models / f"corruption-effect-{train.fingerprint()[:12]}-e{args.epochs}-j{args.jitter:g}-n{args.noise:g}"
    )
    if not (model_dir / "config.json").exists():
        started = time.perf_counter()
        train_classifier(
            train,
            model_dir,
            arch="smallcnn",
            arch_kwargs={"depth": 4},
            epochs=args.epochs,
            batch_size=64,
            image_size=SIZE,
            jitter=args.jitter,
            noise=args.noise,
            num_threads=args.threads,
            progress=False,
            seed=0,
            name="smallcnn-demo224",
        )
        print(f"trained {model_dir.name} in {time.perf_counter() - started:.0f} s", flush=True)
    model = load_model(f"file:{model_dir}").eval()
    images = load_images(test, model.preprocessing)  # uint8 [N,3,224,224]
    labels = torch.tensor(test.manifest["label"].tolist())
    ids = test.manifest["sample_id"].astype(str).tolist()
    cache = ws.root / "benchmarks" / "corruption_effect" / f"{model.fingerprint()[:12]}-{test.fingerprint()[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    return model, images, labels, ids, cache


@torch.inference_mode()
def correct(model: Model, batch: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Per-image correctness of ``model`` on a float batch in [0,1]."""
    return (model(batch).argmax(1) == labels).numpy()


def ours_correct(
    model: Model,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: list[str],
    name: str,
    severity: int,
    seed: int,
    batch: int,
) -> np.ndarray:
    """Correctness under robustscope's corruption: float batches, per-sample seeds, no quantisation."""
    out = []
    for start in range(0, len(ids), batch):
        x = images[start : start + batch].float().div_(255.0)
        x = corrupt(x, name, severity, seed=seed, sample_ids=ids[start : start + batch])
        out.append(correct(model, x, labels[start : start + batch]))
    return np.concatenate(out)


def reference_correct(
    model: Model,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: list[str],
    name: str,
    severity: int,
    batch: int,
    cache: Path,
) -> tuple[np.ndarray, float]:
    """Correctness under ``imagecorruptions`` (uint8 in, uint8 out), cached; also seconds per image."""
    path = cache / f"reference-{name}-{severity}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return np.asarray(saved["correct"], dtype=bool), float(saved["seconds_per_image"])
    ic = load_imagecorruptions()
    hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    out, seconds = [], 0.0
    for start in range(0, len(ids), batch):
        corrupted = []
        for i in range(start, min(start + batch, len(ids))):
            np.random.seed(sample_seed(ids[i], "reference", name, severity) % 2**32)
            began = time.perf_counter()
            corrupted.append(ic.corrupt(hwc[i], corruption_name=name, severity=severity))
            seconds += time.perf_counter() - began
        x = torch.from_numpy(np.stack(corrupted)).permute(0, 3, 1, 2).float().div_(255.0)
        out.append(correct(model, x, labels[start : start + batch]))
    result = np.concatenate(out)
    path.write_text(json.dumps({"correct": result.tolist(), "seconds_per_image": seconds / len(ids)}))
    return result, seconds / len(ids)


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Accuracy difference ``a - b`` in points and its standard error (paired over the same images)."""
    d = a.astype(float) - b.astype(float)
    return 100 * d.mean(), 100 * d.std(ddof=1) / np.sqrt(len(d))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="test images (the first N of the rendered test split)")
    parser.add_argument("--corruptions", default=",".join(COMMON_CORRUPTIONS), help="comma-separated names")
    parser.add_argument("--severities", default="1,2,3,4,5", help="comma-separated severities")
    parser.add_argument("--render-n", type=int, default=500, help="test images to render")
    parser.add_argument("--train-n", type=int, default=2000, help="training images to render")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--jitter", type=float, default=0.3, help="training photometric jitter (see jitter_and_noise)")
    parser.add_argument("--noise", type=float, default=0.12, help="training Gaussian noise, max sigma")
    parser.add_argument("--batch", type=int, default=50, help="evaluation batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--render-workers", type=int, default=1)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # the reference's pkg_resources / skimage deprecations
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.corruptions.split(",") if n.strip()]
    for name in names:
        CORRUPTIONS.entry(name)  # unknown names fail early, with near misses
    severities = [int(s) for s in args.severities.split(",") if s.strip()]
    if any(s not in SEVERITIES for s in severities):
        raise SystemExit(f"severities must be in {SEVERITIES}")

    model, images, labels, ids, cache = prepare(args)
    clean = np.concatenate(
        [
            correct(model, images[i : i + args.batch].float().div_(255.0), labels[i : i + args.batch])
            for i in range(0, len(ids), args.batch)
        ]
    )
    print(
        f"\n{len(ids)} test images, {SIZE} px, model {model.name}, clean accuracy {100 * clean.mean():.1f} %, "
        f"torch threads {torch.get_num_threads()}; ours: seed 0 (and seed 1 for random corruptions); "
        f"diff = ours - reference, ± its paired standard error\n",
        flush=True,
    )
    print("| corruption | sev | clean | ours | reference | diff | ± SE | ours s0 − s1 | within ±2 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|:---:|", flush=True)
    rows = []
    ref_seconds = 0.0
    for name in names:
        random = CORRUPTIONS.get(name)().random
        for severity in severities:
            ours = ours_correct(model, images, labels, ids, name, severity, 0, args.batch)
            ref, seconds = reference_correct(model, images, labels, ids, name, severity, args.batch, cache)
            ref_seconds += seconds
            diff, se = paired(ours, ref)
            if random:
                noise, _ = paired(ours, ours_correct(model, images, labels, ids, name, severity, 1, args.batch))
                noise_text = f"{noise:+.1f}"
            else:
                noise, noise_text = float("nan"), "—"
            within = abs(diff) <= TOLERANCE
            rows.append(
                {
                    "corruption": name,
                    "severity": severity,
                    "random": random,
                    "diff": diff,
                    "se": se,
                    "noise": noise,
                    "within": within,
                }
            )
            print(
                f"| {name} | {severity} | {100 * clean.mean():.1f} | {100 * ours.mean():.1f} | {100 * ref.mean():.1f} "
                f"| {diff:+.1f} | {se:.1f} | {noise_text} | {'yes' if within else '**no**'} |",
                flush=True,
            )

    inside = sum(r["within"] for r in rows)
    random_rows = [r for r in rows if r["random"]]
    print(
        f"\nwithin ±{TOLERANCE:g} points: {inside}/{len(rows)} cells; random corruptions "
        f"{sum(r['within'] for r in random_rows)}/{len(random_rows)}; mean |diff| "
        f"{np.mean([abs(r['diff']) for r in rows]):.2f} points; reference {ref_seconds:.1f} s per image "
        f"over these {len(rows)} cells"
    )
    for r in rows:
        if not r["within"]:
            z = abs(r["diff"]) / r["se"] if r["se"] > 0 else float("inf")
            print(
                f"  miss: {r['corruption']} severity {r['severity']}: {r['diff']:+.1f} ± {r['se']:.1f} "
                f"({z:.1f} SE; ours seed-to-seed {r['noise']:+.1f})"
            )


if __name__ == "__main__":
    main()
