"""``clip:ARCH/PRETRAINED``: an open_clip model as a zero-shot classifier (CLIP's 80 ImageNet prompts).

Each class is embedded as the normalised mean of its normalised prompt embeddings (one prompt per
template); logits are ``logit_scale * normalise(image_embedding) @ class_embeddingsᵀ``, as in the
CLIP paper's ImageNet evaluation. Only the image tower is kept once the head is built.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from robustscope.errors import UnknownNameError
from robustscope.models.base import Model
from robustscope.models.hub import hf_offline_mode, hub_offline, import_hub_package, weights_unavailable
from robustscope.models.labels import IMAGENET_1K, imagenet_classes, imagenet_templates
from robustscope.models.preprocessing import _PIL_INTERPOLATION, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, Preprocessing
from robustscope.registry import suggest


class ZeroShotClassifier(nn.Module):
    """Image encoder + fixed text-derived class embeddings → cosine-similarity logits.

    Args:
        image_encoder: maps normalised images ``[B,3,S,S]`` to embeddings ``[B,D]`` (or a tuple
            whose first item is that, as CoCa's tower returns).
        class_embeddings: ``[K, D]`` unit-norm class embeddings.
        logit_scale: temperature multiplier (CLIP's learned ``exp(logit_scale)``, ~100).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> head = ZeroShotClassifier(nn.Flatten(), torch.eye(3, 12), logit_scale=100.0)
        >>> head(torch.rand(2, 3, 2, 2)).shape
        torch.Size([2, 3])
    """

    def __init__(self, image_encoder: nn.Module, class_embeddings: torch.Tensor, logit_scale: float):
        super().__init__()
        self.image_encoder = image_encoder
        # buffers, not parameters: saved with the weights (so in the fingerprint) but never trained
        self.register_buffer("class_embeddings", class_embeddings.detach().float().clone())
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.image_encoder(images)
        if isinstance(features, (tuple, list)):
            features = features[0]
        features = F.normalize(features.float(), dim=-1)
        return self.logit_scale * features @ self.class_embeddings.t()


@torch.no_grad()
def build_zero_shot_weights(
    encode_text: Callable[[torch.Tensor], torch.Tensor],
    tokenize: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    templates: Sequence[str],
    batch_size: int = 640,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Class embeddings ``[K, D]``: per class, the normalised mean of its normalised prompt embeddings.

    Prompts are ``template.format(classname)``; several classes share one text-encoder batch of at
    most ``batch_size`` prompts.

    Example:
        >>> import torch
        >>> table = {}
        >>> def tokenize(texts):  # one id per distinct prompt
        ...     return torch.tensor([[table.setdefault(t, len(table))] for t in texts])
        >>> def encode_text(tokens):
        ...     return torch.nn.functional.one_hot(tokens[:, 0] % 4, 4).float()
        >>> build_zero_shot_weights(encode_text, tokenize, ["cat", "dog"], ["a {}.", "the {}."]).shape
        torch.Size([2, 4])
    """
    if not templates:
        raise ValueError("at least one prompt template is needed")
    per_batch = max(1, batch_size // len(templates))
    chunks = []
    for start in range(0, len(classnames), per_batch):
        names = classnames[start : start + per_batch]
        prompts = [template.format(name) for name in names for template in templates]
        embeddings = F.normalize(encode_text(tokenize(prompts).to(device)).float(), dim=-1)
        embeddings = embeddings.view(len(names), len(templates), -1).mean(dim=1)
        chunks.append(F.normalize(embeddings, dim=-1).cpu())
    return torch.cat(chunks)


def split_clip_name(name: str) -> tuple[str, str | None]:
    """``"ViT-B-32/openai"`` → ``("ViT-B-32", "openai")``; ``"ViT-B-32"`` → ``("ViT-B-32", None)``.

    Example:
        >>> split_clip_name("ViT-B-32/laion2b_s34b_b79k")
        ('ViT-B-32', 'laion2b_s34b_b79k')
    """
    if name.startswith("hf-hub:"):  # the repo path holds slashes and its own weights
        return name, None
    arch, _, tag = name.partition("/")
    return arch, tag or None


def check_clip_name(arch: str, tag: str | None) -> None:
    """Raise :class:`UnknownNameError` with near misses for an unknown open_clip arch or tag.

    Example:
        >>> check_clip_name("ViT-B-32", "openai")
        >>> try:
        ...     check_clip_name("ViT-B-23", "openai")
        ... except UnknownNameError as err:
        ...     "ViT-B-32" in err.suggestions
        True
    """
    open_clip = import_hub_package("open_clip", "clip")
    if arch.startswith("hf-hub:"):
        return
    archs = open_clip.list_models()
    if arch not in archs:
        raise UnknownNameError("open_clip model", arch, suggest(arch, archs))
    if tag is not None:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        if tag not in tags:
            raise UnknownNameError(f"open_clip weights of {arch}", tag, suggest(tag, tags, cutoff=0.4), tags)


def clip_preprocessing(model: nn.Module) -> tuple[Preprocessing, dict[str, Any]]:
    """Preprocessing of an open_clip model: its image size, mean/std and interpolation, crop_pct 1.0.

    Example:
        >>> import open_clip
        >>> pre, cfg = clip_preprocessing(open_clip.create_model("RN50", pretrained=None))
        >>> pre.input_size, pre.crop_pct, pre.interpolation
        (224, 1.0, 'bicubic')
    """
    import open_clip

    cfg = dict(open_clip.get_model_preprocess_cfg(model))
    size = cfg.get("size", 224)
    interpolation = cfg.get("interpolation") or "bicubic"
    preprocessing = Preprocessing(
        input_size=int(size[-1] if isinstance(size, (tuple, list)) else size),
        crop_pct=1.0,
        interpolation=interpolation if interpolation in _PIL_INTERPOLATION else "bicubic",
        mean=tuple(cfg.get("mean") or OPENAI_CLIP_MEAN),
        std=tuple(cfg.get("std") or OPENAI_CLIP_STD),
    )
    return preprocessing, cfg


def load_clip(
    name: str,
    *,
    pretrained: bool = True,
    checkpoint: str | Path | None = None,
    labels: Sequence[str] | None = None,
    prompt_names: Sequence[str] | None = None,
    templates: Sequence[str] | None = None,
    device: str = "cpu",
    text_batch_size: int = 640,
    cache_dir: str | Path | bool | None = None,
    **kwargs: Any,
) -> Model:
    """Load ``clip:ARCH/PRETRAINED`` as a zero-shot :class:`Model`.

    Args:
        name: ``ARCH/PRETRAINED`` as open_clip names them (``ViT-B-32/openai``); with
            ``pretrained=False`` the tag may be left out and the towers are random.
        checkpoint: a local open_clip weights file to load instead of the tag's hub weights
            (read with ``weights_only=True``); the tag may then be left out.
        labels: class names (default: the 1000 ImageNet-1k names, label space ``imagenet-1k``).
        prompt_names: the names written into the prompts, one per label (default: the labels,
            or CLIP's curated ImageNet names for the default label set).
        templates: prompt templates with one ``{}`` (default: CLIP's 80 ImageNet templates).
        device: where the text tower runs while the head is built.
        cache_dir: where class embeddings of pretrained weights are kept, so the 80k ImageNet prompts
            are encoded once (default ``$ROBUSTSCOPE_CACHE`` or ``~/.cache/robustscope``, then
            ``zero_shot/``; ``False`` disables the cache).
        kwargs: passed on to ``open_clip.create_model``.

    Example:
        >>> model = load_clip("RN50", pretrained=False, labels=["cat", "dog"], templates=["a {}."])
        >>> model(torch.rand(1, 3, 224, 224)).shape
        torch.Size([1, 2])
    """
    open_clip = import_hub_package("open_clip", "clip")  # a clear error when the hub extra is not installed
    arch, tag = split_clip_name(name)
    check_clip_name(arch, tag)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(f"no open_clip checkpoint at {checkpoint}")
        tag = None
    elif pretrained and tag is None and not arch.startswith("hf-hub:"):
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise UnknownNameError(f"open_clip weights of {arch}", f"{arch}/", [f"{arch}/{t}" for t in tags[:5]], tags)
    spec = f"clip:{name}"
    offline = bool(pretrained) and checkpoint is None and hub_offline()
    source = str(checkpoint) if checkpoint is not None else (tag if pretrained else None)
    try:
        with hf_offline_mode(offline):
            clip = open_clip.create_model(arch, pretrained=source, device=device, **kwargs)
            tokenizer = open_clip.get_tokenizer(arch)
    except (OSError, RuntimeError) as err:
        if not pretrained or checkpoint is not None or (isinstance(err, RuntimeError) and not offline):
            raise
        raise weights_unavailable(spec, _looked_for(arch, tag), err) from err
    clip.eval()
    preprocessing, preprocess_cfg = clip_preprocessing(clip)

    if labels is None:
        label_list, label_space = imagenet_classes(), IMAGENET_1K
        names = list(prompt_names or open_clip.IMAGENET_CLASSNAMES)
    else:
        label_list, label_space = list(labels), "custom"
        names = list(prompt_names or label_list)
    if len(names) != len(label_list):
        raise ValueError(f"prompt_names has {len(names)} entries for {len(label_list)} labels")
    template_list = list(templates) if templates is not None else imagenet_templates()
    cache_file = _cache_file(cache_dir, arch, tag, names, template_list) if pretrained and tag else None
    class_embeddings = _read_cached(cache_file)
    if class_embeddings is None:
        class_embeddings = build_zero_shot_weights(
            clip.encode_text, tokenizer, names, template_list, batch_size=text_batch_size, device=device
        )
        _write_cached(cache_file, class_embeddings)
    logit_scale = float(clip.logit_scale.detach().exp())
    network = ZeroShotClassifier(clip.visual, class_embeddings, logit_scale).cpu().eval()
    metadata = {
        "source": "open_clip",
        "architecture": arch,
        "pretrained_tag": tag if pretrained and checkpoint is None else None,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "num_templates": len(template_list),
        "resize_mode": preprocess_cfg.get("resize_mode", "shortest"),
    }
    return Model(network, preprocessing, label_list, name=spec, label_space=label_space, metadata=metadata)


def _looked_for(arch: str, tag: str | None) -> str:
    try:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(arch, tag or "") or {}
    except Exception:  # the description is best effort; the load error itself is what matters
        cfg = {}
    where = [f"Hugging Face repo {cfg['hf_hub'].rstrip('/')!r}"] if cfg.get("hf_hub") else []
    if cfg.get("url"):
        where.append(cfg["url"])
    return " or ".join(where) or f"open_clip weights {arch}/{tag}"


def _cache_file(
    cache_dir: str | Path | bool | None, arch: str, tag: str, names: Sequence[str], templates: Sequence[str]
) -> Path | None:
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        base = os.environ.get("ROBUSTSCOPE_CACHE") or Path.home() / ".cache" / "robustscope"
        cache_dir = Path(base) / "zero_shot"
    key = hashlib.sha256(json.dumps([arch, tag, list(names), list(templates)]).encode()).hexdigest()[:20]
    return Path(cache_dir) / f"{arch.replace('/', '_')}-{tag}-{key}.safetensors"


def _read_cached(path: Path | None) -> torch.Tensor | None:
    if path is None or not path.is_file():
        return None
    from safetensors.torch import load_file

    try:
        return load_file(str(path))["class_embeddings"]
    except Exception:  # a corrupt cache entry is rebuilt, never fatal
        return None


def _write_cached(path: Path | None, embeddings: torch.Tensor) -> None:
    if path is None:
        return
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_file({"class_embeddings": embeddings.contiguous()}, str(tmp))
        os.replace(tmp, path)  # atomic: concurrent loaders see the old file or the new one
    except OSError:  # a read-only home only costs a rebuild next time
        return
