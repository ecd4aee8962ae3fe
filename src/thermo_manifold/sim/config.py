"""`SimulationConfig`: what one simulator run does (length, injections, budget, carriers).

The physics parameters live in `PhysicsConfig`; this config holds the run loop's own choices.
Both are frozen and validated; a bad value raises `ValueError` naming the field, the value and
what is allowed. `steps=None` is a continuous run (until Ctrl+C or `max_seconds`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

PATTERNS = ("cluster", "line", "sphere", "random", "grid")
PATTERN_CHOICES = PATTERNS + ("mixed",)
SCHEDULES = ("none", "steps", "seconds")
EVICTION_POLICIES = ("oldest",)


def _int_at_least(name: str, value: Any, minimum: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _positive_number(name: str, value: Any) -> None:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")


@dataclass(frozen=True)
class InjectionConfig:
    """When "files" (bursts of related particles) enter the run, and how big they are.

    schedule "steps": one file every `every_steps` physics steps (reproducible with the seed);
    "seconds": the seed's wall-clock schedule, a wait drawn uniformly in
    [min_seconds, max_seconds] after each file; "none": no injections.
    """

    schedule: str = "none"
    every_steps: int = 50
    min_seconds: float = 10.0
    max_seconds: float = 60.0
    particles_min: int = 30
    particles_max: int = 100
    pattern: str = "mixed"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"injection schedule must be one of {SCHEDULES}; got "
                             f"{self.schedule!r}")
        _int_at_least("inject_every_steps", self.every_steps, 1)
        _positive_number("inject_min", self.min_seconds)
        _positive_number("inject_max", self.max_seconds)
        if self.min_seconds > self.max_seconds:
            raise ValueError(f"inject_min must be <= inject_max; got {self.min_seconds} > "
                             f"{self.max_seconds}")
        _int_at_least("inject_particles_min", self.particles_min, 1)
        _int_at_least("inject_particles_max", self.particles_max, 1)
        if self.particles_min > self.particles_max:
            raise ValueError(f"inject_particles_min must be <= inject_particles_max; got "
                             f"{self.particles_min} > {self.particles_max}")
        if self.pattern not in PATTERN_CHOICES:
            raise ValueError(f"inject_pattern must be one of {PATTERN_CHOICES}; got "
                             f"{self.pattern!r}")


@dataclass(frozen=True)
class SimulationConfig:
    """The run loop's parameters (the physics ones are in `PhysicsConfig`)."""

    particles: int = 2000
    steps: int | None = 200  # None: continuous, until Ctrl+C or max_seconds
    max_seconds: float | None = None  # wall-clock bound on this session of the run
    seed: int = 0
    carriers: bool = True
    carrier_interval: int = 10  # physics steps between carrier ticks (the seed's 10)
    log_every: int = 500  # physics steps between console lines (the seed's 500)
    injection: InjectionConfig = dataclasses.field(default_factory=InjectionConfig)
    max_particles: int | None = None  # particle budget; None = unbounded
    eviction: str = "oldest"

    def __post_init__(self) -> None:
        if isinstance(self.injection, dict):
            object.__setattr__(self, "injection", InjectionConfig(**self.injection))
        if not isinstance(self.injection, InjectionConfig):
            raise ValueError(f"injection must be an InjectionConfig; got {self.injection!r}")
        _int_at_least("particles", self.particles, 1)
        if self.steps is not None:
            _int_at_least("steps", self.steps, 0)
        if self.max_seconds is not None:
            _positive_number("max_seconds", self.max_seconds)
        _int_at_least("seed", self.seed, 0)
        if not isinstance(self.carriers, bool):
            raise ValueError(f"carriers must be true or false; got {self.carriers!r}")
        _int_at_least("carrier_interval", self.carrier_interval, 1)
        _int_at_least("log_every", self.log_every, 1)
        if self.max_particles is not None:
            _int_at_least("max_particles", self.max_particles, 1)
            if self.particles > self.max_particles:
                raise ValueError(f"particles ({self.particles}) must be <= max_particles "
                                 f"({self.max_particles})")
        if self.eviction not in EVICTION_POLICIES:
            raise ValueError(f"eviction must be one of {EVICTION_POLICIES}; got "
                             f"{self.eviction!r}")

    @property
    def continuous(self) -> bool:
        return self.steps is None

    def replace(self, **changes: Any) -> "SimulationConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SimulationConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown simulation config field(s) {unknown}; allowed: "
                             f"{sorted(known)}")
        values = dict(values)
        if isinstance(values.get("injection"), dict):
            values["injection"] = InjectionConfig(**values["injection"])
        return cls(**values)


__all__ = ["EVICTION_POLICIES", "InjectionConfig", "PATTERNS", "PATTERN_CHOICES", "SCHEDULES",
           "SimulationConfig"]
