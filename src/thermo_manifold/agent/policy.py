"""The latent policy of seed 003, section 3: a Gaussian force in the tangent space, its losses,
and the decoder from latent force to an environment's action.

    u ~ pi(. | z) = N(mu(z), diag(sigma(z)^2)),  u = mu + sigma eps     u, mu, sigma [B, D]
    L_task = -mean(J)                J: the return imagined through the world model [B]
    L_ent  = -mean(H(pi(. | z)))     H = sum_i (log sigma_i + 1/2 log(2 pi e))
    L_zeno = mean(KL(pi_t || pi_{t-1}))        closed form for diagonal Gaussians

The task loss is actor-critic *through the world model* (pathwise: SVG(H), Dreamer): the force
is reparameterised, the world model and reward model carry it forward, the critic values the
end, and the gradient of J flows back through all of them to mu and sigma (`control.py` builds
J). The score-function (REINFORCE) alternative needs many more samples for the same gradient
noise on these small tasks, so it is not used.

The log standard deviation is bounded smoothly (`gaussians.BoundedLogStd`), so exploration never
collapses to zero width or blows up; the Gaussian formulas are in `gaussians.py`. The action
decoder maps the latent force to a box [low, high] by a tanh-squashed linear map (continuous
control), or to logits over n actions (discrete control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.gaussians import BoundedLogStd
from thermo_manifold.agent.layers import check_batch, mlp


@dataclass
class PolicyLosses:
    """Each term already weighted; `total` is their sum (scalars)."""

    task: torch.Tensor
    entropy: torch.Tensor
    zeno: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.task + self.entropy + self.zeno


def policy_losses(objective: torch.Tensor, entropy: torch.Tensor,
                  kl_to_previous: torch.Tensor | None, entropy_weight: float = 0.01,
                  zeno_weight: float = 0.1) -> PolicyLosses:
    """Section 3's three terms from per-row [B] objectives J (differentiable in the policy's
    parameters), entropies and KL(pi_t || pi_{t-1}) (None on the first update: no previous
    policy)."""
    if not (objective.shape == entropy.shape and objective.dim() == 1):
        raise ValueError("objective and entropy must be [B] of one shape; got "
                         f"{tuple(objective.shape)}, {tuple(entropy.shape)}")
    for name, weight in (("entropy_weight", entropy_weight), ("zeno_weight", zeno_weight)):
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool)
                and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"{name} must be a finite number >= 0; got {weight!r}")
    zeno = (kl_to_previous.mean() if kl_to_previous is not None
            else torch.zeros((), dtype=objective.dtype, device=objective.device))
    return PolicyLosses(task=-objective.mean(), entropy=-entropy_weight * entropy.mean(),
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

    def rsample(self, z: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(u, mean, log_std) with u = mean + sigma eps reparameterised (u carries the
        gradient to the policy's parameters), eps drawn from `generator`."""
        mean, log_std = self(z)
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                            device=mean.device)
        return mean + torch.exp(log_std) * noise, mean, log_std


class ActionDecoder(nn.Module):
    """Latent force u [B, D] -> the environment's action: a box action in [low, high] of
    `action_dim` numbers, low + (high - low) (tanh(W u + b) + 1) / 2, or (discrete) logits
    W u + b over `num_actions`. W starts as the first rows of the identity and b at 0, so
    action i is driven by force component i alone and a zero force is the box's middle: a
    random W would mix the components and shrink the forces the policy must produce."""

    def __init__(self, latent_dim: int, action_dim: int | None = None, low: float = -1.0,
                 high: float = 1.0, num_actions: int | None = None):
        super().__init__()
        if (action_dim is None) == (num_actions is None):
            raise ValueError("give exactly one of action_dim (continuous) and num_actions "
                             "(discrete)")
        outputs = num_actions or action_dim
        if not 1 <= outputs <= latent_dim:
            raise ValueError(f"the action needs 1 to latent_dim ({latent_dim}) outputs; got "
                             f"{outputs}")
        if action_dim is not None and not low < high:
            raise ValueError(f"low must be < high; got {low}, {high}")
        self.latent_dim = latent_dim
        self.discrete = num_actions is not None
        self.low, self.high = float(low), float(high)
        self.linear = nn.Linear(latent_dim, outputs)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(outputs, latent_dim))
            self.linear.bias.zero_()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        check_batch("u", u, self.latent_dim)
        out = self.linear(u)
        if self.discrete:
            return out  # logits
        return self.low + 0.5 * (self.high - self.low) * (torch.tanh(out) + 1.0)


__all__ = ["ActionDecoder", "GaussianLatentPolicy", "PolicyLosses", "policy_losses"]
