"""Overlay shifts, by their older module name: the ImageNet-W watermark (:mod:`robustscope.shifts.watermark`)
and mask-based background replacement (:mod:`robustscope.shifts.background`).

Example:
    >>> from robustscope.shifts.overlays import BackgroundSwap
    >>> BackgroundSwap(background="solid").spec()
    'background_swap:solid:colour=0.5,0.5,0.5'
"""

from __future__ import annotations

from robustscope.shifts.background import (
    BackgroundSwap,
    DatasetMasks,
    background_swap_shift,
    swap_background,
)
from robustscope.shifts.watermark import (
    FONT_HINT,
    WATERMARK_TEXT,
    MissingFontError,
    Watermark,
    find_cjk_font,
    watermark_font_size,
    watermark_shift,
)

__all__ = [
    "FONT_HINT",
    "WATERMARK_TEXT",
    "BackgroundSwap",
    "DatasetMasks",
    "MissingFontError",
    "Watermark",
    "background_swap_shift",
    "find_cjk_font",
    "swap_background",
    "watermark_font_size",
    "watermark_shift",
]
