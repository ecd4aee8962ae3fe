from __future__ import annotations

import pytest
import torch

from thermo_manifold.physics import grid, thermal


def _cloud(generator, n=3000, size=(8, 8, 8), h=1.0):
    box = torch.tensor(size, dtype=torch.float64) * h
    # Particles in part of the box only, so that some cells are empty (vacuum).
    x = torch.rand(n, 3, generator=generator, dtype=torch.float64) * box * 0.6
    mass = torch.rand(n, generator=generator, dtype=torch.float64) + 0.5
    heat = torch.rand(n, generator=generator, dtype=torch.float64) ** 3 * 10
    return grid.cloud_in_cell(x, size, h), mass, heat


def test_diffusion_conserves_the_field_sum_and_stays_non_negative(generator):
    stencil, mass, heat = _cloud(generator)
    heat_field = grid.scatter(stencil, heat)
    capacity_field = grid.scatter(stencil, mass) * 10.0
    diffused = heat_field
    for _ in range(50):
        diffused = thermal.diffuse_heat(diffused, capacity_field, 1.0 / 6.0)
    assert abs(diffused.sum().item() - heat_field.sum().item()) < 1e-11 * heat_field.sum().item()
    assert (diffused >= 0).all()
    assert (diffused[capacity_field == 0] == 0).all()  # no heat leaks into vacuum
    # Diffusion smooths: the temperature spread shrinks.
    occupied = capacity_field > 0
    before = thermal.field_temperature(heat_field, capacity_field)[occupied]
    after = thermal.field_temperature(diffused, capacity_field)[occupied]
    assert after.std() < before.std()


def test_distribution_back_to_particles_conserves_and_keeps_heat_non_negative(generator):
    stencil, mass, heat = _cloud(generator)
    capacity = mass * 10.0
    heat_field = grid.scatter(stencil, heat)
    capacity_field = grid.scatter(stencil, capacity)
    diffused = thermal.diffuse_heat(heat_field, capacity_field, 1.0 / 6.0)
    change = thermal.distribute_to_particles(stencil, diffused - heat_field, heat_field,
                                             capacity_field, heat, capacity)
    assert abs(change.sum().item()) < 1e-10 * heat.sum().item()
    assert (heat + change >= -1e-12).all()


def test_conduction_is_zero_sum_non_negative_and_does_not_overshoot(generator):
    stencil, mass, heat = _cloud(generator)
    capacity = mass * 10.0
    capacity_field = grid.scatter(stencil, capacity)
    local = torch.rand(heat.shape[0], generator=generator, dtype=torch.float64) * 2
    change = thermal.conduct(stencil, local, heat, capacity, capacity_field, 0.5)
    assert abs(change.sum().item()) < 1e-10 * heat.sum().item()
    assert (heat + change >= 0).all()


def test_conduction_equilibrates_a_shared_cell_without_overshoot():
    # Two particles on the same spot share one stencil; their medium temperature is the
    # capacity-weighted mean. An enormous coefficient brings both exactly to it, not past it.
    x = torch.tensor([[2.3, 2.6, 2.2], [2.3, 2.6, 2.2]], dtype=torch.float64)
    stencil = grid.cloud_in_cell(x, (4, 4, 4), 1.0)
    capacity = torch.tensor([10.0, 30.0], dtype=torch.float64)
    heat = torch.tensor([50.0, 6.0], dtype=torch.float64)  # T = 5 and 0.2
    mean = heat.sum() / capacity.sum()
    capacity_field = grid.scatter(stencil, capacity)
    local = torch.full((2,), mean.item(), dtype=torch.float64)
    for coefficient_dt, check in ((1e9, "equal"), (2.0, "between")):
        new = heat + thermal.conduct(stencil, local, heat, capacity, capacity_field,
                                     coefficient_dt)
        temperature = new / capacity
        assert new.sum().item() == pytest.approx(heat.sum().item(), rel=1e-14)
        if check == "equal":
            assert torch.allclose(temperature, mean.expand(2), rtol=1e-12)
        else:
            assert 0.2 < temperature[1] < mean < temperature[0] < 5.0


def test_thermalization_and_radiation_limits():
    energy = torch.tensor([0.0, 1.0, 1e-9, 5.0], dtype=torch.float64)
    moved = thermal.thermalize(energy, tau=10.0, dt=0.01)
    assert torch.allclose(moved, energy * 1e-3)
    assert torch.equal(thermal.thermalize(energy, tau=1e-3, dt=1.0), energy)  # capped at E
    heat = torch.tensor([0.0, 1.0, 100.0], dtype=torch.float64)
    capacity = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64)
    lost = thermal.radiate(heat, capacity, 0.5, 1e-5, 0.5, 0.01)
    assert torch.allclose(lost, 0.5 * 1e-5 * 0.25 * heat**4 * 0.01)
    huge = thermal.radiate(heat, capacity, 1.0, 1e9, 1.0, 1.0)
    assert torch.equal(huge, heat)  # never more than the particle holds


def test_non_negativity_limiter_caps_only_the_offenders_and_stays_zero_sum(generator):
    heat = torch.rand(1000, generator=generator, dtype=torch.float64)
    heat[:10] = 0.0
    change = torch.randn(1000, generator=generator, dtype=torch.float64)
    change -= change.mean()  # zero-sum
    limited = thermal._limit_to_non_negative(heat, change)
    assert (heat + limited >= 0).all()
    assert abs(limited.sum().item()) < 1e-12
    fine = (change < 0) & (heat + change >= 0)
    assert torch.equal(limited[fine], change[fine])  # donors that could pay are untouched
    gains = change > 0
    assert (limited[gains] <= change[gains]).all() and (limited[gains] > 0).all()
