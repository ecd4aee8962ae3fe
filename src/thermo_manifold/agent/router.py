"""CovariantChartRouter (seed 003, section 0.1): metric-aware soft assignment of a latent to charts.

For a latent z [B, D] (and, in the encoder, features [B, H]) and chart tokens c_k [N_c, D]:

    q      = q_z_proj(z) + gamma(z (x) z) + q_feat_proj(features)          [B, K]
    S(z)   = A(z) - A(z)^T,  A(z) = transport_proj(z)                      [B, K, K] skew
    U(z)   = (I + S/2)^-1 (I - S/2)                                        [B, K, K] orthogonal
    keys   = U(z) . chart_key_proj(c_k)                                    [B, N_c, K]
    scores = sum_K keys * q                                                [B, N_c]
    tau(z) = sqrt(K) * max((1 - |b(z)|^2) / 2, tau_min)                    [B]
    w      = softmax(scores / tau)                                         [B, N_c]

gamma is the "Christoffel" correction: a linear map of the symmetric products z_i z_j (i <= j),
i.e. a learned quadratic term of the query, as a geodesic expansion would add. The Cayley
transform of a skew matrix is orthogonal, so the transport rotates keys without changing their
length. Deviation from the seed: the conformal factor (1 - |z|^2)/2 of the Poincare ball is
negative outside the unit ball, and the encoder feeds unbounded z. We evaluate it at
b(z) = tanh(|z|) z/|z| (the radial map of R^D onto the open ball) and floor it at tau_min, so
tau is smooth, positive and bounded for every input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.layers import check_batch, seeded_linear


def cayley_transform(skew: torch.Tensor) -> torch.Tensor:
    """U = (I + S/2)^-1 (I - S/2) for skew-symmetric S [..., K, K]; U is orthogonal.

    I + S/2 is always invertible for real skew S (its eigenvalues are 1 + i*lambda/2).
    """
    eye = torch.eye(skew.shape[-1], dtype=skew.dtype, device=skew.device).expand_as(skew)
    return torch.linalg.solve(eye + 0.5 * skew, eye - 0.5 * skew)


def ball_norm_squared(z: torch.Tensor) -> torch.Tensor:
    """|b(z)|^2 = tanh(|z|)^2 [B] with b the radial map of R^D onto the open unit ball."""
    return torch.tanh(z.norm(dim=-1)) ** 2


@dataclass
class RouterOutput:
    """weights [B, N_c] (rows sum to 1), chart [B] (argmax), tau [B] (> 0), scores [B, N_c]."""

    weights: torch.Tensor
    chart: torch.Tensor
    tau: torch.Tensor
    scores: torch.Tensor


class CovariantChartRouter(nn.Module):
    """Soft chart assignment w(z) [B, N_c]; shared by encoder (with features) and decoder."""

    def __init__(self, latent_dim: int, router_dim: int, generator: torch.Generator,
                 feature_dim: int | None = None, tau_min: float = 0.05):
        super().__init__()
        self.latent_dim = latent_dim
        self.router_dim = router_dim
        self.feature_dim = feature_dim
        self.tau_min = tau_min
        rows, cols = torch.triu_indices(latent_dim, latent_dim)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)
        self.q_z_proj = seeded_linear(latent_dim, router_dim, generator)
        self.christoffel = seeded_linear(rows.numel(), router_dim, generator, bias=False)
        self.q_feat_proj = (seeded_linear(feature_dim, router_dim, generator)
                            if feature_dim is not None else None)
        self.transport_proj = seeded_linear(latent_dim, router_dim * router_dim, generator)
        with torch.no_grad():  # start near the identity transport so early routing is not scrambled
            self.transport_proj.weight.mul_(0.1)
            self.transport_proj.bias.zero_()
        self.chart_key_proj = seeded_linear(latent_dim, router_dim, generator)

    def temperature(self, z: torch.Tensor) -> torch.Tensor:
        """tau(z) [B] = sqrt(K) * max((1 - |b(z)|^2)/2, tau_min) > 0 for every z [B, D]."""
        factor = torch.clamp(0.5 * (1.0 - ball_norm_squared(z)), min=self.tau_min)
        return math.sqrt(self.router_dim) * factor

    def transport(self, z: torch.Tensor) -> torch.Tensor:
        """U(z) [B, K, K]: Cayley transform of the skew part of transport_proj(z)."""
        raw = self.transport_proj(z).view(-1, self.router_dim, self.router_dim)
        return cayley_transform(raw - raw.transpose(-1, -2))

    def forward(self, z: torch.Tensor, chart_tokens: torch.Tensor,
                features: torch.Tensor | None = None) -> RouterOutput:
        """z [B, D], chart_tokens [N_c, D], features [B, H] or None -> RouterOutput."""
        check_batch("z", z, self.latent_dim)
        if chart_tokens.dim() != 2 or chart_tokens.shape[1] != self.latent_dim:
            raise ValueError(f"chart_tokens must have shape [N_c, {self.latent_dim}]; "
                             f"got {list(chart_tokens.shape)}")
        query = self.q_z_proj(z) + self.christoffel(z[:, self.pair_rows] * z[:, self.pair_cols])
        if self.q_feat_proj is not None:
            if features is None:
                raise ValueError("this router was built with feature_dim; pass features [B, H]")
            check_batch("features", features, self.feature_dim)
            if features.shape[0] != z.shape[0]:
                raise ValueError(f"features batch {features.shape[0]} != z batch {z.shape[0]}")
            query = query + self.q_feat_proj(features)
        base_keys = self.chart_key_proj(chart_tokens)                       # [N_c, K]
        keys = torch.einsum("bij,cj->bci", self.transport(z), base_keys)    # [B, N_c, K]
        scores = (keys * query[:, None, :]).sum(-1)                         # [B, N_c]
        tau = self.temperature(z)
        weights = torch.softmax(scores / tau[:, None], dim=-1)
        return RouterOutput(weights=weights, chart=weights.argmax(dim=-1), tau=tau, scores=scores)


__all__ = ["CovariantChartRouter", "RouterOutput", "ball_norm_squared", "cayley_transform"]
