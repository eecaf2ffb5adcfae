"""ImageNet-C noise corruptions, batched in torch (see robustscope.shifts.corruptions.base).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", ICLR 2019. Parameters are the published ones (the ``imagecorruptions`` package);
noise parameters act on pixel values, not on pixel sizes, so they do not scale with resolution.

===============  ====================================  =====================================
corruption       severity 1 .. 5                       model (x in [0,1], per channel value)
===============  ====================================  =====================================
gaussian_noise   std c = .08 .12 .18 .26 .38           x + c·N(0,1)
shot_noise       photons c = 60 25 12 5 3              Poisson(c·x) / c
impulse_noise    amount c = .03 .06 .09 .17 .27        with prob. c: 0 or 1 (half each)
speckle_noise    std c = .15 .20 .35 .45 .60           x + x·c·N(0,1)
===============  ====================================  =====================================

All outputs are clipped to [0, 1]. The reference then quantises to uint8 by truncation (a
−0.5/255 mean bias on average); ours stays float. Every function takes ``images`` ``[B,3,H,W]``
float in [0,1] on any device, a severity 1–5 and one CPU ``torch.Generator`` per sample, and
returns ``[B,3,H,W]`` on the input device. Grey images ``[B,1,H,W]`` get their noise per grey pixel
(MNIST-C's choice), with the same per-value parameters.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from robustscope.shifts.corruptions.base import per_sample, register_corruption

GAUSSIAN_NOISE = (0.08, 0.12, 0.18, 0.26, 0.38)
SHOT_NOISE = (60.0, 25.0, 12.0, 5.0, 3.0)
IMPULSE_NOISE = (0.03, 0.06, 0.09, 0.17, 0.27)
SPECKLE_NOISE = (0.15, 0.2, 0.35, 0.45, 0.6)


@register_corruption("gaussian_noise", "noise", random=True, summary="additive Gaussian noise")
def gaussian_noise(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Additive i.i.d. Gaussian noise of std ``c`` (.08 .12 .18 .26 .38) per channel value (ImageNet-C).

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((2, 3, 32, 32), 0.5)
        >>> y = gaussian_noise(x, 3, generators_for(["a", "b"], "gaussian_noise", 3, 0))
        >>> y.shape, round(float((y - x).std()), 2)
        (torch.Size([2, 3, 32, 32]), 0.18)
    """
    c = GAUSSIAN_NOISE[severity - 1]
    noise = per_sample(generators, images.shape[1:], "randn", images.device)
    return (images + c * noise).clamp(0.0, 1.0)


@register_corruption("shot_noise", "noise", random=True, summary="Poisson (photon) noise")
def shot_noise(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Poisson shot noise: ``Poisson(c·x) / c`` with ``c`` photons at full scale (60 25 12 5 3) (ImageNet-C).

    The Poisson rate depends on the image, so each sample is drawn on the CPU with
    ``torch.poisson(rate, generator=its generator)`` (one device round trip; the draw, and hence
    the output, does not depend on the batch, the device or the thread it runs on — samples are
    drawn in parallel on ``torch.get_num_threads()`` threads).

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((1, 3, 64, 64), 0.5)
        >>> y = shot_noise(x, 5, generators_for(["a"], "shot_noise", 5, 0))
        >>> sorted({round(v * 3) for v in y.unique().tolist()})[:3]  # multiples of 1/3
        [0, 1, 2]
    """
    c = SHOT_NOISE[severity - 1]
    rates = (images.detach().float().cpu() * c).clamp_min(0.0)
    pairs = list(zip(rates, generators, strict=True))
    workers = min(len(pairs), torch.get_num_threads())
    if workers > 1:
        # torch.poisson is a serial loop per tensor; the samples are independent (own generators), so draw
        # them on ``torch.get_num_threads()`` threads (the op releases the GIL). A fresh pool per call
        # stays safe across fork.
        with ThreadPoolExecutor(workers) as pool:
            counts = torch.stack(list(pool.map(_poisson, pairs)))
    else:
        counts = torch.stack([_poisson(pair) for pair in pairs])
    return (counts.to(images.device) / c).clamp(0.0, 1.0)


def _poisson(pair: tuple[torch.Tensor, torch.Generator]) -> torch.Tensor:
    rate, generator = pair
    return torch.poisson(rate, generator=generator)


@register_corruption("impulse_noise", "noise", random=True, summary="salt-and-pepper noise")
def impulse_noise(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Salt-and-pepper noise on each channel value: with probability ``c`` (.03 .06 .09 .17 .27) the value
    becomes 0 or 1 with equal odds, as ``skimage.util.random_noise(mode="s&p", amount=c)`` (ImageNet-C).

    One uniform draw ``u`` per value decides both: ``u < c/2`` is pepper, ``c/2 ≤ u < c`` salt.

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.full((1, 3, 64, 64), 0.5)
        >>> y = impulse_noise(x, 5, generators_for(["a"], "impulse_noise", 5, 0))
        >>> round(float((y != x).float().mean()), 1)
        0.3
    """
    c = IMPULSE_NOISE[severity - 1]
    u = per_sample(generators, images.shape[1:], "rand", images.device)
    out = torch.where(u < c / 2, torch.zeros_like(images), images)
    return torch.where((u >= c / 2) & (u < c), torch.ones_like(images), out)


@register_corruption("speckle_noise", "noise", random=True, summary="multiplicative Gaussian noise")
def speckle_noise(images: torch.Tensor, severity: int, generators: list[torch.Generator]) -> torch.Tensor:
    """Multiplicative speckle noise ``x + x·c·N(0,1)``, ``c`` = .15 .2 .35 .45 .6 (ImageNet-C, extra set).

    Example:
        >>> from robustscope.shifts.corruptions.base import generators_for
        >>> x = torch.zeros(1, 3, 32, 32)
        >>> bool((speckle_noise(x, 5, generators_for(["a"], "speckle_noise", 5, 0)) == 0).all())  # black stays black
        True
    """
    c = SPECKLE_NOISE[severity - 1]
    noise = per_sample(generators, images.shape[1:], "randn", images.device)
    return (images + images * c * noise).clamp(0.0, 1.0)
