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

Every function takes ``images`` ``[B,3,H,W]`` float in [0,1] on any device, a severity 1–5 and one
CPU ``torch.Generator`` per sample, and returns ``[B,3,H,W]`` on the input device. The reference
quantises its output (and, in ``glass_blur``, the intermediate blurred image) to uint8 by
truncation; ours stays float throughout.
"""

from __future__ import annotations

import math

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
    x = F.pad(images.reshape(b * c, 1, h, w), (r, r, r, r), mode=mode)
    return F.conv2d(x, kernel[None, None]).reshape(b, c, h, w).clamp(0.0, 1.0)


def _wavefront_schedule(h: int, w: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Group the reference's raster scan of swap positions into parallel steps.

    The reference visits (row, col) for row = H−d … d+1, col = W−d … d+1 (both descending) and updates
    each pixel from one at offset (dy, dx) ∈ [−d, d)². An update touches rows and columns within
    [−d, d) of its position, so two updates can only interact when both their rows and their columns
    are closer than 2d. Step ``t = 2d·i + j`` (i, j the scan ranks of row and column) puts updates of
    the same step at least 2d apart, and every interacting pair in scan order, so running each
    step's updates at once reproduces the sequential result exactly.

    Returns ``(order, counts)``: ``order[t, k]`` the scan rank of the k-th update of step t (or −1).
    """
    rows, cols = h - 2 * d, w - 2 * d  # scanned positions per axis
    i = torch.arange(rows)[:, None].expand(rows, cols)
    j = torch.arange(cols)[None, :].expand(rows, cols)
    t = (2 * d * i + j).reshape(-1)
    steps = int(t.max()) + 1
    counts = torch.bincount(t, minlength=steps)
    order = torch.full((steps, int(counts.max())), -1, dtype=torch.long)
    # slot of each swap within its step: sort by (step, row rank) and count from each step's start
    by_step = torch.argsort(t * rows + i.reshape(-1))
    t_sorted = t[by_step]
    starts = torch.cumsum(counts, 0) - counts
    order[t_sorted, torch.arange(rows * cols) - starts[t_sorted]] = by_step
    return order, counts


def _glass_shuffle(images: torch.Tensor, d: int, iterations: int, generators: list[torch.Generator]) -> torch.Tensor:
    """The reference's local pixel shuffle, run for the whole batch at once on a map of source indices.

    The reference "swaps" with ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on numpy pixel *views*: the
    second assignment reads the already-overwritten ``x[h, w]``, so it is a copy, ``x[h, w] = x[h', w']``
    (the neighbour keeps its value; values can repeat). We reproduce that, not an ideal swap.
    """
    b, c, h, w = images.shape
    if h - 2 * d < 1 or w - 2 * d < 1:
        return images
    rows, cols = h - 2 * d, w - 2 * d
    n = rows * cols
    order, _ = _wavefront_schedule(h, w, d)
    # scan rank -> flat pixel index: rank r is (row H-d-i, col W-d-j) with r = i·cols + j
    rank = torch.arange(n)
    pos = (h - d - rank // cols) * w + (w - d - rank % cols)
    # Offsets as the reference's randint(-d, d): uniform on the 2d integers -d..d-1, per sample.
    u = per_sample(generators, (iterations, n, 2))
    offsets = (u * (2 * d)).floor().long().clamp_(max=2 * d - 1) - d
    partner = pos[None, None] + offsets[..., 0] * w + offsets[..., 1]  # [B, iterations, n]; dy·W + dx
    dummy = h * w  # a padding slot that copies itself
    valid = order >= 0
    src_steps = torch.where(valid, pos[order.clamp(min=0)], dummy)  # [T, K]
    base = (torch.arange(b) * (h * w + 1))[:, None, None]  # flat offsets of each sample's permutation
    src_all = (src_steps[None] + base).reshape(b, *order.shape)
    src_map = torch.arange(h * w + 1).repeat(b)  # src_map[p] = source pixel now copied to p
    for it in range(iterations):
        dst_all = torch.where(valid[None], partner[:, it][:, order.clamp(min=0)], dummy) + base  # [B, T, K]
        for step in range(order.shape[0]):
            src_map[src_all[:, step]] = src_map[dst_all[:, step]]
    src_map = src_map.view(b, h * w + 1)[:, : h * w].to(images.device)
    flat = images.reshape(b, c, h * w)
    return flat.gather(2, src_map[:, None, :].expand(b, c, h * w)).reshape(b, c, h, w)


@register_corruption("glass_blur", "blur", random=True, summary="frosted-glass blur (blur + local pixel shuffle)")
def glass_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Glass blur (ImageNet-C): Gaussian blur (sigma ``σ·s``), local pixel shuffle, Gaussian blur again.

    The shuffle is the reference's algorithm exactly, in distribution: ``iterations`` raster scans
    (bottom-right to top-left) setting each pixel to the current value of the one at a uniform offset
    in ``[-δ, δ)²`` (``δ = max(1, round(δ₀·s))``; the reference's intended swap is, in effect, this
    copy — see ``_glass_shuffle``). Updates are scheduled in parallel wavefronts (see
    ``_wavefront_schedule``) over the batch, tracking only a map of source pixel indices, and applied
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
    x = _glass_shuffle(x, d, iterations, generators)
    return _skimage_gaussian(x, sigma * s).clamp(0.0, 1.0)


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

    Each tap is one gather over the edge-padded batch with per-sample integer offsets, so the cost is
    ``2r+1`` image reads whatever the angle (a dense 2-D kernel would need ``(4r+1)²`` taps).

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
    b, c, h, w = images.shape
    # the reference stops once a shift leaves the image; only possible when width > side
    inside = (dy.abs() < h) & (dx.abs() < w)
    p = width
    padded = F.pad(images, (p, p, p, p), mode="replicate")
    hp, wp = h + 2 * p, w + 2 * p
    flat = padded.reshape(b, c, hp * wp)
    base = ((torch.arange(h)[:, None] + p) * wp + torch.arange(w)[None, :] + p).reshape(-1).to(images.device)
    shift = (dy * wp + dx).to(images.device)
    weights = (taps[None].to(images.device) * inside.to(images.device)).to(images.dtype)  # [B, width]
    out = torch.zeros(b, c, h * w, dtype=images.dtype, device=images.device)
    for i in range(width):
        idx = (base[None] + shift[:, i, None])[:, None].expand(b, c, h * w)
        out += weights[:, i, None, None] * flat.gather(2, idx)
    return out.reshape(b, c, h, w).clamp(0.0, 1.0)


def _zoom_matrix(n: int, zoom: float, dtype: torch.dtype) -> torch.Tensor:
    """``[n, n]`` linear-interpolation matrix of the reference's ``clipped_zoom`` along one axis: crop
    the central ``ceil(n/zoom)`` pixels, ``scipy.ndimage.zoom(order=1)`` to ``round(crop·zoom)``
    (corner-aligned), keep the first n."""
    crop = math.ceil(n / zoom)
    top = (n - crop) // 2
    out = round(crop * zoom)
    coord = top + torch.arange(n, dtype=torch.float64) * ((crop - 1) / (out - 1) if out > 1 else 0.0)
    lo = coord.floor().long().clamp(0, n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    frac = coord - lo
    m = torch.zeros(n, n, dtype=torch.float64)
    m[torch.arange(n), lo] += 1 - frac
    m[torch.arange(n), hi] += frac
    return m.to(dtype)


@register_corruption("zoom_blur", "blur", random=False, summary="radial zoom blur")
def zoom_blur(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Zoom blur (ImageNet-C): the mean of the image and its centre zooms at factors ``1, 1+δ, …`` below
    1.11 (δ .01), 1.16 (.01), 1.21 (.02), 1.26 (.02), 1.31 (.03) — dimensionless, so not scaled. As in the
    reference (np.arange round-off), severity 1 also includes 1.11 itself.

    Bilinear zoom is separable, so each zoom is ``Zy @ x @ Zxᵀ`` with small interpolation matrices;
    all zooms of one axis are stacked into one matmul.

    Example:
        >>> x = torch.rand(1, 3, 64, 48)
        >>> y = zoom_blur(x, 1, [torch.Generator()])
        >>> y.shape, bool((y - x).abs().mean() > 0)
        (torch.Size([1, 3, 64, 48]), True)
    """
    stop, step = ZOOM_BLUR[severity - 1]
    # np.arange semantics, float round-off included: severity 1 ends at 1.11 itself
    zooms = [1 + k * step for k in range(math.ceil((stop - 1) / step))]
    b, c, h, w = images.shape
    zy = torch.cat([_zoom_matrix(h, z, torch.float32) for z in zooms]).to(images.device)  # [K·H, H]
    zx = torch.stack([_zoom_matrix(w, z, torch.float32) for z in zooms]).to(images.device)  # [K, W, W]
    x = images.float()
    rows = torch.matmul(zy, x).reshape(b, c, len(zooms), h, w)  # zoom along H for every factor
    zoomed = torch.matmul(rows, zx.transpose(1, 2)).sum(2)  # then along W, summed over factors
    return ((x + zoomed) / (len(zooms) + 1)).to(images.dtype).clamp(0.0, 1.0)
