"""The 19 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) as batched torch functions.

``corrupt(images, name, severity, seed, sample_ids)`` on ``[B,3,H,W]`` tensors in [0,1], on any
device; deterministic per (sample id, corruption, severity, seed). As a Runner shift:
``corruption:NAME:SEVERITY``.

Grey images (``[B,1,H,W]``, for models with ``Preprocessing(channels=1)``) stay grey, and every
corruption is defined on them:

- noise (gaussian, shot, impulse, speckle) is drawn per grey pixel, as in MNIST-C (Mu & Gilmer 2019),
  with the same per-value parameters;
- blurs, pixelate, elastic, zoom, contrast, brightness, fog, snow and JPEG act on the one channel
  exactly as on each channel of an RGB image whose three channels are that grey (brightness in HSV
  on grey is ``min(v + c, 1)``; JPEG encodes a one-channel image, which has no chroma);
- colours are drawn in luma ``0.299·R + 0.587·G + 0.114·B`` (frost's tint, spatter's water and
  mud), see :func:`robustscope.shifts.base.to_channels`;
- saturate is the identity: a grey pixel has no saturation to scale. (On an RGB grey pixel the
  severities 4–5 shift add saturation with hue 0, a red tint, which a grey sensor cannot show.)
"""

from __future__ import annotations

# Importing the families registers their corruptions.
from robustscope.shifts.corruptions import blur, digital, noise, spatter, weather  # noqa: F401
from robustscope.shifts.corruptions.base import (
    CORRUPTIONS,
    SEVERITIES,
    Corruption,
    CorruptionInfo,
    corrupt,
    register_corruption,
)

#: The 15 corruptions of the ImageNet-C benchmark (mCE), in the published order.
COMMON_CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: The 4 held-out extra corruptions.
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "spatter", "saturate")


def corruption_shift(argument: str) -> Corruption:
    """The corruption ``NAME:SEVERITY`` (the part of a spec after ``corruption:``); kept for older callers.

    Example:
        >>> corruption_shift("contrast:2").params()
        {'corruption': 'contrast', 'severity': 2}
    """
    return Corruption.from_spec(f"corruption:{argument}")


__all__ = [
    "COMMON_CORRUPTIONS",
    "CORRUPTIONS",
    "EXTRA_CORRUPTIONS",
    "SEVERITIES",
    "Corruption",
    "CorruptionInfo",
    "corrupt",
    "corruption_shift",
    "register_corruption",
]
