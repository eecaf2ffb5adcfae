"""The ImageNet-W watermark overlay (translucent white "捷径捷径捷径" across each image).

Reference:
    Li, Evtimov, Gordo, Hazirbas, Hassner, Canton Ferrer, Xu, Ibrahim. "A Whac-A-Mole Dilemma:
    Shortcuts Come in Multiples Where Mitigating One Amplifies Others." CVPR 2023 (ImageNet-W).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robustscope.errors import MissingDependencyError
from robustscope.shifts.base import Shift, to_channels
from robustscope.shifts.params import Param

WATERMARK_TEXT = "捷径捷径捷径"
#: Font sizes of the reference implementation (``imagenet_w.AddWatermark``) for its known image
#: sizes; other sizes use its linear rule ``int(size / 6.22)``.
_FONT_SIZES = {224: 36, 384: 62, 512: 82, 518: 84}
FONT_HINT = (
    "the watermark needs a CJK font: `pip install imagenet-w` (ships the paper's SourceHanSerifSC-ExtraLight.otf), "
    "or `apt-get install fonts-noto-cjk`, or pass font_path=... / set ROBUSTSCOPE_CJK_FONT=/path/to/font"
)


class MissingFontError(MissingDependencyError, RuntimeError):
    """No CJK font was found for the watermark text (a missing dependency; a ``RuntimeError`` as before)."""


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


def _choose_font(font_path: str | Path | None) -> tuple[Path, bool]:
    """The font file to draw with, and whether it was chosen (not the CJK font :func:`find_cjk_font` finds).

    A bare file name that is no file here but names the font found (as older watermark labels do) is that font.
    """
    if font_path is None:
        return find_cjk_font(), False
    path = Path(font_path)
    if path.is_file():
        return path, True
    if path.name == str(path) and find_cjk_font().name == path.name:
        return find_cjk_font(), False
    raise MissingFontError(f"watermark font {str(path)!r} is not a file; {FONT_HINT}")


class Watermark(Shift):
    """The ImageNet-W watermark (Li et al., CVPR 2023): translucent white "捷径捷径捷径" across the image.

    Drawn on the [0,1] batch the Runner passes (after resize/crop, before normalisation): the text
    mask ``m`` (PIL's anti-aliased glyph coverage in [0,1], font size 36 at 224 px scaling with
    ``min(H, W)``, origin at ``(0.01·W, 0.4·H)``) is rendered once per image size and cached, and
    blended as ``out = (1 - opacity·m)·img + opacity·m·colour``. Where ``m = 1``, with the paper's
    opacity 0.5 and white, ``out = 0.5·img + 0.5`` exactly. The reference code
    (``imagenet_w.AddWatermark``) composites uint8 PIL images with alpha 128/255; outputs agree to a
    few grey levels (see tests).

    Shapes: ``[B,C,H,W]`` in [0,1] → same, C = 3 or 1 (grey: the text colour in luma, white stays 1);
    same for every sample (no randomness).

    Example:
        >>> import torch
        >>> out = Watermark()(torch.zeros(1, 3, 224, 224), ["a"])  # doctest: +SKIP
        >>> round(out.max().item(), 3)  # doctest: +SKIP
        0.5
    """

    name = "watermark"
    version = "1"
    PARAMS = (
        Param("opacity", "number", default=0.5, range=(0, 1)),
        Param("x", "number", default=0.01, range=(0, 1), arg="x_pos"),
        Param("y", "number", default=0.4, range=(0, 1), arg="y_pos"),
        Param("text", default=WATERMARK_TEXT),
        Param("colour", "rgb", default=(1.0, 1.0, 1.0), aliases=("color",)),
        Param("font", default=None, arg="font_path"),  # None: the CJK font find_cjk_font finds
    )
    EXAMPLE = "watermark:opacity=0.5"

    def __init__(
        self,
        text: str = WATERMARK_TEXT,
        opacity: float = 0.5,
        colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
        x_pos: float = 0.01,
        y_pos: float = 0.4,
        font_path: str | Path | None = None,
    ):
        for param, value in zip(self.PARAMS, (opacity, x_pos, y_pos, text, tuple(colour)), strict=False):
            param.check(value)  # also refuses NaN
        self.text = text
        self.opacity = float(opacity)
        self.colour = tuple(float(c) for c in colour)
        self.x_pos, self.y_pos = float(x_pos), float(y_pos)
        self.font_path, self._font_given = _choose_font(font_path)
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

    def spec_values(self) -> dict[str, Any]:
        # The font is written only when it was chosen: the default is whatever CJK font this machine has.
        return {**super().spec_values(), "font": str(self.font_path) if self._font_given else None}

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
        return images * (1 - alpha) + alpha * to_channels(colour, images.shape[1])


def watermark_shift(argument: str = "") -> Watermark:
    """The watermark from the part of a spec after ``watermark:`` (kept for older callers).

    Example:
        >>> watermark_shift().spec()  # doctest: +SKIP
        'watermark'
    """
    return Watermark.from_spec(f"watermark:{argument}")


__all__ = [
    "FONT_HINT",
    "WATERMARK_TEXT",
    "MissingFontError",
    "Watermark",
    "find_cjk_font",
    "watermark_font_size",
    "watermark_shift",
]
