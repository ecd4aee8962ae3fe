"""`ManifoldPhysics`: one physics step over a `ParticleState`, in the seed's stage order.

1. scatter   cloud-in-cell deposit of mass and heat (heat capacity = c_v * mass field)
2. gravity   laplacian(phi) = 4 pi G rho, spectral (default) or warm-started Jacobi
3. heat      conservative diffusion of the heat field, handed back to the particles
4. update    gather phi and T; gravity and pressure kicks (acceleration clamp), conduction,
             radiation, thermalization, drag, speed clamp, drift, wall bounces
5. collide   cell-list pairs closer than 2r: restitution, soft push, contact conduction

The heavy loops run as vectorised PyTorch (`kernels="torch"`, every device) or as compiled
Numba loops on the CPU (`kernels="numba"`, the default there); tests hold the two to 1e-9.

`step` validates the state before touching anything and returns a new state; the caller's
tensors are never written. Every kinetic energy the step removes (drag, clamps, walls,
inelastic collisions) becomes heat, and the energy ledger records every flow in or out.
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from thermo_manifold.physics import (
    collision_kernels,
    collisions,
    grid,
    mesh_kernels,
    poisson,
    stages,
)
from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.ledger import EnergyLedger, particle_energy
from thermo_manifold.physics.state import ParticleState, StateError

STAGES = ("scatter", "gravity", "heat", "update", "collide")
KERNELS = ("auto", "torch", "numba")
_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(ParticleState))


def _resolve_kernels(kernels: str, device: torch.device) -> str:
    """Which loops run the particle-mesh transfers and the collisions: Numba's compiled CPU
    loops or vectorised PyTorch. "auto" picks Numba on the CPU when it is installed, PyTorch
    otherwise (CUDA, MPS)."""
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}; got {kernels!r}")
    if kernels == "numba":
        if device.type != "cpu":
            raise ValueError(f"kernels='numba' runs on the CPU only; device is {device}")
        if not collision_kernels.AVAILABLE:
            raise ValueError("kernels='numba' needs the numba package (pip install numba)")
    if kernels == "auto":
        return "numba" if device.type == "cpu" and collision_kernels.AVAILABLE else "torch"
    return kernels


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
                 dtype: torch.dtype = torch.float32, compile: bool = False,
                 kernels: str = "auto"):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
        if not isinstance(compile, bool):
            raise ValueError(f"compile must be True or False; got {compile!r}")
        self.kernels = _resolve_kernels(kernels, torch.device(device))
        # The mesh stages, plain or fused by torch.compile (compiled on the first step, which
        # then takes tens of seconds). Compile helps the PyTorch kernels; beside the Numba
        # kernels it measured no gain (docs/physics.md).
        self.compiled = compile
        self._stages = {name: getattr(stages, name)
                        for name in ("deposit", "exchange_heat", "update_particles")}
        self._stages["cloud_in_cell"] = grid.cloud_in_cell
        if compile:
            self._stages = {name: torch.compile(fn, dynamic=None)
                            for name, fn in self._stages.items()}
        if self.kernels == "numba":
            # One fused loop nest per pass over the particles; nothing left for compile to fuse.
            self._stages["update_particles"] = mesh_kernels.update_particles
        self.config = config if config is not None else PhysicsConfig()
        self.device = torch.device(device)
        self.dtype = dtype
        self.fields: Fields | None = None
        self.ledger: EnergyLedger | None = None
        self._warm_potential: torch.Tensor | None = None
        self.time_stages = False
        self._last_output: tuple | None = None

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

    def state_dict(self) -> dict:
        """What the engine carries from step to step besides the particles: the energy ledger
        (plain floats) and Jacobi's warm start (a tensor, or None). Checkpoints save this."""
        ledger = None if self.ledger is None else {
            f.name: getattr(self.ledger, f.name) for f in dataclasses.fields(EnergyLedger)}
        return {"ledger": ledger, "warm_potential": self._warm_potential}

    def load_state_dict(self, saved: dict) -> None:
        """Restore `state_dict()` output; validates everything before changing anything."""
        ledger_fields = {f.name for f in dataclasses.fields(EnergyLedger)}
        ledger = saved.get("ledger")
        if ledger is not None:
            missing = ledger_fields - set(ledger)
            if missing:
                raise ValueError(f"ledger is missing {sorted(missing)}")
            ledger = EnergyLedger(**{name: float(ledger[name]) for name in ledger_fields})
        warm = saved.get("warm_potential")
        if warm is not None:
            if not isinstance(warm, torch.Tensor) or tuple(warm.shape) != self.config.grid_size:
                raise ValueError(f"warm_potential must be a tensor of shape "
                                 f"{self.config.grid_size}")
            warm = warm.to(self.device, self.dtype)
        self.ledger = ledger
        self._warm_potential = warm

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
        if not self._is_last_output(state):
            self._validate(state)
        if self.ledger is None:
            self.ledger = EnergyLedger.start(state)
        cfg = self.config
        seconds: dict[str, float] = {}
        h, r, dt = cfg.grid_spacing, cfg.particle_radius, cfg.dt
        x, v, m = state.positions, state.velocities, state.masses
        run = self._stages

        with self._stage("scatter", seconds):
            if self.kernels == "numba":
                stencil = mesh_kernels.NumbaCloudInCell(x, cfg.grid_size, h)
            else:
                stencil = run["cloud_in_cell"](x, cfg.grid_size, h)
            deposited = run["deposit"](stencil, m, state.heats, cfg)

        with self._stage("gravity", seconds):
            source = (4.0 * math.pi * cfg.G / h**3) * deposited.mass_field
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
            exchanged = run["exchange_heat"](stencil, deposited.heat_field,
                                             deposited.capacity_field, state.heats, m, cfg)

        with self._stage("update", seconds):
            moved = run["update_particles"](
                stencil, phi, exchanged.temperature, deposited.capacity_field, x, v, m,
                state.energies, exchanged.heats, cfg)
            x_new, v_new, heats = moved.positions, moved.velocities, moved.heats

        pairs = 0
        contact_work = 0.0
        dissipated = float(moved.dissipated)
        with self._stage("collide", seconds):
            if cfg.collisions and state.num_particles > 1:
                cutoff = 2.0 * r
                response = dict(radius=r, restitution=cfg.restitution,
                                young_modulus=cfg.young_modulus,
                                thermal_conductivity=cfg.thermal_conductivity,
                                specific_heat=cfg.specific_heat, dt=dt)
                if cfg.collision_method == "brute_force":
                    left, right = collisions.brute_force_pairs(x_new, cutoff)
                    hit = collisions.resolve_pairs(left, right, x_new, v_new, heats, m,
                                                   **response)
                elif self.kernels == "numba":
                    hit = collision_kernels.collide(x_new, v_new, heats, m, box=cfg.domain_size,
                                                    **response)
                else:
                    left, right = collisions.cell_list_pairs(x_new, cutoff, cfg.domain_size)
                    hit = collisions.resolve_pairs(left, right, x_new, v_new, heats, m,
                                                   **response)
                v_new, heats = hit.velocities, hit.heats
                pairs, contact_work = hit.num_pairs, hit.contact_work
                dissipated += hit.dissipated

        new_state = ParticleState(
            positions=x_new, velocities=v_new, energies=moved.energies, heats=heats,
            excitations=state.excitations, masses=m, phases=state.phases)
        ledger = self.ledger
        ledger.gravity_work += float(moved.gravity_work)
        ledger.pressure_work += float(moved.pressure_work)
        ledger.contact_work += contact_work
        ledger.radiated += float(moved.radiated)
        ledger.dissipated += dissipated
        ledger.potential = float(moved.potential)
        ledger.observe(new_state)
        self.fields = Fields(mass=deposited.mass_field, heat=exchanged.diffused,
                             capacity=deposited.capacity_field,
                             temperature=exchanged.temperature, potential=phi)
        self._remember_output(new_state)
        return StepResult(new_state, ledger.snapshot(), residual, pairs, seconds)

    # ------------------------------------------------------------------ helpers
    # Validating a million particles costs several full passes over the state. A state this
    # engine returned last step is known good unless someone wrote into it since: tensors count
    # their in-place writes (`_version`), so compare identity and version of every field.
    def _fingerprint(self, state: ParticleState) -> tuple:
        versions = tuple(getattr(state, name)._version for name in _STATE_FIELDS)
        return (id(self.config), self.device, self.dtype, versions)

    def _remember_output(self, state: ParticleState) -> None:
        self._last_output = ({name: weakref.ref(getattr(state, name)) for name in _STATE_FIELDS},
                             self._fingerprint(state))

    def _is_last_output(self, state: ParticleState) -> bool:
        if self._last_output is None or not isinstance(state, ParticleState):
            return False
        references, fingerprint = self._last_output
        same_tensors = all(references[name]() is getattr(state, name) for name in _STATE_FIELDS)
        return same_tensors and self._fingerprint(state) == fingerprint

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
