"""Known-answer reference models: training recipes that each plant one failure (``robustscope train --recipe``).

A measuring instrument is calibrated on inputs whose answer is known. Each recipe of
``train/data/recipes.yaml`` trains the same small CNN on one split of a synthetic world; all but
``clean`` differ from ``clean`` in one thing, and ``plants`` names the axis of the
``synthetic-clones-offline`` suite that must flag the model (``robustscope validate-axes`` checks it):

* ``clean``: every factor independent of the class, heavy augmentation; no planted failure.
* ``texture-shortcut``: each class always wears its own texture *and* colour (a joint appearance factor).
* ``background-shortcut``: each class always in front of its own background.
* ``context-shortcut``: only white light and clear weather, no photometric augmentation.
* ``overconfident``: a quarter of the clean data with 30% of its labels wrong, no augmentation, no label
  smoothing, no weight decay, trained until it has memorised them.

Models are cached in the workspace under a folder named by a hash of the recipe, the epochs, the seed,
the training set's content fingerprint and the training code (:func:`training_code_digest`): a changed
world, recipe or trainer retrains.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from robustscope.errors import SpecError, UnknownNameError
from robustscope.registry import suggest

__all__ = ["DEFAULT_ARCH_KWARGS", "Recipe", "get_recipe", "recipe_names", "train_recipe", "training_code_digest"]

#: The network every recipe trains: two conv layers per stage (one per stage underfits the diverse split:
#: train accuracy 0.51 after 30 epochs, against 0.71 after 20 epochs with two).
DEFAULT_ARCH_KWARGS: dict[str, Any] = {"width": 32, "depth": 3, "blocks": 2}
#: Modules whose code decides the trained weights (loop, augmentations, network, the fog corruption).
_TRAINING_CODE = (
    "robustscope.train.trainer",
    "robustscope.train.augment",
    "robustscope.models.networks",
    "robustscope.models.smallcnn",
    "robustscope.shifts.corruptions.base",
    "robustscope.shifts.corruptions.weather",
)
_TRAINING_KEYS = {"epochs", "augment", "jitter", "noise", "fog", "label_smoothing", "lr", "weight_decay", "batch_size",
                  "label_noise"}


@dataclass(frozen=True)
class Recipe:
    """One known-answer training recipe.

    Attributes:
        name: the recipe's name (``robustscope train --recipe NAME``).
        split: the world split it trains on.
        plants: the axis that must flag a model trained this way (``None``: no planted failure).
        training: keyword arguments of :func:`~robustscope.train.train_classifier`.
        fraction: train on the first ``fraction`` of the split's images only (the same share of any world).

    Example:
        >>> recipe = get_recipe("texture-shortcut")
        >>> recipe.split, recipe.plants
        ('train-texture-shortcut', 'shape_bias')
    """

    name: str
    split: str
    plants: str | None
    training: dict[str, Any] = field(default_factory=dict)
    fraction: float | None = None
    description: str = ""

    def scaled_epochs(self, epochs: int | None) -> int:
        """The recipe's epochs, or ``epochs`` × its ratio to the clean recipe's (a shorter run keeps proportions).

        Example:
            >>> get_recipe("overconfident").scaled_epochs(None), get_recipe("overconfident").scaled_epochs(10)
            (150, 75)
        """
        own = int(self.training.get("epochs", 20))
        if epochs is None:
            return own
        reference = int(get_recipe("clean").training.get("epochs", 20))
        return max(1, round(epochs * own / reference))


@cache
def training_code_digest() -> str:
    """Hash of the torch version and the source of every module that decides a recipe's trained weights.

    Part of a recipe model's cache key: editing the training loop, an augmentation or the network retrains.

    Example:
        >>> len(training_code_digest())
        16
    """
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    for name in _TRAINING_CODE:
        digest.update(f"\x1f{name}\x1f".encode())
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    return digest.hexdigest()[:16]


@cache
def _recipes() -> dict[str, Recipe]:
    text = (resources.files("robustscope.train") / "data" / "recipes.yaml").read_text()
    raw = yaml.safe_load(text)["recipes"]
    out = {}
    for name, entry in raw.items():
        unknown = set(entry.get("training", {})) - _TRAINING_KEYS
        if unknown:
            raise SpecError(f"recipe {name}: unknown training keys {sorted(unknown)}")
        out[name] = Recipe(
            name=name,
            split=entry["split"],
            plants=entry.get("plants"),
            training=dict(entry.get("training", {})),
            fraction=float(entry["fraction"]) if entry.get("fraction") is not None else None,
            description=" ".join(str(entry.get("description", "")).split()),
        )
    return out


def recipe_names() -> list[str]:
    """Names of the known-answer recipes, in file order.

    Example:
        >>> recipe_names()
        ['clean', 'texture-shortcut', 'background-shortcut', 'context-shortcut', 'overconfident']
    """
    return list(_recipes())


def get_recipe(name: str) -> Recipe:
    """The recipe ``name``; unknown names raise :class:`UnknownNameError` with near misses.

    Example:
        >>> get_recipe("clean").plants is None
        True
    """
    recipes = _recipes()
    if name not in recipes:
        raise UnknownNameError("training recipe", name, suggest(name, recipes), list(recipes))
    return recipes[name]


def train_recipe(
    name: str,
    world: str = "demo",
    *,
    models_dir: str | Path,
    renders: str | Path,
    content_index: str | Path | None = None,
    epochs: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    out: str | Path | None = None,
) -> Path:
    """Train (or reuse) the model of recipe ``name`` on ``world``; return its ``file:`` folder.

    Args:
        name: a recipe (:func:`recipe_names`).
        world: a built-in world or a YAML spec that has the recipe's split.
        models_dir: where cached models live (a workspace's ``models``); ignored when ``out`` is given.
        renders: the render cache.
        content_index: the workspace's content index (fast dataset fingerprints); optional.
        epochs: override the recipe's epochs, keeping the ratio between recipes (see :meth:`Recipe.scaled_epochs`).
        seed: the training seed (the same seed on the same machine gives the same weights).
        out: write here instead of the cache (always trains).

    Example:
        >>> from robustscope.config import workspace
        >>> ws = workspace()
        >>> train_recipe("clean", "tiny", models_dir=ws.models, renders=ws.renders, epochs=2)  # doctest: +SKIP
    """
    from robustscope.data.content_index import ContentIndex
    from robustscope.data.registry import load_dataset
    from robustscope.synth.spec import load_spec
    from robustscope.train.trainer import train_classifier

    recipe = get_recipe(name)
    spec = load_spec(world)
    if recipe.split not in spec.split_names():
        raise SpecError(f"world {spec.name} has no split {recipe.split!r}, which recipe {name} trains on; "
                        f"its splits: {', '.join(spec.split_names())}")
    data = load_dataset(f"synth:{world}:{recipe.split}", root=renders, workers=workers, progress=progress)
    if recipe.fraction is not None:
        count = max(1, round(recipe.fraction * len(data)))
        data = data.subset(list(range(count)), name=f"{data.name}[:{count}]")
    # Trained at the world's resolution, the size the suite's images come in.
    training = {**recipe.training, "epochs": recipe.scaled_epochs(epochs), "image_size": spec.resolution}
    world_name = Path(str(world)).stem if str(world).endswith((".yaml", ".yml")) else str(world)
    display = f"{world_name}-{name}" + (f"-seed{seed}" if seed else "")
    if out is None:
        fingerprint = data.fingerprint(ContentIndex(content_index) if content_index else None)
        key = json.dumps({"recipe": recipe.name, "split": recipe.split, "fraction": recipe.fraction,
                          "training": training, "arch": DEFAULT_ARCH_KWARGS, "seed": seed, "data": fingerprint,
                          "code": training_code_digest()},
                         sort_keys=True)
        out = Path(models_dir) / f"{display}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        if (out / "config.json").is_file():
            return out
    return train_classifier(data, out, arch_kwargs=DEFAULT_ARCH_KWARGS, seed=seed, name=display,
                            progress=progress, **training)
