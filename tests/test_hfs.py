"""HFS against scipy's directed Hausdorff distance; the correlated sampler's weights against the closed form."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.spatial.distance import directed_hausdorff

from robustscope.represent.hfs import CORRELATION_SIGMA, correlation_sampler, correlation_weights, hfs_loss


def test_full_estimation_equals_scipy_directed_hausdorff() -> None:
    z = torch.randn(12, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = 0.0
    for a, b in itertools.combinations(range(4), 2):
        joint = z[:, [a, b]].numpy()
        product = np.array([(x, y) for x in z[:, a].numpy() for y in z[:, b].numpy()])
        expected += directed_hausdorff(product, joint)[0] ** 2
    assert float(hfs_loss(z, estimation="full")) == pytest.approx(expected)


def test_known_supports_and_the_random_estimate() -> None:
    diagonal = torch.tensor([[0.0, 0.0], [1.0, 1.0]] * 4)
    assert float(hfs_loss(diagonal, estimation="full")) == pytest.approx(1.0)
    # 100 random combinations miss both off-diagonal points with probability 2^-100.
    assert float(hfs_loss(diagonal, generator=torch.Generator().manual_seed(0))) == pytest.approx(1.0)
    grid = torch.tensor([[x, y] for x in (0.0, 1.0, 2.0) for y in (0.0, 1.0)])
    assert float(hfs_loss(grid, estimation="full")) == 0.0
    z = torch.randn(16, 10, requires_grad=True)
    loss = hfs_loss(z, num_pairs=5)
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    with pytest.raises(ValueError, match="D ≥ 2"):
        hfs_loss(torch.zeros(4, 1))


def test_sampler_weights_equal_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 10, size=(200, 3)).astype(float)
    scaled = factors / 9.0  # each column spans 0…9
    sigma = CORRELATION_SIGMA["strong"]
    expected = np.exp(-((scaled[:, 0] - scaled[:, 1]) ** 2) / (2 * sigma**2)) * np.exp(
        -((scaled[:, 1] - scaled[:, 2]) ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(correlation_weights(factors, [(0, 1), (1, 2)], sigma), expected)
    sampler = correlation_sampler(factors, [(0, 1)], sigma, torch.Generator().manual_seed(0))
    drawn = np.array(list(sampler))
    assert sampler.replacement and len(drawn) == 200
    assert np.abs(scaled[drawn, 0] - scaled[drawn, 1]).mean() < np.abs(scaled[:, 0] - scaled[:, 1]).mean() / 2
