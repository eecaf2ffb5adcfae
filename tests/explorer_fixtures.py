"""A small workspace for the explorer's tests: the tiny world, two untrained 4-class CNNs, a few shifts.

One model is called :data:`EVIL` and the colour dataset has a class and a file of that name, so escaping is
tested wherever a model name, a label or a file name reaches a page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

EVIL = "<img src=x onerror=alert(1)>"
TINY_SHIFTS = ("none", "corruption:gaussian_noise:3", "background_swap:noise", "fgsm:eps=8/255")
COLOUR_SHIFTS = ("none", "corruption:gaussian_noise:3")


def tiny_cnn(seed: int, classes: int = 4) -> nn.Module:
    """An untrained conv net with fixed weights: wrong often enough to fill a gallery."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(24, classes))  # fmt: skip


def evil_colour_folder(root: Path, per_class: int = 4) -> Path:
    """Three colour classes, one named :data:`EVIL`, and one file named like it."""
    classes = {"blue": (0, 0, 255), "green": (0, 255, 0), EVIL: (255, 0, 0)}
    rng = np.random.default_rng(0)
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 60, (16, 16, 3)), 0, 255).astype(np.uint8)
            file = f"{EVIL}.png" if (name == EVIL and i == 0) else f"{i:03d}.png"
            Image.fromarray(pixels).save(root / name / file)
    return root


def build_store(root: Path) -> dict[str, Any]:
    """Render, evaluate both models under the shifts, return the workspace, models and datasets."""
    import robustscope
    from robustscope.config import Workspace

    ws = Workspace(root / "ws")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROBUSTSCOPE_HOME", str(ws.root))
        tiny = robustscope.load_dataset("synth:tiny:test-id", root=ws.renders, progress=False)
        colours = robustscope.load_dataset(f"folder:{evil_colour_folder(root / 'colours')}")
        pre = robustscope.Preprocessing(input_size=32, crop_pct=1.0, interpolation="bilinear",
                                        mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
        models = {}
        for seed, name in ((1, "small-a"), (2, EVIL)):
            model = robustscope.Model.from_module(tiny_cnn(seed), preprocessing=pre, labels=list(tiny.classes),
                                                  name=name)  # fmt: skip
            robustscope.evaluate(model, tiny, shifts=TINY_SHIFTS, metrics=["top1", "ece"], n_resamples=50,
                                 store=ws, progress=False)  # fmt: skip
            colour_model = robustscope.Model.from_module(tiny_cnn(seed, 3), preprocessing=pre,
                                                         labels=list(colours.classes), name=name)  # fmt: skip
            robustscope.evaluate(colour_model, colours, shifts=COLOUR_SHIFTS, metrics=["top1"], n_resamples=50,
                                 store=ws, progress=False)  # fmt: skip
            models[name] = model
    return {"ws": ws, "models": models, "tiny": tiny, "colours": colours}


def artifact_dirs(tmp: Path) -> list[Path]:
    """Where screenshots go: the pytest tmp dir, and ``$ROBUSTSCOPE_ARTIFACTS`` when set."""
    dirs = [tmp]
    if os.environ.get("ROBUSTSCOPE_ARTIFACTS"):
        dirs.append(Path(os.environ["ROBUSTSCOPE_ARTIFACTS"]))
    for folder in dirs:
        folder.mkdir(parents=True, exist_ok=True)
    return dirs
