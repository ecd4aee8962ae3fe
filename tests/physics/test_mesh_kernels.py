"""The Numba particle update against the PyTorch stage it mirrors, on states built to reach
every branch: wall bounces, the speed and acceleration clamps, and the heat limiter."""

from __future__ import annotations

import pytest
import torch

from thermo_manifold.physics import PhysicsConfig, grid, mesh_kernels, poisson, stages, thermal

pytestmark = pytest.mark.skipif(not mesh_kernels.AVAILABLE, reason="numba not installed")


def _extreme_state(generator, n, config):
    box = torch.tensor(config.domain_size, dtype=torch.float64)
    x = torch.rand(n, 3, generator=generator, dtype=torch.float64) * box
    v = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    x[: n // 8] = torch.tensor(1e-3, dtype=torch.float64)  # at the lower walls ...
    v[: n // 8] = -3.0  # ... moving out fast: bounces and the speed clamp
    x[n // 8: n // 4] = box * (1 - 1e-4)
    v[n // 8: n // 4] = 3.0
    masses = torch.rand(n, generator=generator, dtype=torch.float64) * 2 + 0.05
    energies = torch.rand(n, generator=generator, dtype=torch.float64)
    heats = torch.rand(n, generator=generator, dtype=torch.float64) * 50
    heats[::3] = 0.0  # cold particles next to hot ones: conduction must be limited
    return x, v, masses, energies, heats


@pytest.mark.parametrize("gravity", [1.0, 500.0])  # 500: the acceleration clamp engages
def test_numba_update_matches_the_torch_stage(generator, gravity):
    config = PhysicsConfig(grid_size=(7, 9, 8), G=gravity, thermal_conductivity=16.0)
    x, v, m, e, q = _extreme_state(generator, 3000, config)
    dense = grid.cloud_in_cell(x, config.grid_size, config.grid_spacing)
    loops = mesh_kernels.NumbaCloudInCell(x, config.grid_size, config.grid_spacing)
    deposited = stages.deposit(dense, m, q, config)
    exchanged = stages.exchange_heat(dense, deposited.heat_field, deposited.capacity_field, q, m,
                                     config)
    phi = poisson.solve_spectral(deposited.mass_field * 4 * torch.pi * config.G,
                                 config.grid_spacing)
    # A rugged medium temperature (not the one diffusion would leave) makes neighbours pull
    # hard in opposite directions, so hundreds of particles hit the non-negativity limiter.
    rugged = torch.rand(config.grid_size, generator=generator, dtype=torch.float64) ** 4 * 1e3
    args = (phi, rugged, deposited.capacity_field, x, v, m, e, exchanged.heats, config)
    expected = stages.update_particles(dense, *args)
    got = mesh_kernels.update_particles(loops, *args)
    for name, want in expected._asdict().items():
        assert torch.allclose(getattr(got, name), want, rtol=1e-11, atol=1e-11), name
    assert float(expected.dissipated) > 0  # the walls and the clamp removed kinetic energy
    assert (got.heats >= 0).all()
    # The case reaches the limiter: conduction alone empties hundreds of particles exactly.
    conducted = exchanged.heats + thermal.conduct(
        dense, dense.gather(rugged), exchanged.heats, m * config.specific_heat,
        deposited.capacity_field, config.thermal_conductivity * config.particle_radius * config.dt)
    assert (conducted == 0).sum() > 100
    assert not torch.equal(got.positions, x)  # new tensors; the caller's are kept
