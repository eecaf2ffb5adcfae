"""Hausdorff Factorized Support (HFS) and the correlated-factor sampler of Roth et al., ICLR 2023.

Roth, Ibrahim, Akata, Vincent & Bouchacourt, "Disentanglement of Correlated Factors via Hausdorff Factorized
Support", ICLR 2023; reference: facebookresearch/disentangling-correlated-factors @
``3b0d233ac551ef41d054b2113a59f0166df4967b``.

- :func:`hfs_loss` follows ``dent/losses/factorizedsupportvae.py`` with ``matching="hausdorff_hard"``: for up to
  ``num_pairs`` (25) random pairs of latent dimensions, the batch's joint support of the pair is compared with the
  product of its two marginal supports; the loss is, summed over pairs, the largest squared distance from a point
  of the factorised support to its nearest point of the joint support (the hard Hausdorff distance, one-sided as
  in the reference). The factorised support is estimated from ``num_estimators`` (100) random combinations of the
  two coordinates (``factorized_support_estimation="random"``), or from all ``B²`` (``"full"``).
- :func:`correlation_weights` follows ``provide_correlation_sampler`` in ``datasets/utils.py`` (Träuble et al.'s
  correlation): each sample's weight is ``Π exp(−(c₁ − c₂)² / (2σ²))`` over the correlated factor pairs, factors
  normalised to [0, 1]; the weights feed a ``WeightedRandomSampler`` with replacement and ``len(dataset)``
  draws. The paper's strengths: σ = 0.4 (weak), 0.1 (medium), 0.04 (strong).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

__all__ = ["CORRELATION_SIGMA", "correlation_sampler", "correlation_weights", "hfs_loss"]

#: σ of each named correlation strength (Roth et al., §5: weak 0.4, medium 0.1, strong 0.04).
CORRELATION_SIGMA = {"weak": 0.4, "medium": 0.1, "strong": 0.04}


def hfs_loss(z: torch.Tensor, *, num_pairs: int = 25, num_estimators: int = 100, estimation: str = "random",
             generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """The hard Hausdorff distance between the joint and the factorised support of ``z [B, D]``, summed over pairs.

    Example:
        >>> diagonal = torch.tensor([[0.0, 0.0], [1.0, 1.0]])  # product of marginals adds (0,1) and (1,0)
        >>> float(hfs_loss(diagonal, estimation="full"))
        1.0
        >>> grid = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        >>> float(hfs_loss(grid, estimation="full"))
        0.0
    """
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"HFS needs a [B, D] batch with D ≥ 2, got {tuple(z.shape)}")
    batch, dim = z.shape
    available = np.array(list(itertools.combinations(range(dim), 2)))
    count = min(num_pairs, len(available))
    pick = torch.randperm(len(available), generator=generator)[:count].numpy()
    pairs = torch.as_tensor(available[np.sort(pick)] if count < len(available) else available)
    sub = z[:, pairs]  # [B, P, 2]
    if estimation == "random":
        index = torch.randint(0, batch, (num_estimators, len(pairs), 2), generator=generator, device=z.device)
        factorised = sub.gather(0, index)  # coordinate c of pair p from sample index[e, p, c]
    elif estimation == "full":
        first = torch.arange(batch, device=z.device).repeat(batch)
        second = torch.arange(batch, device=z.device).repeat_interleave(batch)
        factorised = torch.cat([sub[first, :, 0:1], sub[second, :, 1:2]], dim=-1)  # [B², P, 2]
    else:
        raise ValueError(f"estimation is 'random' or 'full', not {estimation!r}")
    distances = ((factorised.unsqueeze(1) - sub.unsqueeze(0)) ** 2).sum(-1)  # [E, B, P]
    return distances.min(1)[0].max(0)[0].sum()


def correlation_weights(factors: np.ndarray, pairs: Sequence[tuple[int, int]], sigma: float) -> np.ndarray:
    """Sampling weight of each row of ``factors [N, K]`` (normalised to [0, 1] per column here) correlating each
    pair of factor columns with strength ``sigma``.

    Example:
        >>> w = correlation_weights(np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), [(0, 1)], sigma=0.5)
        >>> np.round(w, 4).tolist()  # exp(-(c1 - c2)^2 / (2 · 0.25)): 1, e^-2, 1
        [1.0, 0.1353, 1.0]
    """
    values = np.asarray(factors, dtype=np.float64)
    low, high = values.min(axis=0), values.max(axis=0)
    scaled = (values - low) / np.where(high > low, high - low, 1.0)
    weights = np.ones(len(values))
    for a, b in pairs:
        weights *= np.exp(-((scaled[:, a] - scaled[:, b]) ** 2) / (2 * sigma**2))
    return weights


def correlation_sampler(factors: np.ndarray, pairs: Sequence[tuple[int, int]], sigma: float | None,
                        generator: torch.Generator | None = None) -> WeightedRandomSampler:  # fmt: skip
    """The reference's sampler: ``WeightedRandomSampler(weights, len(factors), replacement=True)``; ``sigma=None``
    (no correlation) gives uniform weights.

    Example:
        >>> correlation_sampler(np.zeros((4, 2)), [(0, 1)], None).num_samples
        4
    """
    weights = np.ones(len(factors)) if sigma is None else correlation_weights(factors, pairs, sigma)
    return WeightedRandomSampler(weights.tolist(), len(factors), replacement=True, generator=generator)
