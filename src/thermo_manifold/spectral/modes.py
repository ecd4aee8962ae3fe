"""Tick modes: online ("normal") and the seed's three idle modes.

The seed's `idle_compute` runs the same kernels with rescaled knobs:
- consolidate: quiet, stabilise and crystallise (noise and exploration x 0.25);
- disambiguate: separate colliding carriers (x 0.5, omega-space repulsion on);
- explore: counterfactual search (noise x 2, epsilons raised to at least 0.2 / 0.1, and the
  offender weight floor lowered 10x so weak bonds count).
"""

from __future__ import annotations

from dataclasses import dataclass

from thermo_manifold.spectral.config import SpectralCarrierConfig

MODES = ("normal", "consolidate", "disambiguate", "explore")


@dataclass(frozen=True)
class ModeParams:
    temperature: float
    anchor_eps: float
    random_energy_eps: float
    offender_floor: float
    repulsion: float  # 0 disables the repulsion stage


def mode_params(config: SpectralCarrierConfig, mode: str) -> ModeParams:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    c = config
    if mode == "normal":
        return ModeParams(c.temperature, c.anchor_random_eps, c.topdown_random_energy_eps,
                          c.offender_weight_floor, 0.0)
    if mode == "consolidate":
        return ModeParams(c.temperature * 0.25, c.anchor_random_eps * 0.25,
                          c.topdown_random_energy_eps * 0.25, c.offender_weight_floor, 0.0)
    if mode == "disambiguate":
        return ModeParams(c.temperature * 0.5, c.anchor_random_eps * 0.5,
                          c.topdown_random_energy_eps * 0.5, c.offender_weight_floor,
                          c.repulsion_scale)
    return ModeParams(c.temperature * 2.0, max(c.anchor_random_eps, 0.20),
                      max(c.topdown_random_energy_eps, 0.10), c.offender_weight_floor * 0.1, 0.0)


__all__ = ["MODES", "ModeParams", "mode_params"]
