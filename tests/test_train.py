"""Training the reference classifier: it learns, is reproducible, and saves a loadable ``file:`` model."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

from robustscope.data.base import Dataset
from robustscope.models import load_model
from robustscope.train import augment_batch, evaluate_accuracy, train_classifier

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 70, 230)}


def _squares(root: Path, per_class: int, seed: int) -> Dataset:
    """Coloured squares at random places and sizes on grey noise: separable by colour alone."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            grey = rng.randint(90, 160)
            image = Image.effect_noise((32, 32), 30).convert("RGB").point(lambda v, g=grey: (v + g) // 2)
            size = rng.randint(10, 18)
            x, y = rng.randint(0, 32 - size), rng.randint(0, 32 - size)
            ImageDraw.Draw(image).rectangle((x, y, x + size, y + size), fill=colour)
            path = f"{name}_{i}.png"
            image.save(root / path)
            rows.append({"sample_id": f"{name}-{i}", "path": path, "label": label, "size": size})
    return Dataset(f"squares-{seed}", root, list(COLOURS), pd.DataFrame(rows))


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> tuple[Dataset, Dataset]:
    root = tmp_path_factory.mktemp("squares")
    return _squares(root / "train", per_class=24, seed=0), _squares(root / "test", per_class=10, seed=1)


def _train(dataset: Dataset, out: Path, **overrides: object) -> Path:
    settings: dict = {
        "arch_kwargs": {"width": 8, "depth": 2},
        "epochs": 8,
        "batch_size": 16,
        "lr": 1e-2,
        "image_size": 32,
        "progress": False,
        "num_threads": 1,
    }
    settings.update(overrides)
    return train_classifier(dataset, out, **settings)


def test_trains_separable_squares_and_loads_via_file(squares: tuple[Dataset, Dataset], tmp_path: Path) -> None:
    train, test = squares
    out = _train(train, tmp_path / "model", val_dataset=test, progress=True)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["arch"] == "smallcnn" and config["labels"] == list(COLOURS)
    assert config["dataset"]["fingerprint"] == train.fingerprint()
    assert config["training"]["seed"] == 0 and config["training"]["epochs"] == 8
    assert config["training"]["final_train_accuracy"] >= 0.9
    assert config["training"]["val_accuracy"] >= 0.9

    model = load_model(f"file:{out}")
    assert model.labels == list(COLOURS) and model.preprocessing.input_size == 32
    assert evaluate_accuracy(model, test) >= 0.9


def test_same_seed_same_weights(squares: tuple[Dataset, Dataset], tmp_path: Path) -> None:
    train, _ = squares
    small = {"epochs": 2}
    first = load_file(str(_train(train, tmp_path / "a", **small) / "model.safetensors"))
    second = load_file(str(_train(train, tmp_path / "b", **small) / "model.safetensors"))
    other = load_file(str(_train(train, tmp_path / "c", seed=1, **small) / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_augment_batch_flips_and_shifts() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    out = augment_batch(images, torch.Generator().manual_seed(0), pad=0)
    for original, augmented in zip(images, out, strict=True):  # pad 0: only flips
        assert torch.equal(augmented, original) or torch.equal(augmented, original.flip(2))
    shifted = augment_batch(images, torch.Generator().manual_seed(0), pad=2)
    assert shifted.shape == images.shape


def test_rejects_empty_dataset(tmp_path: Path) -> None:
    empty = Dataset("empty", tmp_path, ["a"], pd.DataFrame({"sample_id": [], "path": [], "label": []}))
    with pytest.raises(ValueError, match="no samples"):
        train_classifier(empty, tmp_path / "out", progress=False)
