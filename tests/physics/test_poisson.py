from __future__ import annotations

import math

import torch

from thermo_manifold.physics import poisson


def test_spectral_solves_the_discrete_problem_exactly(generator):
    phi_true = torch.randn(9, 12, 7, generator=generator, dtype=torch.float64)
    source = poisson.laplacian(phi_true, 0.6)
    phi = poisson.solve_spectral(source, 0.6)
    assert torch.allclose(phi, phi_true, atol=1e-11)
    assert poisson.residual(phi, source, 0.6) < 1e-12


def test_spectral_matches_the_analytic_continuum_solution():
    # phi = sin(pi x/L) sin(pi y/L) sin(pi z/L) vanishes on the Dirichlet boundary, which sits
    # one node spacing outside the outermost nodes: L = (g + 1) h.
    errors = []
    for g in (15, 31):
        h = 1.0 / (g + 1)
        coords = torch.arange(1, g + 1, dtype=torch.float64) * h
        x, y, z = torch.meshgrid(coords, coords, coords, indexing="ij")
        exact = torch.sin(math.pi * x) * torch.sin(math.pi * y) * torch.sin(math.pi * z)
        source = -3 * math.pi**2 * exact
        errors.append((poisson.solve_spectral(source, h) - exact).abs().max().item())
    assert errors[0] < 1e-2
    # Second-order accurate: halving h divides the error by about 4.
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_jacobi_residual_decreases_towards_the_spectral_solution(generator):
    source = torch.randn(10, 10, 10, generator=generator, dtype=torch.float64)
    residuals = []
    phi = torch.zeros_like(source)
    for _ in range(4):
        phi = poisson.jacobi(phi, source, 1.0, 25)
        residuals.append(poisson.residual(phi, source, 1.0))
    assert all(b < a for a, b in zip(residuals, residuals[1:]))
    exact = poisson.solve_spectral(source, 1.0)
    far = poisson.jacobi(torch.zeros_like(source), source, 1.0, 2000)
    assert torch.allclose(far, exact, atol=1e-8)


def test_matrix_and_fft_sine_transforms_give_the_same_solve(monkeypatch):
    # The two routes of solve_spectral (matrix products up to MATRIX_DST_MAX_NODES per axis,
    # the FFT beyond) solve the same discrete problem; both must invert the 7-point Laplacian.
    source = torch.rand(9, 6, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    by_matrix = poisson.solve_spectral(source, 0.7)
    monkeypatch.setattr(poisson, "MATRIX_DST_MAX_NODES", 0)
    by_fft = poisson.solve_spectral(source, 0.7)
    assert torch.allclose(by_matrix, by_fft, rtol=1e-12, atol=1e-14)
    for phi in (by_matrix, by_fft):
        assert torch.allclose(poisson.laplacian(phi, 0.7), source, atol=1e-12)
