"""Overlay shifts: the ImageNet-W watermark and mask-based background replacement.

References:
    Li, Evtimov, Gordo, Hazirbas, Hassner, Canton Ferrer, Xu, Ibrahim. "A Whac-A-Mole Dilemma:
    Shortcuts Come in Multiples Where Mitigating One Amplifies Others." CVPR 2023 (ImageNet-W).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustscope.shifts.base import Shift, sample_seed

WATERMARK_TEXT = "捷径捷径捷径"
#: Font sizes of the reference implementation (``imagenet_w.AddWatermark``) for its known image
#: sizes; other sizes use its linear rule ``int(size / 6.22)``.
_FONT_SIZES = {224: 36, 384: 62, 512: 82, 518: 84}
FONT_HINT = (
    "the watermark needs a CJK font: `pip install imagenet-w` (ships the paper's SourceHanSerifSC-ExtraLight.otf), "
    "or `apt-get install fonts-noto-cjk`, or pass font_path=... / set ROBUSTSCOPE_CJK_FONT=/path/to/font"
)


class MissingFontError(RuntimeError):
    """No CJK font was found for the watermark text."""


def watermark_font_size(size: int) -> int:
    """Font size for an image of ``size`` pixels (36 at 224, scaling linearly), as in ImageNet-W.

    Example:
        >>> watermark_font_size(224), watermark_font_size(448)
        (36, 72)
    """
    return _FONT_SIZES.get(size, int(size / 6.22))


def find_cjk_font() -> Path:
    """Locate a font that covers Chinese; the ImageNet-W package's own font first.

    Order: ``$ROBUSTSCOPE_CJK_FONT``; the ``imagenet-w`` package's ``SourceHanSerifSC-ExtraLight.otf``
    (the font of the published benchmark); ``fc-list :lang=zh``. Raises :class:`MissingFontError`
    naming how to get one.
    """
    env = os.environ.get("ROBUSTSCOPE_CJK_FONT")
    if env:
        if not Path(env).is_file():
            raise MissingFontError(f"ROBUSTSCOPE_CJK_FONT={env} is not a file; {FONT_HINT}")
        return Path(env)
    spec = importlib.util.find_spec("imagenet_w")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "fonts" / "SourceHanSerifSC-ExtraLight.otf"
            if candidate.is_file():
                return candidate
    if shutil.which("fc-list"):
        try:
            listing = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listing = ""
        files = sorted(line.split(":")[0].strip() for line in listing.splitlines() if line.strip())
        if files:
            return Path(files[0])
    raise MissingFontError(f"no CJK font found; {FONT_HINT}")


class Watermark(Shift):
    """The ImageNet-W watermark (Li et al., CVPR 2023): translucent white "捷径捷径捷径" across the image.

    Drawn on the [0,1] batch the Runner passes (after resize/crop, before normalisation): the text
    mask ``m`` (PIL's anti-aliased glyph coverage in [0,1], font size 36 at 224 px scaling with
    ``min(H, W)``, origin at ``(0.01·W, 0.4·H)``) is rendered once per image size and cached, and
    blended as ``out = (1 - opacity·m)·img + opacity·m·colour``. Where ``m = 1``, with the paper's
    opacity 0.5 and white, ``out = 0.5·img + 0.5`` exactly. The reference code
    (``imagenet_w.AddWatermark``) composites uint8 PIL images with alpha 128/255; outputs agree to a
    few grey levels (see tests).

    Shapes: ``[B,3,H,W]`` in [0,1] → ``[B,3,H,W]``; same for every sample (no randomness).

    Example:
        >>> import torch
        >>> out = Watermark()(torch.zeros(1, 3, 224, 224), ["a"])  # doctest: +SKIP
        >>> round(out.max().item(), 3)  # doctest: +SKIP
        0.5
    """

    name = "watermark"
    version = "1"

    def __init__(
        self,
        text: str = WATERMARK_TEXT,
        opacity: float = 0.5,
        colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
        x_pos: float = 0.01,
        y_pos: float = 0.4,
        font_path: str | Path | None = None,
    ):
        if not 0.0 <= opacity <= 1.0 or not 0.0 <= x_pos <= 1.0 or not 0.0 <= y_pos <= 1.0:
            raise ValueError("opacity, x_pos and y_pos must lie in [0, 1]")
        self.text = text
        self.opacity = float(opacity)
        self.colour = tuple(float(c) for c in colour)
        self.x_pos, self.y_pos = float(x_pos), float(y_pos)
        self.font_path = Path(font_path) if font_path is not None else find_cjk_font()
        self._masks: dict[tuple[int, int], torch.Tensor] = {}

    def params(self) -> dict[str, Any]:
        # The font file name is part of the key: another font draws other pixels.
        return {
            "text": self.text,
            "opacity": self.opacity,
            "colour": list(self.colour),
            "x": self.x_pos,
            "y": self.y_pos,
            "font": self.font_path.name,
        }

    def spec(self) -> str:
        return self.name if self.params() == Watermark(font_path=self.font_path).params() else super().spec()

    def text_mask(self, height: int, width: int) -> torch.Tensor:
        """The glyph coverage ``[H,W]`` float32 in [0,1], rendered once per size."""
        key = (height, width)
        if key not in self._masks:
            from PIL import Image, ImageDraw, ImageFont

            font = ImageFont.truetype(str(self.font_path), watermark_font_size(min(height, width)))
            canvas = Image.new("L", (width, height), 0)
            ImageDraw.Draw(canvas).text((self.x_pos * width, self.y_pos * height), self.text, fill=255, font=font)
            self._masks[key] = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)
        return self._masks[key]

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        alpha = self.text_mask(images.shape[2], images.shape[3]).to(images.device, images.dtype) * self.opacity
        colour = torch.tensor(self.colour, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
        return images * (1 - alpha) + alpha * colour


def watermark_shift(argument: str = "") -> Watermark:
    """Shift factory for ``watermark`` (the paper's setting) or ``watermark:opacity=0.3``.

    Example:
        >>> watermark_shift().spec()  # doctest: +SKIP
        'watermark'
    """
    kwargs: dict[str, Any] = {}
    for token in argument.replace(",", ":").split(":"):
        if not token.strip():
            continue
        key, _, value = token.partition("=")
        key = key.strip()
        if key in ("opacity", "x", "y"):
            kwargs[{"x": "x_pos", "y": "y_pos"}.get(key, key)] = float(value)
        elif key == "text":
            kwargs["text"] = value
        else:
            raise ValueError(f"watermark: unknown parameter {key!r} (opacity, x, y, text)")
    return Watermark(**kwargs)


# -- background replacement ---------------------------------------------------------------------------
def swap_background(images: torch.Tensor, masks: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    """Composite each object onto a new background: ``m·image + (1 - m)·background``.

    Soft masks (anti-aliased coverage, e.g. the synthetic world's alpha masks) blend object edges.

    Args:
        images: ``[B,3,H,W]`` in [0,1].
        masks: object coverage ``[B,H,W]`` or ``[B,1,H,W]`` in [0,1] (1 = object).
        backgrounds: ``[B,3,H,W]``, ``[3,H,W]`` or a colour ``[3]``, in [0,1].

    Example:
        >>> import torch
        >>> img, mask = torch.ones(1, 3, 2, 2), torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
        >>> swap_background(img, mask, torch.zeros(3))[0, 0].tolist()
        [[1.0, 0.0], [0.0, 0.0]]
    """
    if masks.ndim == 3:
        masks = masks.unsqueeze(1)
    if masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(images.shape)}")
    if backgrounds.ndim == 1:
        backgrounds = backgrounds.view(1, -1, 1, 1)
    masks = masks.to(images.device, images.dtype)
    return masks * images + (1 - masks) * backgrounds.to(images.device, images.dtype)


class DatasetMasks:
    """Loads the synthetic world's object masks (``mask_filename`` column) resized like the images.

    The mask goes through the model's own :class:`~robustscope.models.Preprocessing` (resize and
    crop), so it lines up with the ``[B,3,S,S]`` batch the Runner passes to shifts.

    Example:
        >>> # masks = DatasetMasks(dataset, model.preprocessing)
        >>> # masks(["sample_000001"]).shape   # [B,S,S] in [0,1]
    """

    def __init__(self, dataset: Any, preprocessing: Any, column: str = "mask_filename"):
        if column not in dataset.manifest.columns:
            raise ValueError(f"dataset {dataset.name!r} has no {column!r} column: background swap needs masks")
        self.root = Path(dataset.root)
        ids, files = dataset.manifest["sample_id"].astype(str), dataset.manifest[column].astype(str)
        self.paths = dict(zip(ids, files, strict=True))
        self.preprocessing = preprocessing

    def __call__(self, sample_ids: Sequence[str]) -> torch.Tensor:
        from PIL import Image

        out = []
        for sid in sample_ids:
            with Image.open(self.root / self.paths[str(sid)]) as mask:
                out.append(self.preprocessing.to_tensor(mask.convert("L").convert("RGB"))[0])
        return torch.stack(out)


class BackgroundSwap(Shift):
    """Replace each image's background using its object mask: a solid colour or a seeded noise field.

    Args:
        masks: ``sample_ids -> [B,H,W]`` object coverage in [0,1], at the batch's size
            (e.g. :class:`DatasetMasks`). The masks come from the dataset, whose fingerprint is part
            of every prediction key, so they are not part of :meth:`params`.
        background: ``"noise"`` (uniform noise, per sample from ``sample_seed(id, "background_swap", seed)``)
            or ``"solid"``.
        colour: the solid colour, [0,1] RGB.

    Shapes: ``[B,3,H,W]`` in [0,1] → ``[B,3,H,W]``.

    Example:
        >>> import torch
        >>> masks = lambda ids: torch.zeros(len(ids), 2, 2)  # no object: all background
        >>> BackgroundSwap(masks, "solid", colour=(0.0, 1.0, 0.0))(torch.rand(1, 3, 2, 2), ["a"])[0, 1].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    name = "background_swap"
    version = "1"

    def __init__(
        self,
        masks: Callable[[Sequence[str]], torch.Tensor],
        background: str = "noise",
        colour: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ):
        if background not in ("noise", "solid"):
            raise ValueError(f"background must be 'noise' or 'solid', got {background!r}")
        self.masks = masks
        self.background = background
        self.colour = tuple(float(c) for c in colour)

    def params(self) -> dict[str, Any]:
        return {"background": self.background, **({"colour": list(self.colour)} if self.background == "solid" else {})}

    def backgrounds(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        """The replacement backgrounds ``[B,3,H,W]``, deterministic per sample."""
        if self.background == "solid":
            colour = torch.tensor(self.colour, dtype=images.dtype, device=images.device)
            return colour.view(1, 3, 1, 1).expand_as(images)
        fields = []
        for sid in sample_ids:
            gen = torch.Generator().manual_seed(sample_seed(str(sid), "background_swap", seed))
            fields.append(torch.rand(images.shape[1:], generator=gen))
        return torch.stack(fields).to(images.device, images.dtype)

    def apply(self, images: torch.Tensor, sample_ids: Sequence[str], seed: int) -> torch.Tensor:
        masks = self.masks(sample_ids)
        return swap_background(images, masks, self.backgrounds(images, sample_ids, seed))


__all__ = [
    "FONT_HINT",
    "WATERMARK_TEXT",
    "BackgroundSwap",
    "DatasetMasks",
    "MissingFontError",
    "Watermark",
    "find_cjk_font",
    "swap_background",
    "watermark_font_size",
    "watermark_shift",
]
