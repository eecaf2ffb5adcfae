"""The β-VAE loss against hand-computed parts, and a short training run that lowers it."""

from __future__ import annotations

import math

import pytest
import torch

from robustscope.represent.hfs import hfs_loss
from robustscope.represent.vae import LocatelloVAE, encode, train_vae, vae_loss


def test_loss_parts_by_hand() -> None:
    x = torch.tensor([[[[1.0, 0.0]]]])  # one image, one channel, 1×2 pixels
    recon = torch.tensor([[[[0.8, 0.1]]]])
    mean, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(2.0)]])
    parts = vae_loss(x, recon, mean, logvar, beta=2.0)
    rec = -(math.log(0.8) + math.log(0.9))
    kl = 0.5 * (1.0) + 0.5 * (-1 - math.log(2.0) + 2.0)  # 0.5(−1 − logσ² + μ² + σ²) per dimension
    assert float(parts["rec"]) == pytest.approx(rec, rel=1e-6)
    assert float(parts["kl"]) == pytest.approx(kl, rel=1e-6)
    assert float(parts["loss"]) == pytest.approx(rec + 2 * kl, rel=1e-6)
    means = torch.randn(8, 10, generator=torch.Generator().manual_seed(0))
    with_hfs = vae_loss(x.expand(8, 1, 1, 2), recon.expand(8, 1, 1, 2), means, torch.zeros(8, 10), beta=0.0, gamma=3.0,
                        generator=torch.Generator().manual_seed(1))
    assert float(with_hfs["hfs"]) == pytest.approx(float(hfs_loss(means, generator=torch.Generator().manual_seed(1))))


def test_short_training_lowers_the_loss_and_is_deterministic() -> None:
    images = (torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(0)) > 0.5).to(torch.uint8) * 255
    images[:, :, :32] = 0  # structure to learn: the top half is always black
    first = train_vae(images, iterations=101, batch_size=16, lr=1e-3, progress=False)
    again = train_vae(images, iterations=101, batch_size=16, lr=1e-3, progress=False)
    assert first.history[-1]["rec"] < first.history[0]["rec"]
    assert torch.equal(first.model.encoder[0].weight, again.model.encoder[0].weight)
    assert encode(first.model, images).shape == (32, 10)
    with pytest.raises(ValueError, match="64×64"):
        LocatelloVAE().encode(torch.zeros(1, 3, 32, 32))
