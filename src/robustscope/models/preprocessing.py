"""How a model wants its pixels: resize, crop, interpolation, mean and std (like timm's ``pretrained_cfg``).

Resize and crop happen on the data side (PIL → ``[C,H,W]`` float tensor in [0,1], ``C`` = 3 for RGB
models and 1 for grayscale ones); mean/std normalisation happens inside
:class:`robustscope.models.Model`, so shifts and attacks work in [0,1] pixel space.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: What a grayscale model gets when it names no mean/std: the average of ImageNet's per-channel values.
#: An assumption (it warns): grey networks are trained with their own statistics (MNIST: 0.1307/0.3081).
GREY_MEAN = (round(sum(IMAGENET_MEAN) / 3, 4),)
GREY_STD = (round(sum(IMAGENET_STD) / 3, 4),)
#: Channel counts a model may declare: RGB, or grey (luma, ITU-R 601-2 as PIL's "L").
CHANNELS = (1, 3)

_PIL_INTERPOLATION = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
}

_DEFAULTS: dict[str, Any] = {"input_size": 224, "crop_pct": 0.875, "interpolation": "bicubic"}
#: Defaulted values that change which pixels the network sees: assuming them warns. ImageNet mean/std
#: and bicubic resampling are the convention of nearly every pretrained RGB network, so assuming those
#: alone is only recorded (in ``assumed`` and ``describe()``), except for grey models, whose mean/std is
#: invented (:data:`GREY_MEAN`).
_WARN_WHEN_ASSUMED = ("input_size", "crop_pct")


@dataclass(frozen=True, init=False)
class Preprocessing:
    """Input pipeline of one model.

    Attributes:
        input_size: side of the square input the network sees (after crop). Default 224.
        crop_pct: the shorter side is first resized to ``floor(input_size / crop_pct)``, then a
            centre crop of ``input_size`` is taken (timm's convention; 1.0 means resize only). Default 0.875.
        interpolation: ``nearest``, ``bilinear``, ``bicubic`` (default), ``lanczos`` or ``box``.
        mean, std: per-channel normalisation applied inside the model (one value per channel).
            Default: ImageNet's (RGB) or :data:`GREY_MEAN`/:data:`GREY_STD` (grey).
        channels: 3 (RGB) or 1: a grayscale model; images are converted once, before resizing, to
            luma ``L = R·299/1000 + G·587/1000 + B·114/1000`` (ITU-R 601-2, PIL's ``"L"``) and stay
            one-channel through every shift and attack.
        assumed: the names of the values that were not given and took their defaults. Leaving
            ``input_size`` or ``crop_pct`` (or a grey model's mean/std) to its default warns, naming
            the values assumed; :meth:`describe` and ``Model.describe()`` show them.

    Example:
        >>> pre = Preprocessing(input_size=32, crop_pct=1.0)
        >>> from PIL import Image
        >>> pre.to_tensor(Image.new("RGB", (64, 48))).shape
        torch.Size([3, 32, 32])
        >>> pre.assumed
        ('interpolation', 'mean', 'std')
        >>> Preprocessing(32, 1.0, channels=1, mean=(0.5,), std=(0.5,)).to_tensor(Image.new("RGB", (8, 8))).shape
        torch.Size([1, 32, 32])
    """

    input_size: int
    crop_pct: float
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int
    assumed: tuple[str, ...] = field(compare=False, repr=False, init=False)

    def __init__(
        self,
        input_size: int | None = None,
        crop_pct: float | None = None,
        interpolation: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        channels: int = 3,
    ):
        given = {"input_size": input_size, "crop_pct": crop_pct, "interpolation": interpolation, "mean": mean,
                 "std": std}
        assumed = tuple(name for name, value in given.items() if value is None)
        if channels not in CHANNELS:
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        grey = channels == 1
        values = {
            **_DEFAULTS,
            "mean": GREY_MEAN if grey else IMAGENET_MEAN,
            "std": GREY_STD if grey else IMAGENET_STD,
            **{name: value for name, value in given.items() if value is not None},
        }
        if values["interpolation"] not in _PIL_INTERPOLATION:
            raise ValueError(
                f"interpolation must be one of {sorted(_PIL_INTERPOLATION)}, got {values['interpolation']!r}"
            )
        if not 0 < float(values["crop_pct"]) <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {values['crop_pct']}")
        if int(values["input_size"]) < 1:
            raise ValueError(f"input_size must be >= 1, got {values['input_size']}")
        mean_values = tuple(float(m) for m in values["mean"])
        std_values = tuple(float(s) for s in values["std"])
        if len(mean_values) != channels or len(std_values) != channels:
            raise ValueError(
                f"mean and std need one value per channel ({channels}), got mean={mean_values} std={std_values}"
            )
        for name, value in (
            ("input_size", int(values["input_size"])),
            ("crop_pct", float(values["crop_pct"])),
            ("interpolation", values["interpolation"]),
            ("mean", mean_values),
            ("std", std_values),
            ("channels", channels),
            ("assumed", assumed),
        ):
            object.__setattr__(self, name, value)
        warn_about = [n for n in assumed if n in _WARN_WHEN_ASSUMED or (grey and n in ("mean", "std"))]
        if warn_about:
            warnings.warn(self._assumption_message(), UserWarning, stacklevel=_caller_stacklevel())

    def _assumption_message(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.assumed)
        return (
            f"preprocessing not fully given, assumed {shown} (effective transform: {self.describe()}); "
            "pass them explicitly, e.g. Preprocessing(input_size=..., crop_pct=1.0, mean=..., std=...) "
            "as Model.from_module(..., preprocessing=...) or under 'preprocessing' in a checkpoint's config.json"
        )

    @property
    def resize_size(self) -> int:
        return math.floor(self.input_size / self.crop_pct)

    @property
    def mode(self) -> str:
        """The PIL mode images are converted to: ``"RGB"`` or ``"L"`` (grey)."""
        return "L" if self.channels == 1 else "RGB"

    def resize_and_crop(self, image: Image.Image) -> Image.Image:
        """Convert to :attr:`mode`, resize the shorter side to :attr:`resize_size`, centre-crop :attr:`input_size`."""
        image = image.convert(self.mode)
        width, height = image.size
        scale = self.resize_size / min(width, height)
        new_size = (max(self.input_size, round(width * scale)), max(self.input_size, round(height * scale)))
        if new_size != image.size:
            image = image.resize(new_size, _PIL_INTERPOLATION[self.interpolation])
        left = (new_size[0] - self.input_size) // 2
        top = (new_size[1] - self.input_size) // 2
        return image.crop((left, top, left + self.input_size, top + self.input_size))

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL image → float tensor ``[channels, input_size, input_size]`` in [0, 1] (not normalised)."""
        array = torch.frombuffer(bytearray(self.resize_and_crop(image).tobytes()), dtype=torch.uint8)
        return array.view(self.input_size, self.input_size, self.channels).permute(2, 0, 1).float().div_(255.0)

    def describe(self) -> str:
        """The effective transform in words, naming any assumed (defaulted) value.

        Example:
            >>> pre = Preprocessing(input_size=28, crop_pct=1.0, mean=(0.5,), std=(0.5,), channels=1)
            >>> for step in pre.describe().split("; "):
            ...     print(step)
            luma L = 0.299·R + 0.587·G + 0.114·B (PIL 'L')
            resize shorter side to 28 (bicubic)
            centre-crop 28×28
            normalise mean=(0.5,) std=(0.5,)
            assumed: interpolation
        """
        colour = "luma L = 0.299·R + 0.587·G + 0.114·B (PIL 'L')" if self.channels == 1 else "RGB"
        parts = [
            colour,
            f"resize shorter side to {self.resize_size} ({self.interpolation})",
            f"centre-crop {self.input_size}×{self.input_size}",
            f"normalise mean={self.mean} std={self.std}",
        ]
        if self.assumed:
            parts.append("assumed: " + ", ".join(self.assumed))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON-able values (part of the model fingerprint).

        ``channels`` is written only for grey models, so RGB models keep the keys they always had.

        Example:
            >>> Preprocessing(32, 1.0, channels=1, mean=(0.5,), std=(0.5,)).to_dict()["channels"]
            1
        """
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("assumed", "channels")}
        if self.channels != 3:
            data["channels"] = self.channels
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; missing keys take their defaults (and count as assumed).

        Example:
            >>> pre = Preprocessing(32, 1.0, "bilinear", (0.5,) * 3, (0.5,) * 3)
            >>> Preprocessing.from_dict(pre.to_dict()) == pre
            True
        """
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside robustscope (the user's call)."""
    frame = sys._getframe(2)  # the caller of the function that warns
    level = 2
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith("robustscope"):
        frame = frame.f_back
        level += 1
    return level
