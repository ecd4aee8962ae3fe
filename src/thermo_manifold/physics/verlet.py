"""The parts of a kick-drift-kick (velocity Verlet) step, as pure functions of tensors.

The step of the default contact model (`contact="spring_dashpot"`, run by `engine.py`) splits
the dynamics in two:

- conservative: mesh gravity and the contact springs by velocity Verlet. Gravity takes a half
  kick at x_n and one at x_{n+1}; between them the springs take n substeps h = dt / n, each a
  half kick, a drift (`drift`, with the walls), the springs at the new positions and a half
  kick (`half_kick` does gravity and spring kicks with their own steps). Symplectic and second
  order, so with nothing else on K + U_grav + U_c fluctuates by O(dt^2) instead of drifting;
- dissipative and thermal: the dashpots after every substep (`contacts.dashpot`, exact over h),
  then at x_{n+1}, a Lie splitting first order in these parts, contact conduction, heat
  diffusion, and `dissipate`: conduction with the medium, radiation, thermalization, the
  pressure kick, drag and the speed limit.

The acceleration clamp (max_acceleration) acts on gravity alone here; the kinetic energy it
withholds from a kick is booked as clamp work, so the ledger still closes. The springs are never
clamped (a clamped spring would not conserve energy); the substeps keep omega_0 h small instead.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from thermo_manifold.physics import stages
from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.ledger import kinetic_change


class Kick(NamedTuple):
    velocities: torch.Tensor
    gravity_work: torch.Tensor  # 0-d float64 each
    spring_work: torch.Tensor
    clamp_work: torch.Tensor  # kinetic energy withheld (negative) or added by the clamp


class Drift(NamedTuple):
    positions: torch.Tensor
    velocities: torch.Tensor
    wall_loss: torch.Tensor  # (N,) kinetic energy the walls turned into heat


class Dissipation(NamedTuple):
    velocities: torch.Tensor
    energies: torch.Tensor
    heats: torch.Tensor
    pressure_work: torch.Tensor  # 0-d float64 each
    radiated: torch.Tensor
    dissipated: torch.Tensor


def _total(values: torch.Tensor) -> torch.Tensor:
    return values.sum(dtype=torch.float64)


def acceleration_clamp(acceleration: torch.Tensor, limit: float) -> torch.Tensor:
    """(N, 1) factor that scales accelerations longer than `limit` down to it."""
    magnitude = acceleration.norm(dim=1, keepdim=True)
    return torch.clamp(limit / magnitude.clamp_min(1e-30), max=1.0)


def half_kick(velocities: torch.Tensor, masses: torch.Tensor, gravity: torch.Tensor | None,
              spring: torch.Tensor, gravity_dt: float, spring_dt: float,
              max_acceleration: float) -> Kick:
    """v += clamped gravity acceleration * gravity_dt + spring force / m * spring_dt.

    Gravity and springs kick with their own steps because the springs are substepped (the
    outer half kick of gravity and the first inner half kick of the springs coincide). The
    work splits exactly by force, W = sum (force * step) . (v_before + v_after) / 2."""
    m = masses[:, None]
    spring_step = spring / m * spring_dt
    if gravity is None:  # an inner spring kick
        new = velocities + spring_step
        middle = 0.5 * (velocities + new)
        zero = torch.zeros((), dtype=torch.float64)
        return Kick(new, zero, _total((m * spring_step * middle).sum(dim=1)), zero)
    clamp = acceleration_clamp(gravity, max_acceleration)
    gravity_step = gravity * clamp * gravity_dt
    new = velocities + gravity_step + spring_step
    middle = 0.5 * (velocities + new)
    gravity_work = _total((m * gravity_step * middle).sum(dim=1))
    spring_work = _total((m * spring_step * middle).sum(dim=1))
    unclamped = velocities + gravity * gravity_dt + spring_step
    clamp_work = _total(kinetic_change(masses, unclamped, new))
    return Kick(new, gravity_work, spring_work, clamp_work)


def drift(positions: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor, dt: float,
          config: PhysicsConfig) -> Drift:
    """x += v dt, then the walls (mirror; the normal velocity scaled by wall_restitution)."""
    x, v = stages.mirror_walls(positions + velocities * dt, velocities, config)
    return Drift(x, v, -kinetic_change(masses, velocities, v))


def dissipate(stencil: stages.Transfer, temperature_field: torch.Tensor,
              capacity_field: torch.Tensor, velocities: torch.Tensor, masses: torch.Tensor,
              energies: torch.Tensor, heats: torch.Tensor, config: PhysicsConfig
              ) -> Dissipation:
    """Conduction with the medium, radiation, thermalization, the pressure kick -k_B grad T
    (clamped at max_acceleration), Stokes drag and the speed limit; every kinetic loss becomes
    the particle's heat."""
    cfg = config
    local_temperature, grad_t = stencil.gather_with_gradient(temperature_field)
    heats, energies, radiated = stages.heat_budget(stencil, local_temperature, capacity_field,
                                                   heats, energies, masses * cfg.specific_heat,
                                                   cfg)
    pressure = -cfg.k_B * grad_t
    clamp = acceleration_clamp(pressure, cfg.max_acceleration)
    v_pressure = velocities + pressure * clamp * cfg.dt
    pressure_work = _total(kinetic_change(masses, velocities, v_pressure))
    v_new, loss = stages.drag_and_speed_limit(v_pressure, masses, cfg)
    return Dissipation(v_new, energies, heats + loss, pressure_work, _total(radiated),
                       _total(loss))


__all__ = ["Dissipation", "Drift", "Kick", "acceleration_clamp", "dissipate", "drift",
           "half_kick"]
