from __future__ import annotations

import pytest
import torch

from thermo_manifold.physics import grid, mesh_kernels


def _positions(generator, n, grid_size, spacing):
    box = torch.tensor(grid_size, dtype=torch.float64) * spacing
    return torch.rand(n, 3, generator=generator, dtype=torch.float64) * box


def test_scatter_conserves_mass_and_heat(generator):
    size, h = (9, 7, 11), 0.8
    x = _positions(generator, 5000, size, h)
    mass = torch.rand(5000, generator=generator, dtype=torch.float64) + 0.1
    heat = torch.rand(5000, generator=generator, dtype=torch.float64) * 3
    stencil = grid.cloud_in_cell(x, size, h)
    assert torch.allclose(stencil.weights.sum(1), torch.ones(5000, dtype=torch.float64),
                          atol=1e-14)
    assert (stencil.weights >= 0).all()
    for values in (mass, heat):
        field = grid.scatter(stencil, values)
        assert field.shape == size
        assert abs(field.sum().item() - values.sum().item()) < 1e-11 * values.sum().item()


def test_gather_reproduces_a_linear_field_and_its_gradient(generator):
    size, h = (8, 10, 6), 1.3
    coeff = torch.rand(3, generator=generator, dtype=torch.float64) * 4 - 2
    offset = 0.7
    ix, iy, iz = torch.meshgrid(*(torch.arange(g, dtype=torch.float64) for g in size),
                                indexing="ij")
    nodes = torch.stack([ix, iy, iz], -1) * h + 0.5 * h  # node positions (cell centres)
    field = nodes @ coeff + offset
    # Inside the node hull [h/2, (g - 1/2) h] trilinear interpolation is exact for linear fields.
    lo = 0.5 * h
    hi = torch.tensor(size, dtype=torch.float64) * h - 0.5 * h
    x = lo + torch.rand(2000, 3, generator=generator, dtype=torch.float64) * (hi - lo)
    stencil = grid.cloud_in_cell(x, size, h)
    assert torch.allclose(grid.gather(stencil, field), x @ coeff + offset, atol=1e-12)
    gradient = grid.gather_gradient(stencil, field)
    assert torch.allclose(gradient, coeff.expand(2000, 3), atol=1e-12)


def test_gradient_matches_finite_differences_of_the_interpolant(generator):
    size, h = (6, 6, 6), 1.0
    field = torch.randn(size, generator=generator, dtype=torch.float64)
    x = 1.0 + torch.rand(200, 3, generator=generator, dtype=torch.float64) * 3.5
    analytic = grid.gather_gradient(grid.cloud_in_cell(x, size, h), field)
    eps = 1e-6
    for axis in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[axis] = eps
        up = grid.gather(grid.cloud_in_cell(x + step, size, h), field)
        down = grid.gather(grid.cloud_in_cell(x - step, size, h), field)
        assert torch.allclose(analytic[:, axis], (up - down) / (2 * eps), atol=1e-6)


@pytest.mark.skipif(not mesh_kernels.AVAILABLE, reason="numba not installed")
def test_numba_transfers_match_the_materialised_stencil(generator):
    """The on-the-fly Numba stencil gives the same scatter, gather and gradient, including
    particles in the outer half-cells and on the box edges."""
    size, h = (9, 7, 11), 0.8
    x = _positions(generator, 4000, size, h)
    x[:10] = 0.0  # the lower corner and faces, where the stencil is clamped
    x[10:20] = torch.tensor(size, dtype=torch.float64) * h * (1 - 1e-12)
    values = torch.rand(4000, generator=generator, dtype=torch.float64) + 0.1
    field = torch.randn(size, generator=generator, dtype=torch.float64)
    dense = grid.cloud_in_cell(x, size, h)
    loops = mesh_kernels.NumbaCloudInCell(x, size, h)
    assert torch.allclose(loops.scatter(values), dense.scatter(values), rtol=0, atol=1e-12)
    assert abs(loops.scatter(values).sum().item() - values.sum().item()) < 1e-10
    value, gradient = loops.gather_with_gradient(field)
    assert torch.allclose(loops.gather(field), dense.gather(field), rtol=0, atol=1e-12)
    assert torch.allclose(value, dense.gather(field), rtol=0, atol=1e-12)
    assert torch.allclose(gradient, grid.gather_gradient(dense, field), rtol=0, atol=1e-12)
