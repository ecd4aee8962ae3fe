"""`ParticleState`: the per-particle tensors, and their validation.

Rows are particles. Positions live in the box [0, g*h) per axis. Physics never changes
`excitations` (an oscillator's intrinsic frequency) or `phases` (owned by the spectral layer).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from thermo_manifold.physics.config import PhysicsConfig

VECTOR_FIELDS = ("positions", "velocities")
SCALAR_FIELDS = ("energies", "heats", "excitations", "masses", "phases")


class StateError(ValueError):
    """A particle state that the engine cannot accept (shape, dtype, device or value)."""


@dataclass
class ParticleState:
    """Per-particle state; every tensor has N rows on one device with one float dtype."""

    positions: torch.Tensor  # (N, 3) world units, inside [0, g*h)
    velocities: torch.Tensor  # (N, 3)
    energies: torch.Tensor  # (N,) internal/excitation energy E >= 0
    heats: torch.Tensor  # (N,) heat Q >= 0
    excitations: torch.Tensor  # (N,) intrinsic oscillator frequency (never changed by physics)
    masses: torch.Tensor  # (N,) m > 0
    phases: torch.Tensor  # (N,) oscillator phase in [0, 2 pi)

    @property
    def num_particles(self) -> int:
        return int(self.positions.shape[0])

    @property
    def device(self) -> torch.device:
        return self.positions.device

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    def clone(self) -> "ParticleState":
        return ParticleState(**{f.name: getattr(self, f.name).clone() for f in fields(self)})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
           ) -> "ParticleState":
        return ParticleState(
            **{f.name: getattr(self, f.name).to(device=device, dtype=dtype) for f in fields(self)}
        )

    def replace(self, **changes: torch.Tensor) -> "ParticleState":
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return ParticleState(**values)

    def select(self, index: torch.Tensor) -> "ParticleState":
        """Rows picked by a boolean mask or an index tensor (copies)."""
        return ParticleState(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concatenate(a: "ParticleState", b: "ParticleState") -> "ParticleState":
        return ParticleState(
            **{f.name: torch.cat([getattr(a, f.name), getattr(b, f.name)]) for f in fields(a)}
        )

    def validate(
        self,
        config: PhysicsConfig,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        """Raise `StateError` naming the first bad field; never modifies anything."""
        for name in VECTOR_FIELDS + SCALAR_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise StateError(f"{name} must be a torch.Tensor; got {type(value).__name__}")
        n = self.positions.shape[0] if self.positions.dim() >= 1 else -1
        expected_dtype = dtype if dtype is not None else self.positions.dtype
        if expected_dtype not in (torch.float32, torch.float64):
            raise StateError(f"positions must be float32 or float64; got {self.positions.dtype}")
        expected_device = device if device is not None else self.positions.device
        for name in VECTOR_FIELDS + SCALAR_FIELDS:
            value = getattr(self, name)
            shape = (n, 3) if name in VECTOR_FIELDS else (n,)
            if tuple(value.shape) != shape:
                raise StateError(
                    f"{name} must have shape {shape} (N={n} from positions); got "
                    f"{tuple(value.shape)}"
                )
            if value.dtype != expected_dtype:
                raise StateError(f"{name} must have dtype {expected_dtype}; got {value.dtype}")
            if value.device.type != torch.device(expected_device).type:
                raise StateError(
                    f"{name} must be on device {expected_device}; got {value.device}"
                )
            if not bool(torch.isfinite(value).all()):
                raise StateError(f"{name} contains NaN or inf")
        if n and bool((self.masses <= 0).any()):
            raise StateError("masses must all be > 0")
        if n and bool((self.energies < 0).any()):
            raise StateError("energies must all be >= 0")
        if n and bool((self.heats < 0).any()):
            raise StateError("heats must all be >= 0")
        if n:
            box = torch.tensor(config.domain_size, dtype=self.positions.dtype,
                               device=self.positions.device)
            outside = (self.positions < 0).any(dim=1) | (self.positions >= box).any(dim=1)
            if bool(outside.any()):
                first = int(torch.nonzero(outside)[0, 0])
                raise StateError(
                    f"positions must lie inside the domain [0, {tuple(config.domain_size)}) ; "
                    f"particle {first} is at {self.positions[first].tolist()}"
                )


__all__ = ["ParticleState", "StateError", "SCALAR_FIELDS", "VECTOR_FIELDS"]
