"""A capacity family of reference models: the clean recipe's network at growing width and training length.

Richards et al. 2023 (``facebookresearch/Geographic_Generalization``) compute the progress gap, and Taori et
al. (NeurIPS 2020) effective robustness, across many models of growing ImageNet accuracy. Offline, robustscope
needs such a family on a synthetic world: ``train/data/capacity.yaml`` lists members that differ from the
``clean`` known-answer recipe (``train/data/recipes.yaml``) only in the SmallCNN's width and the epochs, so their
in-distribution accuracy grows along the family while the data and every other setting stay fixed.
:mod:`robustscope.metrics.progress` fits the lines across them (``robustscope study progress-gap``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from robustscope.errors import SpecError, UnknownNameError
from robustscope.registry import suggest

__all__ = ["CapacityMember", "capacity_family", "family_split", "train_capacity_member"]

#: The split the family trains on when the world has it (the clean recipe's); otherwise ``train``.
_FALLBACK_SPLIT = "train"


@dataclass(frozen=True)
class CapacityMember:
    """One member of the capacity family: the clean recipe with this SmallCNN width and these epochs.

    Example:
        >>> CapacityMember("w8-e5", 8, 5).arch_kwargs
        {'width': 8, 'depth': 3, 'blocks': 2}
    """

    name: str
    width: int
    epochs: int

    @property
    def arch_kwargs(self) -> dict[str, int]:
        """The network's arguments: the recipes' SmallCNN (depth 3, two conv layers per stage) at :attr:`width`."""
        from robustscope.train.recipes import DEFAULT_ARCH_KWARGS

        return {**DEFAULT_ARCH_KWARGS, "width": int(self.width)}


@cache
def _family() -> tuple[CapacityMember, ...]:
    raw = yaml.safe_load((resources.files("robustscope.train") / "data" / "capacity.yaml").read_text())
    members = []
    for i, entry in enumerate(raw["family"]):
        if set(entry) != {"name", "width", "epochs"}:
            raise SpecError(f"capacity.yaml family[{i}]: needs exactly name, width, epochs; got {sorted(entry)}")
        members.append(CapacityMember(str(entry["name"]), int(entry["width"]), int(entry["epochs"])))
    return tuple(members)


def capacity_family(names: list[str] | None = None) -> list[CapacityMember]:
    """The members of ``train/data/capacity.yaml`` (or only ``names``, in the file's order), smallest first.

    Example:
        >>> [m.name for m in capacity_family()][:3]
        ['w8-e5', 'w8-e20', 'w16-e5']
        >>> capacity_family(["w8-e50"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        robustscope.errors.UnknownNameError: ...
    """
    family = _family()
    if names is None:
        return list(family)
    known = {m.name: m for m in family}
    for name in names:
        if name not in known:
            raise UnknownNameError("capacity family member", name, suggest(name, known), list(known))
    return [m for m in family if m.name in set(names)]


def family_split(world: str) -> str:
    """The split the family trains on in ``world``: the clean recipe's (``train-diverse``), else ``train``.

    Example:
        >>> family_split("demo"), family_split("tiny")
        ('train-diverse', 'train-diverse')
    """
    from robustscope.synth.spec import load_spec
    from robustscope.train.recipes import get_recipe

    splits = load_spec(world).split_names()
    for split in (get_recipe("clean").split, _FALLBACK_SPLIT):
        if split in splits:
            return split
    raise SpecError(f"world {world} has neither {get_recipe('clean').split!r} nor {_FALLBACK_SPLIT!r} to train the "
                    f"capacity family on; its splits: {', '.join(splits)}")


def train_capacity_member(
    member: CapacityMember,
    world: str = "demo",
    *,
    models_dir: str | Path,
    renders: str | Path,
    content_index: str | Path | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> Path:
    """Train (or reuse) one family member on ``world``'s :func:`family_split`; return its ``file:`` folder.

    The trainer settings are the clean recipe's with the member's epochs and width; the folder
    ``<models_dir>/<world>-cap-<member>[-seedS]-<hash>`` hashes the member, the settings, the seed, the training
    set's fingerprint and the training code (:func:`~robustscope.train.recipes.training_code_digest`).

    Example:
        >>> from robustscope.config import workspace
        >>> ws = workspace()
        >>> train_capacity_member(CapacityMember("w8-e1", 8, 1), "tiny", models_dir=ws.models,
        ...                       renders=ws.renders)  # doctest: +SKIP
    """
    from robustscope.data.content_index import ContentIndex
    from robustscope.data.registry import load_dataset
    from robustscope.synth.spec import load_spec
    from robustscope.train.recipes import get_recipe, training_code_digest
    from robustscope.train.trainer import train_classifier

    spec = load_spec(world)
    split = family_split(world)
    data = load_dataset(f"synth:{world}:{split}", root=renders, workers=workers, progress=progress)
    training = {**get_recipe("clean").training, "epochs": int(member.epochs), "image_size": spec.resolution}
    world_name = Path(str(world)).stem if str(world).endswith((".yaml", ".yml")) else str(world)
    display = f"{world_name}-cap-{member.name}" + (f"-seed{seed}" if seed else "")
    fingerprint = data.fingerprint(ContentIndex(content_index) if content_index else None)
    key = json.dumps({"family": "capacity", "recipe": "clean", "split": split, "training": training,
                      "arch": member.arch_kwargs, "seed": seed, "data": fingerprint, "code": training_code_digest()},
                     sort_keys=True)
    out = Path(models_dir) / f"{display}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (out / "config.json").is_file():
        return out
    return train_classifier(data, out, arch_kwargs=member.arch_kwargs, seed=seed, name=display,
                            progress=progress, **training)
