"""The token engine: token ids become particle bursts, physics and spectral carriers evolve
them, and candidate ids are scored against the carrier spectrum (seed: `kernel_engine.py`).

    inject_ids(ids)  8 particles per id around center_from_id(id) (spread 0.6, speed 0.05),
                     excitation = omega(id) + N(0, 0.01), energy 1, mass = energy, random phase
    step()           one physics step; every `carrier_every` steps a carrier tick whose energy
                     is booked in the physics ledger (`record_external`)
    score_ids(ids)   sum_k amp_k exp(-(w_k - omega(id))^2 / sigma_k^2), i.e.
                     `SpectralCarrierPhysics.score` (zeros before the first tick)
    predict_byte(p)  argmax over the 256 candidate ids of position p

Decisions beyond the seed (SENSORIUM.md):
- The particle budget is bounded: past `max_particles` the oldest particles are evicted and
  their energy is booked as removed in the ledger (`ManifoldPhysics.remove_particles`). The
  seed grows its arrays without limit.
- Label ids live in their own frequency band (`TokenizerConfig.label_band`).
- `SoftmaxCalibrator` turns scores into probabilities with a temperature fitted on training
  data, so bits per byte are honest (the seed divides by a fixed 0.5).
`reset()` clears the particles but keeps the carriers, as in the seed: carriers are the memory.
All randomness comes from one generator seeded by `seed`; same seed, same predictions (CPU).
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
from thermo_manifold.sensorium.tokenizer import TokenizerConfig, UniversalTokenizer

TWO_PI = 2.0 * math.pi


def _positive(name: str, value: Any) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


@dataclass(frozen=True)
class EngineConfig:
    """The seed's `KernelEngineConfig` plus the particle budget."""

    dt: float = 0.02
    particles_per_token: int = 8
    injection_spread: float = 0.6
    injection_speed: float = 0.05
    excitation_noise: float = 0.01
    energy_scale: float = 1.0
    carrier_every: int = 1
    max_particles: int = 8192
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)

    def __post_init__(self) -> None:
        for name in ("dt", "injection_spread", "energy_scale"):
            _positive(name, getattr(self, name))
        for name in ("injection_speed", "excitation_noise"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
        for name, low in (("particles_per_token", 1), ("carrier_every", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if not isinstance(self.max_particles, int) or self.max_particles < self.particles_per_token:
            raise ValueError(f"max_particles must be an integer >= particles_per_token "
                             f"({self.particles_per_token}); got {self.max_particles!r}")
        if not isinstance(self.tokenizer, TokenizerConfig):
            raise ValueError(f"tokenizer must be a TokenizerConfig; got {self.tokenizer!r}")

    @property
    def grid_size(self) -> tuple[int, int, int]:
        return self.tokenizer.grid_size

    def replace(self, **changes: Any) -> "EngineConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["tokenizer"] = self.tokenizer.to_dict()
        return out


def _empty_state(device: torch.device, dtype: torch.dtype) -> ParticleState:
    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(*shape, device=device, dtype=dtype)

    return ParticleState(positions=zeros(0, 3), velocities=zeros(0, 3), energies=zeros(0),
                         heats=zeros(0), excitations=zeros(0), masses=zeros(0), phases=zeros(0))


def carrier_scores(frequencies: torch.Tensor, gate_widths: torch.Tensor,
                   amplitudes: torch.Tensor, omegas: torch.Tensor) -> torch.Tensor:
    """The seed's spectrum score for a subset of carriers (SPECTRAL_CONTRACT.md formula);
    `SpectralCarrierPhysics.score` is the same sum over all carriers."""
    if frequencies.numel() == 0:
        return torch.zeros_like(omegas)
    diff = frequencies.reshape(-1, 1) - omegas.reshape(1, -1)
    sigma = gate_widths.clamp_min(1e-3).reshape(-1, 1)
    tuning = torch.exp(-(diff * diff) / (sigma * sigma))
    return (amplitudes.clamp_min(0.0).reshape(-1, 1) * tuning).sum(dim=0).reshape(omegas.shape)


class TokenEngine:
    """Particles for tokens, physics to move them, carriers to remember their frequencies."""

    def __init__(self, config: EngineConfig | None = None, *, spectral_config: Any = None,
                 physics_config: PhysicsConfig | None = None, seed: int = 0,
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        from thermo_manifold.spectral import SpectralCarrierConfig, SpectralCarrierPhysics

        self.config = config if config is not None else EngineConfig()
        self.device = torch.device(device)
        self.dtype = dtype
        self.tokenizer = UniversalTokenizer(self.config.tokenizer)
        # The seed's contact until the sensorium's time step is re-tuned for the spring-dashpot
        # (at the seed's dt its contacts would be resolved in two or three steps).
        pcfg = physics_config or PhysicsConfig(grid_size=self.config.grid_size, dt=self.config.dt,
                                               contact="seed")
        if tuple(pcfg.grid_size) != self.config.grid_size:
            raise ValueError(f"physics grid_size {pcfg.grid_size} differs from the tokenizer's "
                             f"{self.config.grid_size}")
        self.physics = ManifoldPhysics(pcfg, device=self.device, dtype=dtype)
        # The seed hands the physics dt to its carriers.
        scfg = (spectral_config or SpectralCarrierConfig()).replace(dt=pcfg.dt)
        self.spectral_config = scfg
        self.carriers = SpectralCarrierPhysics(config=scfg, device=self.device, dtype=dtype,
                                               seed=seed)
        self.generator = make_generator(seed, self.device)
        self.steps = 0
        self.ticks = 0
        self.evicted = 0
        self.state = _empty_state(self.device, dtype)
        self.physics.start_ledger(self.state)

    # ------------------------------------------------------------------ particles
    def reset(self) -> None:
        """Drop every particle (a new sequence); carriers and the step counter stay."""
        self.state = _empty_state(self.device, self.dtype)
        self.physics.start_ledger(self.state)

    @property
    def num_particles(self) -> int:
        return self.state.num_particles

    def inject_ids(self, ids: torch.Tensor | Sequence[int] | int, *, particles: int | None = None,
                   energy_scale: float | None = None) -> None:
        """Add a burst of particles for every id (in order), then enforce the budget."""
        ids = torch.as_tensor(ids, dtype=torch.int64).reshape(-1)
        if ids.numel() == 0:
            return
        cfg = self.config
        n = int(particles if particles is not None else cfg.particles_per_token)
        energy = float(energy_scale if energy_scale is not None else cfg.energy_scale)
        if n < 1:
            raise ValueError(f"particles must be >= 1; got {n}")
        _positive("energy_scale", energy)
        g, dev, dt = self.generator, self.device, self.dtype
        rows = ids.numel() * n
        centers = self.tokenizer.centers(ids).to(dev, dt).repeat_interleave(n, dim=0)
        omegas = self.tokenizer.omegas(ids, dt).to(dev).repeat_interleave(n)
        noise = torch.randn(rows, 3, generator=g, device=dev, dtype=dt)
        positions = (centers + noise * cfg.injection_spread).clamp(
            0.5, float(min(cfg.grid_size)) - 1.5)
        velocities = torch.randn(rows, 3, generator=g, device=dev, dtype=dt) * cfg.injection_speed
        excitations = omegas + torch.randn(rows, generator=g, device=dev, dtype=dt
                                           ) * cfg.excitation_noise
        energies = torch.full((rows,), energy, device=dev, dtype=dt)
        phases = torch.rand(rows, generator=g, device=dev, dtype=dt) * TWO_PI
        burst = ParticleState(positions=positions, velocities=velocities, energies=energies,
                              heats=torch.zeros(rows, device=dev, dtype=dt),
                              excitations=excitations, masses=energies.clone(), phases=phases)
        self.state = self.physics.add_particles(self.state, burst)
        excess = self.state.num_particles - cfg.max_particles
        if excess > 0:
            # Evict the oldest rows (bursts are appended, so they come first).
            keep = torch.ones(self.state.num_particles, dtype=torch.bool, device=dev)
            keep[:excess] = False
            self.state = self.physics.remove_particles(self.state, keep)
            self.evicted += excess

    def inject_id(self, token_id: int, **kw: Any) -> None:
        self.inject_ids([int(token_id)], **kw)

    # ------------------------------------------------------------------ dynamics
    def step(self) -> None:
        """One physics step, and a carrier tick every `carrier_every` steps (the seed ticks on
        step 0 too)."""
        if self.state.num_particles == 0:
            self.steps += 1
            return
        self.state = self.physics.step(self.state).state
        if self.steps % self.config.carrier_every == 0:
            self.tick()
        self.steps += 1

    def tick(self, mode: str = "normal") -> None:
        if self.state.num_particles == 0:
            return
        result = self.carriers.tick(self.state, mode=mode)
        self.state = self.physics.record_external(result.particles, result.energy_injected)
        self.ticks += 1

    # ------------------------------------------------------------------ scoring
    def score_ids(self, ids: torch.Tensor | Sequence[int],
                  carrier_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Carrier-spectrum score of each id (float, >= 0); zeros before the first tick."""
        omegas = self.tokenizer.omegas(ids, self.dtype).to(self.device)
        carriers = self.carriers.carriers
        if self.ticks == 0 or carriers.num_carriers == 0:
            return torch.zeros_like(omegas)
        if carrier_mask is None:
            return self.carriers.score(omegas)
        mask = carrier_mask.to(device=self.device, dtype=torch.bool)
        if mask.numel() != carriers.num_carriers:
            raise ValueError(f"carrier_mask has {mask.numel()} entries for "
                             f"{carriers.num_carriers} carriers")
        return carrier_scores(carriers.frequencies[mask], carriers.gate_widths[mask],
                              carriers.amplitudes[mask], omegas)

    def byte_scores(self, pos: int, carrier_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Scores of the 256 candidate bytes at position `pos` (indexed by byte value)."""
        return self.score_ids(self.tokenizer.candidate_ids(pos), carrier_mask)

    def predict_byte(self, pos: int, carrier_mask: torch.Tensor | None = None
                     ) -> tuple[int, torch.Tensor]:
        """(argmax byte, scores[256]); ties go to the lowest byte value."""
        scores = self.byte_scores(pos, carrier_mask)
        return int(torch.argmax(scores)), scores

    def top_carriers(self, k: int) -> torch.Tensor:
        """Boolean mask of the k strongest carriers (the seed's cocktail-party masks)."""
        amps = self.carriers.carriers.amplitudes
        mask = torch.zeros(amps.numel(), dtype=torch.bool, device=amps.device)
        if amps.numel():
            mask[torch.topk(amps, min(k, amps.numel())).indices] = True
        return mask

    # ------------------------------------------------------------------ sequences
    def observe(self, data: bytes | Sequence[int], start: int = 0, step_every: int = 1,
                positions: Sequence[int] | torch.Tensor | None = None) -> None:
        """Inject byte data[i] at position start + i (or positions[i]), stepping right after
        every id whose position is a multiple of `step_every` (the seed's ingest loops)."""
        values = torch.as_tensor(list(data) if isinstance(data, bytes) else data,
                                 dtype=torch.int64).reshape(-1)
        pos = (torch.arange(start, start + values.numel()) if positions is None
               else torch.as_tensor(positions, dtype=torch.int64).reshape(-1))
        ids = self.tokenizer.hash_ids(values, pos)
        begin = 0
        for b in torch.nonzero(pos % step_every == 0).reshape(-1).tolist():
            self.inject_ids(ids[begin:b + 1])
            self.step()
            begin = b + 1
        self.inject_ids(ids[begin:])


@dataclass
class SoftmaxCalibrator:
    """p(byte) = softmax(scores / T) with T fitted by minimum NLL on training pairs.

    T is chosen on a log grid from 1e-4 to 1e4 times the scores' spread; as T grows the
    distribution tends to uniform (8 bits/byte), so the fitted model is never worse than
    uniform on the data it was fitted on. Scores that are all equal give uniform.
    """

    temperature: float = 1.0
    fitted: bool = False

    def fit(self, scores: torch.Tensor, targets: torch.Tensor) -> "SoftmaxCalibrator":
        s = torch.as_tensor(scores, dtype=torch.float64)
        y = torch.as_tensor(targets, dtype=torch.int64)
        if s.dim() != 2 or s.shape[0] != y.numel() or s.shape[0] == 0:
            raise ValueError(f"need scores (M, V) and M targets; got {tuple(s.shape)} and "
                             f"{tuple(y.shape)}")
        spread = float((s.max(dim=1).values - s.min(dim=1).values).mean())
        if spread <= 0:
            self.temperature, self.fitted = 1.0, True
            return self
        grid = spread * torch.logspace(-4, 4, 81, dtype=torch.float64)
        nll = torch.stack([-torch.log_softmax(s / t, dim=1).gather(1, y[:, None]).mean()
                           for t in grid])
        self.temperature = float(grid[int(torch.argmin(nll))])
        self.fitted = True
        return self

    def log_probs(self, scores: torch.Tensor) -> torch.Tensor:
        s = torch.as_tensor(scores, dtype=torch.float64)
        return torch.log_softmax(s / self.temperature, dim=-1)

    def bits(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log2 p(target) per row."""
        lp = self.log_probs(scores)
        y = torch.as_tensor(targets, dtype=torch.int64)
        return -lp.gather(-1, y.reshape(-1, 1)).reshape(-1) / math.log(2.0)


def observe_all_but_a_fraction(engine: "TokenEngine", values: np.ndarray, fraction: float,
                               generator: torch.Generator, step_every: int
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Inpainting set-up: hide a random `fraction` of the positions of `values` (1-D ints),
    reset the engine and feed it the rest at their own positions.

    Returns (hidden positions, observed mask)."""
    n = values.size
    hidden = torch.randperm(n, generator=generator).numpy()[: int(fraction * n)]
    observed = np.ones(n, dtype=bool)
    observed[hidden] = False
    engine.reset()
    seen = np.flatnonzero(observed)
    engine.observe(values[seen].tolist(), positions=seen.tolist(), step_every=step_every)
    return hidden, observed


__all__ = ["EngineConfig", "SoftmaxCalibrator", "TokenEngine", "carrier_scores",
           "observe_all_but_a_fraction"]
