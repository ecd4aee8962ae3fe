"""PrimitiveTopologicalDecoder (seed 003, section 0.3): (z_geo, z_tex) -> x_hat.

    g        = tanh(z_geo)                                     [B, D]
    w_dec    = router(g, chart_tokens)                         [B, N_c]
    h_c      = NormGatedGELU_c(P_c g)  for each chart c        [B, N_c, H]
    h        = sum_c w_dec_c h_c                               [B, H]
    x_base   = renderer(h) + render_skip(h)                    [B, D_out]
    x_hat    = x_base + alpha * tex_residual(tanh(z_tex))      [B, D_out]
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from thermo_manifold.agent.config import AtlasConfig
from thermo_manifold.agent.layers import check_batch, mlp, seeded_linear, seeded_parameter
from thermo_manifold.agent.router import CovariantChartRouter


class NormGatedGELU(nn.Module):
    """Radial activation h -> h * GELU(|h| - b) / |h| for h [..., N_c, H], one bias b per chart.

    It rescales each chart's feature vector by a function of its norm and keeps its direction,
    so a rotation of the chart's coordinates commutes with the nonlinearity.
    """

    def __init__(self, num_charts: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_charts))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h [B, N_c, H] -> [B, N_c, H]."""
        norm = h.norm(dim=-1, keepdim=True)
        gate = F.gelu(norm - self.bias[:, None]) / norm.clamp_min(1e-6)
        return h * gate


class PrimitiveTopologicalDecoder(nn.Module):
    """(z_geo [B, D], z_tex [B, D]) -> x_hat [B, D_in]."""

    def __init__(self, config: AtlasConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        d, h, n = config.latent_dim, config.hidden_dim, config.num_charts
        self.chart_tokens = seeded_parameter((n, d), 1.0, generator)
        self.router = CovariantChartRouter(d, config.router_dim, generator, tau_min=config.tau_min)
        bound = 1.0 / math.sqrt(d)
        self.projector_weight = nn.Parameter((torch.rand((n, d, h), generator=generator) * 2 - 1) * bound)
        self.projector_bias = nn.Parameter((torch.rand((n, h), generator=generator) * 2 - 1) * bound)
        self.gate = NormGatedGELU(n)
        self.renderer = mlp([h, h, config.input_dim], generator)
        self.render_skip = seeded_linear(h, config.input_dim, generator)
        self.tex_residual = seeded_linear(d, config.input_dim, generator)

    def forward(self, z_geo: torch.Tensor, z_tex: torch.Tensor) -> torch.Tensor:
        """z_geo [B, D], z_tex [B, D] -> x_hat [B, D_in]."""
        check_batch("z_geo", z_geo, self.config.latent_dim)
        check_batch("z_tex", z_tex, self.config.latent_dim)
        if z_geo.shape[0] != z_tex.shape[0]:
            raise ValueError(f"z_geo batch {z_geo.shape[0]} != z_tex batch {z_tex.shape[0]}")
        g = torch.tanh(z_geo)
        routed = self.router(g, self.chart_tokens)
        h_stack = self.gate(torch.einsum("bd,cdh->bch", g, self.projector_weight)
                            + self.projector_bias)                             # [B, N_c, H]
        h = (routed.weights[:, :, None] * h_stack).sum(1)                      # [B, H]
        base = self.renderer(h) + self.render_skip(h)
        texture = self.tex_residual(torch.tanh(z_tex))
        return base + self.config.texture_scale * texture


__all__ = ["NormGatedGELU", "PrimitiveTopologicalDecoder"]
