"""thermo_manifold: physics-based learning on a particle-mesh manifold."""

from __future__ import annotations

__version__ = "0.1.0"
