"""PrimitiveAttentiveAtlasEncoder (seed 003, section 0.2): x -> (K, z_geo, z_n, z_tex).

Stages, with B the batch, N_c charts, K_c codes per chart, D the latent width, H the features:

1. features = MLP(x) [B, H];  v = val_proj(features) [B, D]
2. router(v, chart_centers, features) -> w [B, N_c], K_chart [B]
3. c_bar = w @ chart_centers [B, D];  v_local = v - c_bar            (z_e, the raw local latent)
4. per chart c: nearest code of codebook[c] to v_local -> z_q_all [B, N_c, D];  z_q = sum_c w_c z_q_all
5. z_n_all = structure_filter(v_local - z_q_all) [B, N_c, D];  z_n = sum_c w_c z_n_all
6. z_q_st = v_local + sg(z_q - v_local) (straight-through);  z_geo = c_bar + z_q_st + z_n;
   z_tex = (v_local - z_q) - z_n

so z_e = z_q + z_n + z_tex holds by construction (the split-latent identity of section 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.config import AtlasConfig
from thermo_manifold.agent.layers import check_batch, mlp, seeded_parameter
from thermo_manifold.agent.router import CovariantChartRouter


@dataclass
class EncoderOutput:
    """Everything the losses need. Shapes: B batch, N_c charts, D latent, H features.

    features [B, H]; v [B, D] (val_proj output); weights [B, N_c]; chart [B]; tau [B];
    c_bar [B, D]; z_e [B, D] (= v_local); z_q [B, D] (blended codes, no straight-through);
    z_q_all [B, N_c, D]; codes [B, N_c] (code index per chart); z_n [B, D]; z_n_all [B, N_c, D];
    z_tex [B, D]; z_geo [B, D].
    """

    features: torch.Tensor
    v: torch.Tensor
    weights: torch.Tensor
    chart: torch.Tensor
    tau: torch.Tensor
    c_bar: torch.Tensor
    z_e: torch.Tensor
    z_q: torch.Tensor
    z_q_all: torch.Tensor
    codes: torch.Tensor
    z_n: torch.Tensor
    z_n_all: torch.Tensor
    z_tex: torch.Tensor
    z_geo: torch.Tensor

    @property
    def code(self) -> torch.Tensor:
        """Code index of the chosen chart [B] (in 0 .. K_c-1)."""
        return self.codes.gather(1, self.chart[:, None]).squeeze(1)

    def local_coordinates(self) -> torch.Tensor:
        """Each chart's geometric reading of the point, z_q_all + z_n_all [B, N_c, D]."""
        return self.z_q_all + self.z_n_all


class PrimitiveAttentiveAtlasEncoder(nn.Module):
    """x [B, D_in] -> EncoderOutput (see module docstring for the data flow)."""

    def __init__(self, config: AtlasConfig, generator: torch.Generator):
        super().__init__()
        self.config = config
        d, h = config.latent_dim, config.hidden_dim
        self.feature_extractor = nn.Sequential(mlp([config.input_dim, h, h], generator), nn.GELU())
        self.val_proj = mlp([h, d], generator)[0]
        self.chart_centers = seeded_parameter((config.num_charts, d), 1.0, generator)
        self.codebook = seeded_parameter((config.num_charts, config.codes_per_chart, d), 0.1,
                                         generator)
        self.structure_filter = mlp([d, d, d], generator)
        self.router = CovariantChartRouter(d, config.router_dim, generator, feature_dim=h,
                                           tau_min=config.tau_min)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        """x [B, D_in] -> EncoderOutput."""
        check_batch("x", x, self.config.input_dim)
        features = self.feature_extractor(x)                                    # [B, H]
        v = self.val_proj(features)                                             # [B, D]
        routed = self.router(v, self.chart_centers, features)
        w = routed.weights                                                      # [B, N_c]
        c_bar = w @ self.chart_centers                                          # [B, D]
        v_local = v - c_bar
        # Squared distance of v_local to every code of every chart: [B, N_c, K_c].
        dist = (v_local[:, None, None, :] - self.codebook[None]).pow(2).sum(-1)
        codes = dist.argmin(dim=-1)                                             # [B, N_c]
        chart_index = torch.arange(self.config.num_charts, device=x.device)
        z_q_all = self.codebook[chart_index[None, :], codes]                    # [B, N_c, D]
        z_q = (w[:, :, None] * z_q_all).sum(1)                                  # [B, D]
        z_n_all = self.structure_filter(v_local[:, None, :] - z_q_all)         # [B, N_c, D]
        z_n = (w[:, :, None] * z_n_all).sum(1)
        z_q_st = v_local + (z_q - v_local).detach()
        z_geo = c_bar + z_q_st + z_n
        z_tex = (v_local - z_q) - z_n
        return EncoderOutput(features=features, v=v, weights=w, chart=routed.chart, tau=routed.tau,
                             c_bar=c_bar, z_e=v_local, z_q=z_q, z_q_all=z_q_all, codes=codes,
                             z_n=z_n, z_n_all=z_n_all, z_tex=z_tex, z_geo=z_geo)


__all__ = ["EncoderOutput", "PrimitiveAttentiveAtlasEncoder"]
