"""`PhysicsConfig`: the validated, frozen parameters of one physics engine.

Defaults are the seed's `ManifoldPhysicsConfig` plus the constants the seed hard-codes in its
kernels (tau_thermalization, max_acceleration, max_speed, wall restitution), and the choice of
Poisson solver. Every field is checked in `__post_init__`; a bad value raises `ValueError`
naming the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermo_manifold.config_io import read_toml_table, reject_unknown_fields

POISSON_METHODS = ("spectral", "jacobi")
COLLISION_METHODS = ("cell_list", "brute_force")
# "spring_dashpot": the linear spring-dashpot contact (Cundall and Strack 1979) with the
# conservative forces integrated kick-drift-kick; "seed": the seed's step (explicit kicks, drift,
# then the restitution impulse plus soft push), measured to be an energy source (docs/physics.md).
CONTACT_MODELS = ("spring_dashpot", "seed")

# Explicit 7-point diffusion is stable while alpha * dt / h^2 <= 1/6.
DIFFUSION_STABILITY_LIMIT = 1.0 / 6.0


def _is_number(value: Any) -> bool:
    """An int or float, not a bool: TOML's `dt = true` must not run as dt = 1."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


def _unit_interval(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"{name} must be in [0, 1]; got {value!r}")


@dataclass(frozen=True)
class PhysicsConfig:
    """Parameters of the particle-mesh engine (simulation units)."""

    grid_size: tuple[int, int, int] = (64, 64, 64)
    grid_spacing: float = 1.0
    dt: float = 0.01
    poisson: str = "spectral"
    poisson_iterations: int = 50  # Jacobi sweeps per step (poisson="jacobi" only)
    # Fundamental constants.
    G: float = 0.001
    k_B: float = 0.1
    sigma_SB: float = 1e-5
    # Material properties.
    particle_radius: float = 0.5
    thermal_conductivity: float = 0.1
    specific_heat: float = 10.0
    dynamic_viscosity: float = 0.01
    emissivity: float = 0.5
    restitution: float = 0.8
    young_modulus: float = 1000.0
    # Constants the seed hard-codes in its kernels.
    tau_thermalization: float = 10.0
    max_acceleration: float = 10.0
    max_speed: float = 2.0
    wall_restitution: float = 0.5
    # Stage switches.
    collisions: bool = True
    collision_method: str = "cell_list"
    contact: str = "spring_dashpot"
    # Largest omega_0 h of a contact substep (spring_dashpot only): the springs take
    # ceil(dt omega_0 / contact_resolution) substeps per step for the lightest pair.
    contact_resolution: float = 0.2

    def __post_init__(self) -> None:
        grid = tuple(self.grid_size) if isinstance(self.grid_size, (list, tuple)) else None
        if (
            grid is None
            or len(grid) != 3
            or not all(isinstance(g, int) and not isinstance(g, bool) and g >= 2 for g in grid)
        ):
            raise ValueError(
                f"grid_size must be three integers >= 2 (cells per axis); got {self.grid_size!r}"
            )
        object.__setattr__(self, "grid_size", grid)
        for name in (
            "grid_spacing", "dt", "specific_heat", "particle_radius", "tau_thermalization",
            "max_acceleration", "max_speed",
        ):
            _positive(name, getattr(self, name))
        for name in (
            "G", "k_B", "sigma_SB", "thermal_conductivity", "dynamic_viscosity", "young_modulus",
        ):
            _non_negative(name, getattr(self, name))
        for name in ("emissivity", "restitution", "wall_restitution"):
            _unit_interval(name, getattr(self, name))
        if self.poisson not in POISSON_METHODS:
            raise ValueError(f"poisson must be one of {POISSON_METHODS}; got {self.poisson!r}")
        if not (isinstance(self.poisson_iterations, int) and not isinstance(
                self.poisson_iterations, bool) and self.poisson_iterations >= 1):
            raise ValueError(
                f"poisson_iterations must be an integer >= 1; got {self.poisson_iterations!r}"
            )
        if self.collision_method not in COLLISION_METHODS:
            raise ValueError(
                f"collision_method must be one of {COLLISION_METHODS}; "
                f"got {self.collision_method!r}"
            )
        if not (_is_number(self.contact_resolution) and
                math.isfinite(self.contact_resolution) and 0 < self.contact_resolution <= 1):
            raise ValueError("contact_resolution must be in (0, 1] (omega_0 h of a contact "
                             f"substep); got {self.contact_resolution!r}")
        if self.contact not in CONTACT_MODELS:
            raise ValueError(f"contact must be one of {CONTACT_MODELS}; got {self.contact!r}")
        if not isinstance(self.collisions, bool):
            raise ValueError(f"collisions must be true or false; got {self.collisions!r}")
        number = self.diffusion_number
        if number > DIFFUSION_STABILITY_LIMIT:
            raise ValueError(
                "thermal_conductivity * dt / grid_spacing^2 must be <= 1/6 for the explicit "
                f"diffusion scheme; got {number:.4g} (thermal_conductivity="
                f"{self.thermal_conductivity}, dt={self.dt}, grid_spacing={self.grid_spacing}): "
                "lower dt or thermal_conductivity, or raise grid_spacing"
            )

    @property
    def diffusion_number(self) -> float:
        """alpha * dt / h^2 of the explicit heat-diffusion step."""
        return self.thermal_conductivity * self.dt / self.grid_spacing**2

    @property
    def domain_size(self) -> tuple[float, float, float]:
        """Edge lengths of the box [0, g*h) per axis."""
        return tuple(g * self.grid_spacing for g in self.grid_size)  # type: ignore[return-value]

    def replace(self, **changes: Any) -> "PhysicsConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["grid_size"] = list(self.grid_size)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "PhysicsConfig":
        reject_unknown_fields(cls, values, "physics")
        values = dict(values)
        if "grid_size" in values and isinstance(values["grid_size"], list):
            values["grid_size"] = tuple(values["grid_size"])
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path, table: str | None = "physics") -> "PhysicsConfig":
        """Load from a TOML file; fields live under `[physics]` (or at top level if absent)."""
        return cls.from_dict(read_toml_table(path, table))


def gas_config(num_particles: int, grid: int, **overrides: Any) -> PhysicsConfig:
    """The benchmark scenario's config: N particles at number density 0.25 on a g^3 grid.

    The grid spacing is chosen so the box holds N particles at 0.25 per unit volume
    (h = (N / 0.25)^(1/3) / g); see docs/physics.md, "Benchmark scenario".
    """
    if num_particles < 1:
        raise ValueError(f"num_particles must be >= 1; got {num_particles}")
    spacing = (num_particles / 0.25) ** (1.0 / 3.0) / grid
    return PhysicsConfig(grid_size=(grid, grid, grid), grid_spacing=spacing, **overrides)


__all__ = [
    "COLLISION_METHODS",
    "CONTACT_MODELS",
    "DIFFUSION_STABILITY_LIMIT",
    "POISSON_METHODS",
    "PhysicsConfig",
    "gas_config",
]
