"""``timm:NAME``: any timm classifier, with timm's own preprocessing config and ImageNet labels."""

from __future__ import annotations

from typing import Any

from torch import nn

from robustscope.errors import UnknownNameError
from robustscope.models.base import Model
from robustscope.models.head_paths import head_path_of
from robustscope.models.hub import hf_offline_mode, hub_offline, import_hub_package, weights_unavailable
from robustscope.models.labels import IMAGENET_1K, generic_labels, imagenet_classes, unique_labels
from robustscope.models.preprocessing import _PIL_INTERPOLATION, Preprocessing
from robustscope.registry import suggest


def check_timm_name(name: str) -> None:
    """Raise :class:`UnknownNameError` with near misses when timm knows no model ``name``.

    ``name`` is an architecture (``resnet18``) or an architecture with a pretrained tag
    (``resnet18.a1_in1k``).

    Example:
        >>> check_timm_name("resnet18")
        >>> try:
        ...     check_timm_name("resnet18x")
        ... except UnknownNameError as err:
        ...     "resnet18" in err.suggestions
        True
    """
    timm = import_hub_package("timm", "timm")
    architecture, _, tag = name.partition(".")
    if not timm.is_model(architecture):
        raise UnknownNameError("timm model", name, suggest(architecture, timm.list_models()))
    if tag:
        tagged = timm.list_pretrained(f"{architecture}.*")
        if name not in tagged:
            raise UnknownNameError("timm pretrained tag", name, suggest(name, tagged, cutoff=0.4), tagged)


def timm_preprocessing(network: nn.Module) -> tuple[Preprocessing, dict[str, Any]]:
    """Preprocessing from timm's ``resolve_data_config`` of a created model, plus the raw config.

    Example:
        >>> import timm
        >>> pre, cfg = timm_preprocessing(timm.create_model("resnet18", pretrained=False))
        >>> pre.input_size, pre.crop_pct == cfg["crop_pct"]
        (224, True)
    """
    from timm.data import resolve_data_config

    config = resolve_data_config({}, model=network)
    interpolation = config.get("interpolation") or "bicubic"
    if interpolation not in _PIL_INTERPOLATION:  # timm's 'random' is a training-time choice
        interpolation = "bicubic"
    preprocessing = Preprocessing(
        input_size=int(config["input_size"][-1]),
        crop_pct=min(1.0, float(config.get("crop_pct") or 1.0)),
        interpolation=interpolation,
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
    )
    return preprocessing, dict(config)


def timm_labels(network: nn.Module) -> tuple[list[str], str]:
    """Class names and label-space tag for a timm model's head.

    A 1000-way ImageNet head gets robustscope's shared ImageNet-1k names; other ImageNet subsets
    (22k, 12k) get timm's descriptions; any other head gets ``class_i`` names.

    Example:
        >>> import timm
        >>> labels, space = timm_labels(timm.create_model("resnet18", pretrained=False))
        >>> len(labels), space
        (1000, 'imagenet-1k')
    """
    num_classes = int(getattr(network, "num_classes", 0) or 0)
    if num_classes <= 0:
        raise ValueError("the timm model has no classifier head (num_classes=0); robustscope needs logits")
    subset = None
    try:
        from timm.data import ImageNetInfo, infer_imagenet_subset

        subset = infer_imagenet_subset(network)
    except ImportError:  # older timm: fall back on the head size alone
        ImageNetInfo = None
    if num_classes == 1000 and subset in (None, IMAGENET_1K):
        return imagenet_classes(), IMAGENET_1K
    if subset and ImageNetInfo is not None:
        info = ImageNetInfo(subset)
        if info.num_classes() == num_classes:
            return unique_labels([info.index_to_description(i) for i in range(num_classes)]), subset
    return generic_labels(num_classes), "custom"


def load_timm(name: str, *, pretrained: bool = True, **kwargs: Any) -> Model:
    """Load ``timm:NAME`` as a :class:`Model` (weights from the hub cache unless ``pretrained=False``).

    Extra keyword arguments go to ``timm.create_model`` (``num_classes``, ``drop_rate``…).
    Offline, cached weights load and missing ones raise
    :class:`~robustscope.errors.WeightsUnavailableError` at once.

    Example:
        >>> model = load_timm("resnet18", pretrained=False)
        >>> model.label_space, model.preprocessing.crop_pct
        ('imagenet-1k', 0.95)
    """
    timm = import_hub_package("timm", "timm")  # a clear error when the hub extra is not installed
    check_timm_name(name)
    spec = f"timm:{name}"
    offline = pretrained and hub_offline()
    try:
        with hf_offline_mode(offline):
            network = timm.create_model(name, pretrained=pretrained, **kwargs)
    except (OSError, RuntimeError) as err:
        # OSError covers the hub's LocalEntryNotFoundError / connection errors and urllib's URLError
        if not pretrained or (isinstance(err, RuntimeError) and not offline):
            raise
        raise weights_unavailable(spec, _looked_for(name), err) from err
    network.eval()
    preprocessing, data_config = timm_preprocessing(network)
    labels, label_space = timm_labels(network)
    cfg = getattr(network, "pretrained_cfg", {}) or {}
    metadata = {
        "source": "timm",
        "architecture": cfg.get("architecture", name.partition(".")[0]),
        "pretrained": bool(pretrained),
        "pretrained_tag": cfg.get("tag"),
        "hf_hub_id": cfg.get("hf_hub_id"),
        "crop_mode": data_config.get("crop_mode", "center"),
        "head": head_path_of(network),  # the path of get_classifier() (models.features)
    }
    return Model(network, preprocessing, labels, name=spec, label_space=label_space, metadata=metadata)


def _looked_for(name: str) -> str:
    try:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(name)
    except Exception:  # the description is best effort; the load error itself is what matters
        cfg = None
    if cfg is not None and cfg.hf_hub_id:
        filename = cfg.hf_hub_filename or "model.safetensors or pytorch_model.bin"
        return f"Hugging Face repo {cfg.hf_hub_id!r} ({filename})"
    if cfg is not None and cfg.url:
        return f"{cfg.url} (torch hub cache)"
    return f"pretrained weights of timm model {name!r}"
