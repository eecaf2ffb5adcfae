"""ImageNet-C weather corruptions, batched in torch (see robustscope.shifts.corruptions.base).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Parameter tables are the published ones (``imagecorruptions`` 1.1.2, 224 px);
pixel-sized lengths scale with ``spatial_scale(images) = min(H, W) / 224``.

=======  ==========================================================================================
fog      (strength, wibble decay) = (1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)
frost    (image weight, frost weight) = (1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)
snow     (mean, std, zoom, threshold, blur radius, blur sigma, image weight) =
         (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
         (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)
=======  ==========================================================================================

The fourth weather corruption, spatter (an ImageNet-C extra), is in :mod:`robustscope.shifts.corruptions.spatter`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from robustscope.shifts.base import to_channels
from robustscope.shifts.corruptions.base import per_sample, register_corruption, spatial_scale

__all__ = ["fog", "frost", "motion_blur_layer", "plasma_fractal", "snow"]

_GREY = (0.299, 0.587, 0.114)


# ----------------------------------------------------------------------------------------------- helpers


def plasma_fractal(generator: torch.Generator, mapsize: int = 256, wibbledecay: float = 3.0) -> torch.Tensor:
    """Diamond-square height map ``[mapsize, mapsize]`` in [0,1], drawn from ``generator`` (CPU).

    The ImageNet-C recipe: each new point is the mean of its four neighbours plus
    ``wibble · U(−wibble, wibble)``, with ``wibble`` starting at 100 and divided by ``wibbledecay``
    per octave (``mapsize`` must be a power of two; the map wraps around).

    Example:
        >>> m = plasma_fractal(torch.Generator().manual_seed(0), 32, 2.0)
        >>> m.shape, float(m.min()), float(m.max())
        (torch.Size([32, 32]), 0.0, 1.0)
    """
    assert mapsize & (mapsize - 1) == 0, "mapsize must be a power of two"
    heights = torch.zeros(mapsize, mapsize, dtype=torch.float64)
    step, wibble = mapsize, 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        noise = (torch.rand(total.shape, generator=generator, dtype=torch.float64) * 2 - 1) * wibble
        return total / 4 + wibble * noise

    while step >= 2:
        half = step // 2
        corners = heights[0::step, 0::step]
        square = corners + corners.roll(-1, 0)
        square = square + square.roll(-1, 1)
        heights[half::step, half::step] = wibbled_mean(square)
        centres = heights[half::step, half::step]
        corners = heights[0::step, 0::step]
        left = centres + centres.roll(1, 0) + corners + corners.roll(-1, 1)
        heights[0::step, half::step] = wibbled_mean(left)
        top = centres + centres.roll(1, 1) + corners + corners.roll(-1, 0)
        heights[half::step, 0::step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    heights -= heights.min()
    return (heights / heights.max()).float()


def motion_blur_layer(layer: torch.Tensor, radius: int, sigma: float, angles: torch.Tensor) -> torch.Tensor:
    """One-sided gaussian motion blur of ``[B,1,H,W]`` along per-sample ``angles`` (degrees), as ImageNet-C's
    ``_motion_blur``: ``2·radius + 1`` edge-replicated shifts weighted by a half gaussian of ``sigma``.

    Example:
        >>> x = torch.zeros(1, 1, 9, 9); x[0, 0, 4, 4] = 1
        >>> y = motion_blur_layer(x, 2, 1.0, torch.tensor([0.0]))
        >>> round(float(y.sum()), 4), int((y[0, 0, 4] > 0).sum())
        (1.0, 5)
    """
    b, _, h, w = layer.shape
    width = 2 * radius + 1
    kernel = torch.exp(-(torch.arange(width, dtype=torch.float64) ** 2) / (2 * sigma**2))
    kernel = (kernel / kernel.sum()).tolist()
    radians = torch.deg2rad(angles.double().cpu())
    sin, cos = torch.sin(radians), torch.cos(radians)
    if layer.device.type == "cpu":
        return _motion_blur_slices(layer, kernel, sin, cos)
    rows = torch.arange(h, device=layer.device).view(1, h, 1)
    cols = torch.arange(w, device=layer.device).view(1, 1, w)
    flat = layer.reshape(b, h * w)
    out = torch.zeros_like(flat)
    alive = torch.ones(b, dtype=torch.bool)
    for i in range(width):
        dy = -torch.ceil(i * sin - 0.5).long()
        dx = -torch.ceil(i * cos - 0.5).long()
        # The reference stops adding shifts once one leaves the image; the kernel is not renormalised.
        alive &= (dy.abs() < h) & (dx.abs() < w)
        src_r = (rows - dy.to(layer.device).view(b, 1, 1)).clamp(0, h - 1)
        src_c = (cols - dx.to(layer.device).view(b, 1, 1)).clamp(0, w - 1)
        shifted = torch.gather(flat, 1, (src_r * w + src_c).reshape(b, h * w))
        out = out + kernel[i] * alive.to(layer.device, layer.dtype).view(b, 1) * shifted
    return out.view(b, 1, h, w)


def _motion_blur_slices(layer: torch.Tensor, kernel: list[float], sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """CPU path of :func:`motion_blur_layer`: each sample's shifts are slices of an edge-padded copy
    (the same clamped sources as the gather path, without building per-shift index tensors)."""
    b, _, h, w = layer.shape
    pad = len(kernel)
    padded = F.pad(layer, (pad, pad, pad, pad), mode="replicate")
    out = torch.zeros_like(layer)
    for n in range(b):
        for i, weight in enumerate(kernel):
            dy = -math.ceil(i * float(sin[n]) - 0.5)
            dx = -math.ceil(i * float(cos[n]) - 0.5)
            if abs(dy) >= h or abs(dx) >= w:
                break  # the reference stops adding shifts once one leaves the image
            top, left = pad - dy, pad - dx
            out[n].add_(padded[n, :, top : top + h, left : left + w], alpha=weight)
    return out


def _greyscale(images: torch.Tensor) -> torch.Tensor:
    if images.shape[1] == 1:  # already grey
        return images
    weights = torch.tensor(_GREY, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


# ----------------------------------------------------------------------------------------------- corruptions


@register_corruption("fog", "weather", random=True, summary="plasma-fractal haze")
def fog(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Add a diamond-square plasma fractal (ImageNet-C fog; Hendrycks & Dietterich, ICLR 2019).

    ``x + s·plasma`` rescaled by ``max(x) / (max(x) + s)``, with (strength ``s``, wibble decay) =
    (1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4). The fractal is drawn per sample at the next
    power of two above the longest side and cropped, so its structure scales with the image.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey; colours in luma).
    Random: one fractal per sample generator.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((2, 3, 32, 32), 0.5)
        >>> fog(x, 1, generators_for(["a", "b"], "fog", 1, 0)).shape
        torch.Size([2, 3, 32, 32])
    """
    strength, decay = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    h, w = images.shape[-2:]
    mapsize = 1 << (max(h, w) - 1).bit_length()
    maps = torch.stack([plasma_fractal(g, mapsize, decay)[:h, :w] for g in generators]).unsqueeze(1)
    max_val = images.amax(dim=(1, 2, 3), keepdim=True)
    out = (images + strength * maps.to(images.device)) * max_val / (max_val + strength)
    return out.clamp(0, 1)


#: Frost patterns per texture bank (per image side); each sample crops, flips and tints one of them.
_FROST_BANK = 8
#: The five frost photographs the reference draws from (``imagecorruptions`` 1.1.2 picks ``randint(5)`` of its six
#: files, rescaled ×1.1): mean RGB and mean within-crop std (grey) of 40 random 224-px crops of each. Their
#: crop means vary with sd ≈ 0.03 around these, and their radial power spectra fall as P(k) ∝ k^-2.0-2.3
#: (least-squares fits over k = 1…111 cycles per crop; :data:`FROST_SPECTRAL_SLOPE`).
FROST_PROFILES: tuple[tuple[tuple[float, float, float], float], ...] = (
    ((0.312, 0.586, 0.649), 0.060),
    ((0.773, 0.790, 0.826), 0.076),
    ((0.777, 0.794, 0.830), 0.075),
    ((0.567, 0.625, 0.675), 0.102),
    ((0.386, 0.431, 0.477), 0.135),
)
FROST_SPECTRAL_SLOPE = 2.0
FROST_LEVEL_JITTER = 0.06  # ± uniform: sd 0.035, the photographs' crop-to-crop spread of the mean
_frost_banks: dict[int, torch.Tensor] = {}


def _frost_patterns(side: int) -> torch.Tensor:
    """``[K, L, L]`` zero-mean frost patterns (``L = 1.5·side``), generated once per side from a fixed seed.

    Each pattern is a Gaussian random field with the reference photographs' power spectrum,
    ``P(k) ∝ k^-2`` in cycles per image side (:data:`FROST_SPECTRAL_SLOPE`), scaled so a side × side
    crop has unit std (each sample then scales it to its photograph profile's std). A spectrum in
    cycles per *side* keeps the pattern's look relative to the image at any resolution (the reference
    crops its photographs at their native pixel scale, which at 32 px would leave only the finest
    grain). Like the reference's
    six photographs, the bank is fixed; every sample takes a random crop of one of them.
    """
    bank = _frost_banks.get(side)
    if bank is not None:
        return bank
    k, canvas = _FROST_BANK, side + side // 2
    generator = torch.Generator().manual_seed(0x70057 + side)
    fy = torch.fft.fftfreq(canvas).view(-1, 1) * side  # cycles per image side
    fx = torch.fft.rfftfreq(canvas).view(1, -1) * side
    radius = torch.sqrt(fy**2 + fx**2).clamp(min=0.5)
    amplitude = radius.pow(-FROST_SPECTRAL_SLOPE / 2.0)
    amplitude[0, 0] = 0.0
    noise = torch.randn(k, canvas, canvas, generator=generator)
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * amplitude, s=(canvas, canvas))
    # Scale by the mean std of side × side crops (what an image sees), not of the whole canvas.
    windows = field.unfold(1, side, max(1, side // 4)).unfold(2, side, max(1, side // 4))
    crop_std = windows.reshape(k, -1, side * side).std(-1).mean(1).view(k, 1, 1)
    bank = (field / crop_std.clamp(min=1e-6)).contiguous()
    if len(_frost_banks) >= 4:
        _frost_banks.clear()
    _frost_banks[side] = bank
    return bank


def _frost_textures(generators: list[torch.Generator], h: int, w: int) -> torch.Tensor:
    """``[B,3,h,w]`` frost textures in [0,1]: per sample, one of the reference's five photograph profiles
    (:data:`FROST_PROFILES`: colour and within-crop std), a random crop of a random pattern and flips,
    all drawn from the sample's generator."""
    bank = _frost_patterns(max(h, w))
    k, canvas = bank.shape[0], bank.shape[-1]
    crops, colours, stds = [], [], []
    for g in generators:
        u = torch.rand(7, generator=g).tolist()
        index = min(int(u[0] * k), k - 1)
        top = min(int(u[1] * (canvas - h + 1)), canvas - h)
        left = min(int(u[2] * (canvas - w + 1)), canvas - w)
        crop = bank[index, top : top + h, left : left + w]
        flips = [axis for axis, bit in ((0, u[3]), (1, u[4])) if bit < 0.5]
        crops.append(crop.flip(flips) if flips else crop)
        colour, std = FROST_PROFILES[min(int(u[5] * len(FROST_PROFILES)), len(FROST_PROFILES) - 1)]
        shift = FROST_LEVEL_JITTER * (2.0 * u[6] - 1.0)
        colours.append([c + shift for c in colour])
        stds.append(std)
    base = torch.tensor(colours).view(-1, 3, 1, 1)
    return (base + torch.tensor(stds).view(-1, 1, 1, 1) * torch.stack(crops).unsqueeze(1)).clamp(0, 1)


@register_corruption("frost", "weather", random=True, summary="procedural frost texture blend")
def frost(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Blend with a frost texture, ``a·x + b·frost`` (ImageNet-C frost, published weights).

    (a, b) = (1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75).

    Difference from the reference: ImageNet-C crops photographs of frosted glass shipped with the
    package; we do not redistribute them, so we use a fixed bank of 8 procedural patterns with the
    photographs' second-order statistics (Gaussian random fields with their fitted power spectrum
    ``P(k) ∝ k^-2``; see :func:`_frost_patterns`), 1.5× the image side, generated once per side from
    a fixed seed and cached. Each sample takes a random crop of a random pattern, randomly flipped,
    and the colour and contrast of one of the five photographs the reference draws from
    (:data:`FROST_PROFILES`, each with probability 1/5 as there), its level jittered by ±0.06. The
    blend weights are exact, so the image term, the colour shift and the texture's contrast and
    spectrum match the reference in distribution; the crystals' sharp edges (phase structure) do not.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey; colours in luma).
    Random: pattern, crop, flips and level per sample generator.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((1, 3, 32, 32), 0.5)
        >>> bool(frost(x, 5, generators_for(["a"], "frost", 5, 0)).mean() > 0.5)
        True
    """
    weight, frost_weight = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))[severity - 1]
    h, w = images.shape[-2:]
    # On grey images the tinted texture is seen in luma, as the model's preprocessing sees colours.
    textures = to_channels(_frost_textures(generators, h, w), images.shape[1]).to(images.device, images.dtype)
    # In place on the fresh texture tensor: full-batch temporaries dominate at these sizes.
    return textures.mul_(frost_weight).add_(images, alpha=weight).clamp_(0, 1)


@register_corruption("snow", "weather", random=True, summary="motion-blurred snow flakes")
def snow(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Falling snow (ImageNet-C snow; Hendrycks & Dietterich, ICLR 2019).

    Per sample: gaussian noise (mean, std) is zoomed by ``zoom`` (bilinear, centre crop), values
    below ``threshold`` dropped, then motion-blurred along an angle in U(−135°, −45°) with a
    one-sided gaussian line kernel (radius, sigma) — the reference's ``_motion_blur`` (the older
    Wand/ImageMagick ``motion_blur`` is replaced by this, as in ``imagecorruptions``). The image is
    whitened, ``w·x + (1 − w)·max(x, 1.5·grey + 0.5)``, and the layer plus its 180° rotation added.
    Zoom, blur radius and sigma scale with ``spatial_scale`` so flakes keep their relative size.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey; colours in luma).
    Random: noise and angle per sample generator.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((2, 3, 32, 32), 0.3)
        >>> bool(snow(x, 3, generators_for(["a", "b"], "snow", 3, 0)).mean() > 0.3)
        True
    """
    mean, std, zoom, threshold, radius, sigma, weight = (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    )[severity - 1]
    b, _, h, w = images.shape
    scale = spatial_scale(images)
    zoom = zoom * scale
    # The reference zooms the centre ceil(side / zoom) crop of full-size i.i.d. noise; drawing that crop
    # directly is the same distribution. scipy's zoom maps corner pixels to corner pixels.
    small_h, small_w = math.ceil(h / zoom), math.ceil(w / zoom)
    noise = per_sample(generators, (1, small_h, small_w), draw="randn") * std + mean
    angles = torch.stack([torch.rand(1, generator=g) for g in generators]).view(b) * 90.0 - 135.0
    out_h, out_w = max(h, round(small_h * zoom)), max(w, round(small_w * zoom))
    layer = F.interpolate(noise, size=(out_h, out_w), mode="bilinear", align_corners=True)[..., :h, :w]
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer).clamp(0, 1)
    layer = motion_blur_layer(layer, max(1, round(radius * scale)), max(sigma * scale, 0.5), angles)
    layer = (layer * 255).round() / 255  # the reference rounds the layer to 8 bits
    layer = layer.to(images.device, images.dtype)
    whitened = torch.maximum(images, _greyscale(images) * 1.5 + 0.5).mul_(1 - weight).add_(images, alpha=weight)
    return whitened.add_(layer + layer.flip(-1, -2)).clamp_(0, 1)
