"""Paper-algorithm registry: machine-readable records of the seed's algorithm cards, their
defects, and tested reference kernels linked to them (see docs/papers.md).

    from thermo_manifold.papers import load_registry
    registry = load_registry()
    registry.get("PATHTRACING_SDF")[0].implementations
"""

from thermo_manifold.papers.records import Defect, PaperRecord
from thermo_manifold.papers.registry import Registry, load_registry

__all__ = ["Defect", "PaperRecord", "Registry", "load_registry"]
