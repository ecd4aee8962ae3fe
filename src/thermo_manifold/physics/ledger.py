"""The energy ledger: where every unit of particle energy came from and went.

Particle energy P = kinetic + internal E + heat Q. Inside a step, thermalization (E -> Q),
conduction, diffusion and every dissipation (drag, speed clamp, wall bounces, inelastic
collisions: kinetic -> Q) move energy between these three and leave P unchanged. P changes only
through the flows the ledger records:

- gravity_work, pressure_work: work the grid fields do on the particles (the kinetic energy
  change of the gravity and pressure kicks, after the acceleration clamp);
- contact_work: the kinetic energy change of the collision stage not explained by restitution
  losses (the soft contact push, and the cross terms of simultaneous impulses);
- radiated (leaves), injected (enters with new particles), removed (leaves with evicted ones).

residual = |P(t) - P(0) - W_gravity - W_pressure - W_contact - injected + removed + radiated|
           / P(0), and it is zero up to round-off when no energy leaks. The gravitational
potential energy 1/2 sum m phi is reported beside it; it is not part of the closure because a
particle-mesh force with an explicit integrator does not conserve kinetic + potential exactly
(docs/physics.md quantifies the mismatch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from thermo_manifold.physics.state import ParticleState


def kinetic_energy(masses: torch.Tensor, velocities: torch.Tensor) -> float:
    return float((0.5 * masses * (velocities**2).sum(dim=1)).sum(dtype=torch.float64))


def kinetic_change(masses: torch.Tensor, before: torch.Tensor, after: torch.Tensor
                   ) -> torch.Tensor:
    """Per-particle 1/2 m (|after|^2 - |before|^2), written to avoid cancellation."""
    return 0.5 * masses * ((after - before) * (after + before)).sum(dim=1)


def total_of(values: torch.Tensor) -> float:
    return float(values.sum(dtype=torch.float64))


def particle_energy(state: ParticleState) -> float:
    """kinetic + internal + heat of a state, accumulated in float64."""
    return (kinetic_energy(state.masses, state.velocities) + total_of(state.energies)
            + total_of(state.heats))


@dataclass
class EnergyLedger:
    """Current energies and cumulative flows since the ledger was started."""

    initial_total: float
    kinetic: float = 0.0
    internal: float = 0.0
    heat: float = 0.0
    potential: float = 0.0
    gravity_work: float = 0.0
    pressure_work: float = 0.0
    contact_work: float = 0.0
    radiated: float = 0.0
    injected: float = 0.0
    removed: float = 0.0
    dissipated: float = 0.0  # kinetic -> heat (internal to P; reported for insight)

    @classmethod
    def start(cls, state: ParticleState) -> "EnergyLedger":
        ledger = cls(initial_total=particle_energy(state))
        ledger.observe(state)
        return ledger

    def observe(self, state: ParticleState) -> None:
        self.kinetic = kinetic_energy(state.masses, state.velocities)
        self.internal = total_of(state.energies)
        self.heat = total_of(state.heats)

    @property
    def total(self) -> float:
        return self.kinetic + self.internal + self.heat

    @property
    def expected_total(self) -> float:
        return (self.initial_total + self.gravity_work + self.pressure_work + self.contact_work
                + self.injected - self.removed - self.radiated)

    @property
    def residual(self) -> float:
        scale = abs(self.initial_total) if self.initial_total != 0 else 1.0
        return abs(self.total - self.expected_total) / scale

    def snapshot(self) -> "EnergyLedger":
        return dataclasses.replace(self)

    def to_dict(self) -> dict[str, float]:
        out = dataclasses.asdict(self)
        out["total"] = self.total
        out["residual"] = self.residual
        return out


__all__ = ["EnergyLedger", "kinetic_change", "kinetic_energy", "particle_energy", "total_of"]
