from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
import torch

from thermo_manifold.physics import ParticleState
from thermo_manifold.spectral import SpectralCarrierConfig, SpectralCarrierPhysics


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """These tests run many small tensor ops; on a shared 2-core machine torch's thread pool
    costs far more than it gains, so run them on one thread and restore the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def particles(frequencies: torch.Tensor, phases: torch.Tensor | None = None,
              energies: torch.Tensor | float = 1.0) -> ParticleState:
    """A particle state that only the spectral layer looks at (positions at the origin)."""
    n = frequencies.shape[0]
    dtype = frequencies.dtype
    if phases is None:
        phases = torch.zeros(n, dtype=dtype)
    if not isinstance(energies, torch.Tensor):
        energies = torch.full((n,), float(energies), dtype=dtype)
    return ParticleState(
        positions=torch.zeros((n, 3), dtype=dtype), velocities=torch.zeros((n, 3), dtype=dtype),
        energies=energies, heats=torch.zeros(n, dtype=dtype), excitations=frequencies,
        masses=torch.ones(n, dtype=dtype), phases=phases,
    )


@pytest.fixture
def make_particles() -> Callable[..., ParticleState]:
    return particles


def crystallizing_run(ticks: int = 40, dtype: torch.dtype = torch.float64, seed: int = 0,
                      **overrides) -> tuple[SpectralCarrierPhysics, ParticleState]:
    """Three coherent, energetic frequency clusters: their carriers crystallize within a few
    ticks (crystallize_age=5), so every lifecycle stage and the top-down paths are exercised."""
    gen = torch.Generator().manual_seed(7)
    centres = torch.tensor([1.0, 3.0, 5.0], dtype=dtype)
    freq = centres.repeat_interleave(40) + 0.01 * torch.randn(120, generator=gen, dtype=dtype)
    phase = (centres.repeat_interleave(40) + 0.05 * torch.randn(120, generator=gen, dtype=dtype)
             ) % (2 * math.pi)
    state = particles(freq, phase, 10.0)
    config = SpectralCarrierConfig(**{"crystallize_age": 5, **overrides})
    engine = SpectralCarrierPhysics(config, dtype=dtype, seed=seed)
    for _ in range(ticks):
        state = engine.tick(state).particles
    return engine, state


@pytest.fixture
def crystallizing() -> Callable[..., tuple[SpectralCarrierPhysics, ParticleState]]:
    return crystallizing_run
