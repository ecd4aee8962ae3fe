"""Injected "files": bursts of related particles, their schedule, and the particle budget.

A file is the seed's `SyntheticDataGenerator.generate_file`: particles laid out in one pattern
(cluster, line, sphere, random, grid), energies highest at the pattern's centre for clusters and
spheres, small velocities toward the file's centroid, zero heat, mass = energy, random phases.
Lengths are in world units (the seed assumed grid spacing 1). One deliberate change: each file
gets its own frequency band, excitations w_f + U[0, 0.1) with w_f ~ U[0, 2), where the seed gave
every file U[0, 0.1), so all files aliased onto one band and carriers could not tell them apart.

Every draw comes from the caller's `torch.Generator`, so a step-scheduled run is reproducible.

Budget: with `max_particles` set, room for a file is made *before* it is added by evicting the
oldest particles (lowest rows: the initial state first, then files in arrival order; the engine
keeps that order). Their kinetic + internal + heat energy is booked as `removed` in the ledger
through `ManifoldPhysics.remove_particles`, so the ledger stays closed. A file larger than the
whole budget is cut to the budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from thermo_manifold.physics import ManifoldPhysics, ParticleState, PhysicsConfig
from thermo_manifold.sim.config import PATTERN_CHOICES, PATTERNS, InjectionConfig


def _uniform(shape, generator, dtype, device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


def _normal(shape, generator, dtype, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


def _pattern_positions(pattern: str, n: int, box: torch.Tensor, h: float,
                       generator: torch.Generator) -> torch.Tensor:
    dtype, device = box.dtype, box.device
    side = float(box.min())
    if pattern == "cluster":
        centre = _uniform(3, generator, dtype, device) * box * 0.6 + box * 0.2
        return centre + _normal((n, 3), generator, dtype, device) * (0.15 * side)
    if pattern == "line":
        start = _uniform(3, generator, dtype, device) * box * 0.3
        direction = _normal(3, generator, dtype, device)
        direction = direction / direction.norm().clamp_min(1e-8)  # unit vector
        t = torch.linspace(0.0, 0.7 * side, n, dtype=dtype, device=device)
        noise = _normal((n, 3), generator, dtype, device) * (0.5 * h)
        return start + t[:, None] * direction + noise
    if pattern == "sphere":
        centre = box / 2 + _normal(3, generator, dtype, device) * (3.0 * h)
        radius = 0.2 * side + float(_uniform(1, generator, dtype, device)) * 5.0 * h
        theta = _uniform(n, generator, dtype, device) * (2.0 * math.pi)
        polar = torch.acos(2.0 * _uniform(n, generator, dtype, device) - 1.0)
        unit = torch.stack([torch.sin(polar) * torch.cos(theta),
                            torch.sin(polar) * torch.sin(theta), torch.cos(polar)], dim=1)
        return centre + radius * unit
    if pattern == "grid":
        per_axis = 1
        while per_axis**3 < n:
            per_axis += 1
        axes = [torch.linspace(2.0 * h, float(box[i]) - 2.0 * h, per_axis, dtype=dtype,
                               device=device) for i in range(3)]
        lattice = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)[:n]
        return lattice + _normal((n, 3), generator, dtype, device) * (0.3 * h)
    if pattern == "random":
        return _uniform((n, 3), generator, dtype, device) * (box - 2.0 * h) + h
    raise ValueError(f"pattern must be one of {PATTERNS}; got {pattern!r}")


def choose_pattern(pattern: str, generator: torch.Generator) -> str:
    """`mixed` draws one of the five patterns from the generator; others pass through."""
    if pattern not in PATTERN_CHOICES:
        raise ValueError(f"pattern must be one of {PATTERN_CHOICES}; got {pattern!r}")
    if pattern != "mixed":
        return pattern
    index = int(torch.randint(len(PATTERNS), (1,), generator=generator,
                              device=generator.device))
    return PATTERNS[index]


def generate_file(n: int, pattern: str, config: PhysicsConfig, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                  energy_scale: float = 1.0) -> ParticleState:
    """One file of `n` particles in `pattern` (one of PATTERNS), inside the box."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an integer >= 1; got {n!r}")
    device = torch.device(device)
    h = config.grid_spacing
    box = torch.tensor(config.domain_size, dtype=dtype, device=device)
    positions = _pattern_positions(pattern, n, box, h, generator)
    # Keep half a cell from every wall (the seed clamps to [0.5, g - 1.5]).
    positions = torch.minimum(positions.clamp_min(0.5 * h), box - 0.5 * h)

    if pattern in ("cluster", "sphere"):
        distance = (positions - positions.mean(dim=0)).norm(dim=1)
        energies = (1.0 - distance / (distance.max() + 1e-8)) * energy_scale + 0.1
    else:
        energies = _uniform(n, generator, dtype, device) * (0.5 * energy_scale) + 0.5
    velocities = (positions.mean(dim=0) - positions) * 0.01
    velocities = velocities + _normal((n, 3), generator, dtype, device) * 0.05
    band = float(_uniform(1, generator, dtype, device)) * 2.0
    excitations = band + _uniform(n, generator, dtype, device) * 0.1
    phases = _uniform(n, generator, dtype, device) * (2.0 * math.pi)
    return ParticleState(positions=positions, velocities=velocities, energies=energies,
                         heats=torch.zeros(n, dtype=dtype, device=device),
                         excitations=excitations, masses=energies.clone(), phases=phases)


@dataclass
class Injection:
    """What one injection did (for the console, the dashboard and the summary)."""

    step: int
    file_id: int
    pattern: str
    particles: int
    energy: float
    evicted: int
    evicted_energy: float


class InjectionSchedule:
    """Decides when the next file enters: every k steps, or after a random wall-clock wait."""

    def __init__(self, config: InjectionConfig, generator: torch.Generator,
                 clock=time.monotonic):
        self.config = config
        self._generator = generator
        self._clock = clock
        self._next_time: float | None = None

    @property
    def enabled(self) -> bool:
        return self.config.schedule != "none"

    def due(self, step: int) -> bool:
        """True when a file should enter before physics step `step` (0-based)."""
        cfg = self.config
        if cfg.schedule == "steps":
            return step > 0 and step % cfg.every_steps == 0
        if cfg.schedule == "seconds":
            now = self._clock()
            if self._next_time is None:
                self._next_time = now + self._draw_wait()
            if now >= self._next_time:
                self._next_time = now + self._draw_wait()
                return True
        return False

    def seconds_until_next(self) -> float | None:
        if self.config.schedule != "seconds" or self._next_time is None:
            return None
        return max(0.0, self._next_time - self._clock())

    def _draw_wait(self) -> float:
        low, high = self.config.min_seconds, self.config.max_seconds
        # Uses the run's generator: the wall clock already makes this schedule irreproducible,
        # but a single random stream keeps the code simple and the draws seeded.
        return low + (high - low) * float(torch.rand(1, generator=self._generator,
                                                      device=self._generator.device))


def draw_file_size(config: InjectionConfig, generator: torch.Generator) -> int:
    low, high = config.particles_min, config.particles_max
    return int(torch.randint(low, high + 1, (1,), generator=generator, device=generator.device))


def make_room(physics: ManifoldPhysics, state: ParticleState, incoming: int,
              max_particles: int | None) -> tuple[ParticleState, int, float]:
    """Evict the oldest particles so `incoming` more fit in the budget.

    Returns the new state, how many particles were evicted and their energy (booked as
    `removed` in the engine's ledger).
    """
    if max_particles is None:
        return state, 0, 0.0
    excess = state.num_particles + incoming - max_particles
    if excess <= 0:
        return state, 0, 0.0
    excess = min(excess, state.num_particles)
    removed_before = physics.ledger.removed if physics.ledger is not None else 0.0
    keep = torch.arange(state.num_particles, device=state.device) >= excess
    state = physics.remove_particles(state, keep)
    return state, excess, physics.ledger.removed - removed_before


__all__ = ["Injection", "InjectionSchedule", "choose_pattern", "draw_file_size",
           "generate_file", "make_room"]
