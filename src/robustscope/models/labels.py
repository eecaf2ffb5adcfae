"""Label sets shipped with robustscope: ImageNet-1k class names and WordNet ids, and the 80 CLIP prompt templates."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

#: Tag of the ImageNet-1k label space (1000 classes in the standard index order).
IMAGENET_1K = "imagenet-1k"


def _read_lines(filename: str) -> list[str]:
    text = resources.files("robustscope.models").joinpath("data", filename).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=1)
def _imagenet_classes() -> tuple[str, ...]:
    return tuple(_read_lines("imagenet_classes.txt"))


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (torchvision's unique short names).

    Every ImageNet-1k adapter (timm, torchvision, CLIP) uses this one list, so logit ``i`` means
    the same class whichever library the model came from.

    Example:
        >>> names = imagenet_classes()
        >>> len(names), names[0], names[207]
        (1000, 'tench', 'golden retriever')
    """
    return list(_imagenet_classes())


@lru_cache(maxsize=1)
def _imagenet_wnids() -> tuple[str, ...]:
    return tuple(_read_lines("imagenet_wnids.txt"))


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in index order (``n01440764`` is class 0, tench).

    The folder names of the ImageNet train/val release; sorted order is the class index order.

    Example:
        >>> wnids = imagenet_wnids()
        >>> len(wnids), wnids[0], wnids == sorted(wnids)
        (1000, 'n01440764', True)
    """
    return list(_imagenet_wnids())


def label_aliases(label_space: str, num_classes: int) -> dict[str, int]:
    """Other names a label space knows its classes by: for ImageNet-1k, the WordNet ids.

    So a dataset in the ImageNet release layout (``val/n01440764/…``) matches an ImageNet model
    whose labels are class names.

    Example:
        >>> label_aliases("imagenet-1k", 1000)["n01443537"]
        1
        >>> label_aliases("custom", 3)
        {}
    """
    if label_space == IMAGENET_1K and num_classes == 1000:
        return {wnid: i for i, wnid in enumerate(_imagenet_wnids())}
    return {}


def imagenet_templates() -> list[str]:
    """The 80 prompt templates of CLIP's ImageNet zero-shot evaluation, each with one ``{}``.

    Example:
        >>> templates = imagenet_templates()
        >>> len(templates), templates[0].format("dog")
        (80, 'a bad photo of a dog.')
    """
    return list(_read_lines("imagenet_templates.txt"))


def generic_labels(num_classes: int) -> list[str]:
    """Placeholder names ``class_0 … class_{n-1}`` for heads whose classes are unknown.

    Example:
        >>> generic_labels(3)
        ['class_0', 'class_1', 'class_2']
    """
    return [f"class_{i}" for i in range(num_classes)]


def unique_labels(names: list[str]) -> list[str]:
    """Make names unique by suffixing repeats with their index (``crane``, ``crane (#517)``).

    Example:
        >>> unique_labels(["crane", "dog", "crane"])
        ['crane', 'dog', 'crane (#2)']
    """
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        out.append(name if name not in seen else f"{name} (#{i})")
        seen.add(name)
    return out
