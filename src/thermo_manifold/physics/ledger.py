"""The energy ledger: where every unit of energy came from and went.

Particle energy P = kinetic + internal E + heat Q. Inside a step, thermalization (E -> Q),
conduction, diffusion and every dissipation (drag, speed clamp, wall bounces, contact dashpots or
inelastic collisions: kinetic -> Q) move energy between these three and leave P unchanged.

With the default contact model (`conservative` ledger) the total also holds the potential
energies of the conservative forces, U_grav = 1/2 sum m phi and U_c = sum 1/2 k delta^2:
total = P + U_grav + U_c. It changes through the flows the ledger records:

- pressure_work: work of the pressure kicks (-k_B grad T), which draw on no potential;
- clamp_work: kinetic energy the acceleration clamp withheld from (or added to) gravity kicks;
- contact_work: cross terms of simultaneous dashpot impulses on a particle in several contacts;
- potential_edits: change of U_grav + U_c caused by edits of the state between steps (injection,
  removal, outside changes), booked when the engine next evaluates the forces;
- radiated (leaves), injected (enters with new particles), removed (leaves with evicted ones).

What remains, |total(t) - expected| / |total(0)|, is the integrator's energy error: it
fluctuates as O(dt^2) (velocity Verlet) instead of being zero. gravity_work (the gravity kicks'
kinetic change) is reported beside it for comparison with the change of U_grav.

With `contact="seed"` (not conservative) the seed's step has no conserved energy to report:
total = P, gravity_work and contact_work (the soft push) are flows, and the residual is zero up to
round-off when no energy leaks. U_grav is reported beside it, outside the closure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from thermo_manifold.physics.collision_kernels import AVAILABLE, _jit
from thermo_manifold.physics.state import ParticleState


def kinetic_energy(masses: torch.Tensor, velocities: torch.Tensor) -> float:
    return float((0.5 * masses * (velocities**2).sum(dim=1)).sum(dtype=torch.float64))


def kinetic_change(masses: torch.Tensor, before: torch.Tensor, after: torch.Tensor
                   ) -> torch.Tensor:
    """Per-particle 1/2 m (|after|^2 - |before|^2), written to avoid cancellation."""
    return 0.5 * masses * ((after - before) * (after + before)).sum(dim=1)


def total_of(values: torch.Tensor) -> float:
    return float(values.sum(dtype=torch.float64))


@_jit()
def _observed_totals(masses, velocities, energies, heats):
    """Kinetic, internal and heat totals in one pass, accumulated in float64 in row order."""
    kinetic = internal = heat = 0.0
    for i in range(masses.shape[0]):
        vx, vy, vz = velocities[i, 0], velocities[i, 1], velocities[i, 2]
        kinetic += float(0.5 * masses[i] * (vx * vx + vy * vy + vz * vz))
        internal += float(energies[i])
        heat += float(heats[i])
    return kinetic, internal, heat


def observed_totals(state: ParticleState) -> tuple[float, float, float]:
    """(kinetic, internal, heat) of a state in float64: one compiled pass on the CPU (the ledger
    observes every step, and five tensor reductions cost more than a small step's kinetics)."""
    tensors = (state.masses, state.velocities, state.energies, state.heats)
    if AVAILABLE and all(t.device.type == "cpu" for t in tensors):
        arrays = [t.detach().contiguous().numpy() for t in tensors]
        if len({a.dtype for a in arrays}) == 1:
            return tuple(float(total) for total in _observed_totals(*arrays))
    return (kinetic_energy(state.masses, state.velocities), total_of(state.energies),
            total_of(state.heats))


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
    contact_potential: float = 0.0  # U_c of the spring contacts
    clamp_work: float = 0.0
    potential_edits: float = 0.0
    conservative: bool = False  # total includes U_grav + U_c (the default contact model)

    @classmethod
    def start(cls, state: ParticleState, potential: float = 0.0, contact_potential: float = 0.0,
              conservative: bool = False) -> "EnergyLedger":
        """A ledger whose initial total is `state`'s energy (plus its potential energies when
        `conservative`)."""
        bound = potential + contact_potential if conservative else 0.0
        ledger = cls(initial_total=particle_energy(state) + bound, potential=potential,
                     contact_potential=contact_potential, conservative=conservative)
        ledger.observe(state)
        return ledger

    def observe(self, state: ParticleState) -> None:
        self.kinetic, self.internal, self.heat = observed_totals(state)

    @property
    def total(self) -> float:
        particles = self.kinetic + self.internal + self.heat
        if self.conservative:
            return particles + self.potential + self.contact_potential
        return particles

    @property
    def expected_total(self) -> float:
        field_work = self.potential_edits if self.conservative else self.gravity_work
        return (self.initial_total + field_work + self.pressure_work + self.contact_work
                + self.clamp_work + self.injected - self.removed - self.radiated)

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
