"""``tv:NAME``: torchvision classifiers, with the preprocessing and categories of their weights."""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import urlparse

from robustscope.errors import UnknownNameError
from robustscope.models.base import Model
from robustscope.models.head_paths import head_path_of
from robustscope.models.hub import offline_requested, reachable, weights_unavailable
from robustscope.models.labels import IMAGENET_1K, imagenet_classes, unique_labels
from robustscope.models.preprocessing import _PIL_INTERPOLATION, Preprocessing
from robustscope.registry import suggest


def classification_models() -> list[str]:
    """Names of torchvision's image classification models (``resnet50``, ``vit_b_16``, …).

    Example:
        >>> "resnet18" in classification_models()
        True
    """
    import torchvision.models as tvm

    return list(tvm.list_models(module=tvm))


def resolve_weights(name: str, weights: str = "DEFAULT") -> Any:
    """The ``WeightsEnum`` member ``weights`` of model ``name`` (no download).

    Example:
        >>> resolve_weights("resnet18").name
        'IMAGENET1K_V1'
    """
    import torchvision.models as tvm

    known = classification_models()
    if name not in known:
        raise UnknownNameError("torchvision model", name, suggest(name, known))
    enum = tvm.get_model_weights(name)
    if weights == "DEFAULT":
        return enum.DEFAULT
    members = [member.name for member in enum]
    if weights not in members:
        raise UnknownNameError(f"torchvision weights of {name}", weights, suggest(weights, members), members)
    return enum[weights]


def crop_pct_for(crop_size: int, resize_size: int) -> float:
    """The ``crop_pct`` whose ``floor(crop_size / crop_pct)`` is exactly ``resize_size``.

    ``224 / 232`` rounds to a float that gives 231.999…, so nudge it down until the floor is exact.

    Example:
        >>> crop_pct_for(224, 256)
        0.875
        >>> import math
        >>> math.floor(224 / crop_pct_for(224, 232))
        232
    """
    pct = min(1.0, crop_size / resize_size)
    for _ in range(8):
        if math.floor(crop_size / pct) >= resize_size:
            break
        pct = math.nextafter(pct, 0.0)
    return pct


def weights_preprocessing(weights: Any) -> Preprocessing:
    """Preprocessing read from a torchvision weights entry's ``transforms()`` (no download).

    Example:
        >>> pre = weights_preprocessing(resolve_weights("resnet50"))
        >>> pre.input_size, pre.resize_size, pre.interpolation
        (224, 232, 'bilinear')
    """
    transform = weights.transforms()
    crop = int(_first(transform.crop_size))
    resize = int(_first(transform.resize_size))
    interpolation = getattr(transform.interpolation, "value", str(transform.interpolation))
    if interpolation not in _PIL_INTERPOLATION:
        interpolation = "bilinear"
    return Preprocessing(
        input_size=crop,
        crop_pct=crop_pct_for(crop, resize),
        interpolation=interpolation,
        mean=tuple(transform.mean),
        std=tuple(transform.std),
    )


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


def load_torchvision(name: str, *, weights: str = "DEFAULT", pretrained: bool = True, **kwargs: Any) -> Model:
    """Load ``tv:NAME`` as a :class:`Model` with the weights' preprocessing and categories.

    ``pretrained=False`` builds the architecture with random weights but keeps the preprocessing and
    labels of ``weights``. Offline, weights not in the torch hub cache raise
    :class:`~robustscope.errors.WeightsUnavailableError` at once.

    Example:
        >>> model = load_torchvision("resnet18", pretrained=False)
        >>> model.num_classes, model.preprocessing.resize_size
        (1000, 256)
    """
    import torch.hub
    import torchvision.models as tvm

    entry = resolve_weights(name, weights)
    spec = f"tv:{name}"
    preprocessing = weights_preprocessing(entry)
    categories = list(entry.meta.get("categories") or [])
    network = tvm.get_model(name, weights=None, **kwargs)
    if pretrained:
        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(entry.url).path))
        host = urlparse(entry.url).hostname or "download.pytorch.org"
        if not os.path.exists(cached) and (offline_requested() or not reachable(host)):
            raise weights_unavailable(spec, f"{entry.url} (as {cached})")
        try:
            state = entry.get_state_dict(progress=False, check_hash=True)
        except OSError as err:  # URLError, connection resets, a read-only cache
            raise weights_unavailable(spec, f"{entry.url} (as {cached})", err) from err
        network.load_state_dict(state)
    network.eval()
    if categories == imagenet_classes():
        labels, label_space = categories, IMAGENET_1K
    else:
        labels, label_space = unique_labels(categories), "custom"
    metadata = {
        "source": "torchvision",
        "architecture": name,
        "weights": f"{type(entry).__name__}.{entry.name}",
        "pretrained": bool(pretrained),
        "url": entry.url,
        "head": head_path_of(network),  # the final nn.Linear: fc, classifier.N, heads.head (models.features)
    }
    return Model(network, preprocessing, labels, name=spec, label_space=label_space, metadata=metadata)
