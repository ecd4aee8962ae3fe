"""Seed 003 section 2's screened-Poisson reading against closed forms: plane waves and a
Gaussian, with a diagonal metric, and a critic trained on the residual alone."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.agent.critic import HodgeCritic
from thermo_manifold.agent.screened_poisson import metric_laplacian, screened_poisson_residual

F64 = torch.float64


def test_the_laplacian_of_a_gaussian_with_a_diagonal_metric():
    # V = exp(-|z|^2 / 2): d_i d_i V = (z_i^2 - 1) V, so Delta_G V = sum_i g_i (z_i^2 - 1) V
    z = torch.randn(7, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    inverse = torch.tensor([0.5, 1.0, 3.0], dtype=F64)
    value, laplacian = metric_laplacian(lambda x: torch.exp(-0.5 * (x * x).sum(-1)), z,
                                        inverse)
    expected = ((z * z - 1.0) * inverse).sum(-1) * value
    torch.testing.assert_close(laplacian, expected.detach(), rtol=1e-12, atol=1e-12)


def test_a_plane_wave_solves_its_screened_equation_and_a_wrong_kappa_does_not():
    # V = sin(k . z): -Delta_G V = (sum_i g_i k_i^2) V, so rho = (|k|_G^2 + kappa^2) V
    k = torch.tensor([1.0, -2.0], dtype=F64)
    inverse = torch.tensor([2.0, 0.25], dtype=F64)
    kappa = 0.7
    z = torch.rand(50, 2, generator=torch.Generator().manual_seed(1), dtype=F64) * 4 - 2
    wave = lambda x: torch.sin(x @ k)  # noqa: E731
    rho = ((inverse * k * k).sum() + kappa**2) * wave(z)
    assert float(screened_poisson_residual(wave, z, rho, kappa, inverse).detach()) < 1e-24
    wrong = float(screened_poisson_residual(wave, z, rho, 1.5, inverse).detach())
    # the residual is ((1.5^2 - 0.7^2) V)^2 on average
    assert wrong == pytest.approx(float(((1.5**2 - kappa**2) * wave(z)).pow(2).mean()),
                                  rel=1e-12)
    with pytest.raises(ValueError, match="density"):
        screened_poisson_residual(wave, z, rho[:3], kappa)
    with pytest.raises(ValueError, match="metric_inverse"):
        metric_laplacian(wave, z, -inverse)


def test_a_critic_trained_on_the_residual_finds_the_screened_field():
    """rho = (1 + kappa^2) sin(z_1) in 1-D has the solution V = sin(z_1) (up to nothing: with
    kappa > 0 the screened operator is invertible). The critic's Phi, trained on the residual
    alone at sampled points, comes close to it."""
    g = torch.Generator().manual_seed(2)
    critic = HodgeCritic(1, 32, g).double()
    kappa = 1.0
    optimiser = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(600):
        z = torch.rand(64, 1, generator=g, dtype=F64) * 2 * math.pi - math.pi
        rho = (1.0 + kappa**2) * torch.sin(z[:, 0])
        loss = screened_poisson_residual(critic.potential, z, rho, kappa)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    grid = torch.linspace(-2.5, 2.5, 41, dtype=F64)[:, None]
    with torch.no_grad():
        error = (critic.potential(grid) - torch.sin(grid[:, 0])).abs().max()
    assert float(error) < 0.15
