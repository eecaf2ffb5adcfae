"""A toy UrbanCars-like workspace for the mitigation tests: 32 tiny images, a base SmallCNN on disk, mitigated heads.

Each of the 8 (object, background, co-occurring object) cells has 4 images of 8×8 pixels whose colours depend on
the three factors; the base is an untrained SmallCNN (width 4) saved as safetensors + config.json, so that a
mitigated model (:func:`robustscope.mitigate.save_mitigated`) can record it by its ``file:`` spec.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from robustscope.mitigate.saved import save_mitigated
from robustscope.models.features import split_model
from robustscope.models.registry import load_model
from robustscope.models.smallcnn import SmallCNN
from robustscope.suites import AxisSpec, SuiteSpec

VALUES = ("urban", "country")


def write_toy_data(root: Path, per_cell: int = 4) -> str:
    """The CSV manifest's dataset spec: ``object`` is the label, ``background`` and ``co_occur`` are factors."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["filename,label,object,background,co_occur"]
    for i, (o, b, c) in enumerate(itertools.product(range(2), range(2), range(2))):
        for j in range(per_cell):
            name = f"img{i}_{j}.png"
            colour = (40 + 150 * o + 7 * j, 60 + 120 * b, 30 + 160 * c)
            Image.new("RGB", (8, 8), colour).save(root / name)
            lines.append(f"{name},{VALUES[o]},{VALUES[o]},{VALUES[b]},{VALUES[c]}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("\n".join(VALUES) + "\n")
    return f"csv:{root / 'labels.csv'}"


def write_base(folder: Path, seed: int = 0) -> str:
    """An untrained SmallCNN (width 4) over the two UrbanCars labels, saved where ``file:`` loads it."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    save_file(SmallCNN(2, width=4, depth=2).state_dict(), str(folder / "model.safetensors"))
    config = {"arch": "smallcnn", "arch_kwargs": {"width": 4, "depth": 2}, "labels": list(VALUES),
              "preprocessing": {"input_size": 8, "crop_pct": 1.0}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return f"file:{folder}"


def write_mitigated(base_spec: str, out: Path, scale: float | None = None, seed: int = 0) -> str:
    """A mitigated model over the base's features: its own head copied (``scale=None``), or a random one."""
    base = load_model(base_spec)
    split = split_model(base)
    if scale is None:
        weight, bias = split.weight.numpy(), split.bias.numpy()
    else:
        rng = np.random.default_rng(seed)
        weight, bias = rng.normal(0, scale, (2, split.dim)), rng.normal(0, scale, 2)
    save_mitigated(base_spec, split, weight, bias, list(VALUES), out, "toy", {"scale": scale},
                   base_fingerprint=base.fingerprint())  # fmt: skip
    return f"file:{out}"


def toy_suite(data_spec: str, watermark: bool = False) -> SuiteSpec:
    """Calibration and shortcuts axes on the toy set (the watermark role only when asked: it needs a CJK font)."""
    roles = {"urbancars": data_spec, **({"watermark": data_spec} if watermark else {})}
    shifts = ("none", "watermark") if watermark else ("none",)
    return SuiteSpec("toy-mitigation", "toy", (
        AxisSpec("calibration", {"test": data_spec}, ("none",), {"metrics": ["top1", "ece", "nll"]}),
        AxisSpec("shortcuts", roles, shifts),
    ))  # fmt: skip
