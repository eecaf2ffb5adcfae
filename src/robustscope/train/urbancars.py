"""The multiple-shortcuts reference model: plain ERM on a world's synthetic UrbanCars training split.

Li et al., "A Whac-A-Mole Dilemma: Shortcuts Come in Multiples Where Mitigating One Amplifies Others",
CVPR 2023, train an ERM classifier on UrbanCars (each shortcut agrees with the object in 95% of the
training images) and measure, on the balanced test split, how much it leans on the background and on the
co-occurring object (BG gap, CoObj gap, BG+CoObj gap; :mod:`robustscope.metrics.shortcuts`). This is the
same experiment on ``synth-urbancars:WORLD:train`` (:mod:`robustscope.synth.urbancars`), with the demo's
reference architecture and trainer (:func:`robustscope.train.train_classifier`) at the world's resolution.
The model's labels are ``urban`` and ``country``; evaluate it with ``robustscope run --model file:FOLDER
--suite shortcuts-offline --world WORLD``. The same training from the command line:
``robustscope train --data synth-urbancars:WORLD:train --out FOLDER --image-size 64`` (its default
architecture has one conv layer per stage instead of two).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustscope.config import Workspace, workspace
from robustscope.data.content_index import ContentIndex

#: The known-answer recipes' architecture (``robustscope.train.recipes.DEFAULT_ARCH_KWARGS``): SmallCNN, two
#: conv layers per stage.
URBANCARS_ARCH_KWARGS: dict[str, Any] = {"width": 32, "depth": 3, "blocks": 2}
#: Epochs of the reference model. Ten are too few on the tiny world (800 images, 7 steps an epoch): the model
#: has picked up the background but not yet the co-occurring object (CoObj gap near 0).
URBANCARS_EPOCHS = 20


def train_urbancars_reference(
    world: str = "demo",
    ws: Workspace | None = None,
    *,
    epochs: int = URBANCARS_EPOCHS,
    seed: int = 0,
    arch_kwargs: Mapping[str, Any] | None = None,
    num_threads: int | None = None,
    workers: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Path:
    """Train (or reuse) the ERM reference model of ``world``'s synthetic UrbanCars; return its ``file:`` folder.

    Builds ``synth-urbancars:WORLD`` in the workspace's render cache if needed, trains on its ``train`` split
    (images at the world's resolution, flips and small crops) and records the ``val`` accuracy in the config.
    The folder, ``<workspace>/models/<world>-urbancars-<hash>``, hashes the recipe and the training set's
    fingerprint, so a changed world or recipe retrains and an unchanged one is reused. The same seed and
    thread count give the same weights.

    Args:
        world: a built-in world (``tiny``, ``demo``) or a world YAML.
        ws: the workspace (default: ``$ROBUSTSCOPE_HOME`` or ``./.robustscope``).
        epochs, seed, arch_kwargs: the recipe (default :data:`URBANCARS_EPOCHS`, 0, :data:`URBANCARS_ARCH_KWARGS`).
        num_threads: CPU threads for training (default: the cores this process may use).
        workers: render processes for building the set (default: all cores).

    Example:
        >>> folder = train_urbancars_reference("tiny", progress=False)  # doctest: +SKIP
        >>> # robustscope run --model file:{folder} --suite shortcuts-offline --world tiny
    """
    from robustscope.data.registry import load_dataset
    from robustscope.synth import load_spec
    from robustscope.train.trainer import train_classifier

    ws = ws or workspace()
    spec = load_spec(world)
    kwargs = dict(URBANCARS_ARCH_KWARGS if arch_kwargs is None else arch_kwargs)
    train = load_dataset(f"synth-urbancars:{world}:train", root=ws.renders, workers=workers, progress=progress)
    val = load_dataset(f"synth-urbancars:{world}:val", root=ws.renders, workers=workers, progress=progress)
    recipe = json.dumps(
        {"arch_kwargs": kwargs, "epochs": epochs, "seed": seed, "image_size": spec.resolution,
         "data": train.fingerprint(ContentIndex(ws.content_index))},
        sort_keys=True,
    )  # fmt: skip
    folder = ws.models / f"{spec.name}-urbancars-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if not (folder / "config.json").is_file():
        train_classifier(
            train, folder, arch_kwargs=kwargs, epochs=epochs, seed=seed, image_size=spec.resolution,
            val_dataset=val, num_threads=num_threads, device=device, name=f"{spec.name}-urbancars-erm",
            progress=progress,
        )  # fmt: skip
    return folder


__all__ = ["URBANCARS_ARCH_KWARGS", "URBANCARS_EPOCHS", "train_urbancars_reference"]
