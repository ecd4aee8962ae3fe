from __future__ import annotations

import pytest

from thermo_manifold.sim import InjectionConfig, SimulationConfig


@pytest.mark.parametrize("changes, field", [
    ({"particles": 0}, "particles"),
    ({"steps": -1}, "steps"),
    ({"max_seconds": 0.0}, "max_seconds"),
    ({"seed": -3}, "seed"),
    ({"carrier_interval": 0}, "carrier_interval"),
    ({"max_particles": 10, "particles": 11}, "max_particles"),
    ({"eviction": "random"}, "eviction"),
])
def test_bad_simulation_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        SimulationConfig(**changes)


@pytest.mark.parametrize("changes, field", [
    ({"schedule": "hourly"}, "schedule"),
    ({"every_steps": 0}, "inject_every_steps"),
    ({"min_seconds": 5.0, "max_seconds": 1.0}, "inject_min"),
    ({"particles_min": 9, "particles_max": 3}, "inject_particles_min"),
    ({"pattern": "spiral"}, "inject_pattern"),
])
def test_bad_injection_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        InjectionConfig(**changes)


def test_config_round_trips_through_a_dict():
    config = SimulationConfig(steps=None, max_seconds=3.0, max_particles=5000,
                              injection=InjectionConfig(schedule="steps", every_steps=7))
    again = SimulationConfig.from_dict(config.to_dict())
    assert again == config and again.continuous
    with pytest.raises(ValueError, match="unknown"):
        SimulationConfig.from_dict({"particle": 3})
