"""`ManifoldPhysics`: one physics step over a `ParticleState`, in the seed's stage order.

1. scatter   cloud-in-cell deposit of mass and heat (heat capacity = c_v * mass field)
2. gravity   laplacian(phi) = 4 pi G rho, spectral (default) or warm-started Jacobi
3. heat      conservative diffusion of the heat field, handed back to the particles
4. update    gather phi and T; gravity and pressure kicks (acceleration clamp), conduction,
             radiation, thermalization, drag, speed clamp, drift, wall bounces
5. collide   cell-list pairs closer than 2r: restitution, soft push, contact conduction

`step` validates the state before touching anything and returns a new state; the caller's
tensors are never written. Every kinetic energy the step removes (drag, clamps, walls,
inelastic collisions) becomes heat, and the energy ledger records every flow in or out.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from thermo_manifold.physics import collisions, grid, poisson, thermal
from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.ledger import (
    EnergyLedger,
    kinetic_change,
    particle_energy,
    total_of,
)
from thermo_manifold.physics.state import ParticleState, StateError

STAGES = ("scatter", "gravity", "heat", "update", "collide")


@dataclass
class Fields:
    """Grid fields of the last step (for dashboards and diagnostics)."""

    mass: torch.Tensor
    heat: torch.Tensor
    capacity: torch.Tensor
    temperature: torch.Tensor
    potential: torch.Tensor


@dataclass
class StepResult:
    state: ParticleState
    ledger: EnergyLedger  # a snapshot, safe to keep
    poisson_residual: float
    collision_pairs: int
    stage_seconds: dict[str, float] = field(default_factory=dict)


class ManifoldPhysics:
    """The particle-mesh engine. Holds the config, the grid fields and the energy ledger."""

    def __init__(self, config: PhysicsConfig | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
        self.config = config if config is not None else PhysicsConfig()
        self.device = torch.device(device)
        self.dtype = dtype
        self.fields: Fields | None = None
        self.ledger: EnergyLedger | None = None
        self._warm_potential: torch.Tensor | None = None
        self.time_stages = False

    # ------------------------------------------------------------------ ledger management
    def start_ledger(self, state: ParticleState) -> EnergyLedger:
        """Start (or restart) the energy ledger from `state`."""
        self._validate(state)
        self.ledger = EnergyLedger.start(state)
        return self.ledger

    def add_particles(self, state: ParticleState, new: ParticleState) -> ParticleState:
        """Append `new` particles, counting their energy as injected."""
        self._validate(state)
        self._validate(new)
        if self.ledger is None:
            self.ledger = EnergyLedger.start(state)
        self.ledger.injected += particle_energy(new)
        merged = ParticleState.concatenate(state, new)
        self.ledger.observe(merged)
        return merged

    def remove_particles(self, state: ParticleState, keep: torch.Tensor) -> ParticleState:
        """Keep the rows where `keep` is True, counting the others' energy as removed."""
        self._validate(state)
        if keep.dtype != torch.bool or tuple(keep.shape) != (state.num_particles,):
            raise ValueError(
                f"keep must be a bool tensor of shape ({state.num_particles},); got "
                f"{keep.dtype} {tuple(keep.shape)}"
            )
        if self.ledger is None:
            self.ledger = EnergyLedger.start(state)
        self.ledger.removed += particle_energy(state.select(~keep))
        kept = state.select(keep)
        self.ledger.observe(kept)
        return kept

    def record_external(self, state: ParticleState, energy_in: float) -> ParticleState:
        """Book energy that an outside agent (spectral carriers, an experiment) put into the
        particles: `state` is the particles after that change, `energy_in` the net energy added
        (negative when taken out). The ledger stays closed when `energy_in` is honest."""
        self._validate(state)
        if not math.isfinite(energy_in):
            raise ValueError(f"energy_in must be finite; got {energy_in}")
        if self.ledger is None:
            raise RuntimeError("start_ledger(state) before record_external")
        self.ledger.injected += float(energy_in)
        self.ledger.observe(state)
        return state

    # ------------------------------------------------------------------ the step
    def step(self, state: ParticleState) -> StepResult:
        self._validate(state)
        if self.ledger is None:
            self.ledger = EnergyLedger.start(state)
        cfg = self.config
        seconds: dict[str, float] = {}
        h, cv, r, dt = cfg.grid_spacing, cfg.specific_heat, cfg.particle_radius, cfg.dt
        x, v, m = state.positions, state.velocities, state.masses
        capacity = m * cv

        with self._stage("scatter", seconds):
            stencil = grid.cloud_in_cell(x, cfg.grid_size, h)
            mass_field = grid.scatter(stencil, m)
            heat_field = grid.scatter(stencil, state.heats)
            capacity_field = mass_field * cv

        with self._stage("gravity", seconds):
            source = (4.0 * math.pi * cfg.G / h**3) * mass_field
            if cfg.poisson == "spectral":
                phi = poisson.solve_spectral(source, h)
            else:
                warm = self._warm_potential
                if warm is None or warm.shape != source.shape or warm.dtype != source.dtype:
                    warm = torch.zeros_like(source)
                phi = poisson.jacobi(warm, source, h, cfg.poisson_iterations)
                self._warm_potential = phi
            residual = poisson.residual(phi, source, h)

        with self._stage("heat", seconds):
            diffused = thermal.diffuse_heat(heat_field, capacity_field, cfg.diffusion_number)
            heats = state.heats + thermal.distribute_to_particles(
                stencil, diffused - heat_field, heat_field, capacity_field, state.heats,
                capacity)
            medium_temperature = thermal.field_temperature(diffused, capacity_field)

        with self._stage("update", seconds):
            t_corners = grid.corner_values(stencil, medium_temperature)
            local_temperature = (t_corners * stencil.weights).sum(dim=1)
            grad_t = grid.gather_gradient(stencil, medium_temperature, t_corners)
            phi_corners = grid.corner_values(stencil, phi)
            potential = 0.5 * total_of(m * (phi_corners * stencil.weights).sum(dim=1))
            grad_phi = grid.gather_gradient(stencil, phi, phi_corners)

            heats = heats + thermal.conduct(stencil, local_temperature, heats, capacity,
                                            capacity_field, cfg.thermal_conductivity * r * dt)
            radiated = thermal.radiate(heats, capacity, cfg.emissivity, cfg.sigma_SB, r, dt)
            heats = heats - radiated
            moved = thermal.thermalize(state.energies, cfg.tau_thermalization, dt)
            energies = state.energies - moved
            heats = heats + moved

            # Kicks: G is already in phi (the seed applied it twice). One clamp factor scales
            # both accelerations so the clamp limits the field work rather than losing energy.
            acc_gravity = -grad_phi
            acc_pressure = -cfg.k_B * grad_t
            magnitude = (acc_gravity + acc_pressure).norm(dim=1, keepdim=True)
            clamp = torch.clamp(cfg.max_acceleration / magnitude.clamp_min(1e-30), max=1.0)
            v_gravity = v + acc_gravity * clamp * dt
            v_pressure = v_gravity + acc_pressure * clamp * dt
            gravity_work = total_of(kinetic_change(m, v, v_gravity))
            pressure_work = total_of(kinetic_change(m, v_gravity, v_pressure))

            # Stokes drag, then the speed limit; both losses become the particle's heat.
            gamma = 6.0 * math.pi * cfg.dynamic_viscosity * r
            v_drag = v_pressure * math.exp(-gamma * dt)
            speed = v_drag.norm(dim=1, keepdim=True)
            v_new = v_drag * torch.clamp(cfg.max_speed / speed.clamp_min(1e-30), max=1.0)
            loss = -kinetic_change(m, v_pressure, v_new)

            x_new, v_wall = self._walls(x + v_new * dt, v_new)
            loss = loss - kinetic_change(m, v_new, v_wall)
            heats = heats + loss
            dissipated = total_of(loss)
            v_new = v_wall

        pairs = 0
        contact_work = 0.0
        with self._stage("collide", seconds):
            if cfg.collisions and state.num_particles > 1:
                cutoff = 2.0 * r
                if cfg.collision_method == "cell_list":
                    left, right = collisions.cell_list_pairs(x_new, cutoff, cfg.domain_size)
                else:
                    left, right = collisions.brute_force_pairs(x_new, cutoff)
                hit = collisions.resolve_pairs(
                    left, right, x_new, v_new, heats, m, radius=r,
                    restitution=cfg.restitution, young_modulus=cfg.young_modulus,
                    thermal_conductivity=cfg.thermal_conductivity, specific_heat=cv, dt=dt)
                v_new, heats = hit.velocities, hit.heats
                pairs, contact_work = hit.num_pairs, hit.contact_work
                dissipated += hit.dissipated

        new_state = ParticleState(
            positions=x_new, velocities=v_new, energies=energies, heats=heats,
            excitations=state.excitations, masses=m, phases=state.phases)
        ledger = self.ledger
        ledger.gravity_work += gravity_work
        ledger.pressure_work += pressure_work
        ledger.contact_work += contact_work
        ledger.radiated += total_of(radiated)
        ledger.dissipated += dissipated
        ledger.potential = potential
        ledger.observe(new_state)
        self.fields = Fields(mass=mass_field, heat=diffused, capacity=capacity_field,
                             temperature=medium_temperature, potential=phi)
        return StepResult(new_state, ledger.snapshot(), residual, pairs, seconds)

    # ------------------------------------------------------------------ helpers
    def _walls(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mirror particles that crossed a wall and reverse their normal velocity, scaled by
        wall_restitution. Positions end strictly inside [0, L)."""
        box = torch.tensor(self.config.domain_size, dtype=x.dtype, device=x.device)
        below, above = x < 0, x >= box
        if not bool((below | above).any()):
            return x, v
        e = self.config.wall_restitution
        x = torch.where(below, -x, torch.where(above, 2.0 * box - x, x))
        v = torch.where(below | above, -e * v, v)
        inside = torch.nextafter(box, torch.zeros_like(box))
        return torch.minimum(x.clamp_min(0.0), inside), v

    def _validate(self, state: ParticleState) -> None:
        if not isinstance(state, ParticleState):
            raise StateError(f"state must be a ParticleState; got {type(state).__name__}")
        state.validate(self.config, device=self.device, dtype=self.dtype)

    @contextmanager
    def _stage(self, name: str, seconds: dict[str, float]):
        if not self.time_stages:
            yield
            return
        self._synchronize()
        start = time.perf_counter()
        yield
        self._synchronize()
        seconds[name] = time.perf_counter() - start

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()


__all__ = ["Fields", "ManifoldPhysics", "STAGES", "StepResult"]
