"""MIG and DCI-D against a transcription of the reference code on the same inputs, and their known extremes."""

from __future__ import annotations

import numpy as np
import pytest

from disentanglement_reference import reference_dci_d, reference_mig
from robustscope.metrics.disentanglement import dci, mig


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 6, size=(600, 3)).astype(float)
    mixing = rng.normal(size=(3, 5))
    latents = factors @ mixing + rng.normal(0, 0.5, size=(600, 5))
    return latents, factors


def test_mig_equals_the_reference(data: tuple[np.ndarray, np.ndarray]) -> None:
    latents, factors = data
    assert mig(latents, factors) == pytest.approx(reference_mig(latents, factors), abs=1e-12)


def test_dci_equals_the_reference(data: tuple[np.ndarray, np.ndarray]) -> None:
    latents, factors = data
    order = np.random.default_rng(0).permutation(600)
    result = dci(latents, factors, num_train=400, num_test=200, seed=0)
    assert result.disentanglement == pytest.approx(reference_dci_d(latents, factors, order[:400], order[400:]))


def test_extremes() -> None:
    rng = np.random.default_rng(1)
    # A full grid repeated (as dSprites is): the factors are exactly independent in the sample, so the plug-in
    # mutual information between a factor and another factor's copy is exactly 0.
    factors = np.array([(a, b, c) for a in range(5) for b in range(5) for c in range(4)] * 12, dtype=float)
    rng.shuffle(factors)
    assert mig(factors, factors) == pytest.approx(1.0)
    exact = dci(factors, factors, num_train=800, num_test=400)
    assert exact.disentanglement == pytest.approx(1.0, abs=1e-6) and exact.informativeness_test == 1.0
    noise = rng.normal(size=(len(factors), 3))
    assert mig(noise, factors) == pytest.approx(0.0, abs=0.02)
    independent = dci(noise, factors, num_train=800, num_test=400)
    assert independent.informativeness_test < 0.3  # chance is 0.2-0.25
    assert independent.disentanglement < 0.05  # every feature's importance spread evenly over the factors
    with pytest.raises(ValueError, match="two latent"):
        mig(factors[:, :1], factors)
