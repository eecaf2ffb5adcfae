"""Where a network's final linear head is: dotted paths by library convention, checked (no ``Model`` needed).

Kept apart from :mod:`robustscope.models.features` so that :class:`~robustscope.models.base.Model` and the
adapters can record and check head paths without importing the feature split (which imports them).
"""

from __future__ import annotations

import contextlib

from torch import nn

from robustscope.errors import FeatureSplitError
from robustscope.models.smallcnn import SmallCNN

__all__ = ["check_head_path", "head_path_of", "submodule"]

_TORCHVISION_HEADS = ("fc", "heads.head", "head", "classifier")


def head_path_of(network: nn.Module) -> str | None:
    """The dotted path of a network's final ``nn.Linear``, as its library names it; ``None`` when unknown.

    SmallCNN: ``head``; timm: the path of ``get_classifier()``; torchvision: ``fc`` (ResNet family),
    ``classifier.N`` (the last of VGG's, ConvNeXt's, EfficientNet's, MobileNet's ``classifier``),
    ``heads.head`` (ViT), ``head`` (Swin). Adapters record it in ``model.metadata["head"]`` when loading.

    Example:
        >>> import torchvision
        >>> head_path_of(torchvision.models.vgg11(weights=None)), head_path_of(SmallCNN(3, width=4))
        ('classifier.6', 'head')
    """
    if isinstance(network, SmallCNN):
        return "head"
    get_classifier = getattr(network, "get_classifier", None)
    if callable(get_classifier):  # timm
        with contextlib.suppress(Exception):
            classifier = get_classifier()
            for name, module in network.named_modules():
                if module is classifier and name and isinstance(module, nn.Linear):
                    return name
        cfg = getattr(network, "pretrained_cfg", None) or getattr(network, "default_cfg", None) or {}
        path = cfg.get("classifier") if isinstance(cfg, dict) else None
        return path if isinstance(path, str) and isinstance(submodule(network, path), nn.Linear) else None
    for name in _TORCHVISION_HEADS:
        module = submodule(network, name)
        if isinstance(module, nn.Linear):
            return name
        if isinstance(module, nn.Sequential) and len(module) and isinstance(module[-1], nn.Linear):
            return f"{name}.{len(module) - 1}"
    return None


def check_head_path(network: nn.Module, path: str, num_classes: int) -> nn.Linear:
    """The ``nn.Linear`` at dotted ``path`` in ``network``; :class:`FeatureSplitError` unless it has
    ``num_classes`` outputs.

    Example:
        >>> check_head_path(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), "1", 2).in_features
        4
    """
    module = submodule(network, path) if path else None
    if not isinstance(module, nn.Linear) or module.out_features != num_classes:
        found = "nothing" if module is None else type(module).__name__
        if isinstance(module, nn.Linear):
            found += f" with {module.out_features} outputs"
        raise FeatureSplitError(
            f"head={path!r} names {found} in the {type(network).__name__} network, not its final nn.Linear with "
            f"{num_classes} outputs (one per label); name the dotted path of the last layer, e.g. head='fc'"
        )
    return module


def submodule(network: nn.Module, path: str) -> nn.Module | None:
    """The submodule at dotted ``path``, or ``None``.

    Example:
        >>> submodule(nn.Sequential(nn.Linear(2, 2)), "0").out_features, submodule(nn.Linear(2, 2), "x")
        (2, None)
    """
    try:
        return network.get_submodule(path)
    except AttributeError:
        return None
