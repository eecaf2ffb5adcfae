"""ImageNet-C digital corruptions, batched in torch (see robustscope.shifts.corruptions.base).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Parameter tables are the published ones (``imagecorruptions`` 1.1.2):

================  =====================================================================
corruption        severity 1 … 5
================  =====================================================================
brightness        HSV value + 0.1, 0.2, 0.3, 0.4, 0.5
saturate          HSV saturation × (0.3, 0.1, 2, 5, 20) + (0, 0, 0, 0.1, 0.2)
contrast          (x − per-channel mean) × 0.4, 0.3, 0.2, 0.1, 0.05 + mean
pixelate          box-downsample by 0.6, 0.5, 0.4, 0.3, 0.25, nearest-upsample back
jpeg_compression  JPEG quality 25, 18, 15, 10, 7
elastic           alpha = 250 × (0.05, 0.065, 0.085, 0.1, 0.12); sigma = 0.01 × (H, W);
                  displacement drawn U(±0.005 H) per pixel before smoothing
================  =====================================================================
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from robustscope.shifts.corruptions.base import per_sample, register_corruption

__all__ = [
    "brightness", "contrast", "elastic_transform", "gaussian_filter", "hsv_to_rgb", "jpeg_compression", "pixelate",
    "rgb_to_hsv", "saturate",
]


# ----------------------------------------------------------------------------------------------- helpers


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """``[B,3,H,W]`` RGB in [0,1] to HSV in [0,1] (hue as a fraction of a turn), as ``skimage.color.rgb2hsv``.

    Example:
        >>> rgb_to_hsv(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten().tolist()
        [0.0, 1.0, 1.0]
    """
    r, g, b = images.unbind(1)
    value, _ = images.max(1)
    delta = value - images.min(1).values
    # Grey pixels have no defined hue/saturation; skimage sets both to 0 there.
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    saturation = torch.where(value > 0, delta / torch.where(value > 0, value, torch.ones_like(value)),
                             torch.zeros_like(value))
    hue = torch.where(b == value, 4.0 + (r - g) / safe_delta, torch.zeros_like(value))
    hue = torch.where(g == value, 2.0 + (b - r) / safe_delta, hue)
    hue = torch.where(r == value, (g - b) / safe_delta, hue)
    hue = torch.where(delta > 0, (hue / 6.0) % 1.0, torch.zeros_like(hue))
    return torch.stack([hue, saturation, value], 1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv` (``skimage.color.hsv2rgb``).

    Example:
        >>> x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> bool(torch.allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-5))
        True
    """
    hue, saturation, value = hsv.unbind(1)
    sector = torch.floor(hue * 6.0)
    frac = hue * 6.0 - sector
    sector = sector.long() % 6
    p = value * (1 - saturation)
    q = value * (1 - frac * saturation)
    t = value * (1 - (1 - frac) * saturation)
    # Rows: sector 0..5; columns: which of (v, t, p, q) feeds R, G, B.
    choices = torch.stack([value, t, p, q], 1)  # [B,4,H,W]
    table = torch.tensor([[0, 1, 2], [3, 0, 2], [2, 0, 1], [2, 3, 0], [1, 2, 0], [0, 2, 3]], device=hsv.device)
    index = table[sector].permute(0, 3, 1, 2)  # [B,3,H,W]
    return torch.gather(choices, 1, index)


def _pad_index(n: int, pad: int, mode: str, device: torch.device) -> torch.Tensor:
    """Indices into a length-``n`` axis padded by ``pad`` each side, for modes torch lacks (``symmetric``)."""
    idx = torch.arange(-pad, n + pad, device=device)
    if mode == "nearest":
        return idx.clamp(0, n - 1)
    if mode == "symmetric":  # scipy/skimage "reflect": d c b a | a b c d | d c b a
        period = 2 * n
        idx = idx % period
        return torch.where(idx >= n, period - 1 - idx, idx)
    raise ValueError(f"unknown padding mode {mode!r}")


def gaussian_filter(x: torch.Tensor, sigma: float | tuple[float, float], truncate: float = 4.0,
                    mode: str = "nearest") -> torch.Tensor:
    """Separable gaussian blur of ``[B,C,H,W]`` as ``scipy.ndimage.gaussian_filter`` (same truncation and
    boundary modes ``nearest`` / ``symmetric`` — the latter is scipy's ``reflect``).

    Example:
        >>> y = gaussian_filter(torch.ones(1, 1, 8, 8), 1.5)
        >>> bool(torch.allclose(y, torch.ones_like(y)))
        True
    """
    sigmas = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    out = x
    for axis, s in zip((2, 3), sigmas, strict=True):
        if s <= 0:
            continue
        radius = int(truncate * float(s) + 0.5)
        offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (offsets / float(s)) ** 2)
        kernel = kernel / kernel.sum()
        n = out.shape[axis]
        if n <= _DENSE_FILTER_MAX:
            # One-channel conv1d is slow on CPU; a banded [n, n] matmul with the padding folded in is ~10×
            # faster at image sizes (same taps, same boundary handling).
            matrix = _filter_matrix(kernel, n, radius, mode, x.device)
            out = matrix @ out if axis == 2 else out @ matrix.T
            continue
        out = out.index_select(axis, _pad_index(n, radius, mode, x.device))
        b, c, h, w = out.shape
        if axis == 2:
            flat = out.permute(0, 1, 3, 2).reshape(-1, 1, h)
            flat = F.conv1d(flat, kernel.view(1, 1, -1))
            out = flat.view(b, c, w, n).permute(0, 1, 3, 2)
        else:
            flat = out.reshape(-1, 1, w)
            out = F.conv1d(flat, kernel.view(1, 1, -1)).view(b, c, h, n)
    return out.contiguous()


#: Longest axis :func:`gaussian_filter` filters with a dense banded matrix (beyond it, ``conv1d``).
_DENSE_FILTER_MAX = 512


def _filter_matrix(kernel: torch.Tensor, n: int, radius: int, mode: str, device: torch.device) -> torch.Tensor:
    """``[n, n]`` matrix applying the 1-D ``kernel`` (length ``2·radius + 1``) with ``mode`` padding:
    ``matrix @ v`` equals ``conv1d(v[pad_index], kernel)``."""
    rows = torch.arange(n, device=device).unsqueeze(1).expand(n, 2 * radius + 1)
    cols = _pad_index(n, radius, mode, device)[rows + torch.arange(2 * radius + 1, device=device)]
    matrix = torch.zeros(n, n, dtype=kernel.dtype, device=device)
    return matrix.index_put_((rows, cols), kernel.expand(n, -1), accumulate=True)


def _box_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """``[n_out, n_in]`` weights of Pillow's BOX resize: output pixel ``i`` averages the input pixels whose
    centres fall in ``(c − s/2, c + s/2]``, ``c = (i + 0.5)·s``, ``s = n_in / n_out`` (Pillow's ``box_filter``)."""
    scale = n_in / n_out
    centre = (torch.arange(n_out, dtype=torch.float64).unsqueeze(1) + 0.5) * scale
    offset = (torch.arange(n_in, dtype=torch.float64).unsqueeze(0) + 0.5 - centre) / scale
    weights = ((offset > -0.5) & (offset <= 0.5)).double()
    return (weights / weights.sum(1, keepdim=True)).float().to(device)


# ----------------------------------------------------------------------------------------------- corruptions


@register_corruption("brightness", "digital", random=False, summary="HSV value shift (+0.1 … +0.5)")
def brightness(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Brighten by adding 0.1·severity to the HSV value channel (ImageNet-C, Hendrycks & Dietterich 2019).

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Deterministic.

    Example:
        >>> x = torch.full((1, 3, 4, 4), 0.5)
        >>> round(brightness(x, 1, []).mean().item(), 4)
        0.6
    """
    c = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    # Closed form of the HSV round trip: with hue and saturation fixed every channel is proportional to
    # the value (max channel), so scale RGB by v'/v; black (v = 0, hue = saturation = 0) becomes grey v'.
    value = images.amax(1, keepdim=True)
    new_value = (value + c).clamp(0, 1)
    positive = value > 0
    ratio = new_value / torch.where(positive, value, torch.ones_like(value))
    # Black pixels are 0 · ratio = 0, plus v'; the others get exactly + 0.
    return (images * ratio).add_(torch.where(positive, torch.zeros_like(new_value), new_value)).clamp_(0, 1)


@register_corruption("saturate", "digital", random=False, summary="HSV saturation scale and shift")
def saturate(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Scale (and shift) HSV saturation: ``s·(0.3, 0.1, 2, 5, 20) + (0, 0, 0, 0.1, 0.2)`` (ImageNet-C extra).

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Deterministic.

    Example:
        >>> x = torch.tensor([0.8, 0.4, 0.4]).view(1, 3, 1, 1)
        >>> [round(v, 3) for v in saturate(x, 2, []).flatten().tolist()]
        [0.8, 0.76, 0.76]
    """
    scale, shift = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))[severity - 1]
    if images.shape[1] == 1:
        # A grey image has no saturation to scale: the identity (documented in the package docstring).
        return images.clone()
    # Closed form of the HSV round trip: with hue and value fixed, channel = v·(1 − s·g) where
    # g = (v − channel) / (v − min) depends only on the hue; grey pixels have hue 0, i.e. g = (0, 1, 1).
    value = images.amax(1, keepdim=True)
    delta = value - images.amin(1, keepdim=True)
    coloured = delta > 0
    saturation = torch.where(value > 0, delta / torch.where(value > 0, value, torch.ones_like(value)),
                             torch.zeros_like(value))
    new_saturation = (saturation * scale + shift).clamp(0, 1)
    scaled = new_saturation * value  # s'·v
    factor = torch.where(coloured, scaled / torch.where(coloured, delta, torch.ones_like(delta)),
                         torch.zeros_like(delta))
    grey = torch.where(coloured, torch.zeros_like(scaled), scaled)
    grey_g = torch.tensor([0.0, 1.0, 1.0], device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    # v − s'·v·g, in place on one full-size temporary.
    out = (value - images).mul_(factor).neg_().add_(value)
    return out.addcmul_(grey, grey_g, value=-1.0).clamp_(0, 1)


@register_corruption("contrast", "digital", random=False, summary="contrast reduction towards the channel means")
def contrast(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Shrink each channel towards its per-image mean by ``0.4, 0.3, 0.2, 0.1, 0.05`` (ImageNet-C).

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Deterministic.

    Example:
        >>> x = torch.tensor([0.0, 1.0]).repeat(3, 2, 1).unsqueeze(0)  # [1,3,2,2]
        >>> contrast(x, 1, [])[0, 0].tolist()
        [[0.30000001192092896, 0.699999988079071], [0.30000001192092896, 0.699999988079071]]
    """
    c = (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]
    means = images.mean(dim=(2, 3), keepdim=True)
    return ((images - means) * c + means).clamp(0, 1)


@register_corruption("pixelate", "digital", random=False, summary="box downsample, nearest upsample")
def pixelate(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Box-downsample to ``(0.6, 0.5, 0.4, 0.3, 0.25)`` of the size, then nearest-upsample back (ImageNet-C).

    The box filter uses Pillow's weights (the pixels whose centres fall in each output footprint); the
    upsample uses PIL's nearest rule (``nearest-exact``: source pixel ``floor((i + 0.5)·in/out)``).
    The factor is relative, so it needs no resolution scaling.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Deterministic.

    Example:
        >>> x = torch.arange(16.0).view(1, 1, 4, 4).expand(1, 3, 4, 4) / 15
        >>> pixelate(x, 2, [])[0, 0, :2, :2].mul(15).tolist()
        [[2.5, 2.5], [2.5, 2.5]]
    """
    c = (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]
    h, w = images.shape[-2:]
    small_h, small_w = max(1, int(h * c)), max(1, int(w * c))
    rows = _box_matrix(h, small_h, images.device)
    cols = _box_matrix(w, small_w, images.device)
    small = rows @ images @ cols.T
    return F.interpolate(small, size=(h, w), mode="nearest-exact").clamp(0, 1)


@register_corruption("jpeg_compression", "digital", random=False, summary="JPEG round trip at quality 25 … 7")
def jpeg_compression(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Real JPEG encode/decode at quality ``25, 18, 15, 10, 7`` (ImageNet-C), via Pillow as the reference.

    Each image is quantised to uint8 and round-tripped through Pillow's JPEG codec (4:2:0 chroma
    subsampling, as the reference), on the CPU, then moved back to the input's device. A per-image
    loop: JPEG has no batched codec, but each 224 px round trip takes well under a millisecond.

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Deterministic.

    Example:
        >>> x = torch.full((2, 3, 16, 16), 0.5)
        >>> bool((jpeg_compression(x, 5, []) - x).abs().max() < 0.02)
        True
    """
    quality = (25, 18, 15, 10, 7)[severity - 1]
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    mode = "L" if images.shape[1] == 1 else "RGB"  # a grey image is encoded as a one-channel JPEG
    decoded = []
    for array in pixels:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(array if mode == "RGB" else array[..., 0]), mode).save(
            buffer, "JPEG", quality=quality
        )
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert(mode)).reshape(array.shape))
    out = torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2).float() / 255.0
    return out.to(images.device)


@register_corruption("elastic_transform", "digital", random=True, summary="smoothed random displacement field")
def elastic_transform(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Elastic warp (ImageNet-C, as published in ``imagecorruptions`` 1.1.2, after Simard et al. 2003).

    Per sample, two fields ``dx, dy ~ U(−0.005 H, 0.005 H)`` per pixel are drawn from the sample's
    generator, smoothed with a gaussian of sigma ``0.01·(H, W)`` (truncate 3, symmetric boundary) and
    scaled by ``alpha = 250·(0.05, 0.065, 0.085, 0.1, 0.12)``; the image is resampled bilinearly at
    ``(y + dy, x + dx)`` with symmetric reflection at the borders (``grid_sample``). Every length in
    this parameterisation is a fraction of the image side, so it is resolution-independent as is.
    (The original ImageNet-C script also applied a small random affine; the published package
    version that defines the benchmark parameters does not, and neither do we.)

    Shapes: ``[B,C,H,W]`` in [0,1] → same (C = 3, or 1: grey). Random: per-sample generators.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> elastic_transform(x, 3, generators_for(["a", "b"], "elastic_transform", 3, 0)).shape
        torch.Size([2, 3, 32, 32])
    """
    alpha = 250 * (0.05, 0.065, 0.085, 0.1, 0.12)[severity - 1]
    h, w = images.shape[-2:]
    max_d = h * 0.005
    fields = per_sample(generators, (2, h, w), device=images.device) * (2 * max_d) - max_d
    fields = gaussian_filter(fields, (h * 0.01, w * 0.01), truncate=3.0, mode="symmetric") * alpha
    dx, dy = fields[:, 0], fields[:, 1]
    ys = torch.arange(h, device=images.device, dtype=images.dtype).view(1, h, 1)
    xs = torch.arange(w, device=images.device, dtype=images.dtype).view(1, 1, w)
    # align_corners=False + reflection mirrors about the pixel edges, i.e. scipy's mode="reflect".
    grid = torch.stack([(xs + dx + 0.5) * (2.0 / w) - 1.0, (ys + dy + 0.5) * (2.0 / h) - 1.0], -1)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.clamp(0, 1)

