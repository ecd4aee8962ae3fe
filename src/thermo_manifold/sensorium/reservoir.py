"""`ManifoldReservoir`: the Thermo-Manifold driven by a token stream, read as a fixed-size
feature vector (reservoir computing: Jaeger 2001, Maass et al. 2002, Tanaka et al. 2019).

Each token lands as a burst of particles; the physics (gravity, contacts, heat, radiation) and
the spectral carriers evolve them for `steps_per_token` steps; then the state is read. A linear
readout trained on those features (`readouts.py`) does the predicting, so whatever memory and
nonlinearity the predictions have must come from the physics.

Placement (why each choice):
- A token's frequency depends on the token alone: omega(b) = frequency_offset +
  frequency_spacing * b, neighbouring tokens `frequency_spacing` apart (at least two minimum
  gate widths, so a carrier can resolve them). The seed hashes (byte, position), which makes the
  same byte at another position an unrelated token; that is what kept its readout at chance.
- `placement="trail"` (default): the injection point moves `trail_step` cells per token along a
  closed Lissajous curve inside the box, and a token lands `identity_radius` cells from it in a
  direction fixed by the token. Recent tokens lie along the trail, older ones have cooled and
  diffused; neighbouring tokens touch, collide and exchange heat, the interaction a linear
  readout needs for conjunctions of tokens. `trail_period` > 0 closes the trail (integer
  rates, one lap per trail_period tokens), so the place of the injection point says where in
  the lap the stream is, not how long it has run. `placement="fixed"`: a token always lands at its
  own place (a lattice over the box), so place encodes identity and not order.

Features (each family can be switched off for ablations; the count is fixed by the config, not
by the particles):
- fields: mass, medium temperature and gravitational potential of the grid, averaged over
  `pool`^3 blocks (3 * pool^3 numbers);
- excitations: one bin per token frequency, weighted by the particles' internal energy E (fresh:
  E thermalises into heat with tau_thermalization) and by their heat Q (older) (2 * vocab);
- carriers: carrier amplitude, and amplitude times cos and sin of the carrier phase, binned by
  carrier frequency over the token band (3 * carrier_bins);
- taps (off unless `taps` > 0): the same E- and Q-weighted token histograms, but of the particles
  nearest to each of the last `taps` trail points (2 * taps * vocab). The families above are
  global, and a trail moves, so a fixed linear readout cannot tell from them where (when) a
  token landed; the taps are read in the frame of the injection point, so "the token j steps
  back" is always the same features. They need an identity_radius well below trail_step, so a
  token's particles stay nearest to their own tap.

`physics=False` is the "physics frozen" ablation: tokens are injected and read, no physics
step or carrier tick runs. All randomness comes from one generator seeded by `seed`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.physics import ManifoldPhysics, ParticleState, PhysicsConfig
from thermo_manifold.physics import grid as grid_transfer
from thermo_manifold.physics import poisson

PLACEMENTS = ("trail", "fixed")
FEATURE_FAMILIES = ("fields", "excitations", "carriers")
TWO_PI = 2.0 * math.pi
# Incommensurate angular rates of the trail's Lissajous curve (x, y, z), so it does not retrace
# itself for a long time.
TRAIL_RATES = (1.0, math.sqrt(2.0), math.sqrt(3.0) - 0.5)
CLOSED_TRAIL_RATES = (1.0, 2.0, 3.0)  # a closed trail (`trail_period` > 0)


def reservoir_physics(grid_size: tuple[int, int, int] = (16, 16, 16)) -> PhysicsConfig:
    """The physics a reservoir runs by default: the project's defaults on a small grid, with
    - thermalisation over about fifty steps (tau 1 at dt 0.02), so E and Q tell recent tokens
      from older ones within the particle budget;
    - particles of radius 0.25 and a softer contact (k = 100): a token's burst and its
      neighbours along the trail touch and exchange heat without the contact energy (1/2 k
      delta^2) dwarfing the token's own energy of 1, and the springs need one substep."""
    return PhysicsConfig(grid_size=grid_size, dt=0.02, tau_thermalization=1.0,
                         particle_radius=0.25, young_modulus=100.0)


def _integer(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _number(name: str, value: Any, minimum: float, strict: bool) -> None:
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value) and (value > minimum if strict else value >= minimum))
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum}; "
                         f"got {value!r}")


@dataclass(frozen=True)
class ReservoirConfig:
    vocab: int = 256
    steps_per_token: int = 1
    particles_per_token: int = 4
    max_particles: int = 2048  # the oldest particles are evicted beyond it
    placement: str = "trail"
    trail_step: float = 0.5  # cells per token (open trail)
    trail_period: int = 0  # > 0: a closed trail that repeats every trail_period tokens
    identity_radius: float = 1.5  # cells between the trail point and a token's landing place
    injection_spread: float = 0.02  # noise on the burst's shape (cells)
    injection_speed: float = 0.05
    token_energy: float = 1.0
    frequency_offset: float = 0.5
    frequency_spacing: float = 0.16
    pool: int = 4
    carrier_bins: int = 32
    taps: int = 0  # trail taps read in the frame of the injection point (0: off)
    fields: bool = True
    excitations: bool = True
    carriers: bool = True
    physics: bool = True
    physics_config: PhysicsConfig = field(default_factory=reservoir_physics)

    def __post_init__(self) -> None:
        _integer("vocab", self.vocab, 2)
        _integer("steps_per_token", self.steps_per_token, 1)
        _integer("particles_per_token", self.particles_per_token, 1)
        _integer("pool", self.pool, 1)
        _integer("carrier_bins", self.carrier_bins, 1)
        _integer("taps", self.taps, 0)
        _integer("trail_period", self.trail_period, 0)
        if self.taps and self.placement != "trail":
            raise ValueError("taps need placement='trail' (they read along the trail)")
        if (not isinstance(self.max_particles, int) or isinstance(self.max_particles, bool)
                or self.max_particles < self.particles_per_token):
            raise ValueError(f"max_particles must be an integer >= particles_per_token "
                             f"({self.particles_per_token}); got {self.max_particles!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}; got {self.placement!r}")
        for name in ("trail_step", "identity_radius", "injection_spread", "injection_speed",
                     "frequency_offset"):
            _number(name, getattr(self, name), 0.0, strict=False)
        for name in ("token_energy", "frequency_spacing"):
            _number(name, getattr(self, name), 0.0, strict=True)
        for name in ("fields", "excitations", "carriers", "physics"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if not (self.fields or self.excitations or self.carriers):
            raise ValueError("at least one of fields, excitations, carriers must be True "
                             "(every feature family is off)")
        if not isinstance(self.physics_config, PhysicsConfig):
            raise ValueError(f"physics_config must be a PhysicsConfig; got "
                             f"{type(self.physics_config).__name__}")
        if any(g % self.pool for g in self.physics_config.grid_size):
            raise ValueError(f"pool ({self.pool}) must divide every grid axis "
                             f"{self.physics_config.grid_size}")

    @property
    def n_features(self) -> int:
        blocks = math.prod(g // self.pool for g in self.physics_config.grid_size)
        return ((3 * blocks if self.fields else 0) + (2 * self.vocab if self.excitations else 0)
                + (3 * self.carrier_bins if self.carriers else 0) + 2 * self.taps * self.vocab)

    def feature_slices(self) -> dict[str, slice]:
        """Where each switched-on family lies in the feature vector, in the order `features`
        writes them (fields, excitations, carriers, taps). The ablation rows that keep some
        families read these columns of one run, so the physics they see is the same."""
        blocks = math.prod(g // self.pool for g in self.physics_config.grid_size)
        sizes = {"fields": 3 * blocks if self.fields else 0,
                 "excitations": 2 * self.vocab if self.excitations else 0,
                 "carriers": 3 * self.carrier_bins if self.carriers else 0,
                 "taps": 2 * self.taps * self.vocab}
        out, start = {}, 0
        for name, size in sizes.items():
            if size:
                out[name] = slice(start, start + size)
                start += size
        return out

    def replace(self, **changes: Any) -> "ReservoirConfig":
        return dataclasses.replace(self, **changes)

    def frequencies(self) -> torch.Tensor:
        """omega(b) of every token b, float64."""
        return self.frequency_offset + self.frequency_spacing * torch.arange(
            self.vocab, dtype=torch.float64)


def _directions(count: int) -> torch.Tensor:
    """`count` unit vectors spread over the sphere (Fibonacci lattice), float64."""
    k = torch.arange(count, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / count
    radius = torch.sqrt((1.0 - z * z).clamp_min(0.0))
    angle = math.pi * (3.0 - math.sqrt(5.0)) * k
    return torch.stack([radius * torch.cos(angle), radius * torch.sin(angle), z], dim=1)


def _lattice(count: int, box: torch.Tensor, margin: float) -> torch.Tensor:
    """`count` points on a regular lattice filling the box less `margin` on every side."""
    side = math.ceil(count ** (1.0 / 3.0))
    axis = (torch.arange(side, dtype=torch.float64) + 0.5) / side
    points = torch.cartesian_prod(axis, axis, axis)[:count]
    return margin + points * (box - 2.0 * margin)


class ManifoldReservoir:
    """The manifold as a reservoir: `step(token)` drives it and returns the feature vector."""

    def __init__(self, config: ReservoirConfig | None = None, *, seed: int = 0,
                 spectral_config: Any = None, dtype: torch.dtype = torch.float32):
        from thermo_manifold.spectral import SpectralCarrierConfig, SpectralCarrierPhysics

        self.config = config if config is not None else ReservoirConfig()
        cfg = self.config
        self.seed = int(seed)
        self.dtype = dtype
        pcfg = cfg.physics_config
        self._box = torch.tensor(pcfg.domain_size, dtype=torch.float64)
        self._spectral_config = (spectral_config or SpectralCarrierConfig()).replace(dt=pcfg.dt)
        self._carrier_class = SpectralCarrierPhysics
        self._omegas = cfg.frequencies()
        self._offsets = _directions(cfg.vocab) * cfg.identity_radius
        self._places = _lattice(cfg.vocab, self._box, margin=1.0)
        self._burst = self._burst_shape()
        band_low = cfg.frequency_offset - 0.5 * cfg.frequency_spacing
        self._band = (band_low, band_low + cfg.vocab * cfg.frequency_spacing)
        self.reset()

    @property
    def n_features(self) -> int:
        return self.config.n_features

    # ------------------------------------------------------------------ driving
    def reset(self) -> None:
        """Empty box, fresh carriers, the generator re-seeded: a new stream starts the same way
        whatever ran before."""
        cfg = self.config
        self.physics = ManifoldPhysics(cfg.physics_config, dtype=self.dtype)
        self.carriers = self._carrier_class(config=self._spectral_config, dtype=self.dtype,
                                            seed=self.seed)
        self.generator = make_generator(self.seed, torch.device("cpu"))
        self.tokens_seen = 0
        self.state = ParticleState(**{name: torch.zeros((0, 3) if name in ("positions",
                                                                           "velocities")
                                                        else (0,), dtype=self.dtype)
                                      for name in ("positions", "velocities", "energies",
                                                   "heats", "excitations", "masses",
                                                   "phases")})
        self.physics.start_ledger(self.state)

    def step(self, token: int) -> np.ndarray:
        """Inject `token`, run the physics, return the features (n_features,) float64."""
        token = self._checked_token(token)
        self._inject(token)
        if self.config.physics:
            for _ in range(self.config.steps_per_token):
                self._advance()
        self.tokens_seen += 1
        return self.features()

    def transform(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """reset(), then one feature row per token: (T, n_features) float64."""
        values = np.asarray(tokens)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"tokens must be a non-empty 1-D sequence; got shape {values.shape}")
        self.reset()
        out = np.empty((values.size, self.n_features))
        for index, token in enumerate(values.tolist()):
            out[index] = self.step(token)
        return out

    def image(self, image: Any, steps: int) -> np.ndarray:
        """reset(), land a whole image at once, run `steps` physics steps, return the features.

        Placement for images (why): pixel (row i, column j) of an H x W image lands at its image
        coordinates mapped onto the grid's x-y extent, in the mid plane of z, so the grid's mass
        field is the picture and neighbouring pixels are neighbouring particles; a pixel's
        intensity v in [0, 1] is its energy and mass (a dark pixel adds nothing, so it is not
        injected), and its excitation is the token frequency of its intensity band
        round(v (vocab - 1)), so the excitation histograms count the pixels of each grey level.
        The physics then lets bright regions attract, touch and heat each other: the
        nonlinearity the linear readout cannot supply."""
        cfg = self.config
        values = np.asarray(image, dtype=np.float64)
        if values.ndim != 2 or values.size == 0:
            raise ValueError(f"image must be a non-empty 2-D array; got shape {values.shape}")
        if not np.all(np.isfinite(values)) or values.min() < 0.0 or values.max() > 1.0:
            raise ValueError("image intensities must be finite numbers in [0, 1]")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0; got {steps!r}")
        if values.size > cfg.max_particles:
            raise ValueError(f"an image of {values.size} pixels needs max_particles >= "
                             f"{values.size}; got {cfg.max_particles}")
        self.reset()
        rows, cols = np.nonzero(values > 0.0)
        if rows.size:
            t, g = self.dtype, self.generator
            h, w = values.shape
            box = self._box
            x = (torch.from_numpy(cols + 0.5) / w) * box[0]
            y = (torch.from_numpy(rows + 0.5) / h) * box[1]
            z = torch.full_like(x, 0.5 * float(box[2]))
            intensity = torch.from_numpy(values[rows, cols]).to(t)
            bands = torch.round(intensity.double() * (cfg.vocab - 1)).long()
            n = rows.size
            energies = intensity * cfg.token_energy
            self.state = self.physics.add_particles(self.state, ParticleState(
                positions=torch.stack([x, y, z], dim=1).to(t),
                velocities=torch.randn(n, 3, generator=g, dtype=t) * cfg.injection_speed,
                energies=energies, heats=torch.zeros(n, dtype=t),
                excitations=self._omegas[bands].to(t), masses=energies.clone(),
                phases=torch.rand(n, generator=g, dtype=t) * TWO_PI))
        if cfg.physics:
            for _ in range(steps):
                self._advance()
        self.tokens_seen = 1
        return self.features()

    def _advance(self) -> None:
        """One physics step and one carrier tick, the tick's energy booked in the ledger."""
        self.state = self.physics.step(self.state).state
        tick = self.carriers.tick(self.state)
        self.state = self.physics.record_external(tick.particles, tick.energy_injected)

    def _checked_token(self, token: Any) -> int:
        if isinstance(token, (bool, np.bool_)) or not isinstance(token, (int, np.integer)):
            raise ValueError(f"token must be an integer in [0, {self.config.vocab}); got "
                             f"{token!r}")
        if not 0 <= int(token) < self.config.vocab:
            raise ValueError(f"token must be in [0, {self.config.vocab}); got {int(token)}")
        return int(token)

    def landing_place(self, token: int, index: int | None = None) -> torch.Tensor:
        """Where token `token` lands as the `index`-th token of the stream (default: next)."""
        cfg = self.config
        index = self.tokens_seen if index is None else index
        if cfg.placement == "fixed":
            return self._places[token]
        return self._trail_point(index) + self._offsets[token]

    def _burst_shape(self) -> torch.Tensor:
        """Offsets of a token's particles from its landing place: spread over a small sphere
        whose radius keeps every two of them 1.1 diameters apart, so a burst starts without
        overlap (overlapping springs would turn each token into an explosion of contact
        energy)."""
        n = self.config.particles_per_token
        directions = _directions(n)
        if n == 1:
            return directions * 0.0
        closest = float(torch.pdist(directions).min())
        diameter = 2.0 * self.config.physics_config.particle_radius
        return directions * (1.1 * diameter / closest)

    def _inject(self, token: int) -> None:
        cfg = self.config
        n, g, t = cfg.particles_per_token, self.generator, self.dtype
        place = self.landing_place(token).to(t)
        inside = torch.tensor(cfg.physics_config.domain_size, dtype=t) - 0.5
        noise = torch.randn(n, 3, generator=g, dtype=t) * cfg.injection_spread
        positions = torch.minimum(torch.clamp(place + self._burst.to(t) + noise, min=0.5),
                                  inside)
        velocities = torch.randn(n, 3, generator=g, dtype=t) * cfg.injection_speed
        energies = torch.full((n,), cfg.token_energy, dtype=t)
        burst = ParticleState(
            positions=positions, velocities=velocities, energies=energies,
            heats=torch.zeros(n, dtype=t),
            excitations=torch.full((n,), float(self._omegas[token]), dtype=t),
            masses=energies.clone(), phases=torch.rand(n, generator=g, dtype=t) * TWO_PI)
        self.state = self.physics.add_particles(self.state, burst)
        excess = self.state.num_particles - cfg.max_particles
        if excess > 0:  # bursts are appended, so the oldest rows come first
            keep = torch.ones(self.state.num_particles, dtype=torch.bool)
            keep[:excess] = False
            self.state = self.physics.remove_particles(self.state, keep)

    # ------------------------------------------------------------------ reading
    def features(self) -> np.ndarray:
        """The feature vector of the current state (n_features,) float64."""
        cfg = self.config
        parts = []
        if cfg.fields:
            parts.append(self._field_features())
        if cfg.excitations:
            parts.append(self._excitation_features())
        if cfg.carriers:
            parts.append(self._carrier_features())
        if cfg.taps:
            parts.append(self._tap_features())
        return np.concatenate(parts)

    def _trail_point(self, index: int) -> torch.Tensor:
        """The injection point of the `index`-th token on the Lissajous trail."""
        cfg = self.config
        centre = 0.5 * self._box
        amplitude = 0.5 * self._box - 1.0 - cfg.identity_radius
        # Speed along the curve ~ amplitude * rate * |TRAIL_RATES| / sqrt(2) per unit phase.
        norm = math.sqrt(sum(r * r for r in TRAIL_RATES) / 2.0)
        if cfg.trail_period:
            # Closed: integer rates, one lap per trail_period tokens. An open trail never
            # returns, so on a long stream the global fields become a clock (where the trail
            # is says when it is), which a readout fitted on the past cannot extrapolate.
            phase = TWO_PI * (index % cfg.trail_period) / cfg.trail_period
            rates = torch.tensor(CLOSED_TRAIL_RATES, dtype=torch.float64)
        else:
            phase = index * cfg.trail_step / max(float(amplitude.mean()) * norm, 1e-12)
            rates = torch.tensor(TRAIL_RATES, dtype=torch.float64)
        return centre + amplitude * torch.sin(rates * phase + torch.tensor(
            [0.0, 1.0, 2.0], dtype=torch.float64))

    def _tap_features(self) -> np.ndarray:
        """E- and Q-weighted token histograms of the particles nearest to each of the last
        `taps` trail points (within identity_radius + 1 cells): features fixed relative to the
        present, which a linear readout of a moving trail needs."""
        cfg, s = self.config, self.state
        newest = self.tokens_seen - 1
        points = torch.stack([self._trail_point(newest - j) for j in range(cfg.taps)])
        distance = torch.cdist(s.positions.double(), points)
        nearest, tap = distance.min(dim=1)
        near = nearest < cfg.identity_radius + 1.0
        bins = torch.round((s.excitations.double() - cfg.frequency_offset)
                           / cfg.frequency_spacing).long().clamp(0, cfg.vocab - 1)
        index = (tap * cfg.vocab + bins)[near]
        size = cfg.taps * cfg.vocab
        fresh = torch.zeros(size, dtype=torch.float64).index_add_(0, index,
                                                                  s.energies.double()[near])
        old = torch.zeros(size, dtype=torch.float64).index_add_(0, index,
                                                                s.heats.double()[near])
        return torch.cat([fresh, old]).numpy()

    def _field_features(self) -> np.ndarray:
        cfg, pcfg = self.config, self.config.physics_config
        s = self.state
        h = pcfg.grid_spacing
        stencil = grid_transfer.cloud_in_cell(s.positions.double(), pcfg.grid_size, h)
        mass = stencil.scatter(s.masses.double())
        capacity = mass * pcfg.specific_heat
        heat = stencil.scatter(s.heats.double())
        temperature = torch.where(capacity > 0, heat / torch.where(capacity > 0, capacity, 1.0),
                                  0.0)
        source = (4.0 * math.pi * pcfg.G / h**3) * mass
        potential = poisson.solve_spectral(source, h)
        pooled = [torch.nn.functional.avg_pool3d(f[None, None], cfg.pool).reshape(-1)
                  for f in (mass, temperature, potential)]
        return torch.cat(pooled).numpy()

    def _excitation_features(self) -> np.ndarray:
        cfg, s = self.config, self.state
        bins = torch.round((s.excitations.double() - cfg.frequency_offset)
                           / cfg.frequency_spacing).long().clamp(0, cfg.vocab - 1)
        fresh = torch.zeros(cfg.vocab, dtype=torch.float64).index_add_(0, bins,
                                                                       s.energies.double())
        old = torch.zeros(cfg.vocab, dtype=torch.float64).index_add_(0, bins, s.heats.double())
        return torch.cat([fresh, old]).numpy()

    def _carrier_features(self) -> np.ndarray:
        cfg = self.config
        c = self.carriers.carriers
        out = torch.zeros(3, cfg.carrier_bins, dtype=torch.float64)
        if c.num_carriers:
            low, high = self._band
            where = ((c.frequencies.double() - low) / (high - low) * cfg.carrier_bins).floor()
            where = where.long().clamp(0, cfg.carrier_bins - 1)
            amplitude = c.amplitudes.double().clamp_min(0.0)
            phase = c.phases.double()
            for row, values in enumerate((amplitude, amplitude * torch.cos(phase),
                                          amplitude * torch.sin(phase))):
                out[row].index_add_(0, where, values)
        return out.reshape(-1).numpy()


__all__ = ["FEATURE_FAMILIES", "PLACEMENTS", "ManifoldReservoir", "ReservoirConfig",
           "reservoir_physics"]
