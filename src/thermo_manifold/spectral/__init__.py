"""Spectral carriers: oscillators (the particles) coupled to carriers in frequency space.

See docs/spectral.md and ../shared/design/PHYSICS.md, section "Spectral carriers".
"""

from __future__ import annotations

from thermo_manifold.spectral.carriers import MODES, SpectralCarrierPhysics, SpectralTick
from thermo_manifold.spectral.config import SpectralCarrierConfig
from thermo_manifold.spectral.state import CarrierPhase, CarrierState

__all__ = [
    "MODES",
    "CarrierPhase",
    "CarrierState",
    "SpectralCarrierConfig",
    "SpectralCarrierPhysics",
    "SpectralTick",
]
