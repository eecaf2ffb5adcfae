"""ImageNet-C spatter (water drops or mud), batched in torch (see robustscope.shifts.corruptions.base).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019: one of the four extra (held-out) corruptions, registered in the ``weather``
family. Its own module because shading the water drops takes a small morphology kit (erosion, box blur,
emboss) that no other corruption uses. Parameters are the published ones (``imagecorruptions`` 1.1.2,
224 px); smoothing sigmas scale with ``spatial_scale(images) = min(H, W) / 224``.

=======  ==========================================================================================
spatter  (mean, std, sigma, threshold, intensity / mud sigma, mud?) =
         (0.65, 0.3, 4, 0.69, 0.6, water), (0.65, 0.3, 3, 0.68, 0.6, water), (0.65, 0.3, 2, 0.68, 0.5, water),
         (0.65, 0.3, 1, 0.65, 1.5, mud), (0.67, 0.4, 1, 0.65, 1.5, mud)
=======  ==========================================================================================
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustscope.shifts.base import to_channels
from robustscope.shifts.corruptions.base import per_sample, register_corruption, spatial_scale
from robustscope.shifts.corruptions.digital import gaussian_filter

__all__ = ["spatter"]


def _erode3(mask: torch.Tensor) -> torch.Tensor:
    """Binary 3×3 erosion of a bool ``[B,1,H,W]`` mask (outside the image counts as inside), separably."""
    rows = mask.clone()
    rows[..., 1:, :] &= mask[..., :-1, :]
    rows[..., :-1, :] &= mask[..., 1:, :]
    out = rows.clone()
    out[..., :, 1:] &= rows[..., :, :-1]
    out[..., :, :-1] &= rows[..., :, 1:]
    return out


def _box3(x: torch.Tensor) -> torch.Tensor:
    """3×3 mean with reflect padding (``avg_pool2d``), as separable slice sums (one-channel pooling is slow)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    rows = padded[..., 0:h, :] + padded[..., 1 : h + 1, :] + padded[..., 2 : h + 2, :]
    return (rows[..., 0:w] + rows[..., 1 : w + 1] + rows[..., 2 : w + 2]) / 9


#: The reference's emboss kernel (cross-correlation taps, row-major), zeros left out.
_EMBOSS = ((0, 0, -2.0), (0, 1, -1.0), (1, 0, -1.0), (1, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, 2, 2.0))


def _emboss(x: torch.Tensor) -> torch.Tensor:
    """3×3 emboss (``conv2d`` with reflect padding) as a sum of shifted slices."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    out = torch.zeros_like(x)
    for dy, dx, weight in _EMBOSS:
        out.add_(padded[..., dy : dy + h, dx : dx + w], alpha=weight)
    return out


@register_corruption("spatter", "weather", random=True, summary="water drops (1-3) or mud (4-5)")
def spatter(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Water or mud spatter (ImageNet-C extra corruption; Hendrycks & Dietterich, ICLR 2019).

    Per sample, a liquid layer ``N(mean, std)`` is gaussian-smoothed (``sigma``) and thresholded.
    Severities 1–3 (water): drops are shaded by a distance-to-drop-edge relief (embossed), scaled
    to peak ``intensity`` and added in pale turquoise (175, 238, 238). Severities 4–5 (mud): the
    drop mask is smoothed (sigma 1.5), kept where ≥ 0.8, and replaces the image with mud brown
    (63, 42, 20). Smoothing sigmas scale with ``spatial_scale``; the smoothed noise is re-normalised
    to the reference's variance so the thresholds select the same fraction of pixels at any size.

    Difference from the reference (water): it shades drops with OpenCV's Canny edges, L2 distance
    transform and histogram equalisation; we use a chessboard distance (iterated erosion, capped at
    20 px like the reference's truncation) and a linear ramp, then the same emboss and box blurs.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey; colours in luma).
    Random: noise per sample generator.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((1, 3, 32, 32), 0.5)
        >>> spatter(x, 4, generators_for(["a"], "spatter", 4, 0)).shape
        torch.Size([1, 3, 32, 32])
    """
    mean, std, sigma, threshold, intensity, mud = (
        (0.65, 0.3, 4, 0.69, 0.6, False),
        (0.65, 0.3, 3, 0.68, 0.6, False),
        (0.65, 0.3, 2, 0.68, 0.5, False),
        (0.65, 0.3, 1, 0.65, 1.5, True),
        (0.67, 0.4, 1, 0.65, 1.5, True),
    )[severity - 1]
    h, w = images.shape[-2:]
    scale = spatial_scale(images)
    device = images.device
    noise = per_sample(generators, (1, h, w), draw="randn", device=device)
    smoothed = gaussian_filter(noise, sigma * scale)
    # Std of smoothed unit white noise = L2 norm of the kernel; match the 224-px reference's std.
    smoothed = smoothed * (_kernel_norm(sigma) / _kernel_norm(sigma * scale))
    liquid = smoothed * std + mean
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mud:
        mask = gaussian_filter((liquid > threshold).to(images.dtype), intensity * scale)
        mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask)
        colour = to_channels(torch.tensor([63, 42, 20], device=device, dtype=images.dtype).view(1, 3, 1, 1) / 255,
                             images.shape[1])
        return torch.addcmul(images, colour - images, mask).clamp_(0, 1)  # x·(1 − m) + colour·m
    liquid = (liquid * 255).clamp(0, 255).floor()  # the reference casts the layer to uint8
    reach = max(1, round(20 * scale))
    # Chessboard distance to the nearest dry pixel, capped at ``reach``: count the 3×3 erosions survived.
    eroded = liquid > 0
    distance = torch.zeros(eroded.shape, dtype=torch.int32, device=device)
    for _ in range(reach):
        distance += eroded
        eroded = _erode3(eroded)
        if not bool(eroded.any()):
            break
    relief = _box3(distance.to(images.dtype) * (255 / reach))
    relief = _emboss(relief).clamp(0, 255).floor()
    relief = _box3(relief)
    shade = liquid * relief
    shade = shade / shade.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-6) * intensity
    colour = to_channels(torch.tensor([175, 238, 238], device=device, dtype=images.dtype).view(1, 3, 1, 1) / 255,
                         images.shape[1])
    return torch.addcmul(images, shade, colour).clamp_(0, 1)


def _kernel_norm(sigma: float, truncate: float = 4.0) -> float:
    """L2 norm of the 2-D truncated gaussian kernel (the std of white noise after :func:`gaussian_filter`)."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    return float((kernel**2).sum())  # separable: 2-D norm = (1-D norm)^2 = sum of squares
