"""The latent policy of seed 003, section 3: a Gaussian force in the tangent space, its losses,
and the decoder from latent force to an environment's action.

    u ~ pi(. | z) = N(mu(z), diag(sigma(z)^2))                         u, mu, sigma [B, D]
    L_task = -mean(log pi(u | z) A)            (REINFORCE with an advantage A; A is a constant)
    L_ent  = -mean(H(pi(. | z)))               H = sum_i (log sigma_i + 1/2 log(2 pi e))
    L_zeno = mean(KL(pi_t || pi_{t-1}))        closed form for diagonal Gaussians

The task loss is the score-function (REINFORCE / advantage actor-critic) estimator: the world
model and critic supply the advantage, and no gradient flows through it. The agent loop chooses
the advantage (returns minus the critic's value, or a one-step TD error).

The log standard deviation is bounded smoothly (`gaussians.BoundedLogStd`), so exploration never
collapses to zero width or blows up; the Gaussian formulas are in `gaussians.py`. The action decoder maps the latent force
to a box [low, high] by a tanh-squashed linear map (continuous control), or to logits over n
actions (discrete control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.gaussians import BoundedLogStd, gaussian_log_prob
from thermo_manifold.agent.layers import check_batch, mlp, seeded_linear

@dataclass
class PolicyLosses:
    """Each term already weighted; `total` is their sum (scalars)."""

    task: torch.Tensor
    entropy: torch.Tensor
    zeno: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.task + self.entropy + self.zeno


def policy_losses(log_prob: torch.Tensor, advantage: torch.Tensor, entropy: torch.Tensor,
                  kl_to_previous: torch.Tensor | None, entropy_weight: float = 0.01,
                  zeno_weight: float = 0.1) -> PolicyLosses:
    """Section 3's three terms from per-row [B] log pi(u|z), advantages, entropies and
    KL(pi_t || pi_{t-1}) (None on the first update: no previous policy)."""
    if not (log_prob.shape == advantage.shape == entropy.shape and log_prob.dim() == 1):
        raise ValueError("log_prob, advantage and entropy must be [B] of one shape; got "
                         f"{tuple(log_prob.shape)}, {tuple(advantage.shape)}, "
                         f"{tuple(entropy.shape)}")
    for name, weight in (("entropy_weight", entropy_weight), ("zeno_weight", zeno_weight)):
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool)
                and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {weight!r}")
    task = -(log_prob * advantage.detach()).mean()
    zeno = (kl_to_previous.mean() if kl_to_previous is not None
            else torch.zeros((), dtype=log_prob.dtype, device=log_prob.device))
    return PolicyLosses(task=task, entropy=-entropy_weight * entropy.mean(),
                        zeno=zeno_weight * zeno)


class GaussianLatentPolicy(nn.Module):
    """pi(u | z) = N(mu(z), diag(sigma(z)^2)): an MLP of z [B, D] gives mu and the bounded
    log sigma [B, D]."""

    def __init__(self, latent_dim: int, hidden: int, generator: torch.Generator,
                 log_std_bounds: tuple[float, float] = (-5.0, 1.0)):
        super().__init__()
        self.log_std = BoundedLogStd(log_std_bounds)
        self.latent_dim = latent_dim
        self.body = mlp([latent_dim, hidden, hidden, 2 * latent_dim], generator)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_batch("z", z, self.latent_dim)
        mean, raw = self.body(z).chunk(2, dim=-1)
        return mean, self.log_std(raw)

    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(u, log pi(u | z)) with u drawn from `generator`; u carries no gradient (the
        score-function estimator differentiates log pi, not the sample)."""
        mean, log_std = self(z)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                            device=mean.device)
        u = (mean + torch.exp(log_std) * noise).detach()
        return u, gaussian_log_prob(u, mean, log_std)


class ActionDecoder(nn.Module):
    """Latent force u [B, D] -> the environment's action: a box action in [low, high] of
    `action_dim` numbers, or (discrete) logits over `num_actions`."""

    def __init__(self, latent_dim: int, generator: torch.Generator,
                 action_dim: int | None = None, low: float = -1.0, high: float = 1.0,
                 num_actions: int | None = None):
        super().__init__()
        if (action_dim is None) == (num_actions is None):
            raise ValueError("give exactly one of action_dim (continuous) and num_actions "
                             "(discrete)")
        if action_dim is not None and not low < high:
            raise ValueError(f"low must be < high; got {low}, {high}")
        self.latent_dim = latent_dim
        self.discrete = num_actions is not None
        self.low, self.high = float(low), float(high)
        self.linear = seeded_linear(latent_dim, num_actions or action_dim, generator)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        check_batch("u", u, self.latent_dim)
        out = self.linear(u)
        if self.discrete:
            return out  # logits
        return self.low + 0.5 * (self.high - self.low) * (torch.tanh(out) + 1.0)


__all__ = ["ActionDecoder", "GaussianLatentPolicy", "PolicyLosses", "policy_losses"]
