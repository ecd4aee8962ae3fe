"""The simulator: the run loop over the physics engine and the spectral carriers, with
injections, a particle budget, checkpoints, a headless dashboard, video and a profiler."""

from __future__ import annotations

from thermo_manifold.sim.checkpoint import CheckpointError
from thermo_manifold.sim.config import InjectionConfig, SimulationConfig
from thermo_manifold.sim.simulator import DashboardOptions, Simulator

__all__ = ["CheckpointError", "DashboardOptions", "InjectionConfig", "SimulationConfig",
           "Simulator"]
