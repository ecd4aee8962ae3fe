"""docs/physics.md: generated result blocks (entries added as their tables move here)."""

from __future__ import annotations

from thermo_manifold.reproduce.entry import Entry

ENTRIES: list[Entry] = []
