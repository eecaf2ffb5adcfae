"""Shared test set-up: offline hub, an isolated workspace per test, small PNG datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TORCH_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own workspace, so cached predictions never leak between tests."""
    home = tmp_path / "workspace"
    monkeypatch.setenv("ROBUSTSCOPE_HOME", str(home))
    return home


def write_colour_folder(root: Path, classes: dict[str, tuple[int, int, int]], per_class: int = 6,
                        size: int = 16, seed: int = 0) -> Path:
    """An ImageFolder of noisy single-colour squares: one class per colour."""
    rng = np.random.default_rng(seed)
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root
