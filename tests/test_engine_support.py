"""Shared helpers of the engine tests: tiny models and tiny on-disk datasets (no tests here).

Also imported by the crash-resume subprocess, so it must stay importable without pytest fixtures.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from robustscope.data import Dataset
from robustscope.models import Model, Preprocessing

CLASSES = ["cat", "dog", "bird"]
#: The model's label order differs from the dataset's on purpose: mapping is by name.
MODEL_LABELS = ["bird", "cat", "dog", "fish"]
PRE = Preprocessing(input_size=16, crop_pct=1.0, interpolation="bilinear")


class TinyNet(nn.Module):
    """conv + pool + linear over 16-px images; ``delay`` seconds of sleep per forward (not a weight)."""

    def __init__(self, num_classes: int = len(MODEL_LABELS), delay: float = 0.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, num_classes)
        self.delay = delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def tiny_model(seed: int = 0, delay: float = 0.0, labels: list[str] | None = None, pre: Preprocessing = PRE) -> Model:
    """A deterministic TinyNet wrapped as a Model (same seed ⇒ same weights ⇒ same fingerprint)."""
    torch.manual_seed(seed)
    labels = labels or MODEL_LABELS
    return Model.from_module(TinyNet(len(labels), delay), preprocessing=pre, labels=labels, name="tiny")


def make_dataset(root: Path, n: int = 24, size: int = 20, name: str = "toy", seed: int = 0) -> Dataset:
    """``n`` random PNGs under ``root/img`` with factors ``pose`` (str) and ``scale`` (int)."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img" / f"{i:04d}.png")
        rows.append(
            {
                "sample_id": f"s{i:04d}",
                "path": f"img/{i:04d}.png",
                "label": i % len(CLASSES),
                "pose": ["front", "side", "back"][i % 3],
                "scale": i % 2,
            }
        )
    return Dataset(name, root, list(CLASSES), pd.DataFrame(rows))


def bare_logits(model: Model, dataset: Dataset, batch_size: int) -> np.ndarray:
    """Reference: decode, preprocess, batch and forward with no harness at all."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            rows = range(start, min(start + batch_size, len(dataset)))
            batch = torch.stack([model.preprocessing.to_tensor(dataset.load_image(i)) for i in rows])
            out.append(model(batch).float().numpy())
    return np.concatenate(out)


class ForwardCounter:
    """Counts forward calls of a module through a forward hook."""

    def __init__(self, module: nn.Module):
        self.calls = 0
        self.images = 0
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self.calls += 1
        self.images += int(args[0].shape[0])

    def remove(self) -> None:
        self.handle.remove()
