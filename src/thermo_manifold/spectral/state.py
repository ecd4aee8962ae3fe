"""`CarrierState` and `CarrierPhase`: the live carriers as a dataclass of tensors.

A carrier is a complex mode C_k = R_k exp(i psi_k) in frequency space: centre frequency w_k,
gate width sigma_k, amplitude R_k, phase psi_k in [0, 2 pi), a conflict EMA, the coherence of
the oscillators it bound last tick, a lifecycle state, an age and 8 anchor slots (oscillator
index, phase offset, weight; index -1 = empty).

Rows are the K <= max_carriers live carriers in slot order. `slot` is the carrier's place in the
capacity table (a freed slot is reused by the next carrier born); `uid` is a serial number that
is never reused, so a carrier can be followed across ticks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields

import torch

from thermo_manifold.spectral.config import ANCHOR_SLOTS

FLOAT_FIELDS = ("frequencies", "gate_widths", "amplitudes", "phases", "conflict", "coherence")
INT_FIELDS = ("state", "age", "slot", "uid", "low_amp_ticks")
ANCHOR_FIELDS = ("anchor_index", "anchor_offset", "anchor_weight")


class CarrierPhase(enum.IntEnum):
    """Lifecycle of a carrier; it only ever moves forward."""

    VOLATILE = 0
    STABLE = 1
    CRYSTALLIZED = 2


@dataclass
class CarrierState:
    """The K live carriers; every tensor has K rows (anchors: (K, 8))."""

    frequencies: torch.Tensor  # (K,) centre frequency w_k
    gate_widths: torch.Tensor  # (K,) sigma_k in [gate_width_min, gate_width_max]
    amplitudes: torch.Tensor  # (K,) R_k = |C_k|
    phases: torch.Tensor  # (K,) psi_k = arg C_k in [0, 2 pi)
    conflict: torch.Tensor  # (K,) EMA of 1 - coherence, in [0, 1]
    coherence: torch.Tensor  # (K,) |sum w z| / sum w A of the last update, in [0, 1]
    state: torch.Tensor  # (K,) int64 CarrierPhase codes
    age: torch.Tensor  # (K,) int64 consecutive qualifying ticks while STABLE
    anchor_index: torch.Tensor  # (K, 8) int64 oscillator index, -1 = empty
    anchor_offset: torch.Tensor  # (K, 8) phase offset theta_i - psi_k, wrapped to [-pi, pi)
    anchor_weight: torch.Tensor  # (K, 8) anchor strength (tuning x amplitude at capture)
    slot: torch.Tensor | None = None  # (K,) int64 index in the capacity table
    uid: torch.Tensor | None = None  # (K,) int64 serial number, never reused
    low_amp_ticks: torch.Tensor | None = None  # (K,) int64 consecutive ticks below the floor

    def __post_init__(self) -> None:
        k = int(self.frequencies.shape[0])
        device = self.frequencies.device
        if self.slot is None:
            self.slot = torch.arange(k, dtype=torch.int64, device=device)
        if self.uid is None:
            self.uid = torch.arange(k, dtype=torch.int64, device=device)
        if self.low_amp_ticks is None:
            self.low_amp_ticks = torch.zeros(k, dtype=torch.int64, device=device)

    @classmethod
    def empty(cls, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
              ) -> "CarrierState":
        floats = {name: torch.zeros(0, dtype=dtype, device=device) for name in FLOAT_FIELDS}
        ints = {name: torch.zeros(0, dtype=torch.int64, device=device) for name in INT_FIELDS}
        return cls(
            **floats, **ints,
            anchor_index=torch.zeros((0, ANCHOR_SLOTS), dtype=torch.int64, device=device),
            anchor_offset=torch.zeros((0, ANCHOR_SLOTS), dtype=dtype, device=device),
            anchor_weight=torch.zeros((0, ANCHOR_SLOTS), dtype=dtype, device=device),
        )

    @property
    def num_carriers(self) -> int:
        return int(self.frequencies.shape[0])

    @property
    def device(self) -> torch.device:
        return self.frequencies.device

    @property
    def dtype(self) -> torch.dtype:
        return self.frequencies.dtype

    def clone(self) -> "CarrierState":
        return CarrierState(**{f.name: getattr(self, f.name).clone() for f in fields(self)})

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
           ) -> "CarrierState":
        """Move to a device; `dtype` applies to the float fields only."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            float_field = f.name in FLOAT_FIELDS or f.name in ("anchor_offset", "anchor_weight")
            out[f.name] = value.to(device=device, dtype=dtype if float_field else None)
        return CarrierState(**out)

    def select(self, index: torch.Tensor) -> "CarrierState":
        """Rows picked by a boolean mask or an index tensor (copies)."""
        return CarrierState(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concatenate(a: "CarrierState", b: "CarrierState") -> "CarrierState":
        return CarrierState(
            **{f.name: torch.cat([getattr(a, f.name), getattr(b, f.name)]) for f in fields(a)}
        )

    def complex_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Re C_k, Im C_k)."""
        return self.amplitudes * torch.cos(self.phases), self.amplitudes * torch.sin(self.phases)

    def validate(self, max_carriers: int | None = None) -> None:
        """Raise ValueError naming the first bad field; never modifies anything."""
        k = self.num_carriers
        for name in FLOAT_FIELDS + INT_FIELDS + ANCHOR_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"carriers.{name} must be a torch.Tensor; got {type(value)}")
            shape = (k, ANCHOR_SLOTS) if name in ANCHOR_FIELDS else (k,)
            if tuple(value.shape) != shape:
                raise ValueError(f"carriers.{name} must have shape {shape}; got "
                                 f"{tuple(value.shape)}")
            integral = name in INT_FIELDS or name == "anchor_index"
            if integral and value.dtype != torch.int64:
                raise ValueError(f"carriers.{name} must be int64; got {value.dtype}")
            if not integral and not bool(torch.isfinite(value).all()):
                raise ValueError(f"carriers.{name} contains NaN or inf")
        if max_carriers is not None and k > max_carriers:
            raise ValueError(f"{k} carriers exceed max_carriers={max_carriers}")
        if k and bool(((self.state < 0) | (self.state > 2)).any()):
            raise ValueError("carriers.state must hold CarrierPhase codes 0, 1 or 2")
        if k and bool((self.amplitudes < 0).any()):
            raise ValueError("carriers.amplitudes must be >= 0")
        if k and max_carriers is not None and bool(
            ((self.slot < 0) | (self.slot >= max_carriers)).any()
        ):
            raise ValueError(f"carriers.slot must lie in [0, {max_carriers})")
        if k and int(torch.unique(self.slot).numel()) != k:
            raise ValueError("carriers.slot values must be distinct")


__all__ = ["CarrierPhase", "CarrierState"]
