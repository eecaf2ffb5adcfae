"""Lie operators: the matrix-exponential path's gradients, and extrapolation beyond the training range."""

from __future__ import annotations

import torch

from robustscope.represent.lie import LieOperator, fit_lie_operator, lie_loss


def test_expm_path_passes_gradcheck() -> None:
    op = LieOperator(3, num_generators=2, init_scale=0.3).double()
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    t = torch.rand(4, 2, dtype=torch.float64, requires_grad=True)
    generators = op.generators.detach().clone().requires_grad_(True)

    def apply(z: torch.Tensor, t: torch.Tensor, generators: torch.Tensor) -> torch.Tensor:
        op.generators.data = generators
        matrices = torch.linalg.matrix_exp(torch.einsum("bg,gij->bij", t, generators))
        return torch.einsum("bij,bj->bi", matrices, z)

    assert torch.autograd.gradcheck(apply, (z, t, generators))
    # The module's own forward gives the same numbers as the function checked.
    assert torch.allclose(op(z, t), apply(z, t, generators))


def test_operator_extrapolates_a_true_one_parameter_group() -> None:
    rng = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=rng, dtype=torch.float64)
    true_generator = (a - a.T) / 2  # skew-symmetric: expm(tL*) is a rotation group
    z = torch.randn(96, 6, generator=rng, dtype=torch.float64)
    t = torch.rand(96, generator=rng, dtype=torch.float64) * 0.5  # training: t in [0, 0.5]
    z_prime = torch.einsum("bij,bj->bi", torch.linalg.matrix_exp(t[:, None, None] * true_generator), z)
    op = fit_lie_operator(z.float(), z_prime.float(), t.float(), steps=200, lr=0.1)
    test_z = torch.randn(128, 6, generator=rng, dtype=torch.float64)
    ones = torch.ones(128, dtype=torch.float64)
    target = torch.einsum("bij,bj->bi", torch.linalg.matrix_exp(true_generator).expand(128, 6, 6), test_z)
    with torch.no_grad():
        learned = float(lie_loss(op, test_z.float(), target.float(), ones.float()))
    identity = float((target - test_z).pow(2).sum(1).mean())
    assert learned < 0.05 * identity, (learned, identity)


def test_t_with_the_wrong_number_of_parameters_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="parameters per pair"):
        LieOperator(3, num_generators=2)(torch.randn(2, 3), torch.zeros(2, 3))
