"""Initial particle states.

`random_state` is the seed's `ParticleState.random`: positions uniform in the central half of the
box, velocities N(0, 0.1), energies U[0.5, 1], zero heat, excitations U[0, 2], mass = energy,
phases U[0, 2 pi). `gas_state` is the benchmark scenario of docs/physics.md: the same
distributions but positions uniform over the whole box.
All draws come from the caller's `torch.Generator`.
"""

from __future__ import annotations

import math

import torch

from thermo_manifold.physics.config import PhysicsConfig
from thermo_manifold.physics.state import ParticleState


def _draw_properties(
    n: int, positions: torch.Tensor, generator: torch.Generator
) -> ParticleState:
    dtype, device = positions.dtype, positions.device
    velocities = torch.randn(n, 3, generator=generator, dtype=dtype, device=device) * 0.1
    energies = torch.rand(n, generator=generator, dtype=dtype, device=device) * 0.5 + 0.5
    excitations = torch.rand(n, generator=generator, dtype=dtype, device=device) * 2.0
    phases = torch.rand(n, generator=generator, dtype=dtype, device=device) * (2.0 * math.pi)
    return ParticleState(
        positions=positions,
        velocities=velocities,
        energies=energies,
        heats=torch.zeros(n, dtype=dtype, device=device),
        excitations=excitations,
        masses=energies.clone(),
        phases=phases,
    )


def _box(config: PhysicsConfig, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    return torch.tensor(config.domain_size, dtype=dtype, device=device)


def random_state(
    n: int,
    config: PhysicsConfig,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> ParticleState:
    """The seed's initial state: particles in the central half of the box."""
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    device = torch.device(device)
    box = _box(config, dtype, device)
    unit = torch.rand(n, 3, generator=generator, dtype=dtype, device=device)
    positions = unit * box * 0.5 + box * 0.25
    return _draw_properties(n, positions, generator)


def gas_state(
    n: int,
    config: PhysicsConfig,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
) -> ParticleState:
    """The benchmark scenario: particles uniform over the whole box."""
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}")
    device = torch.device(device)
    box = _box(config, dtype, device)
    unit = torch.rand(n, 3, generator=generator, dtype=dtype, device=device)
    # Keep strictly inside [0, L): rounding of unit * L can hit L in float32.
    positions = torch.minimum(unit * box, torch.nextafter(box, torch.zeros_like(box)))
    return _draw_properties(n, positions, generator)


__all__ = ["gas_state", "random_state"]
