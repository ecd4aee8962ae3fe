"""`ManifoldPhysics`: one physics step over a `ParticleState`.

Two step schemes, chosen by `PhysicsConfig.contact`:

- "spring_dashpot" (default): the conservative forces (mesh gravity, contact springs) are
  integrated kick-drift-kick (velocity Verlet, `verlet.py`), the springs and dashpots in
  contact substeps inside the gravity step (`contacts.contact_substeps`) over a pair list with
  a skin; the dissipative and thermal parts follow at the new positions (contact conduction,
  heat diffusion, conduction with the medium, radiation, thermalization, pressure kick, drag,
  speed limit). The forces at the new positions are kept for the next step's first half kick,
  so a step solves Poisson once.
- "seed": the seed's stage order, kept for comparison:
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
dashpots, inelastic collisions) becomes heat, and the energy ledger records every flow in or out.
"""

from __future__ import annotations

import dataclasses
import math
import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from thermo_manifold.physics import (
    collision_kernels,
    collisions,
    contacts,
    grid,
    kernel_cache,
    mesh_kernels,
    poisson,
    stages,
    verlet,
    verlet_kernels,
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
class Mechanics:
    """The conservative forces at one set of positions, and what they were computed from."""

    positions: torch.Tensor  # copies: the cache is valid while the state's rows equal them
    masses: torch.Tensor
    gravity: torch.Tensor  # (N, 3) acceleration -grad phi (unclamped)
    spring: torch.Tensor  # (N, 3) contact spring force
    gravity_potential: float  # 1/2 sum m phi
    contact_potential: float  # sum 1/2 k delta^2
    # The step's own evaluation also keeps what the thermal part reuses; None when restored
    # from a checkpoint.
    stencil: object = None
    mass_field: torch.Tensor | None = None
    potential_field: torch.Tensor | None = None
    poisson_residual: Callable[[], float] | float = 0.0
    touching: int = 0  # pairs closer than 2r
    # The contact candidates the step ended with; the next step starts from them while no
    # particle has moved half the skin since they were built (a pair search per step is a
    # tenth of a small step). Checkpoints save where they were built, so a resumed run finds
    # the same list.
    candidates: "_Candidates | None" = None

    def matches(self, state: ParticleState) -> bool:
        return (self.positions.shape == state.positions.shape
                and torch.equal(self.positions, state.positions)
                and torch.equal(self.masses, state.masses))


class _Candidates:
    """The pairs that can touch during one step: every pair closer than 2r + skin where the
    list was built. It stays valid while no particle has moved more than skin / 2 since then
    (two particles closing in together then close at most the skin); `around` rebuilds it
    before that can fail."""

    SKIN = 0.3  # in particle radii

    def __init__(self, engine: "ManifoldPhysics", positions: torch.Tensor):
        self._engine = engine
        self._skin = self.SKIN * engine.config.particle_radius
        self._build(positions)

    def _build(self, positions: torch.Tensor) -> None:
        cutoff = 2.0 * self._engine.config.particle_radius + self._skin
        self._pairs = self._engine._find_pairs(positions, cutoff)
        self._origin = self._checked = positions

    @property
    def limit(self) -> float:
        """The largest squared displacement from `origin` the list stays valid for."""
        return (0.5 * self._skin) ** 2

    def rebuild(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The list built again at `positions` (a caller found a particle past `limit`)."""
        self._build(positions)
        return self._pairs

    @property
    def origin(self) -> torch.Tensor:
        """The positions the list was built at."""
        return self._origin

    @property
    def origin_array(self):
        """`origin` as a NumPy view, for the fused CPU substeps."""
        return self._origin.detach().numpy()

    def around(self, positions: torch.Tensor, moved: float | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The list, rebuilt first if some particle moved more than skin / 2 since it was
        built (`moved`: that largest squared displacement, when the caller has it)."""
        if positions is not self._checked:
            if moved is None:
                moved = float(((positions - self._origin) ** 2).sum(dim=1).max())
            if moved > self.limit:
                self._build(positions)
            self._checked = positions
        return self._pairs


_MECHANICS_SAVED = ("positions", "masses", "gravity", "spring", "gravity_potential",
                    "contact_potential")
_PAIR_ORIGIN = "pair_origin"  # optional in saved mechanics: where the candidates were built


@dataclass
class StepResult:
    state: ParticleState
    ledger: EnergyLedger  # a snapshot, safe to keep
    residual_of: Callable[[], float] | float  # the Poisson residual, or how to compute it
    collision_pairs: int
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def poisson_residual(self) -> float:
        """||L phi - source|| / ||source|| of this step's solve, computed when first asked: at
        small N a residual every step costs a tenth of the step."""
        if callable(self.residual_of):
            self.residual_of = float(self.residual_of())
        return self.residual_of


class ManifoldPhysics:
    """The particle-mesh engine. Holds the config, the grid fields and the energy ledger."""

    def __init__(self, config: PhysicsConfig | None = None, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, compile: bool = False,
                 kernels: str = "auto"):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype}")
        if not isinstance(compile, bool):
            raise ValueError(f"compile must be True or False; got {compile!r}")
        requested = torch.device(device)
        if requested.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(requested)!r} requested but CUDA is not available "
                             "(torch.cuda.is_available() is False); use device='cpu'")
        if requested.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                            and torch.backends.mps.is_available()):
            raise ValueError(f"device {str(requested)!r} requested but the MPS backend is not "
                             "available; use device='cpu'")
        self.kernels = _resolve_kernels(kernels, requested)
        if self.kernels == "numba":
            kernel_cache.watch()  # a cold cache prints one line before the first compile
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
        # The kick-drift-kick step's passes: vectorised PyTorch or their Numba twins.
        self._verlet = verlet_kernels if self.kernels == "numba" else verlet
        self._contacts = verlet_kernels if self.kernels == "numba" else contacts
        self._exchange_heat = (verlet_kernels.exchange_heat if self.kernels == "numba"
                               else self._stages["exchange_heat"])
        if config is not None and not isinstance(config, PhysicsConfig):
            raise TypeError(f"config must be a PhysicsConfig (PhysicsConfig(**values) or "
                            f"PhysicsConfig.from_dict(values)); got {type(config).__name__}")
        self.config = config if config is not None else PhysicsConfig()
        self.device = torch.device(device)
        self.dtype = dtype
        self.fields: Fields | None = None
        self.ledger: EnergyLedger | None = None
        self._warm_potential: torch.Tensor | None = None
        self._mechanics: Mechanics | None = None  # forces at the last output's positions
        self.time_stages = False
        self._last_output: tuple | None = None

    # ------------------------------------------------------------------ ledger management
    def start_ledger(self, state: ParticleState) -> EnergyLedger:
        """Start (or restart) the energy ledger from `state`."""
        self._validate(state)
        if self.config.contact == "seed":
            self.ledger = EnergyLedger.start(state)
        else:
            mech = self._evaluate_mechanics(state.positions, state.masses, {})
            self._mechanics = mech
            self.ledger = EnergyLedger.start(state, mech.gravity_potential,
                                             mech.contact_potential, conservative=True)
        return self.ledger

    def add_particles(self, state: ParticleState, new: ParticleState) -> ParticleState:
        """Append `new` particles, counting their energy as injected."""
        self._validate(state)
        self._validate(new)
        if self.ledger is None:
            self.start_ledger(state)
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
            self.start_ledger(state)
        self.ledger.removed += particle_energy(state.select(~keep))
        kept = state.select(keep)
        self.ledger.observe(kept)
        return kept

    def state_dict(self) -> dict:
        """What the engine carries from step to step besides the particles: the energy ledger
        (plain floats) and Jacobi's warm start (a tensor, or None). Checkpoints save this."""
        ledger = None if self.ledger is None else {
            f.name: getattr(self.ledger, f.name) for f in dataclasses.fields(EnergyLedger)}
        mechanics = None if self._mechanics is None else {
            name: getattr(self._mechanics, name) for name in _MECHANICS_SAVED}
        if mechanics is not None and self._mechanics.candidates is not None:
            mechanics[_PAIR_ORIGIN] = self._mechanics.candidates.origin.clone()
        return {"ledger": ledger, "warm_potential": self._warm_potential,
                "mechanics": mechanics}

    def load_state_dict(self, saved: dict) -> None:
        """Restore `state_dict()` output; validates everything before changing anything."""
        ledger_fields = {f.name for f in dataclasses.fields(EnergyLedger)}
        ledger = saved.get("ledger")
        if ledger is not None:
            missing = ledger_fields - set(ledger)
            if missing:
                raise ValueError(f"ledger is missing {sorted(missing)}")
            ledger = EnergyLedger(**{name: bool(ledger[name]) if name == "conservative"
                                     else float(ledger[name]) for name in ledger_fields})
        mechanics = saved.get("mechanics")
        if mechanics is not None:
            missing = set(_MECHANICS_SAVED) - set(mechanics)
            if missing:
                raise ValueError(f"mechanics is missing {sorted(missing)}")
            tensors = {name: mechanics[name] for name in _MECHANICS_SAVED[:4]}
            n = tensors["masses"].shape[0] if isinstance(tensors["masses"], torch.Tensor) else -1
            for name, value in tensors.items():
                shape = (n,) if name == "masses" else (n, 3)
                if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                    raise ValueError(f"mechanics.{name} must be a tensor of shape {shape}")
            origin = mechanics.get(_PAIR_ORIGIN)
            if origin is not None and (not isinstance(origin, torch.Tensor)
                                       or tuple(origin.shape) != (n, 3)):
                raise ValueError(f"mechanics.{_PAIR_ORIGIN} must be a tensor of shape {(n, 3)}")
            mechanics = Mechanics(
                **{name: value.to(self.device, self.dtype) for name, value in tensors.items()},
                gravity_potential=float(mechanics["gravity_potential"]),
                contact_potential=float(mechanics["contact_potential"]))
            if origin is not None:
                mechanics.candidates = _Candidates(self, origin.to(self.device, self.dtype))
        warm = saved.get("warm_potential")
        if warm is not None:
            if not isinstance(warm, torch.Tensor) or tuple(warm.shape) != self.config.grid_size:
                raise ValueError(f"warm_potential must be a tensor of shape "
                                 f"{self.config.grid_size}")
            warm = warm.to(self.device, self.dtype)
        self.ledger = ledger
        self._warm_potential = warm
        self._mechanics = mechanics

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
        known = self._is_last_output(state)
        if not known:
            self._validate(state)
        if self.config.contact == "seed":
            return self._step_seed(state)
        return self._step_verlet(state, known)

    def _step_seed(self, state: ParticleState) -> StepResult:
        """The seed's stage order: explicit kicks, drift, then impulse-plus-push collisions."""
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
            phi, residual = self._solve_gravity(deposited.mass_field)

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

    def _step_verlet(self, state: ParticleState, known: bool) -> StepResult:
        """Kick-drift-kick for gravity with the contact springs substepped inside it, then the
        dissipative and thermal parts at the new positions (see `verlet.py`)."""
        cfg = self.config
        seconds: dict[str, float] = {}
        if self.ledger is None:
            self.start_ledger(state)
        ledger = self.ledger
        start = self._mechanics_for(state, known, seconds)
        m = state.masses
        contacts_on = cfg.collisions and state.num_particles > 1
        springs_on = contacts_on and cfg.young_modulus > 0
        substeps = self._substeps(m)
        h = cfg.dt / substeps
        x, v, heats = state.positions, state.velocities, state.heats
        spring = start.spring
        candidates = start.candidates if contacts_on else None
        if contacts_on and candidates is None:
            with self._stage("collide", seconds):
                candidates = _Candidates(self, x)
        gravity_work = clamp_work = dissipated = contact_work = 0.0
        touching = 0
        mech = None
        fused = (self.kernels == "numba" and springs_on
                 and state.num_particles < collision_kernels.PARALLEL_MIN)
        if fused:  # the same substeps in few compiled calls (verlet_kernels.FusedSubsteps)
            loop = verlet_kernels.FusedSubsteps(x, v, heats, m, cfg, h)
            index = 0
            while True:
                with self._stage("update", seconds):
                    index, ran_out, spring = loop.run(index, substeps, start.gravity, spring,
                                                      candidates.origin_array, candidates.limit,
                                                      candidates.around(x))
                    x = torch.from_numpy(loop.x)
                with self._stage("collide", seconds):
                    pairs = candidates.rebuild(x) if ran_out else candidates.around(x, 0.0)
                if index == substeps - 1:
                    break
                with self._stage("collide", seconds):
                    spring = loop.tail(pairs, None, None, 0.0)
                index += 1
            mech = self._evaluate_mechanics(x, m, seconds, candidates)
            touching = mech.touching
            with self._stage("collide", seconds):
                spring = loop.tail(pairs, mech.gravity, mech.spring, cfg.dt)
            gravity_work, clamp_work, dissipated, contact_work = (float(total)
                                                                  for total in loop.sums)
            v, heats = torch.from_numpy(loop.v), torch.from_numpy(loop.q)
        for index in range(0 if fused else substeps):
            first, last = index == 0, index == substeps - 1
            with self._stage("update", seconds):
                kick = self._verlet.half_kick(v, m, start.gravity if first else None, spring,
                                              0.5 * cfg.dt, 0.5 * h, cfg.max_acceleration)
                moved = self._verlet.drift(x, kick.velocities, m, h, cfg)
                x, v = moved.positions, moved.velocities
                heats = heats + moved.wall_loss
                dissipated += float(_sum64(moved.wall_loss))
                gravity_work += float(kick.gravity_work)
                clamp_work += float(kick.clamp_work)
            if last:
                mech = self._evaluate_mechanics(x, m, seconds, candidates)
                spring, touching = mech.spring, mech.touching
            elif springs_on:
                with self._stage("collide", seconds):
                    springs = self._contacts.spring_forces(*candidates.around(x), x,
                                                           cfg.particle_radius,
                                                           cfg.young_modulus)
                    spring = springs.forces
            with self._stage("update", seconds):
                kick = self._verlet.half_kick(v, m, mech.gravity if last else None, spring,
                                              0.5 * cfg.dt, 0.5 * h, cfg.max_acceleration)
                v = kick.velocities
                gravity_work += float(kick.gravity_work)
                clamp_work += float(kick.clamp_work)
            if candidates is not None:
                with self._stage("collide", seconds):
                    damped = self._contacts.dashpot(
                        *candidates.around(x), x, v, heats, m, radius=cfg.particle_radius,
                        young_modulus=cfg.young_modulus, restitution=cfg.restitution,
                        thermal_conductivity=cfg.thermal_conductivity,
                        specific_heat=cfg.specific_heat, dt=h,
                        conduction_dt=cfg.dt if last else 0.0)
                    v, heats = damped.velocities, damped.heats
                    contact_work += float(damped.contact_work)
                    dissipated += float(damped.dissipated)

        if self.kernels == "numba" and state.num_particles < collision_kernels.PARALLEL_MIN:
            with self._stage("heat", seconds):  # the thermal part in one compiled call
                rest = verlet_kernels.thermal_part(mech.stencil, mech.mass_field, v, m,
                                                   state.energies, heats, cfg)
            capacity_field, diffused, temperature = (rest.capacity_field, rest.diffused,
                                                     rest.temperature)
        else:
            with self._stage("heat", seconds):
                heat_field = mech.stencil.scatter(heats)
                capacity_field = mech.mass_field * cfg.specific_heat
                exchanged = self._exchange_heat(mech.stencil, heat_field, capacity_field,
                                                heats, m, cfg)
            with self._stage("update", seconds):
                rest = self._verlet.dissipate(mech.stencil, exchanged.temperature,
                                              capacity_field, v, m, state.energies,
                                              exchanged.heats, cfg)
            diffused, temperature = exchanged.diffused, exchanged.temperature

        new_state = ParticleState(
            positions=x, velocities=rest.velocities, energies=rest.energies, heats=rest.heats,
            excitations=state.excitations, masses=m, phases=state.phases)
        ledger.gravity_work += gravity_work
        ledger.clamp_work += clamp_work
        ledger.pressure_work += float(rest.pressure_work)
        ledger.contact_work += contact_work
        ledger.radiated += float(rest.radiated)
        ledger.dissipated += dissipated + float(rest.dissipated)
        ledger.potential = mech.gravity_potential
        ledger.contact_potential = mech.contact_potential
        ledger.observe(new_state)
        self.fields = Fields(mass=mech.mass_field, heat=diffused, capacity=capacity_field,
                             temperature=temperature, potential=mech.potential_field)
        mech.candidates = candidates
        self._mechanics = mech
        self._remember_output(new_state)
        return StepResult(new_state, ledger.snapshot(), mech.poisson_residual, touching, seconds)

    def _substeps(self, masses: torch.Tensor) -> int:
        """Contact substeps of one step (1 when no springs act); `_validate` has checked that
        the count is within MAX_CONTACT_SUBSTEPS."""
        cfg = self.config
        if not (cfg.collisions and masses.shape[0] > 1 and cfg.young_modulus > 0):
            return 1
        return contacts.contact_substeps(cfg.dt, cfg.young_modulus, float(masses.min()),
                                         cfg.contact_resolution)

    def _mechanics_for(self, state: ParticleState, known: bool,
                       seconds: dict[str, float]) -> Mechanics:
        """The forces at `state`'s positions: kept from the last step when the positions and
        masses are unchanged, else evaluated again. A re-evaluation after the state was edited
        (particles injected or removed) books the change of U_grav + U_c in the ledger."""
        cached = self._mechanics
        if cached is not None and (known or cached.matches(state)):
            return cached
        mech = self._evaluate_mechanics(state.positions, state.masses, seconds)
        ledger = self.ledger
        if ledger is not None and ledger.conservative:
            ledger.potential_edits += (mech.gravity_potential + mech.contact_potential
                                       - ledger.potential - ledger.contact_potential)
            ledger.potential = mech.gravity_potential
            ledger.contact_potential = mech.contact_potential
        return mech

    def _evaluate_mechanics(self, positions: torch.Tensor, masses: torch.Tensor,
                            seconds: dict[str, float], candidates: "_Candidates | None" = None
                            ) -> Mechanics:
        """Mesh gravity and contact springs at `positions`: scatter, Poisson, gather of the
        potential's gradient, and spring forces over the step's candidate pairs (or a fresh
        pair search)."""
        cfg = self.config
        h, r = cfg.grid_spacing, cfg.particle_radius
        with self._stage("scatter", seconds):
            if self.kernels == "numba":
                stencil = mesh_kernels.NumbaCloudInCell(positions, cfg.grid_size, h)
            else:
                stencil = self._stages["cloud_in_cell"](positions, cfg.grid_size, h)
            mass_field = stencil.scatter(masses)
        with self._stage("gravity", seconds):
            phi, residual = self._solve_gravity(mass_field, lazy_residual=True)
            # In the outer half-cells the stencil is clamped to the boundary nodes, so the
            # interpolated potential is flat along that axis: its exact gradient, and the force
            # that conserves K + U_grav, is zero there (the interior formula would extrapolate).
            if self.kernels == "numba":
                _, gravity, gravity_potential = stencil.gravity(positions, masses, phi)
            else:
                local_phi, grad_phi = stencil.gather_with_gradient(phi)
                gravity_potential = 0.5 * float(_sum64(masses * local_phi))
                gravity = -grad_phi * _unclamped(positions, cfg.grid_size, h)
        spring = torch.zeros_like(positions)
        contact_potential, touching = 0.0, 0
        with self._stage("collide", seconds):
            if cfg.collisions and positions.shape[0] > 1 and cfg.young_modulus > 0:
                pairs = (candidates.around(positions) if candidates is not None
                         else self._find_pairs(positions, 2.0 * r))
                springs = self._contacts.spring_forces(*pairs, positions, r, cfg.young_modulus)
                spring, contact_potential = springs.forces, float(springs.potential)
                touching = int(springs.touching)
        return Mechanics(positions=positions.clone(), masses=masses.clone(), gravity=gravity,
                         spring=spring, gravity_potential=gravity_potential,
                         contact_potential=contact_potential, stencil=stencil,
                         mass_field=mass_field, potential_field=phi, poisson_residual=residual,
                         touching=touching)

    def _solve_gravity(self, mass_field: torch.Tensor, lazy_residual: bool = False
                       ) -> tuple[torch.Tensor, Callable[[], float] | float]:
        cfg = self.config
        h = cfg.grid_spacing
        source = (4.0 * math.pi * cfg.G / h**3) * mass_field
        if cfg.poisson == "spectral":
            phi = poisson.solve_spectral(source, h)
        else:
            warm = self._warm_potential
            if warm is None or warm.shape != source.shape or warm.dtype != source.dtype:
                warm = torch.zeros_like(source)
            phi = poisson.jacobi(warm, source, h, cfg.poisson_iterations)
            self._warm_potential = phi
        if lazy_residual:
            return phi, lambda: poisson.residual(phi, source, h)
        return phi, poisson.residual(phi, source, h)

    def _find_pairs(self, positions: torch.Tensor, cutoff: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        if cfg.collision_method == "brute_force":
            return collisions.brute_force_pairs(positions, cutoff)
        if self.kernels == "numba":
            return collision_kernels.cell_list_pairs(positions, cutoff, cfg.domain_size)
        return collisions.cell_list_pairs(positions, cutoff, cfg.domain_size)

    # ------------------------------------------------------------------ helpers
    # Validating a million particles costs several full passes over the state. A state this
    # engine returned last step is known good unless someone wrote into it since. Tensors count
    # their in-place writes (`_version`), but writes through `.numpy()` or `.data` bypass that
    # counter, so each field's float64 sum is compared too: one pass a field, and any change of
    # a float32 value moves a float64 sum of up to 10^8 of them. (A write that leaves every
    # field's sum bit-identical, such as swapping two values, would still go unnoticed.)
    def _fingerprint(self, state: ParticleState) -> tuple:
        versions = tuple(getattr(state, name)._version for name in _STATE_FIELDS)
        return (id(self.config), self.device, self.dtype, versions)

    @staticmethod
    def _sums(state: ParticleState) -> torch.Tensor:
        return torch.stack([getattr(state, name).sum(dtype=torch.float64)
                            for name in _STATE_FIELDS])

    def _remember_output(self, state: ParticleState) -> None:
        """Keep the step's output for the fast path, after checking it: every value finite (a
        float64 sum of float32 values is finite exactly when they all are) and every mass
        positive. An unstable configuration (one valid field by field, explosive together)
        fails here, at the step that produced the values, not steps later."""
        sums = self._sums(state)
        ok = torch.isfinite(sums).all()
        if state.num_particles:
            ok = ok & (state.masses.min() > 0)
        if not bool(ok):
            bad = [f"non-finite {name}" for name, total in zip(_STATE_FIELDS, sums.tolist())
                   if not math.isfinite(total)]
            if state.num_particles and not bool((state.masses > 0).all()):
                bad.append("non-positive masses")
            self._last_output = None
            raise StateError(f"the step produced {', '.join(bad)}: the physics is unstable at "
                             "these settings (dt, young_modulus, G, max_speed, ...)")
        self._last_output = ({name: weakref.ref(getattr(state, name)) for name in _STATE_FIELDS},
                             self._fingerprint(state), sums)

    def _is_last_output(self, state: ParticleState) -> bool:
        if self._last_output is None or not isinstance(state, ParticleState):
            return False
        references, fingerprint, sums = self._last_output
        same_tensors = all(references[name]() is getattr(state, name) for name in _STATE_FIELDS)
        return (same_tensors and self._fingerprint(state) == fingerprint
                and torch.equal(self._sums(state), sums))

    def _validate(self, state: ParticleState) -> None:
        if not isinstance(state, ParticleState):
            raise StateError(f"state must be a ParticleState; got {type(state).__name__}")
        cfg = self.config
        state.validate(cfg, device=self.device, dtype=self.dtype)
        if (cfg.contact == "spring_dashpot" and cfg.collisions and state.num_particles > 1
                and cfg.young_modulus > 0):
            lightest = float(state.masses.min())
            substeps = contacts.contact_substeps(cfg.dt, cfg.young_modulus, lightest,
                                                 cfg.contact_resolution)
            if substeps > contacts.MAX_CONTACT_SUBSTEPS:
                raise StateError(
                    f"the lightest particles (mass {lightest:.4g}) need {substeps} contact "
                    f"substeps per step with dt={cfg.dt}, young_modulus={cfg.young_modulus} "
                    f"and contact_resolution={cfg.contact_resolution} (at most "
                    f"{contacts.MAX_CONTACT_SUBSTEPS}): lower dt or young_modulus, make the "
                    "lightest particles heavier, or use contact='seed'")

    @contextmanager
    def _stage(self, name: str, seconds: dict[str, float]):
        if not self.time_stages:
            yield
            return
        self._synchronize()
        start = time.perf_counter()
        yield
        self._synchronize()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start

    def _synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()


def _unclamped(positions: torch.Tensor, grid_size: tuple[int, int, int], spacing: float
               ) -> torch.Tensor:
    """(N, 3) 1 where a particle's grid coordinate x / h - 1/2 lies inside [0, g - 1] on that
    axis (the interpolant varies with it), 0 in the outer half-cells."""
    coords = positions / spacing - 0.5
    top = torch.tensor([g - 1 for g in grid_size], dtype=positions.dtype,
                       device=positions.device)
    return ((coords > 0) & (coords < top)).to(positions.dtype)


def _sum64(values: torch.Tensor) -> torch.Tensor:
    return values.sum(dtype=torch.float64)


__all__ = ["Fields", "ManifoldPhysics", "Mechanics", "STAGES", "StepResult"]
