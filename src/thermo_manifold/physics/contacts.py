"""The linear spring-dashpot contact (Cundall and Strack 1979), the default contact model.

Two particles of radius r whose centres are d < 2r apart overlap by delta = 2r - d. The contact
is a spring and a dashpot in parallel along the normal n = (x_i - x_j) / d:

- the spring is the force of the pair potential U_c = 1/2 k delta^2 (k = young_modulus), so it is
  conservative: it enters the velocity-Verlet kicks with the mesh gravity, and U_c is an energy
  in the ledger;
- the dashpot damps the normal relative velocity v_n = (v_i - v_j) . n at the rate c / m_eff,
  m_eff = m_i m_j / (m_i + m_j). For a lone pair the spring-dashpot is a damped oscillator whose
  overlap returns to zero after half a damped period with v_n' = -e v_n, where
  e = exp(-pi zeta / sqrt(1 - zeta^2)) and zeta = c / (2 sqrt(k m_eff)); inverted,
  zeta = -ln e / sqrt(pi^2 + ln^2 e) (e = 0: critical damping, zeta = 1). The damping is applied
  as its exact solution over its time step t (a contact substep), v_n -> v_n exp(-2 zeta omega_0 t)
  with omega_0 = sqrt(k / m_eff), so it can never overshoot; what it removes,
  1/2 m_eff v_n^2 (1 - exp(-4 zeta omega_0 t)), goes half to each partner's heat.

Pairs act simultaneously (one vectorised pass). A particle touching several others receives the
sum of its pairs' damping impulses; the kinetic-energy change then differs from the sum of the
pair losses by cross terms, which the ledger books as contact work (zero for lone pairs).

The springs are integrated with substeps h = dt / n inside the step (`contact_substeps`: omega_0 h <= contact_resolution for the stiffest pair, the lightest two
masses), so a contact is resolved in about pi / resolution substeps whatever dt is; velocity
Verlet itself is stable while omega_0 h < 2 (`stable_time_step`). The engine refuses a state
that would need more than MAX_CONTACT_SUBSTEPS.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from thermo_manifold.physics.collisions import contact_conduction


def damping_ratio(restitution: float) -> float:
    """zeta of the linear spring-dashpot whose lone-pair collision ends with v_n' = -e v_n."""
    if not 0.0 <= restitution <= 1.0:
        raise ValueError(f"restitution must be in [0, 1]; got {restitution!r}")
    if restitution == 0.0:
        return 1.0
    log_e = math.log(restitution)
    return -log_e / math.sqrt(math.pi**2 + log_e**2)


def stable_time_step(young_modulus: float, lightest_mass: float) -> float:
    """2 / omega_0 of the stiffest pair: two particles of the lightest mass (m_eff = m / 2).

    Velocity Verlet on a spring of angular frequency omega is stable for omega dt < 2; resolving
    the collision's restitution takes several steps per contact (contact time pi / omega_d)."""
    if young_modulus <= 0:
        return math.inf
    return 2.0 / math.sqrt(young_modulus / (0.5 * lightest_mass))


MAX_CONTACT_SUBSTEPS = 1000


def contact_substeps(dt: float, young_modulus: float, lightest_mass: float,
                     resolution: float) -> int:
    """Substeps per step that keep omega_0 h <= resolution for the stiffest pair (the two
    lightest masses): with resolution 0.2 a contact lasts about 15 substeps, where velocity
    Verlet's energy error is a fraction of a percent of the pair's energy."""
    if young_modulus <= 0:
        return 1
    omega = math.sqrt(young_modulus / (0.5 * lightest_mass))
    return max(1, math.ceil(dt * omega / resolution - 1e-9))


class SpringForces(NamedTuple):
    forces: torch.Tensor  # (N, 3) spring force on every particle
    potential: torch.Tensor  # 0-d float64: sum over pairs of 1/2 k delta^2
    touching: int  # pairs closer than 2r


class DashpotResult(NamedTuple):
    velocities: torch.Tensor
    heats: torch.Tensor
    dissipated: torch.Tensor  # 0-d float64: sum of the pair losses, booked as heat
    contact_work: torch.Tensor  # 0-d float64: kinetic change not explained by the pair losses


def _pair_geometry(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
                   radius: float):
    """Normals and overlaps of the pairs that touch (d < 2r, centres not coincident)."""
    delta = positions.index_select(0, left) - positions.index_select(0, right)
    distance = delta.norm(dim=1)
    # Coincident centres have no normal; pairs the search found within the cutoff may also sit
    # exactly at d = 2r, where the contact carries no force.
    touching = (distance > 1e-9 * radius) & (distance < 2.0 * radius)
    left, right = left[touching], right[touching]
    distance = distance[touching]
    normal = delta[touching] / distance[:, None]
    return left, right, normal, 2.0 * radius - distance


def spring_forces(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
                  radius: float, young_modulus: float) -> SpringForces:
    """F_i = k delta n on the left partner and -F_i on the right one, and U_c."""
    left, right, normal, overlap = _pair_geometry(left, right, positions, radius)
    push = (young_modulus * overlap)[:, None] * normal
    forces = torch.zeros_like(positions)
    forces.index_add_(0, left, push)
    forces.index_add_(0, right, -push)
    potential = (0.5 * young_modulus * overlap.to(torch.float64) ** 2).sum()
    return SpringForces(forces, potential, int(left.numel()))


def dashpot(left: torch.Tensor, right: torch.Tensor, positions: torch.Tensor,
            velocities: torch.Tensor, heats: torch.Tensor, masses: torch.Tensor, *,
            radius: float, young_modulus: float, restitution: float,
            thermal_conductivity: float, specific_heat: float, dt: float,
            conduction_dt: float | None = None) -> DashpotResult:
    """The dissipative half of every contact over `dt`: exact exponential damping of the
    normal relative velocity (loss -> the pair's heat), and contact conduction over
    `conduction_dt` (default dt; 0 skips it: the engine conducts once per step, not per
    contact substep)."""
    left, right, normal, overlap = _pair_geometry(left, right, positions, radius)
    m_l, m_r = masses.index_select(0, left), masses.index_select(0, right)
    m_eff = m_l * m_r / (m_l + m_r)
    v_n = ((velocities.index_select(0, left) - velocities.index_select(0, right))
           * normal).sum(dim=1)
    zeta = damping_ratio(restitution)
    decay = torch.exp(-2.0 * zeta * dt * torch.sqrt(young_modulus / m_eff))
    impulse = m_eff * v_n * (1.0 - decay)  # J along n: v_n -> decay * v_n for a lone pair
    kick = normal * impulse[:, None]
    new_velocities = velocities.clone()
    new_velocities.index_add_(0, left, -kick / m_l[:, None])
    new_velocities.index_add_(0, right, kick / m_r[:, None])
    loss = 0.5 * m_eff * v_n**2 * (1.0 - decay**2)

    conduction_dt = dt if conduction_dt is None else conduction_dt
    flow = (contact_conduction(left, right, overlap, heats, m_l, m_r, thermal_conductivity,
                               specific_heat, conduction_dt)
            if conduction_dt > 0 else torch.zeros_like(loss))
    new_heats = heats.clone()
    new_heats.index_add_(0, left, 0.5 * loss + flow)
    new_heats.index_add_(0, right, 0.5 * loss - flow)

    ke_change = (0.5 * masses * ((new_velocities - velocities)
                                 * (new_velocities + velocities)).sum(dim=1)).sum(dtype=torch.float64)
    dissipated = loss.sum(dtype=torch.float64)
    return DashpotResult(new_velocities, new_heats, dissipated, ke_change + dissipated)


__all__ = ["DashpotResult", "MAX_CONTACT_SUBSTEPS", "SpringForces", "contact_substeps",
           "damping_ratio", "dashpot", "spring_forces", "stable_time_step"]
