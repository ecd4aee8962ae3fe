"""The TopoEncoder measured as a discrete code (issue 18): what its hard code alone reconstructs,
how often its routers' temperatures sit at their floor, and whether encoder and decoder route a
sample to the same chart.

- hard reconstruction: decode from the argmax chart's centre plus that chart's selected code,
  z_hard = c_K + e_{K, code_K}, with no nuisance z_n and no texture z_tex. This is the atlas as
  a bottleneck of N_c x K_c symbols, the quantity a VQ-VAE's reconstruction measures;
- tau floor fraction: the share of routings (encoder and decoder together) whose temperature
  tau(z) is clamped at sqrt(K) tau_min, i.e. where the conformal factor does not act;
- router agreement: the share of samples whose encoder chart (argmax w_enc) equals their decoder
  chart (argmax w_dec, the decoder's router on tanh(z_geo)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from thermo_manifold.agent.model import TopoEncoder


@dataclass
class AtlasCodeReadout:
    """x_hard [B, D_in]; enc_at_floor, dec_at_floor, agree [B] booleans."""

    x_hard: torch.Tensor
    enc_at_floor: torch.Tensor
    dec_at_floor: torch.Tensor
    agree: torch.Tensor


def _at_floor(tau: torch.Tensor, router_dim: int, tau_min: float) -> torch.Tensor:
    return tau <= math.sqrt(router_dim) * tau_min * (1.0 + 1e-6)


@torch.no_grad()
def atlas_code_readout(model: TopoEncoder, x: torch.Tensor) -> AtlasCodeReadout:
    """The hard decode and the routers' diagnostics on x [B, D_in] (module doc)."""
    enc = model.encoder(x)
    rows = torch.arange(x.shape[0], device=x.device)
    chart = enc.chart
    code = enc.codes[rows, chart]
    z_hard = model.encoder.chart_centers[chart] + model.encoder.codebook[chart, code]
    x_hard = model.decoder(z_hard, torch.zeros_like(z_hard))
    decoder = model.decoder
    routed = decoder.router(torch.tanh(enc.z_geo), decoder.chart_tokens)
    return AtlasCodeReadout(
        x_hard=x_hard,
        enc_at_floor=_at_floor(enc.tau, model.encoder.router.router_dim,
                               model.encoder.router.tau_min),
        dec_at_floor=_at_floor(routed.tau, decoder.router.router_dim, decoder.router.tau_min),
        agree=routed.chart == chart)


__all__ = ["AtlasCodeReadout", "atlas_code_readout"]
