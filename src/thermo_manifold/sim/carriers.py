"""The simulator's link to the spectral carrier layer (`thermo_manifold.spectral`).

The carriers are optional at import time: a build without the spectral subpackage still
simulates, and says so ("unavailable") in the summary and on the dashboard.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch


def load_carrier_engine(device: torch.device, dtype: torch.dtype, seed: int) -> Any | None:
    """A `SpectralCarrierPhysics` with the seed's default config, or None when not built."""
    try:
        from thermo_manifold.spectral import SpectralCarrierPhysics
    except ImportError:
        return None
    return SpectralCarrierPhysics(config=None, device=device, dtype=dtype, seed=seed)


def forget_evicted(engine: Any | None, evicted: int) -> None:
    """Keep carrier anchors on the right oscillators after the `evicted` oldest particles left.

    Anchors name oscillators by row. Evicting the first `evicted` rows shifts every later row
    down by that much, so anchors move with them; anchors on evicted oscillators are emptied
    (index -1, weight 0). The engine itself only ignores out-of-range anchors, which would
    leave the survivors' anchors pointing at the wrong oscillators.
    """
    if engine is None or evicted <= 0 or engine.carriers.num_carriers == 0:
        return
    carriers = engine.carriers
    index = carriers.anchor_index
    gone = (index >= 0) & (index < evicted)
    shifted = torch.where(index >= evicted, index - evicted, torch.full_like(index, -1))
    shifted = torch.where(index >= 0, shifted, index)
    engine.carriers = dataclasses.replace(
        carriers, anchor_index=shifted,
        anchor_weight=torch.where(gone, torch.zeros_like(carriers.anchor_weight),
                                  carriers.anchor_weight))


def carrier_arrays(engine: Any | None) -> dict[str, np.ndarray | None]:
    """The live carriers as NumPy arrays for the dashboard (None entries without carriers)."""
    keys = ("frequencies", "gate_widths", "amplitudes", "phases", "states")
    if engine is None:
        return dict.fromkeys(keys)
    carriers = engine.carriers
    if carriers.num_carriers == 0:
        return dict.fromkeys(keys)

    def host(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to("cpu", torch.float64).numpy()

    return {
        "frequencies": host(carriers.frequencies),
        "gate_widths": host(carriers.gate_widths),
        "amplitudes": host(carriers.amplitudes),
        "phases": host(carriers.phases),
        "states": carriers.state.detach().cpu().numpy().astype(np.int64),
    }


__all__ = ["carrier_arrays", "forget_evicted", "load_carrier_engine"]
