"""Lie-group operators on embeddings: ``z′ ≈ expm(t·L)·z`` for a transformation of known size ``t``.

Ibrahim et al., arXiv 2210.13356 (2022): Lie-group operators added to self-supervised learning, so that a model
generalises to objects in poses it has not seen. There is no public code; this follows the method as the issue
that asked for it summarises the paper (the seed documents hold only the abstract):

- a learned generator ``L`` (``D×D``; optionally ``G`` generators combined as ``Σ_g t_g·L_g``), mapping the embedding
  ``z`` of an object to the embedding ``z′`` of the same object transformed by ``t`` (e.g. a rotation of ``t``
  radians about an axis, which the renderer knows) through the matrix exponential ``expm(t·L)``
  (``torch.linalg.matrix_exp``, differentiable);
- the loss ``‖z′ − expm(t·L)·z‖²`` (:func:`lie_loss`: summed over the embedding, averaged over pairs), added to the
  self-supervised loss with a weight λ;
- ``t`` given by the renderer or, as in the paper, predicted from ``(z, z′)`` by a small network
  (:class:`TransformationPredictor`).

An operator fitted on small transformations extrapolates to larger ones when the true transformation is a
one-parameter group (``tests/test_lie.py`` checks it against a known skew-symmetric generator).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LieOperator", "TransformationPredictor", "fit_lie_operator", "lie_loss"]


class LieOperator(nn.Module):
    """``G`` learned generators ``L_g`` (``[G, D, D]``) acting on ``[B, D]`` embeddings by ``expm(Σ_g t_g·L_g)``.

    Args:
        dim: D, the embedding size.
        num_generators: G (1: one transformation parameter).
        init_scale: standard deviation of the generators' initial entries (small: starts near the identity).
        seed: the initial generators' seed.

    Example:
        >>> op = LieOperator(3)
        >>> z = torch.randn(2, 3)
        >>> torch.allclose(op(z, torch.zeros(2)), z)  # t = 0 is the identity, whatever L is
        True
    """

    def __init__(self, dim: int, num_generators: int = 1, init_scale: float = 0.01, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.generators = nn.Parameter(torch.randn(num_generators, dim, dim, generator=generator) * init_scale)

    def matrix(self, t: torch.Tensor) -> torch.Tensor:
        """``expm(Σ_g t_g·L_g)`` for each pair: ``t`` is ``[B]`` (G = 1) or ``[B, G]``; returns ``[B, D, D]``.

        Example:
            >>> LieOperator(2).matrix(torch.zeros(1)).squeeze(0).tolist()
            [[1.0, 0.0], [0.0, 1.0]]
        """
        t = t.to(self.generators.dtype)
        if t.ndim == 1:
            t = t[:, None]
        if t.shape[1] != self.generators.shape[0]:
            raise ValueError(f"t has {t.shape[1]} parameters per pair, the operator {self.generators.shape[0]}")
        return torch.linalg.matrix_exp(torch.einsum("bg,gij->bij", t, self.generators))

    def forward(self, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The transformed embeddings ``expm(t·L)·z`` ``[B, D]``."""
        return torch.einsum("bij,bj->bi", self.matrix(t), z.to(self.generators.dtype))


class TransformationPredictor(nn.Module):
    """Predicts ``t`` (``[B, G]``) from a pair ``(z, z′)``: a two-layer MLP on their concatenation.

    Example:
        >>> TransformationPredictor(4, 1)(torch.randn(3, 4), torch.randn(3, 4)).shape
        torch.Size([3, 1])
    """

    def __init__(self, dim: int, num_generators: int = 1, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, num_generators))

    def forward(self, z: torch.Tensor, z_prime: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, z_prime], dim=1))


def lie_loss(operator: LieOperator, z: torch.Tensor, z_prime: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``‖z′ − expm(t·L)·z‖²`` summed over the embedding, averaged over the ``B`` pairs.

    Example:
        >>> op = LieOperator(2)
        >>> z = torch.tensor([[1.0, 0.0]])
        >>> float(lie_loss(op, z, z, torch.zeros(1)))
        0.0
    """
    return (z_prime.to(operator.generators.dtype) - operator(z, t)).pow(2).sum(dim=1).mean()


def fit_lie_operator(
    z: torch.Tensor,
    z_prime: torch.Tensor,
    t: torch.Tensor,
    *,
    num_generators: int = 1,
    steps: int = 500,
    lr: float = 0.05,
    seed: int = 0,
) -> LieOperator:
    """Fit a :class:`LieOperator` to fixed embedding pairs by Adam on :func:`lie_loss` (full batch).

    Used on frozen features (a probe of how well a backbone's embedding space carries the transformation) and on
    synthetic latents. ``z``, ``z_prime``: ``[B, D]``; ``t``: ``[B]`` or ``[B, G]``.

    Example:
        >>> skew = torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # rotation generator
        >>> z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
        >>> t = torch.linspace(0, 0.5, 64)
        >>> z2 = torch.einsum("bij,bj->bi", torch.linalg.matrix_exp(t[:, None, None] * skew), z)
        >>> op = fit_lie_operator(z, z2, t, steps=300)
        >>> bool((op.generators[0] - skew).abs().max() < 0.05)
        True
    """
    torch.manual_seed(seed)
    operator = LieOperator(z.shape[1], num_generators, seed=seed)
    optimiser = torch.optim.Adam(operator.parameters(), lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = lie_loss(operator, z, z_prime, t)
        loss.backward()
        optimiser.step()
    return operator
