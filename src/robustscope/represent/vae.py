"""A small β-VAE (and β-VAE + HFS) at 64 px, as in the HFS reference, trainable in minutes on 2 cores.

Architecture: ``vae_locatello`` of facebookresearch/disentangling-correlated-factors @ ``3b0d233``
(``dent/models/encoder/locatello.py``, ``dent/models/decoder/locatello.py``; Locatello et al., "Weakly-Supervised
Disentanglement without Compromises", ICML 2020): encoder 4 × conv(4×4, stride 2; 32, 32, 64, 64 channels, ReLU),
linear 1024→256, linear 256→2·latent (mean, log-variance); decoder linear latent→256→1024, 4 transposed convs
(64, 32, 32, C channels), sigmoid. Latent dimension 10.

Loss (``dent/losses/betavae.py``, ``factorizedsupportvae.py``, ``utils.py``): Bernoulli reconstruction
(``binary_cross_entropy(..., reduction="sum") / B``) + β · Σ_d KL_d (each the batch mean of the per-sample KL to
N(0, 1)) + γ · HFS(means) (:func:`~robustscope.represent.hfs.hfs_loss`, hard Hausdorff over 25 random latent
pairs). Adam, lr 1e-4, batch 64, as the reference. The reference trains for hundreds of thousands of iterations;
robustscope's defaults are a few thousand (:data:`DEFAULT_ITERATIONS`), which is what 2 CPU cores allow in
minutes: the study reports its iteration count, and numbers are not comparable to the paper's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler

from robustscope.progress import step_bar
from robustscope.represent.hfs import hfs_loss

__all__ = ["DEFAULT_ITERATIONS", "LocatelloVAE", "VAEResult", "encode", "train_vae", "vae_loss"]

#: Training iterations by default (batch 64): about 3–6 iterations a second on 2 free cores at 64 px, so minutes.
DEFAULT_ITERATIONS = 1000


class LocatelloVAE(nn.Module):
    """The reference's ``vae_locatello``: ``[B, C, 64, 64]`` in [0, 1] → (reconstruction, mean, log-variance).

    Example:
        >>> vae = LocatelloVAE()
        >>> recon, mean, logvar = vae(torch.rand(2, 3, 64, 64))
        >>> tuple(recon.shape), tuple(mean.shape)
        ((2, 3, 64, 64), (2, 10))
    """

    def __init__(self, channels: int = 3, latent_dim: int = 10):
        super().__init__()
        conv = {"kernel_size": 4, "stride": 2, "padding": 1}
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, **conv), nn.ReLU(), nn.Conv2d(32, 32, **conv), nn.ReLU(),
            nn.Conv2d(32, 64, **conv), nn.ReLU(), nn.Conv2d(64, 64, **conv), nn.ReLU(), nn.Flatten(),
            nn.Linear(4 * 4 * 64, 256), nn.ReLU(), nn.Linear(256, 2 * latent_dim),
        )  # fmt: skip
        self.decoder_fc = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 4 * 4 * 64), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 64, **conv), nn.ReLU(), nn.ConvTranspose2d(64, 32, **conv), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, **conv), nn.ReLU(), nn.ConvTranspose2d(32, channels, **conv), nn.Sigmoid(),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance ``[B, latent]`` of q(z|x) (the reference's ``stats_qzx`` unbound)."""
        if x.shape[-2:] != (64, 64):
            raise ValueError(f"this architecture needs 64×64 inputs, got {tuple(x.shape[-2:])}")
        stats = self.encoder(x).view(-1, self.latent_dim, 2)
        return stats[..., 0], stats[..., 1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean) if self.training else mean
        return self.decoder(self.decoder_fc(z).view(-1, 64, 4, 4)), mean, logvar


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, *, beta: float,
             gamma: float = 0.0, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """``rec + β·KL + γ·HFS`` and its parts (see the module docstring).

    Example:
        >>> x = torch.full((2, 1, 2, 2), 0.5)
        >>> parts = vae_loss(x, x, torch.zeros(2, 3), torch.zeros(2, 3), beta=1.0)
        >>> round(float(parts["kl"]), 6), round(float(parts["rec"]), 4)  # KL of N(0,1) to itself; 4 px · ln 2
        (0.0, 2.7726)
    """
    rec = F.binary_cross_entropy(recon, x, reduction="sum") / x.shape[0]
    kl = (0.5 * (-1 - logvar + mean.pow(2) + logvar.exp())).mean(dim=0).sum()
    hfs = hfs_loss(mean, generator=generator) if gamma > 0 else torch.zeros((), device=x.device)
    return {"loss": rec + beta * kl + gamma * hfs, "rec": rec, "kl": kl, "hfs": hfs}


@dataclass
class VAEResult:
    """A trained VAE, its settings and its loss history (every 100 iterations)."""

    model: LocatelloVAE
    settings: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def train_vae(images: torch.Tensor, *, beta: float = 1.0, gamma: float = 0.0, iterations: int = DEFAULT_ITERATIONS,
              batch_size: int = 64, lr: float = 1e-4, sampler: Sampler[int] | None = None, seed: int = 0,
              progress: bool = True) -> VAEResult:  # fmt: skip
    """Train :class:`LocatelloVAE` on uint8 ``images [N, C, 64, 64]``; batches drawn by ``sampler`` (e.g. the
    correlated sampler: its draws are consumed ``batch_size`` at a time, refilled when exhausted) or uniformly.
    ``gamma > 0`` adds HFS (the reference's β-VAE + HFS uses β = 0, γ = 300).

    Example:
        >>> result = train_vae(torch.randint(0, 255, (8, 3, 64, 64), dtype=torch.uint8), iterations=2,
        ...                    batch_size=4, progress=False)
        >>> len(result.history), result.settings["iterations"]
        (1, 2)
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = LocatelloVAE(images.shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    stream: list[int] = []
    model.train()
    with step_bar(progress, f"β-VAE (β={beta:g}" + (f", HFS γ={gamma:g})" if gamma else ")"), iterations) as advance:
        for step in range(iterations):
            while len(stream) < batch_size:
                stream.extend(list(sampler) if sampler is not None
                              else torch.randperm(len(images), generator=generator).tolist())  # fmt: skip
            index, stream = stream[:batch_size], stream[batch_size:]
            x = images[index].float() / 255
            recon, mean, logvar = model(x)
            parts = vae_loss(x, recon, mean, logvar, beta=beta, gamma=gamma, generator=generator)
            optimiser.zero_grad(set_to_none=True)
            parts["loss"].backward()
            optimiser.step()
            if step % 100 == 0:
                history.append({"iteration": step, **{k: float(v.detach()) for k, v in parts.items()}})
            advance(1)
    model.eval()
    settings = {"beta": beta, "gamma": gamma, "iterations": iterations, "batch_size": batch_size, "lr": lr,
                "seed": seed, "latent_dim": model.latent_dim, "correlated_sampler": sampler is not None}  # fmt: skip
    return VAEResult(model, settings, history, time.perf_counter() - started)


def encode(model: LocatelloVAE, images: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Posterior means ``[N, latent]`` of uint8 ``images`` (the representation the metrics score).

    Example:
        >>> encode(LocatelloVAE(), torch.zeros(3, 3, 64, 64, dtype=torch.uint8)).shape
        (3, 10)
    """
    model.eval()
    with torch.no_grad():
        return torch.cat([model.encode(images[i : i + batch_size].float() / 255)[0]
                          for i in range(0, len(images), batch_size)]).numpy()  # fmt: skip
