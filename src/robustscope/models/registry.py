"""``load_model(spec)``: one entry point for every model source, keyed by the spec's scheme."""

from __future__ import annotations

from typing import Any

from robustscope.models.base import Model
from robustscope.registry import Registry, split_scheme

#: Model sources by scheme; targets are imported only when used (timm, open_clip stay unimported).
MODEL_SCHEMES: Registry[Model] = Registry("model")
MODEL_SCHEMES.add(
    "timm",
    "robustscope.models.timm_adapter:load_timm",
    summary="timm classifier with timm's preprocessing config (options: pretrained=False, num_classes=…)",
    example="timm:convnext_tiny.fb_in1k",
)
MODEL_SCHEMES.add(
    "tv",
    "robustscope.models.torchvision_adapter:load_torchvision",
    summary="torchvision classifier with its weights' transforms and categories (options: weights=…)",
    example="tv:resnet50",
)
MODEL_SCHEMES.add(
    "clip",
    "robustscope.models.clip_adapter:load_clip",
    summary="open_clip zero-shot classifier over CLIP's 80 ImageNet prompts (options: labels=[…])",
    example="clip:ViT-B-32/openai",
)
MODEL_SCHEMES.add(
    "file",
    "robustscope.models.file_adapter:load_file",
    summary="local safetensors / weights-only .pt + config.json, or TorchScript",
    example="file:.robustscope/models/smallcnn-demo",
)


def load_model(spec: str, **options: Any) -> Model:
    """Load the model named by ``spec`` (``scheme:rest``) as a :class:`Model` over [0,1] pixels.

    Schemes: ``timm:NAME``, ``tv:NAME``, ``clip:ARCH/PRETRAINED``, ``file:PATH``
    (see ``MODEL_SCHEMES``); ``options`` go to the scheme's loader. Unknown schemes and names raise
    :class:`~robustscope.errors.UnknownNameError` with near misses; hub weights that are not cached
    while offline raise :class:`~robustscope.errors.WeightsUnavailableError`.

    Example:
        >>> model = load_model("timm:resnet18", pretrained=False)
        >>> model.name, model.num_classes
        ('timm:resnet18', 1000)
    """
    scheme, rest = split_scheme(spec, "model", MODEL_SCHEMES.keys())
    if scheme == "file" and not options.get("config"):
        from robustscope.models.mitigated import load_mitigated, mitigated_config

        saved = mitigated_config(rest)
        if saved is not None:  # a base model's features under a new head (robustscope.mitigate)
            return load_mitigated(rest, saved, load_base=load_model)
    return MODEL_SCHEMES.get(scheme)(rest, **options)
