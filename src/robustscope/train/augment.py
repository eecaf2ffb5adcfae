"""Training-time augmentations of the reference models: crops and flips, photometric jitter and noise, fog.

All work on float ``[B, C, H, W]`` batches in [0, 1] and draw from a :class:`torch.Generator`, so the same
seed gives the same batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["augment_batch", "fog_some", "jitter_and_noise"]


def augment_batch(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flips and random crops (reflect-padded by ``pad``), per sample, on ``[B,C,H,W]``.

    The result is channels-last (what CPU convolutions want), same shape as ``images``.

    Example:
        >>> x = torch.rand(8, 3, 16, 16)
        >>> augment_batch(x, torch.Generator().manual_seed(0)).shape
        torch.Size([8, 3, 16, 16])
    """
    batch, _, height, width = images.shape
    flips = (torch.rand(batch, generator=generator) < 0.5).tolist()
    dy = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).tolist()
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect") if pad > 0 else images
    out = torch.empty_like(images, memory_format=torch.channels_last)
    # a slice copy per sample: ~4x faster than one advanced-indexing gather over the batch
    for i in range(batch):
        crop = padded[i, :, dy[i] : dy[i] + height, dx[i] : dx[i] + width]
        out[i] = crop.flip(2) if flips[i] else crop
    return out


def jitter_and_noise(
    images: torch.Tensor, generator: torch.Generator, jitter: float = 0.0, noise: float = 0.0
) -> torch.Tensor:
    """Per-sample photometric jitter and Gaussian pixel noise, for corruption-robust(er) reference models.

    Each image gets a contrast factor ``c ~ U(max(0.05, 1 - jitter), 1 + jitter)`` around its mean,
    a brightness offset ``b ~ U(-jitter/2, jitter/2)``, and noise ``σ·N(0, 1)`` with
    ``σ ~ U(0, noise)``; the result is clipped to [0,1]. Gaussian augmentation of this kind is the
    simple baseline of Rusak et al., "A Simple Way to Make Neural Networks Robust Against Diverse
    Image Corruptions", ECCV 2020. A model trained on clean images only collapses to one class
    under mild noise or a brightness change, which makes it a poor instrument for comparing
    corruptions.

    Example:
        >>> x = torch.full((4, 3, 8, 8), 0.5)
        >>> y = jitter_and_noise(x, torch.Generator().manual_seed(0), jitter=0.4, noise=0.1)
        >>> y.shape, bool(((y >= 0) & (y <= 1)).all()), torch.equal(jitter_and_noise(x, None), x)
        (torch.Size([4, 3, 8, 8]), True, True)
    """
    if jitter <= 0 and noise <= 0:
        return images
    batch = images.shape[0]
    shape = (batch, 1, 1, 1)
    out = images
    if jitter > 0:
        low = max(0.05, 1.0 - jitter)
        contrast = low + (1.0 + jitter - low) * torch.rand(shape, generator=generator)
        brightness = (torch.rand(shape, generator=generator) - 0.5) * jitter
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * contrast.to(out.device) + mean + brightness.to(out.device)
    if noise > 0:
        sigma = torch.rand(shape, generator=generator) * noise
        out = out + sigma.to(out.device) * torch.randn(out.shape, generator=generator).to(out.device)
    return out.clamp(0.0, 1.0).contiguous(memory_format=torch.channels_last)


def fog_some(images: torch.Tensor, generator: torch.Generator, probability: float, tag: str) -> torch.Tensor:
    """ImageNet-C fog (random severity 1–5) on a random ``probability`` share of a ``[B,C,H,W]`` batch in [0, 1].

    Weather augmentation for reference models meant to see every context (FOCUS's weather attribute is
    fog on the world's context split). ``tag`` makes the fog's own noise differ per batch.

    Example:
        >>> x = torch.full((4, 3, 16, 16), 0.5)
        >>> fog_some(x, torch.Generator().manual_seed(0), 1.0, "b0").shape, torch.equal(fog_some(x, None, 0.0, ""), x)
        (torch.Size([4, 3, 16, 16]), True)
    """
    if probability <= 0:
        return images
    from robustscope.shifts.corruptions import corrupt

    chosen = (torch.rand(images.shape[0], generator=generator) < probability).nonzero().flatten().tolist()
    severities = torch.randint(1, 6, (images.shape[0],), generator=generator).tolist()
    out = images.clone()
    for severity in sorted({severities[i] for i in chosen}):
        rows = [i for i in chosen if severities[i] == severity]
        out[rows] = corrupt(images[rows], "fog", severity, sample_ids=[f"{tag}-{i}" for i in rows]).to(out.dtype)
    return out
