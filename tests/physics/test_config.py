from __future__ import annotations

import pytest

from thermo_manifold.physics import PhysicsConfig, gas_config


def test_defaults_are_the_seeds():
    cfg = PhysicsConfig()
    assert cfg.grid_size == (64, 64, 64)
    assert (cfg.grid_spacing, cfg.dt, cfg.poisson_iterations) == (1.0, 0.01, 50)
    assert (cfg.G, cfg.k_B, cfg.sigma_SB) == (0.001, 0.1, 1e-5)
    assert (cfg.particle_radius, cfg.thermal_conductivity, cfg.specific_heat) == (0.5, 0.1, 10.0)
    assert (cfg.dynamic_viscosity, cfg.emissivity, cfg.restitution) == (0.01, 0.5, 0.8)
    assert cfg.young_modulus == 1000.0
    assert (cfg.tau_thermalization, cfg.max_acceleration, cfg.max_speed) == (10.0, 10.0, 2.0)
    assert cfg.poisson == "spectral"


@pytest.mark.parametrize(
    "field, value",
    [
        ("dt", 0.0), ("dt", float("nan")), ("grid_spacing", -1.0), ("particle_radius", 0.0),
        ("restitution", 1.5), ("emissivity", -0.1), ("G", -1.0), ("poisson", "multigrid"),
        ("poisson_iterations", 0), ("grid_size", (64, 64)), ("grid_size", (1, 8, 8)),
        ("collision_method", "octree"), ("specific_heat", 0.0),
        # TOML's `dt = true` must not run as dt = 1: a bool is not a number here.
        ("dt", True), ("grid_spacing", True), ("poisson_iterations", True), ("G", False),
        ("restitution", True), ("contact_resolution", True),
    ],
)
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        PhysicsConfig(**{field: value})


def test_unstable_diffusion_is_rejected():
    # alpha dt / h^2 = 20 * 0.01 / 1 = 0.2 > 1/6
    with pytest.raises(ValueError, match="1/6"):
        PhysicsConfig(thermal_conductivity=20.0)
    PhysicsConfig(thermal_conductivity=16.0)  # 0.16 <= 1/6 is accepted


def test_config_is_frozen_and_replace_revalidates():
    cfg = PhysicsConfig()
    with pytest.raises(AttributeError):
        cfg.dt = 0.1  # type: ignore[misc]
    with pytest.raises(ValueError, match="max_speed"):
        cfg.replace(max_speed=0.0)


def test_toml_round_trip(tmp_path):
    path = tmp_path / "physics.toml"
    path.write_text('[physics]\ngrid_size = [8, 8, 16]\ndt = 0.005\npoisson = "jacobi"\n')
    cfg = PhysicsConfig.from_toml(path)
    assert cfg.grid_size == (8, 8, 16) and cfg.dt == 0.005 and cfg.poisson == "jacobi"
    path.write_text('[physics]\ngravity = 1.0\n')
    with pytest.raises(ValueError, match="gravity"):
        PhysicsConfig.from_toml(path)


def test_gas_config_density():
    cfg = gas_config(16_000, 16)
    volume = 1.0
    for length in cfg.domain_size:
        volume *= length
    assert 16_000 / volume == pytest.approx(0.25)
