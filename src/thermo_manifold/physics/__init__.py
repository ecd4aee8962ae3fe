"""The Thermo-Manifold particle-mesh physics engine (CPU, CUDA or MPS through PyTorch)."""

from __future__ import annotations

from thermo_manifold.physics.config import PhysicsConfig, gas_config
from thermo_manifold.physics.engine import Fields, ManifoldPhysics, StepResult
from thermo_manifold.physics.generator import gas_state, random_state
from thermo_manifold.physics.ledger import EnergyLedger, particle_energy
from thermo_manifold.physics.state import ParticleState, StateError

__all__ = [
    "EnergyLedger",
    "Fields",
    "ManifoldPhysics",
    "ParticleState",
    "PhysicsConfig",
    "StateError",
    "StepResult",
    "gas_config",
    "gas_state",
    "particle_energy",
    "random_state",
]
