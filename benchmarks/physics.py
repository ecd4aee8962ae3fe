"""Physics benchmark of the gas scenario; `python benchmarks/physics.py --help`.

A thin wrapper around `thermo_manifold.physics.benchmark.main`.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from thermo_manifold.physics.benchmark import main
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from thermo_manifold.physics.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main())
