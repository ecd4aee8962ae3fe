"""The mesh stages of a step as pure functions of tensors (scatter, heat, particle update).

They take a particle-mesh transfer (`grid.CloudInCell` or `mesh_kernels.NumbaCloudInCell`),
tensors and a frozen `PhysicsConfig` and return tensors only (energy flows as 0-d
float64 tensors, not Python floats), with no data-dependent Python branches. That keeps one source
of truth for both ways the engine runs them: called directly (eager PyTorch, every device), or
through `torch.compile`, which fuses each stage's dozens of elementwise operations into a few
loops (`ManifoldPhysics(..., compile=True)`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from thermo_manifold.physics import grid, thermal
from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.ledger import kinetic_change
from thermo_manifold.physics.mesh_kernels import NumbaCloudInCell

# Particle <-> grid transfers: materialised stencils in PyTorch (any device) or Numba loops
# over a compact per-particle stencil (CPU). Both offer scatter / gather /
# gather_with_gradient.
Transfer = grid.CloudInCell | NumbaCloudInCell


class Deposit(NamedTuple):
    mass_field: torch.Tensor
    heat_field: torch.Tensor
    capacity_field: torch.Tensor


class HeatExchange(NamedTuple):
    heats: torch.Tensor  # particle heat after grid diffusion
    diffused: torch.Tensor  # heat field after diffusion
    temperature: torch.Tensor  # medium temperature field


class ParticleUpdate(NamedTuple):
    positions: torch.Tensor
    velocities: torch.Tensor
    energies: torch.Tensor
    heats: torch.Tensor
    gravity_work: torch.Tensor  # 0-d float64 tensors from here on
    pressure_work: torch.Tensor
    radiated: torch.Tensor
    dissipated: torch.Tensor
    potential: torch.Tensor


def _total(values: torch.Tensor) -> torch.Tensor:
    return values.sum(dtype=torch.float64)


def deposit(stencil: Transfer, masses: torch.Tensor, heats: torch.Tensor,
            config: PhysicsConfig) -> Deposit:
    """Stage 1: cloud-in-cell scatter of mass and heat; capacity = c_v * mass field."""
    mass_field = stencil.scatter(masses)
    return Deposit(mass_field, stencil.scatter(heats), mass_field * config.specific_heat)


def exchange_heat(stencil: Transfer, heat_field: torch.Tensor,
                  capacity_field: torch.Tensor, heats: torch.Tensor, masses: torch.Tensor,
                  config: PhysicsConfig) -> HeatExchange:
    """Stage 3: conservative diffusion of the heat field, handed back to the particles."""
    diffused = thermal.diffuse_heat(heat_field, capacity_field, config.diffusion_number)
    new_heats = heats + thermal.distribute_to_particles(
        stencil, diffused - heat_field, heat_field, capacity_field, heats,
        masses * config.specific_heat)
    return HeatExchange(new_heats, diffused, thermal.field_temperature(diffused, capacity_field))


def update_particles(stencil: Transfer, potential_field: torch.Tensor,
                     temperature_field: torch.Tensor, capacity_field: torch.Tensor,
                     positions: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor,
                     energies: torch.Tensor, heats: torch.Tensor, config: PhysicsConfig
                     ) -> ParticleUpdate:
    """Stage 4: gather phi and T; kicks, conduction, radiation, thermalization, drag, clamps,
    drift and wall bounces. Every kinetic energy removed becomes the particle's heat."""
    cfg = config
    r, dt = cfg.particle_radius, cfg.dt
    x, v, m = positions, velocities, masses
    capacity = m * cfg.specific_heat

    local_temperature, grad_t = stencil.gather_with_gradient(temperature_field)
    local_phi, grad_phi = stencil.gather_with_gradient(potential_field)
    potential = 0.5 * _total(m * local_phi)

    heats, energies, radiated = heat_budget(stencil, local_temperature, capacity_field, heats,
                                            energies, capacity, cfg)

    # Kicks: G is already in phi (the seed applied it twice). One clamp factor scales both
    # accelerations so the clamp limits the field work rather than losing energy.
    acc_gravity = -grad_phi
    acc_pressure = -cfg.k_B * grad_t
    magnitude = (acc_gravity + acc_pressure).norm(dim=1, keepdim=True)
    clamp = torch.clamp(cfg.max_acceleration / magnitude.clamp_min(1e-30), max=1.0)
    v_gravity = v + acc_gravity * clamp * dt
    v_pressure = v_gravity + acc_pressure * clamp * dt
    gravity_work = _total(kinetic_change(m, v, v_gravity))
    pressure_work = _total(kinetic_change(m, v_gravity, v_pressure))

    v_new, loss = drag_and_speed_limit(v_pressure, m, cfg)

    x_new, v_wall = mirror_walls(x + v_new * dt, v_new, cfg)
    loss = loss - kinetic_change(m, v_new, v_wall)
    heats = heats + loss
    return ParticleUpdate(x_new, v_wall, energies, heats, gravity_work, pressure_work,
                          _total(radiated), _total(loss), potential)


def heat_budget(stencil: Transfer, local_temperature: torch.Tensor,
                capacity_field: torch.Tensor, heats: torch.Tensor, energies: torch.Tensor,
                capacity: torch.Tensor, config: PhysicsConfig
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Conduction with the medium, then radiation (leaves), then thermalization E -> Q;
    returns the new heats and energies and the per-particle radiated heat."""
    r, dt = config.particle_radius, config.dt
    heats = heats + thermal.conduct(stencil, local_temperature, heats, capacity, capacity_field,
                                    config.thermal_conductivity * r * dt)
    radiated = thermal.radiate(heats, capacity, config.emissivity, config.sigma_SB, r, dt)
    heats = heats - radiated
    moved = thermal.thermalize(energies, config.tau_thermalization, dt)
    return heats + moved, energies - moved, radiated


def drag_and_speed_limit(velocities: torch.Tensor, masses: torch.Tensor,
                         config: PhysicsConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Stokes drag exp(-6 pi eta r dt), then the speed limit; returns the new velocities and
    the per-particle kinetic energy they removed (which becomes the particle's heat)."""
    gamma = 6.0 * math.pi * config.dynamic_viscosity * config.particle_radius
    v_drag = velocities * math.exp(-gamma * config.dt)
    speed = v_drag.norm(dim=1, keepdim=True)
    v_new = v_drag * torch.clamp(config.max_speed / speed.clamp_min(1e-30), max=1.0)
    return v_new, -kinetic_change(masses, velocities, v_new)


def mirror_walls(x: torch.Tensor, v: torch.Tensor, config: PhysicsConfig
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror particles that crossed a wall and reverse their normal velocity, scaled by
    wall_restitution. Positions end strictly inside [0, L)."""
    box = torch.tensor(config.domain_size, dtype=x.dtype, device=x.device)
    below, above = x < 0, x >= box
    x = torch.where(below, -x, torch.where(above, 2.0 * box - x, x))
    v = torch.where(below | above, -config.wall_restitution * v, v)
    inside = torch.nextafter(box, torch.zeros_like(box))
    return torch.minimum(x.clamp_min(0.0), inside), v


__all__ = ["Deposit", "HeatExchange", "ParticleUpdate", "Transfer", "deposit",
           "drag_and_speed_limit", "exchange_heat", "heat_budget", "mirror_walls",
           "update_particles"]
