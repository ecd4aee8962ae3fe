"""Heat: grid diffusion, particle-medium conduction, radiation and thermalization.

The grid holds no heat of its own: every step it is rebuilt from the particles (scattered heat H
and heat capacity C = c_v * scattered mass). So every heat exchange through the grid is written
as a zero-sum transfer between particles, and the energy ledger closes:

- `diffuse_heat` moves heat between neighbouring cells in flux form,
  dH_c = (alpha dt / h^2) sum_nb min(C_c, C_nb) (T_nb - T_c), with zero flux through the box
  walls and through empty (vacuum) cells. The sum of H is conserved exactly and the update is
  stable (T stays a convex combination) while alpha dt / h^2 <= 1/6.
- `distribute_to_particles` hands each cell's change back to the particles that built it: a cell
  that gained heat shares the gain by heat capacity, a cell that lost heat takes the loss in
  proportion to heat content (so no particle goes negative).
- `conduct` relaxes each particle towards the local medium temperature with the seed's law
  dQ = k r (T_local - T_p) dt, limited so one step never overshoots T_local; the net of those
  exchanges in each cell is then returned to that cell's particles by heat capacity, so
  conduction conserves heat exactly.
"""

from __future__ import annotations

import torch

from thermo_manifold.physics.grid import CloudInCell


def field_temperature(heat: torch.Tensor, capacity: torch.Tensor) -> torch.Tensor:
    """T = H / C where a cell holds mass, 0 in empty cells."""
    occupied = capacity > 0
    return torch.where(occupied, heat / torch.where(occupied, capacity, 1.0), 0.0)


def diffuse_heat(heat: torch.Tensor, capacity: torch.Tensor, diffusion_number: float
                 ) -> torch.Tensor:
    """One explicit, conservative diffusion step of the heat field; returns the new field.

    `diffusion_number` is alpha dt / h^2 (<= 1/6 for stability, checked by PhysicsConfig).
    """
    temperature = field_temperature(heat, capacity)
    change = torch.zeros_like(heat)
    for dim in range(3):
        n = heat.shape[dim]
        lo_t, hi_t = temperature.narrow(dim, 0, n - 1), temperature.narrow(dim, 1, n - 1)
        lo_c, hi_c = capacity.narrow(dim, 0, n - 1), capacity.narrow(dim, 1, n - 1)
        # Flux from the lower to the upper cell of each interior face; zero if either is empty.
        flux = diffusion_number * torch.minimum(lo_c, hi_c) * (lo_t - hi_t)
        change.narrow(dim, 0, n - 1).sub_(flux)
        change.narrow(dim, 1, n - 1).add_(flux)
    return heat + change


def distribute_to_particles(
    stencil: CloudInCell,
    heat_change: torch.Tensor,
    heat_field: torch.Tensor,
    capacity_field: torch.Tensor,
    particle_heat: torch.Tensor,
    particle_capacity: torch.Tensor,
) -> torch.Tensor:
    """Per-particle heat change whose total equals the total of `heat_change`."""
    gain = torch.where(capacity_field > 0, heat_change.clamp_min(0.0)
                       / torch.where(capacity_field > 0, capacity_field, 1.0), 0.0)
    loss = torch.where(heat_field > 0, heat_change.clamp_max(0.0)
                       / torch.where(heat_field > 0, heat_field, 1.0), 0.0)
    return particle_capacity * stencil.gather(gain) + particle_heat * stencil.gather(loss)


def _limit_to_non_negative(heat: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
    """Make a zero-sum `change` keep heat + change >= 0 and stay zero-sum.

    Particles that would go negative give only what they hold; the receivers' gains are scaled
    down by one common factor so the total stays zero. Particles that were fine are unaffected
    except for that scaling.
    """
    # Branch-free so it compiles: with no offender, surplus is exactly 0 and scale exactly 1.
    capped = torch.maximum(change, -heat)
    surplus = (capped - change).sum()  # what the capped particles did not give
    gains = capped.clamp_min(0.0)
    total_gain = gains.sum()
    scale = torch.where(total_gain > 0, 1.0 - surplus / total_gain, 1.0)
    return torch.where(capped > 0, gains * scale, capped)


def conduct(
    stencil: CloudInCell,
    local_temperature: torch.Tensor,
    particle_heat: torch.Tensor,
    particle_capacity: torch.Tensor,
    capacity_field: torch.Tensor,
    coefficient_dt: float,
) -> torch.Tensor:
    """Zero-sum per-particle heat change of conduction with the local medium.

    `coefficient_dt` is k r dt (thermal_conductivity * particle_radius * dt).
    """
    temperature = particle_heat / particle_capacity
    # Moving a fraction min(1, k r dt / C) of the gap never overshoots the local temperature.
    fraction = torch.clamp(coefficient_dt / particle_capacity, max=1.0)
    raw = fraction * particle_capacity * (local_temperature - temperature)
    imbalance = stencil.scatter(raw)
    per_capacity = torch.where(capacity_field > 0, imbalance
                               / torch.where(capacity_field > 0, capacity_field, 1.0), 0.0)
    balanced = raw - particle_capacity * stencil.gather(per_capacity)
    return _limit_to_non_negative(particle_heat, balanced)


def radiate(particle_heat: torch.Tensor, particle_capacity: torch.Tensor, emissivity: float,
            sigma_sb: float, radius: float, dt: float) -> torch.Tensor:
    """Heat radiated this step, eps sigma r^2 T^4 dt, never more than the particle holds."""
    temperature = particle_heat / particle_capacity
    return torch.minimum(emissivity * sigma_sb * radius**2 * temperature**4 * dt, particle_heat)


def thermalize(energy: torch.Tensor, tau: float, dt: float) -> torch.Tensor:
    """Energy moved from E to Q this step, E dt / tau, never more than E."""
    return torch.minimum(energy * (dt / tau), energy)


__all__ = [
    "conduct",
    "diffuse_heat",
    "distribute_to_particles",
    "field_temperature",
    "radiate",
    "thermalize",
]
