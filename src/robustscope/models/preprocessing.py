"""How a model wants its pixels: resize, crop, interpolation, mean and std (like timm's ``pretrained_cfg``).

Resize and crop happen on the data side (PIL → ``[3,H,W]`` float tensor in [0,1]); mean/std
normalisation happens inside :class:`robustscope.models.Model`, so shifts and attacks work in
[0,1] pixel space.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}


@dataclass(frozen=True)
class Preprocessing:
    """Input pipeline of one model.

    Attributes:
        input_size: side of the square input the network sees (after crop).
        crop_pct: the shorter side is first resized to ``round(input_size / crop_pct)``, then a
            centre crop of ``input_size`` is taken (timm's convention; 1.0 means resize only).
        interpolation: ``nearest``, ``bilinear``, ``bicubic``, ``lanczos`` or ``box``.
        mean, std: per-channel normalisation applied inside the model.

    Example:
        >>> pre = Preprocessing(input_size=32, crop_pct=1.0)
        >>> from PIL import Image
        >>> pre.to_tensor(Image.new("RGB", (64, 48))).shape
        torch.Size([3, 32, 32])
    """

    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in _PIL_INTERPOLATION:
            raise ValueError(f"interpolation must be one of {sorted(_PIL_INTERPOLATION)}, got {self.interpolation!r}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))

    @property
    def resize_size(self) -> int:
        return math.floor(self.input_size / self.crop_pct)

    def resize_and_crop(self, image: Image.Image) -> Image.Image:
        """Resize the shorter side to :attr:`resize_size` and centre-crop :attr:`input_size`."""
        image = image.convert("RGB")
        width, height = image.size
        scale = self.resize_size / min(width, height)
        new_size = (max(self.input_size, round(width * scale)), max(self.input_size, round(height * scale)))
        if new_size != image.size:
            image = image.resize(new_size, _PIL_INTERPOLATION[self.interpolation])
        left = (new_size[0] - self.input_size) // 2
        top = (new_size[1] - self.input_size) // 2
        return image.crop((left, top, left + self.input_size, top + self.input_size))

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL image → float tensor ``[3, input_size, input_size]`` in [0, 1] (not normalised)."""
        array = torch.frombuffer(bytearray(self.resize_and_crop(image).tobytes()), dtype=torch.uint8)
        return array.view(self.input_size, self.input_size, 3).permute(2, 0, 1).float().div_(255.0)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
