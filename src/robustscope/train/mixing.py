"""Synthetic-data mixing: train on narrow real-like data plus a fraction of rendered diverse images.

Singh et al., "Is Synthetic Data all We Need? Benchmarking the Robustness of Models Trained with Synthetic
Images", CVPRW 2024 (project page in ``/work/shared/seeds``; code ``visinf/benchmarking-synthetic-clones`` at
commit a443db529e728528e4dca181727a7a88a44ace33, which holds the evaluation scripts and the ablations' results,
``*/results/*/ablations/scaling_clip_{REAL,Synthetic,Syn_Real}_*.json``, not the training code) ask whether
adding synthetic images to real ones makes a model more robust ("combining both real and synthetic data further
increases the robustness"). robustscope asks the same question in its synthetic world, where both kinds of data
are rendered and only their diversity differs:

* the **narrow, real-like** data is the world's common distribution, split ``train-narrow``: each class wears
  its own appearance and stands in front of its own background 90% of the time;
* the **rendered diverse** data is split ``train-diverse`` (the ``clean`` recipe's data): every factor is
  independent of the class, poses and light vary.

Composition (:func:`mixed_dataset`): for a fraction ``p`` (a number ≥ 0), all of ``train-narrow`` plus
``round(p · |narrow|)`` images of ``train-diverse``; for ``p = "only"``, ``|narrow|`` images of ``train-diverse``
and no narrow image (the paper's "purely synthetic" model, at the narrow model's data size). The diverse images
are the first ones of one permutation of ``train-diverse`` drawn with the training seed, so the subsets are
nested (p = 0.1's images are among p = 0.25's) and a seed draws other images. The network, augmentations and
optimiser are the ``clean`` recipe's (``train/data/recipes.yaml``) with the same number of epochs for every
``p``: a larger mix takes more steps, as adding data to a fixed schedule does in the paper's ablation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from robustscope.data.base import Dataset
from robustscope.errors import OptionError, SpecError

__all__ = [
    "DEFAULT_FRACTIONS",
    "DIVERSE_SPLIT",
    "MIX_FILE",
    "MIX_RECIPE",
    "NARROW_SPLIT",
    "Fraction",
    "fraction_label",
    "mix_counts",
    "mixed_dataset",
    "mixed_model_key",
    "parse_fraction",
    "train_mixed",
]

NARROW_SPLIT = "train-narrow"
DIVERSE_SPLIT = "train-diverse"
#: The known-answer recipe whose trainer settings every mixed model uses (only the data differs).
MIX_RECIPE = "clean"
#: The file beside a mixed model's weights that records its training set's composition.
MIX_FILE = "mix.json"
#: A share of diverse images relative to the narrow set, or ``"only"`` (diverse images alone).
Fraction = float | Literal["only"]
#: The fractions of issue 12 (p in 0, 0.1, 0.25, 0.5, 1, and purely rendered data).
DEFAULT_FRACTIONS: tuple[Fraction, ...] = (0.0, 0.1, 0.25, 0.5, 1.0, "only")


def parse_fraction(value: str | float | int) -> Fraction:
    """A fraction from the command line or code: a number ≥ 0 or ``"only"``; anything else is an :class:`OptionError`.

    Example:
        >>> parse_fraction("0.25"), parse_fraction(1), parse_fraction("only")
        (0.25, 1.0, 'only')
        >>> parse_fraction("-1")
        Traceback (most recent call last):
        ...
        robustscope.errors.OptionError: fraction -1: must be a number >= 0 (diverse images per narrow image) or 'only'
    """
    if isinstance(value, str) and value.strip().lower() == "only":
        return "only"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number < 0:
        raise OptionError(f"fraction {value}: must be a number >= 0 (diverse images per narrow image) or 'only'")
    return number


def fraction_label(p: Fraction) -> str:
    """How a fraction is written in tables and model names: ``0``, ``0.1``, ``1``, ``only``.

    Example:
        >>> [fraction_label(p) for p in (0.0, 0.1, 1.0, "only")]
        ['0', '0.1', '1', 'only']
    """
    return "only" if p == "only" else f"{float(p):g}"


def mix_counts(p: Fraction, n_narrow: int, n_diverse: int) -> tuple[int, int]:
    """(narrow images, diverse images) of the mix with fraction ``p``; :class:`OptionError` if too few diverse ones.

    Example:
        >>> mix_counts(0.25, 2000, 2000), mix_counts("only", 2000, 2000), mix_counts(0, 8, 480)
        ((2000, 500), (0, 2000), (8, 0))
    """
    p = parse_fraction(p)
    narrow, diverse = (0, n_narrow) if p == "only" else (n_narrow, round(float(p) * n_narrow))
    if diverse > n_diverse:
        raise OptionError(f"fraction {fraction_label(p)}: needs {diverse} diverse images but {DIVERSE_SPLIT} has "
                          f"{n_diverse}; use a fraction <= {n_diverse / max(1, n_narrow):g} or a world with more")
    return narrow, diverse


def mixed_dataset(narrow: Dataset, diverse: Dataset, p: Fraction, seed: int = 0) -> Dataset:
    """The training set of fraction ``p``: every narrow image plus a seeded subset of diverse ones (see the module).

    Rows keep their split's manifest columns plus ``mix_source`` (``narrow`` or ``diverse``); sample ids are
    prefixed with the source, paths are made relative to the two splits' common folder.

    Example:
        >>> import pandas as pd
        >>> def split(name, n):
        ...     rows = {"sample_id": [f"{i}" for i in range(n)], "path": [f"{i}.png" for i in range(n)],
        ...             "label": [i % 2 for i in range(n)]}
        ...     return Dataset(name, f"/r/{name}", ["a", "b"], pd.DataFrame(rows))
        >>> mix = mixed_dataset(split("narrow", 4), split("diverse", 10), 0.5, seed=0)
        >>> mix.manifest["mix_source"].value_counts().to_dict(), mix.root.as_posix(), mix.manifest["path"][0]
        ({'narrow': 4, 'diverse': 2}, '/r', 'narrow/0.png')
    """
    p = parse_fraction(p)
    if list(narrow.classes) != list(diverse.classes):
        raise SpecError(f"{narrow.name} and {diverse.name} have different classes ({narrow.classes} vs "
                        f"{diverse.classes}); mix two splits of one world")
    n_narrow, n_diverse = mix_counts(p, len(narrow), len(diverse))
    # One permutation per seed, its first n_diverse images: nested subsets along p.
    chosen = np.sort(np.random.default_rng(seed).permutation(len(diverse))[:n_diverse])
    root = Path(os.path.commonpath([os.path.abspath(narrow.root), os.path.abspath(diverse.root)]))
    frames = []
    for source, data, rows in (("narrow", narrow, range(n_narrow)), ("diverse", diverse, chosen.tolist())):
        frame = data.manifest.iloc[list(rows)].copy()
        folder = os.path.relpath(os.path.abspath(data.root), root)
        frame["path"] = [Path(folder, str(path)).as_posix() for path in frame["path"]]
        frame["sample_id"] = [f"{source}/{sample}" for sample in frame["sample_id"]]
        frame["mix_source"] = source
        frames.append(frame)
    manifest = pd.concat(frames, ignore_index=True)
    name = f"mix({narrow.name}+{fraction_label(p)}x{diverse.name},seed={seed})"
    return Dataset(name, root, list(narrow.classes), manifest, dict(narrow.metadata))


def mixed_model_key(p: Fraction, seed: int, training: dict, data_fingerprint: str, code: str) -> str:
    """The cache key of a mixed model: recipe, fraction, seed, trainer settings, data fingerprint and code digest.

    Example:
        >>> key = mixed_model_key(0.1, 0, {"epochs": 20}, "abc", "code")
        >>> key == mixed_model_key(0.25, 0, {"epochs": 20}, "abc", "code"), len(key)
        (False, 12)
    """
    key = json.dumps({"recipe": MIX_RECIPE, "mix": fraction_label(parse_fraction(p)), "splits": [NARROW_SPLIT,
                      DIVERSE_SPLIT], "seed": int(seed), "training": training, "data": data_fingerprint,
                      "code": code}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def train_mixed(
    world: str,
    p: Fraction | str,
    *,
    seed: int = 0,
    epochs: int | None = None,
    models_dir: str | Path,
    renders: str | Path,
    content_index: str | Path | None = None,
    workers: int | None = None,
    progress: bool = True,
    out: str | Path | None = None,
) -> Path:
    """Train (or reuse) the ``clean`` recipe's network on ``world``'s narrow split mixed with diverse images.

    Args:
        world: a built-in world or a YAML spec with ``train-narrow`` and ``train-diverse`` splits.
        p: diverse images per narrow image (0, 0.1, 0.25, 0.5, 1…) or ``"only"`` (see :func:`mixed_dataset`).
        seed: the training seed, also the seed of the diverse subset.
        epochs: override the clean recipe's 20 epochs (the same for every ``p``).
        models_dir: the model cache (a workspace's ``models``); ignored when ``out`` is given.
        renders: the render cache.
        content_index: the workspace's content index (fast dataset fingerprints); optional.
        out: write here instead of the cache (always trains).

    Returns:
        The model's ``file:`` folder, ``<models_dir>/<world>-mix-<p>[-seedS]-<hash>``; the hash covers
        :func:`mixed_model_key`, so a changed world, fraction, seed, recipe or trainer retrains. Beside the
        weights, :data:`MIX_FILE` records the composition (counts per split, the diverse sample ids).

    Example:
        >>> from robustscope.config import workspace
        >>> ws = workspace()
        >>> train_mixed("tiny", 0.5, models_dir=ws.models, renders=ws.renders, epochs=1)  # doctest: +SKIP
    """
    from robustscope.data.content_index import ContentIndex
    from robustscope.data.registry import load_dataset
    from robustscope.synth.spec import load_spec
    from robustscope.train.recipes import DEFAULT_ARCH_KWARGS, get_recipe, training_code_digest
    from robustscope.train.trainer import train_classifier

    p = parse_fraction(p)
    spec = load_spec(world)
    missing = [s for s in (NARROW_SPLIT, DIVERSE_SPLIT) if s not in spec.split_names()]
    if missing:
        raise SpecError(f"world {spec.name} has no split {missing[0]!r}, which mixing needs; its splits: "
                        f"{', '.join(spec.split_names())}")
    narrow = load_dataset(f"synth:{world}:{NARROW_SPLIT}", root=renders, workers=workers, progress=progress)
    diverse = load_dataset(f"synth:{world}:{DIVERSE_SPLIT}", root=renders, workers=workers, progress=progress)
    data = mixed_dataset(narrow, diverse, p, seed=seed)
    recipe = get_recipe(MIX_RECIPE)
    training = {**recipe.training, "epochs": recipe.scaled_epochs(epochs), "image_size": spec.resolution}
    world_name = Path(str(world)).stem if str(world).endswith((".yaml", ".yml")) else str(world)
    display = f"{world_name}-mix-{fraction_label(p)}" + (f"-seed{seed}" if seed else "")
    if out is None:
        fingerprint = data.fingerprint(ContentIndex(content_index) if content_index else None)
        key = mixed_model_key(p, seed, {**training, "arch": DEFAULT_ARCH_KWARGS}, fingerprint,
                              training_code_digest())
        out = Path(models_dir) / f"{display}-{key}"
        if (out / "config.json").is_file() and (out / MIX_FILE).is_file():
            return out
    folder = train_classifier(data, out, arch_kwargs=DEFAULT_ARCH_KWARGS, seed=seed, name=display,
                              progress=progress, **training)
    # The composition beside the weights: what the model was trained on, readable without re-rendering.
    sources = data.manifest["mix_source"]
    composition = {"fraction": fraction_label(p), "seed": int(seed), "narrow_split": NARROW_SPLIT,
                   "diverse_split": DIVERSE_SPLIT, "n_narrow": int((sources == "narrow").sum()),
                   "n_diverse": int((sources == "diverse").sum()),
                   "diverse_ids": data.manifest.loc[sources == "diverse", "sample_id"].tolist()}
    (Path(folder) / MIX_FILE).write_text(json.dumps(composition, indent=1) + "\n", encoding="utf-8")
    return folder
