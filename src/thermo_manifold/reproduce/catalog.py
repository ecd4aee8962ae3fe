"""Every documented result block, by entry name.

Each subsystem's tables live in their own module here; this module only collects them. Modules
are imported on demand so `reproduce --list` and `--check` stay fast (no torch-heavy work).
"""

from __future__ import annotations

import importlib

from thermo_manifold.reproduce.entry import Entry

MODULES = (
    "thermo_manifold.reproduce.graph_tables",
    "thermo_manifold.reproduce.agent_tables",
    "thermo_manifold.reproduce.control_tables",
    "thermo_manifold.reproduce.papers_tables",
    "thermo_manifold.reproduce.physics_tables",
    "thermo_manifold.reproduce.contact_tables",
    "thermo_manifold.reproduce.sim_tables",
    "thermo_manifold.reproduce.fault_tables",
    "thermo_manifold.reproduce.spectral_tables",
    "thermo_manifold.reproduce.sensorium_tables",
)


def entries() -> list[Entry]:
    found: list[Entry] = []
    for module in MODULES:
        found.extend(importlib.import_module(module).ENTRIES)
    names = [e.name for e in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"reproduce entries named twice: {sorted(duplicates)}")
    return found


def by_name() -> dict[str, Entry]:
    return {entry.name: entry for entry in entries()}


__all__ = ["MODULES", "by_name", "entries"]
