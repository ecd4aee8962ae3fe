"""Reference kernels for the algorithms of the paper registry (importing registers them)."""

from thermo_manifold.papers.kernels import (clipmap, constraint_transport, dreamer, fp4, fsq,  # noqa: F401
                                            gaia, grpo, rounding, sdf, teraagent)

__all__ = ["clipmap", "constraint_transport", "dreamer", "fp4", "fsq", "gaia", "grpo", "rounding",
           "sdf", "teraagent"]
