"""`SpectralCarrierConfig`: the validated, frozen parameters of the spectral carrier layer.

Defaults are the seed's `SpectralCarrierConfig` (optimizer/metal/manifold_physics.py) plus the
fields that PHYSICS.md's carrier decisions need: the time step the seed passed separately
(`dt`), the coupling path and its band cutoff, and the recycling of dead volatile carriers.
Every field is checked in `__post_init__`; a bad value raises `ValueError` naming the field, the
value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermo_manifold.config_io import read_toml_table, reject_unknown_fields

COUPLING_METHODS = ("banded", "dense")
ANCHOR_SLOTS = 8  # fixed, as in the seed (CARRIER_ANCHORS)


def _check_number(name: str, value: Any, low: float, high: float = math.inf,
                  low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        left = "(" if low_open else "["
        right = "]" if math.isfinite(high) else ")"
        raise ValueError(f"{name} must be a finite number in {left}{low}, {high}{right}; "
                         f"got {value!r}")


def _check_int(name: str, value: Any, low: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


@dataclass(frozen=True)
class SpectralCarrierConfig:
    """Parameters of the carriers (resonance potential with Langevin flow)."""

    max_carriers: int = 64
    coupling_scale: float = 0.25  # phase torque scale
    carrier_reg: float = 0.15  # lambda: L2 pull of |C| towards 0
    temperature: float = 0.01  # strength of the Langevin noise on carriers
    # Conflict (EMA of phase incoherence) -> split.
    conflict_threshold: float = 0.35
    offender_weight_floor: float = 1e-3  # pairs with T*A at or below this are ignored
    ema_alpha: float = 0.10
    recenter_alpha: float = 0.10
    # Oscillators whose summed tuning to all carriers is below this spawn a carrier.
    uncoupled_threshold: float = 0.1
    # Gate width sigma (tolerance / specialisation).
    gate_width_init: float = 0.35
    gate_width_min: float = 0.08
    gate_width_max: float = 1.25
    anchor_slots: int = ANCHOR_SLOTS
    # Crystallisation lifecycle.
    stable_amp_threshold: float = 0.25
    crystallize_amp_threshold: float = 0.75
    crystallize_conflict_threshold: float = 0.12
    crystallize_age: int = 120
    # Dynamics modifiers.
    crystallized_coupling_boost: float = 1.0
    volatile_decay_mul: float = 0.90
    stable_decay_mul: float = 0.98
    crystallized_decay_mul: float = 1.00  # unused: crystallized carriers do not decay
    # Top-down effects of crystallized carriers.
    topdown_phase_scale: float = 0.05
    topdown_energy_scale: float = 0.05
    topdown_random_energy_eps: float = 0.02
    anchor_random_eps: float = 0.05  # epsilon-greedy anchor refresh (online)
    repulsion_scale: float = 0.05  # omega-space repulsion in "disambiguate" mode
    # --- Additions (PHYSICS.md decisions) ---
    dt: float = 0.01  # the seed passes the physics dt to the carriers
    split_init_scale: float = 0.5  # a split child starts at this fraction of the offender phasor
    coupling: str = "banded"
    band_sigmas: float = 4.0  # banded path: a carrier touches |w_i - w_k| <= band_sigmas * sigma_k
    # Banded path: when the bands hold more than this fraction of all pairs, evaluate densely
    # (same result, cheaper); a value above 1 never falls back.
    band_dense_fraction: float = 0.5
    recycle_amp_floor: float = 1e-3  # a volatile carrier below this amplitude ...
    recycle_ticks: int = 50  # ... for this many consecutive ticks is freed

    def __post_init__(self) -> None:
        _check_int("max_carriers", self.max_carriers, 1)
        if self.anchor_slots != ANCHOR_SLOTS:
            raise ValueError(f"anchor_slots must be {ANCHOR_SLOTS} (the seed's CARRIER_ANCHORS); "
                             f"got {self.anchor_slots!r}")
        _check_int("crystallize_age", self.crystallize_age, 1)
        _check_int("recycle_ticks", self.recycle_ticks, 1)
        for name in ("coupling_scale", "carrier_reg", "temperature", "offender_weight_floor",
                     "uncoupled_threshold", "stable_amp_threshold", "crystallize_amp_threshold",
                     "crystallized_coupling_boost", "volatile_decay_mul", "stable_decay_mul",
                     "crystallized_decay_mul", "topdown_phase_scale", "topdown_energy_scale",
                     "repulsion_scale", "split_init_scale", "recycle_amp_floor"):
            _check_number(name, getattr(self, name), 0.0)
        for name in ("conflict_threshold", "ema_alpha", "recenter_alpha",
                     "crystallize_conflict_threshold", "topdown_random_energy_eps",
                     "anchor_random_eps"):
            _check_number(name, getattr(self, name), 0.0, 1.0)
        for name in ("gate_width_init", "gate_width_min", "gate_width_max", "dt"):
            _check_number(name, getattr(self, name), 0.0, low_open=True)
        _check_number("band_sigmas", self.band_sigmas, 1.0)
        _check_number("band_dense_fraction", self.band_dense_fraction, 0.0, low_open=True)
        if self.gate_width_min > self.gate_width_max:
            raise ValueError(f"gate_width_min ({self.gate_width_min}) must be <= gate_width_max "
                             f"({self.gate_width_max})")
        if not self.gate_width_min <= self.gate_width_init <= self.gate_width_max:
            raise ValueError(f"gate_width_init must be in [gate_width_min, gate_width_max] = "
                             f"[{self.gate_width_min}, {self.gate_width_max}]; "
                             f"got {self.gate_width_init!r}")
        if self.coupling not in COUPLING_METHODS:
            raise ValueError(f"coupling must be one of {COUPLING_METHODS}; got {self.coupling!r}")

    def replace(self, **changes: Any) -> "SpectralCarrierConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SpectralCarrierConfig":
        reject_unknown_fields(cls, values, "spectral")
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | Path, table: str | None = "spectral") -> "SpectralCarrierConfig":
        """Load from a TOML file; fields live under `[spectral]` (or at top level if absent)."""
        return cls.from_dict(read_toml_table(path, table))


__all__ = ["ANCHOR_SLOTS", "COUPLING_METHODS", "SpectralCarrierConfig"]
