"""ImageNet-C blur corruptions, batched in torch (see robustscope.shifts.corruptions.base).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Parameters are the published ones (the ``imagecorruptions`` package,
tuned for 224 px); every pixel-sized parameter is multiplied by ``s = spatial_scale(images)``
(``min(H, W) / 224``), zoom factors are dimensionless and do not scale.

=============  ==========================================================================
corruption     severity 1 .. 5 (at 224 px)
=============  ==========================================================================
gaussian_blur  sigma = 1 2 3 4 6 (skimage ``gaussian``: truncate 4, edge-replicate border)
defocus_blur   disk radius, alias blur = (3, .1) (4, .5) (6, .5) (8, .5) (10, .5)
glass_blur     sigma, max shift, iterations = (.7,1,2) (.9,2,1) (1,2,3) (1.1,3,2) (1.5,4,2)
motion_blur    radius, sigma = (10,3) (15,5) (15,8) (15,12) (20,15); angle ~ U(-45°, 45°)
zoom_blur      zoom factors 1..1.11 step .01, ..1.16 .01, ..1.21 .02, ..1.26 .02, ..1.31 .03
=============  ==========================================================================

Every function takes ``images`` ``[B,C,H,W]`` float in [0,1] on any device (C = 3, or 1 for grey: each
channel is filtered alike), a severity 1–5 and one CPU ``torch.Generator`` per sample, and returns
``[B,C,H,W]`` on the input device. The reference
quantises its output (and, in ``glass_blur``, the intermediate blurred image) to uint8 by
truncation; ours stays float throughout.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from robustscope.shifts.corruptions.base import per_sample, register_corruption, spatial_scale

GAUSSIAN_BLUR = (1.0, 2.0, 3.0, 4.0, 6.0)
DEFOCUS_BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
GLASS_BLUR = ((0.7, 1, 2), (0.9, 2, 1), (1.0, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))
# As the reference's np.arange(1, stop, step): 1 + i·step for i < ceil((stop - 1) / step).
ZOOM_BLUR = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))


def _gaussian_kernel1d(sigma: float, radius: int) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2) if sigma > 0 else (x == 0).double()
    return k / k.sum()


def _filter_matrix(n: int, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """``[n, n]`` matrix applying the 1-D correlation ``kernel`` along an axis of length n, border included
    (``replicate``: clamp; ``reflect``: mirror without repeating the edge, OpenCV's reflect-101)."""
    r = kernel.numel() // 2
    idx = torch.arange(n)[:, None] + torch.arange(-r, r + 1)[None, :]
    if mode == "replicate":
        idx = idx.clamp(0, n - 1)
    else:
        period = 2 * (n - 1) if n > 1 else 1
        idx = idx.remainder(period)
        idx = torch.where(idx >= n, period - idx, idx)
    m = torch.zeros(n, n, dtype=kernel.dtype)
    m.scatter_add_(1, idx, kernel[None].expand(n, -1).contiguous())
    return m


def _separable(images: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """Depthwise 2-D filter with a symmetric 1-D ``kernel`` along H then W; ``mode`` is the border.

    Two dense matmuls with banded ``[n, n]`` matrices beat ``conv2d`` on one-channel planes on CPU and
    handle any border at any kernel size."""
    h, w = images.shape[-2:]
    my = _filter_matrix(h, kernel, mode).to(images.device, images.dtype)
    mx = _filter_matrix(w, kernel, mode).to(images.device, images.dtype)
    return torch.matmul(torch.matmul(my, images), mx.T)


def _skimage_gaussian(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """``skimage.filters.gaussian(x, sigma, channel_axis=-1)``: truncate 4σ, ``nearest`` (edge) border."""
    if sigma <= 0:
        return images
    return _separable(images, _gaussian_kernel1d(sigma, int(4.0 * sigma + 0.5)), "replicate")


@register_corruption("gaussian_blur", "blur", random=False, summary="Gaussian blur")
def gaussian_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Gaussian blur of sigma ``c·s``, ``c`` = 1 2 3 4 6 at 224 px (ImageNet-C, extra set).

    Example:
        >>> x = torch.zeros(1, 3, 64, 64); x[..., 32, 32] = 1.0
        >>> y = gaussian_blur(x, 5, [torch.Generator()])
        >>> round(float(y.sum() / 3), 3), bool(y.max() < 0.1)  # mass preserved, spread out
        (1.0, True)
    """
    return _skimage_gaussian(images, GAUSSIAN_BLUR[severity - 1] * spatial_scale(images)).clamp(0.0, 1.0)


def disk_kernel(radius: float, alias_blur: float, supersample: int = 1) -> torch.Tensor:
    """The reference's anti-aliased disk: a binary disk of ``radius`` normalised to sum 1, then a small
    Gaussian blur (3×3, or 5×5 above radius 8, sigma ``alias_blur``, reflect-101 border as OpenCV).

    ``supersample > 1`` weights each pixel by the fraction of its ``supersample²`` sub-pixels inside
    the disk, so that sub-pixel radii (small images) still grow the kernel continuously.

    Example:
        >>> k = disk_kernel(3, 0.1)
        >>> k.shape, round(float(k.sum()), 4)
        (torch.Size([11, 11]), 1.0)
    """
    # The reference pads the grid to ±8 below radius 8; zeros beyond the blurred disk change nothing,
    # so we pad by 2 (keeping ±8 when the disk touches it, where the reflect border does matter).
    half = max(1, math.ceil(radius)) if radius > 8 else min(8, max(1, math.ceil(radius)) + 2)
    grid = torch.arange(-half, half + 1, dtype=torch.float64)
    sub = (torch.arange(supersample, dtype=torch.float64) + 0.5) / supersample - 0.5
    fine = (grid[:, None] + sub[None, :]).reshape(-1)
    inside = ((fine[:, None] ** 2 + fine[None, :] ** 2) <= radius**2).double()
    n = grid.numel()
    disk = inside.reshape(n, supersample, n, supersample).mean((1, 3)) if supersample > 1 else inside
    disk /= disk.sum()
    ksize = 3 if radius <= 8 else 5
    blurred = _separable(disk[None, None], _gaussian_kernel1d(alias_blur, ksize // 2), "reflect")
    return blurred[0, 0]


@register_corruption("defocus_blur", "blur", random=False, summary="defocus (disk) blur")
def defocus_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Defocus: convolution with an anti-aliased disk of radius ``r·s`` (ImageNet-C), OpenCV's
    ``filter2D`` reflect-101 border. ``(r, alias blur)`` = (3, .1) (4, .5) (6, .5) (8, .5) (10, .5).
    Below 224 px the disk is weighted by pixel coverage (8×8 supersampling) rather than binary.

    Example:
        >>> x = torch.rand(2, 3, 64, 64)
        >>> y = defocus_blur(x, 3, [torch.Generator()] * 2)
        >>> y.shape, bool(y.std() < x.std())
        (torch.Size([2, 3, 64, 64]), True)
    """
    radius, alias = DEFOCUS_BLUR[severity - 1]
    s = spatial_scale(images)
    # Below 224 px a binary disk of radius 3·s is too coarse (at 64 px severity 1 would be the identity):
    # use pixel coverage there; at 224 px and above keep the reference's binary disk.
    kernel = disk_kernel(radius * s, alias, supersample=1 if s >= 1 else 8).to(images.device, images.dtype)
    b, c, h, w = images.shape
    r = kernel.shape[-1] // 2
    mode = "reflect" if r < min(h, w) else "replicate"
    x = F.pad(images.reshape(b * c, h, w), (r, r, r, r), mode=mode)
    return _correlate_fft(x, kernel).reshape(b, c, h, w).clamp(0.0, 1.0)


def _fft_size(n: int) -> int:
    """The smallest 5-smooth integer ≥ n (fast FFT lengths)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _correlate_fft(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``conv2d`` (correlation, 'valid') of padded planes ``[..., H+kh-1, W+kw-1]`` with a ``[..., kh, kw]``
    kernel (broadcast against the planes, e.g. one per sample),
    by FFT: output pixel (i, j) only reads padded pixels up to (i+kh-1, j+kw-1), so a circular correlation
    over any size ≥ the padded size has no wrap-around there (float32: within 1e-6 of direct, CPU
    ~5× faster than ``conv2d`` for the 11–21 px disks)."""
    kh, kw = kernel.shape[-2:]
    hp, wp = x.shape[-2:]
    h, w = hp - kh + 1, wp - kw + 1
    size = (_fft_size(hp), _fft_size(wp))
    xf = torch.fft.rfft2(x, s=size)
    kf = torch.fft.rfft2(kernel.to(x.dtype), s=size)
    return torch.fft.irfft2(xf * kf.conj(), s=size)[..., :h, :w].to(x.dtype)


def _glass_shuffle(images: torch.Tensor, d: int, iterations: int, generators: list[torch.Generator]) -> torch.Tensor:
    """The reference's local pixel shuffle, run for the whole batch at once on a map of source indices.

    The reference "swaps" with ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy pixel *views*: the
    second assignment reads the already-overwritten ``x[h, w]``, so it is a copy, ``x[h, w] = x[h', w']``
    (the neighbour keeps its value; values can repeat). We reproduce that, not an ideal swap.

    Within one raster scan each pixel is written only by its own update, so a pixel p copying from q gets
    q's *new* value if q was scanned before p, and q's value from before the scan otherwise. These
    links point to strictly earlier scan ranks, so they form a forest: following them to the first
    pixel that reads an old value gives the sequential result exactly. We follow them for all pixels at
    once by pointer jumping (a handful of gathers per scan; chains are short).
    """
    b, c, h, w = images.shape
    if h - 2 * d < 1 or w - 2 * d < 1:
        return images
    rows, cols = h - 2 * d, w - 2 * d
    n, hw = rows * cols, h * w
    # Pixels are renumbered so that the scanned ones come first, in scan order ("slots"): slot r < n is
    # the pixel of scan rank r, i.e. (row H-d-i, col W-d-j) with r = i·cols + j; border pixels follow.
    rank = np.arange(n)
    pos = (h - d - rank // cols) * w + (w - d - rank % cols)
    scanned = np.zeros(hw, dtype=bool)
    scanned[pos] = True
    pixel_of = np.concatenate([pos, np.flatnonzero(~scanned)])  # slot -> flat pixel index
    slot_of = np.empty(hw, dtype=np.int64)
    slot_of[pixel_of] = np.arange(hw)
    # Offsets as the reference's randint(-d, d): uniform on the 2d integers -d..d-1, per sample. The index
    # bookkeeping runs in numpy: single-threaded, it does not stall behind a busy CPU as torch's many
    # small parallel ops do.
    u = per_sample(generators, (iterations, n, 2)).numpy()
    itype = np.int32 if b * hw < 2**31 else np.int64  # int32 indices: half the memory traffic
    u = np.minimum((u * np.float32(2 * d)).astype(itype), 2 * d - 1)  # u ≥ 0: truncation is floor
    partner = u[..., 0] * w + u[..., 1] + (pos - (d * w + d)).astype(itype)  # [B, it, n]: pixel + dy·W + dx
    slot_of = slot_of.astype(itype)
    rank = rank.astype(itype)
    # flat indices over the batch: sample k's slots start at k·hw, its scan ranks at k·n
    src = np.arange(b * hw, dtype=itype)  # src[k·hw + slot] = k·hw + slot whose original value is there
    rank_base = (np.arange(b, dtype=itype) * n)[:, None]
    slot_base = (np.arange(b, dtype=itype) * hw)[:, None]
    head = (slot_base + rank).ravel()  # the scanned slots of every sample in src
    for it in range(iterations):
        q = slot_of.take(partner[:, it])  # [B, n]: the slot each scanned pixel copies from
        link = np.where(q < rank, q, rank) + rank_base  # scanned before p (border slots ≥ n): its new value
        while True:
            nxt = link.take(link)
            if np.array_equal(nxt, link):
                break
            link = nxt
        reads = (q + slot_base).take(link)
        src[head] = src.take(reads.ravel())
    src = src.reshape(b, hw) - slot_base  # slot -> slot within each sample
    src_map = torch.from_numpy(np.take(pixel_of.take(src), slot_of, axis=1).astype(np.int64)).to(images.device)
    flat = images.reshape(b, c, hw)
    return flat.gather(2, src_map[:, None, :].expand(b, c, hw)).reshape(b, c, h, w)


@register_corruption("glass_blur", "blur", random=True, summary="frosted-glass blur (blur + local pixel shuffle)")
def glass_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Glass blur (ImageNet-C): Gaussian blur (sigma ``σ·s``), local pixel shuffle, Gaussian blur again.

    The shuffle is the reference's algorithm exactly, in distribution: ``iterations`` raster scans
    (bottom-right to top-left) setting each pixel to the current value of the one at a uniform offset
    in ``[-δ, δ)²`` (``δ = max(1, round(δ₀·s))``; the reference's intended swap is, in effect, this
    copy — see ``_glass_shuffle``). Each scan is resolved for the whole batch by pointer jumping over
    the copy links (see ``_glass_shuffle``), tracking only a map of source pixel indices, and applied
    with one gather.
    ``(σ, δ₀, iterations)`` = (.7,1,2) (.9,2,1) (1,2,3) (1.1,3,2) (1.5,4,2). The reference also
    truncates the first blur to uint8; ours does not.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.rand(2, 3, 32, 32)
        >>> y = glass_blur(x, 3, generators_for(["a", "b"], "glass_blur", 3, 0))
        >>> y2 = glass_blur(x[1:], 3, generators_for(["b"], "glass_blur", 3, 0))
        >>> y.shape, torch.allclose(y[1:], y2)
        (torch.Size([2, 3, 32, 32]), True)
    """
    sigma, delta, iterations = GLASS_BLUR[severity - 1]
    s = spatial_scale(images)
    d = max(1, round(delta * s))
    x = _skimage_gaussian(images, sigma * s)
    x = _glass_shuffle_threaded(x, d, iterations, generators)
    return _skimage_gaussian(x, sigma * s).clamp(0.0, 1.0)


def _glass_shuffle_threaded(
    images: torch.Tensor, d: int, iterations: int, generators: list[torch.Generator]
) -> torch.Tensor:
    """:func:`_glass_shuffle` on slices of the batch in ``torch.get_num_threads()`` threads.

    The index bookkeeping is single-threaded numpy that releases the GIL; samples are independent
    (each has its own generator), so slicing the batch gives identical output, ~1.6× faster on 2 cores.
    """
    b = images.shape[0]
    threads = min(torch.get_num_threads(), b)
    if threads <= 1:
        return _glass_shuffle(images, d, iterations, generators)
    bounds = np.linspace(0, b, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(
            lambda span: _glass_shuffle(images[span[0] : span[1]], d, iterations, generators[span[0] : span[1]]),
            pairwise(bounds.tolist()),
        )
        return torch.cat(list(parts))


def _motion_offsets(width: int, angle_deg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's integer tap offsets: tap i reads (y + ceil(i·sin a − ½), x + ceil(i·cos a − ½))."""
    i = torch.arange(width, dtype=torch.float64)[None]
    a = torch.deg2rad(angle_deg.double())[:, None]
    return torch.ceil(i * torch.sin(a) - 0.5).long(), torch.ceil(i * torch.cos(a) - 0.5).long()


@register_corruption("motion_blur", "blur", random=True, summary="linear motion blur at a random angle")
def motion_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Motion blur (ImageNet-C): a one-sided line of ``2r+1`` taps with half-Gaussian weights
    ``exp(-i²/2σ²)`` (i = 0 … 2r), along a per-sample angle ``a ~ U(-45°, 45°)``, edge-replicate
    border — the reference's Wand-emulating ``_motion_blur``. ``(r, σ)`` = (10,3) (15,5) (15,8)
    (15,12) (20,15) at 224 px; ``r → max(1, round(r·s))``, ``σ → σ·s``.

    The taps form one sparse 2-D kernel per sample, applied to the edge-padded batch by FFT (a few
    batched transforms whatever the angle, rather than ``2r+1`` gathers or per-sample slices, which
    stall on a busy CPU as many small parallel ops).

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.rand(2, 3, 48, 48)
        >>> y = motion_blur(x, 2, generators_for(["a", "b"], "motion_blur", 2, 0))
        >>> y.shape, bool(y.std() < x.std())
        (torch.Size([2, 3, 48, 48]), True)
    """
    radius, sigma = MOTION_BLUR[severity - 1]
    s = spatial_scale(images)
    radius, sigma = max(1, round(radius * s)), sigma * s
    width = 2 * radius + 1
    angles = per_sample(generators, (1,))[:, 0] * 90.0 - 45.0
    dy, dx = _motion_offsets(width, angles)  # [B, width]
    taps = torch.exp(-torch.arange(width, dtype=torch.float64) ** 2 / (2 * sigma**2))
    taps = (taps / taps.sum()).to(images.dtype)
    b, _, h, w = images.shape
    # the reference stops once a shift leaves the image; only possible when width > side
    inside = (dy.abs() < h) & (dx.abs() < w)
    weights = (taps[None] * inside).to(images.device)  # [B, width]
    dy, dx = dy * inside, dx * inside  # taps outside weigh nothing: park them at offset 0
    top, bottom = max(0, -int(dy.min())), max(0, int(dy.max()))
    left, right = max(0, -int(dx.min())), max(0, int(dx.max()))
    kh, kw = top + bottom + 1, left + right + 1
    # one sparse kh×kw kernel per sample over the offsets' range; taps at the same offset add up
    kernels = torch.zeros(b, kh * kw, dtype=images.dtype, device=images.device)
    kernels.scatter_add_(1, ((dy + top) * kw + dx + left).to(images.device), weights)
    padded = F.pad(images.contiguous(), (left, right, top, bottom), mode="replicate")
    out = _correlate_fft(padded, kernels.view(b, 1, kh, kw))
    return out.clamp(0.0, 1.0)


@register_corruption("zoom_blur", "blur", random=False, summary="radial zoom blur")
def zoom_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Zoom blur (ImageNet-C): the mean of the image and its centre zooms at factors ``1, 1+δ, …`` below
    1.11 (δ .01), 1.16 (.01), 1.21 (.02), 1.26 (.02), 1.31 (.03) — dimensionless, so not scaled. As in the
    reference (np.arange round-off), severity 1 also includes 1.11 itself.

    Each zoom is one ``F.interpolate`` (bilinear, corner-aligned) of the central crop, accumulated in
    place.

    Example:
        >>> x = torch.rand(1, 3, 64, 48)
        >>> y = zoom_blur(x, 1, [torch.Generator()])
        >>> y.shape, bool((y - x).abs().mean() > 0)
        (torch.Size([1, 3, 64, 48]), True)
    """
    stop, step = ZOOM_BLUR[severity - 1]
    # np.arange semantics, float round-off included: severity 1 ends at 1.11 itself
    zooms = [1 + k * step for k in range(math.ceil((stop - 1) / step))]
    x = images.float().contiguous()  # channels-last input (e.g. from HWC arrays) interpolates 2× slower
    total = x.clone()
    for z in zooms:
        total += _clipped_zoom(x, z)
    return (total / (len(zooms) + 1)).to(images.dtype).clamp(0.0, 1.0)


def _clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """The reference's ``clipped_zoom`` on ``[B, C, H, W]``: per axis, crop the central ``ceil(n/zoom)``
    pixels, zoom them bilinearly (corner-aligned, as ``scipy.ndimage.zoom(order=1)``, i.e.
    ``F.interpolate(align_corners=True)``) to ``round(crop·zoom)`` and keep the first n."""
    h, w = x.shape[-2:]
    (top, ch, oh), (left, cw, ow) = [_zoom_crop(n, zoom) for n in (h, w)]
    crop = x[..., top : top + ch, left : left + cw]
    return F.interpolate(crop, size=(oh, ow), mode="bilinear", align_corners=True)[..., :h, :w]


def _zoom_crop(n: int, zoom: float) -> tuple[int, int, int]:
    """(start, length, zoomed length) of the reference's central crop along an axis of n pixels."""
    crop = math.ceil(n / zoom)
    return (n - crop) // 2, crop, round(crop * zoom)
