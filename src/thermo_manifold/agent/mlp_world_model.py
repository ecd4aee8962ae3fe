"""The baseline world model of issue 17: a plain MLP with a Gaussian next-latent head.

    (z_t, u_t) [B, D], [B, D]  ->  z_{t+1} ~ N(z_t + mu(z_t, u_t), diag(sigma(z_t, u_t)^2))

It predicts the change of the latent (a residual: the identity is its starting point), and is
trained by the Gaussian negative log-likelihood of the observed next latent, the same
`gaussian_nll` the field-theory world model uses (seed 003, section 4, C.2), so the two are
compared on one loss. No integrator, no metric, no curl: the "generic transition" that the
Boris-BAOAB world model's structure is measured against.
"""

from __future__ import annotations

import torch
from torch import nn

from thermo_manifold.agent.gaussians import BoundedLogStd, gaussian_nll
from thermo_manifold.agent.layers import check_batch, mlp

class MLPWorldModel(nn.Module):
    """p(z_{t+1} | z_t, u_t) as a diagonal Gaussian from an MLP of [z_t, u_t]."""

    def __init__(self, latent_dim: int, hidden: int, generator: torch.Generator,
                 log_std_bounds: tuple[float, float] = (-7.0, 2.0)):
        super().__init__()
        self.log_std = BoundedLogStd(log_std_bounds)
        self.latent_dim = latent_dim
        self.body = mlp([2 * latent_dim, hidden, hidden, 2 * latent_dim], generator)

    def forward(self, z: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of z_{t+1}, each [B, D]."""
        check_batch("z", z, self.latent_dim)
        check_batch("u", u, self.latent_dim)
        change, raw = self.body(torch.cat([z, u], dim=-1)).chunk(2, dim=-1)
        return z + change, self.log_std(raw)

    def loss(self, z: torch.Tensor, u: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """Mean Gaussian NLL of the observed next latents."""
        mean, log_std = self(z, u)
        return gaussian_nll(z_next, mean, log_std).mean()

    def rollout(self, z: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Mean predictions z_1 .. z_H [H, B, D] from z_0 [B, D] under controls [H, B, D]
        (for the k-step latent error)."""
        out = []
        for u in controls:
            z, _ = self(z, u)
            out.append(z)
        return torch.stack(out)


__all__ = ["MLPWorldModel"]
