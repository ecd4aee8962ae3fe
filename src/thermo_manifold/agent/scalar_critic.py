"""The baseline critic of issue 17: one scalar value head V(z), trained by semi-gradient TD.

    td = mean (V(z) - (r + gamma (1 - terminated) V(z')))^2,   V(z') held fixed (or a target copy's)

No vector potential, no harmonic forms, no metric: the "scalar MLP critic" that the Hodge
critic (`critic.HodgeCritic`) is measured against at equal parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from thermo_manifold.agent.layers import check_batch, mlp


class ScalarCritic(nn.Module):
    """V(z) [B] from an MLP of z [B, D]."""

    def __init__(self, latent_dim: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.latent_dim = latent_dim
        self.body = mlp([latent_dim, hidden, hidden, 1], generator)

    def potential(self, z: torch.Tensor) -> torch.Tensor:
        check_batch("z", z, self.latent_dim)
        return self.body(z).squeeze(-1)

    def td_loss(self, z: torch.Tensor, z_next: torch.Tensor, reward: torch.Tensor,
                discount: torch.Tensor, target_potential=None) -> torch.Tensor:
        """Semi-gradient TD loss; `discount` [B] is gamma, or 0 where the episode terminated;
        `target_potential` (a function of z) gives V(z') for the target, by default V itself."""
        value_next = (target_potential or self.potential)(z_next).detach()
        target = reward + discount * value_next
        return (self.potential(z) - target).pow(2).mean()


__all__ = ["ScalarCritic"]
