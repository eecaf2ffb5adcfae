"""Architectures a local checkpoint may name in its ``config.json``: ``smallcnn``, ``timm:NAME``, ``tv:NAME``."""

from __future__ import annotations

from typing import Any

from torch import nn

from robustscope.errors import UnknownNameError
from robustscope.models.smallcnn import SmallCNN
from robustscope.registry import suggest

#: Architectures without a scheme prefix.
BUILTIN_ARCHS = ("smallcnn",)


def build_network(arch: str, num_classes: int, **arch_kwargs: Any) -> nn.Module:
    """Build an untrained network of architecture ``arch`` with ``num_classes`` logits.

    ``arch`` is ``smallcnn`` (:class:`~robustscope.models.smallcnn.SmallCNN`), ``timm:NAME``
    (``timm.create_model(NAME, pretrained=False)``) or ``tv:NAME``
    (``torchvision.models.get_model(NAME, weights=None)``); ``arch_kwargs`` go to its constructor.

    Example:
        >>> build_network("smallcnn", 4, width=8).head.out_features
        4
    """
    arch_kwargs = dict(arch_kwargs)
    arch_kwargs.setdefault("num_classes", num_classes)
    if arch == "smallcnn":
        return SmallCNN(**arch_kwargs)
    if arch.startswith("timm:"):
        import timm

        from robustscope.models.timm_adapter import check_timm_name

        name = arch.removeprefix("timm:")
        check_timm_name(name)
        return timm.create_model(name, pretrained=False, **arch_kwargs)
    if arch.startswith("tv:"):
        import torchvision.models as tvm

        from robustscope.models.torchvision_adapter import classification_models

        name = arch.removeprefix("tv:")
        known = classification_models()
        if name not in known:
            raise UnknownNameError("torchvision model", name, suggest(name, known))
        return tvm.get_model(name, weights=None, **arch_kwargs)
    raise UnknownNameError(
        "architecture", arch, suggest(arch, [*BUILTIN_ARCHS, "timm:", "tv:"]), [*BUILTIN_ARCHS, "timm:NAME", "tv:NAME"]
    )
