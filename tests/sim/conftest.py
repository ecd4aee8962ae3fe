from __future__ import annotations

import pytest
import torch

from thermo_manifold.physics import PhysicsConfig
from thermo_manifold.sim import DashboardOptions, InjectionConfig, SimulationConfig, Simulator


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on this shared 2-core machine MKL's threaded FFT (the Poisson solve)
    sometimes takes ~15 ms per call instead of ~0.01 ms when the cores are busy elsewhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def quiet(_message: str) -> None:
    """Console sink for tests."""


@pytest.fixture
def make_simulator(tmp_path):
    """Build a small, fast simulator: 120 particles on a 12^3 grid, float64 unless asked."""

    def build(out=None, steps=30, every_steps=8, max_particles=150, dashboard=False,
              dtype=torch.float64, carriers=True, contact="spring_dashpot", overwrite=False,
              **changes):
        config = SimulationConfig(
            particles=120, steps=steps, seed=7, carriers=carriers,
            injection=InjectionConfig(schedule="steps" if every_steps else "none",
                                      every_steps=every_steps or 1, particles_min=10,
                                      particles_max=40),
            max_particles=max_particles, **changes)
        options = dashboard if isinstance(dashboard, DashboardOptions) else DashboardOptions(
            enabled=bool(dashboard), every=10)
        return Simulator(config, PhysicsConfig(grid_size=(12, 12, 12), contact=contact),
                         out if out is not None else tmp_path / "run", dtype=dtype,
                         dashboard=options, console=quiet, overwrite=overwrite)

    return build
