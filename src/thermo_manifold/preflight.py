"""Checks made before long work starts, so a run never fails at its end for a reason known at
its start: an output path that cannot be written, or a size that cannot fit in memory.

Each check raises `ValueError` naming the flag or field, which the command lines turn into one
line on stderr and exit status 2.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

GIB = 1024.0 ** 3
# Floats a physics step certainly holds (lower bounds, so a refusal is never premature): per
# particle, the 11 numbers of its state (positions and velocities, 3 each; energy, heat,
# excitation, mass, phase) and the step's new copy of them; per grid cell, the deposited mass,
# heat and capacity fields and the potential.
PARTICLE_FLOATS = 22
GRID_FLOATS = 4


def writable_directory(path: str | Path, flag: str) -> Path:
    """Create `path` (and parents) if missing and prove a file can be written there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot write there ({error.strerror or error})"
                         ) from None
    return path


def writable_file(path: str | Path, flag: str) -> Path:
    """`path` can be created or replaced: not a directory, and its directory is writable (made
    if missing)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a directory; give a file name")
    writable_directory(path.parent if str(path.parent) else Path("."), flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: exists and is not writable")
    return path


def physical_memory_bytes() -> float:
    """This machine's RAM (inf when the OS does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def physics_bytes(particles: int, grid: tuple[int, int, int], itemsize: int) -> float:
    """A lower bound on the memory a physics step of `particles` on `grid` needs."""
    cells = float(grid[0]) * float(grid[1]) * float(grid[2])
    return (PARTICLE_FLOATS * float(particles) + GRID_FLOATS * cells) * itemsize


def check_fits_in_memory(particles: int, grid: tuple[int, int, int], itemsize: int,
                         what: str, available: float | None = None) -> None:
    """Refuse a run whose lower-bound memory exceeds the machine's RAM."""
    need = physics_bytes(particles, grid, itemsize)
    have = physical_memory_bytes() if available is None else available
    if need > have:
        raise ValueError(f"{what} needs at least {need / GIB:,.1f} GiB of memory and this "
                         f"machine has {have / GIB:,.1f} GiB; choose fewer particles or a "
                         f"smaller grid")


__all__ = ["check_fits_in_memory", "physical_memory_bytes", "physics_bytes",
           "writable_directory", "writable_file"]
