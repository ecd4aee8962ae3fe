"""The Hodge critic of seed 003, section 2: the reward as a 1-form R, split into a gradient, a
solenoidal and a harmonic part by three heads on one backbone.

    R(z) ~ grad Phi(z) + A(z) + eta(z)                                   [B, D]
    r(z -> z')  ~  <R(z_mid), z' - z>,  z_mid = (z + z') / 2           (midpoint rule) [B]

- Scalar head Phi(z) [B]: the conservative value. Its 1-form is grad Phi (autograd).
- Solenoidal head A(z) [B, D]: a vector potential whose curl F = dA, F_ij = d_i A_j - d_j A_i
  (the antisymmetric part of its Jacobian), is the value curl that the world model's Lorentz
  term uses. It is kept in Coulomb gauge, div A = 0, by a penalty: a divergence-free A is
  co-closed, so it cannot absorb the gradient part (an A = grad chi would need
  laplacian chi = 0), which is how the heads stay orthogonal.
- Harmonic head eta(z) = sum_k w_k(z) eta_k [B, D]: one learnable constant 1-form per chart,
  blended by the router's chart weights w [B, N_c] (uniform weights when no router is given).

Losses (`critic_losses`):
- reward: mean (r - <grad Phi + A + eta at z_mid, z' - z>)^2. The seed's L_Psi is this with
  grad Phi and A; here the three parts are fitted together, and the harmonic head takes
  what is constant.
- gauge: mean (div A)^2.
- overlap: (mean <grad Phi, A>)^2 + |mean A|^2 + |mean grad Phi|^2, the parts' orthogonality
  over the batch. On a bounded region a field grad chi with laplacian chi = 0 is both
  divergence- and curl-free and could sit in Phi or in A, and a constant 1-form is also a
  gradient; this term gives the first to Phi and constants to the harmonic head.
- td: mean (Phi(z) - (r + gamma Phi(z')))^2, the seed's Helmholtz residual with the target held
  fixed (a semi-gradient TD error), for the value-function reading of Phi.
- smoothness: mean G^ij d_i Phi d_j Phi, with G's diagonal from `metric.DiagonalMetric`.

On a reward with a curl, Phi cannot fit the circulating part (a gradient's integral around a
loop is zero); A takes it, and F recovers the curl. Tests check both cases and the heads'
orthogonality on a grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.layers import check_batch, mlp, seeded_linear, seeded_parameter


@dataclass
class CriticLosses:
    reward: torch.Tensor
    gauge: torch.Tensor
    overlap: torch.Tensor
    td: torch.Tensor
    smoothness: torch.Tensor

    def total(self, gauge_weight: float = 1.0, overlap_weight: float = 0.1,
              td_weight: float = 0.0, smoothness_weight: float = 0.0) -> torch.Tensor:
        return (self.reward + gauge_weight * self.gauge + overlap_weight * self.overlap
                + td_weight * self.td + smoothness_weight * self.smoothness)


class HodgeCritic(nn.Module):
    """Phi, A and eta on a shared backbone over a latent of `latent_dim` dimensions."""

    def __init__(self, latent_dim: int, hidden: int, generator: torch.Generator,
                 num_charts: int = 1):
        super().__init__()
        if num_charts < 1:
            raise ValueError(f"num_charts must be >= 1; got {num_charts}")
        self.latent_dim = latent_dim
        self.num_charts = num_charts
        self.backbone = nn.Sequential(mlp([latent_dim, hidden, hidden], generator), nn.GELU())
        self.scalar_head = seeded_linear(hidden, 1, generator)
        self.vector_head = seeded_linear(hidden, latent_dim, generator)
        self.harmonic = seeded_parameter((num_charts, latent_dim), 0.0, generator)

    def potential(self, z: torch.Tensor) -> torch.Tensor:
        """Phi(z) [B]."""
        check_batch("z", z, self.latent_dim)
        return self.scalar_head(self.backbone(z)).squeeze(-1)

    def vector_potential(self, z: torch.Tensor) -> torch.Tensor:
        """A(z) [B, D]."""
        check_batch("z", z, self.latent_dim)
        return self.vector_head(self.backbone(z))

    def harmonic_form(self, z: torch.Tensor, chart_weights: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """eta(z) = w(z) @ eta_k [B, D]; uniform weights without a router."""
        if chart_weights is None:
            chart_weights = torch.full((z.shape[0], self.num_charts), 1.0 / self.num_charts,
                                       dtype=z.dtype, device=z.device)
        check_batch("chart_weights", chart_weights, self.num_charts)
        return chart_weights @ self.harmonic

    def gradient_form(self, z: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
        """grad Phi(z) [B, D] (autograd; with the graph kept, so losses on it train Phi)."""
        z = z if z.requires_grad else z.detach().requires_grad_(True)
        phi = self.potential(z)
        return torch.autograd.grad(phi.sum(), z, create_graph=create_graph)[0]

    def jacobian(self, z: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
        """dA_j / dz_i as [B, D, D] (row i: derivative direction, column j: component); one
        batched backward pass over the D components."""
        z = z if z.requires_grad else z.detach().requires_grad_(True)
        a = self.vector_potential(z)
        d = self.latent_dim
        basis = torch.eye(d, dtype=a.dtype, device=a.device)[:, None, :].expand(d, *a.shape)
        rows = torch.autograd.grad(a, z, grad_outputs=basis, create_graph=create_graph,
                                   is_grads_batched=True)[0]          # [D (component), B, D]
        return rows.permute(1, 2, 0)

    def fields(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad Phi [B, D], F = dA [B, D, D]) at z, detached, from one forward pass and one
        batched backward pass over Phi and the D components of A (what the world model
        reads)."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            hidden = self.backbone(z)
            outputs = torch.cat([self.scalar_head(hidden), self.vector_head(hidden)], dim=-1)
            rows = self.latent_dim + 1
            basis = torch.eye(rows, dtype=z.dtype, device=z.device)[:, None, :].expand(
                rows, *outputs.shape)
            grads = torch.autograd.grad(outputs, z, grad_outputs=basis,
                                        is_grads_batched=True)[0]      # [1 + D, B, D]
        jac = grads[1:].permute(1, 2, 0)
        return grads[0], jac - jac.transpose(-1, -2)

    def curl(self, z: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        """F = dA [B, D, D], F_ij = d_i A_j - d_j A_i (antisymmetric)."""
        jac = self.jacobian(z, create_graph=create_graph)
        return jac - jac.transpose(-1, -2)

    def divergence(self, z: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
        """div A = sum_i d_i A_i [B]."""
        return torch.diagonal(self.jacobian(z, create_graph=create_graph),
                              dim1=-2, dim2=-1).sum(-1)

    def reward_form(self, z: torch.Tensor, chart_weights: torch.Tensor | None = None
                    ) -> dict[str, torch.Tensor]:
        """The three parts of the modelled reward 1-form at z, each [B, D]."""
        return {"gradient": self.gradient_form(z), "solenoidal": self.vector_potential(z),
                "harmonic": self.harmonic_form(z, chart_weights)}


def critic_losses(critic: HodgeCritic, z: torch.Tensor, z_next: torch.Tensor,
                  reward: torch.Tensor, gamma: float | torch.Tensor = 0.99,
                  metric_inverse: torch.Tensor | None = None,
                  chart_weights: torch.Tensor | None = None,
                  potential_in_reward: bool = True,
                  target_potential=None) -> CriticLosses:
    """The critic's losses on transitions z -> z_next [B, D] with rewards [B] (module doc).

    `gamma` may be [B] (0 where an episode terminated). `potential_in_reward=False` holds grad
    Phi fixed in the reward term, so only A and eta fit the reward's residual after it (the
    seed's "non-integrable residual"), and Phi is trained by the TD term alone: the agent's
    reading, where Phi is the value. `target_potential` (a function of z) gives the TD
    target's Phi(z') (a slowly moving copy of the critic); by default the critic's own Phi,
    held fixed."""
    check_batch("z_next", z_next, critic.latent_dim)
    if reward.shape != (z.shape[0],):
        raise ValueError(f"reward must have shape [{z.shape[0]}]; got {tuple(reward.shape)}")
    mid = (0.5 * (z + z_next)).detach().requires_grad_(True)
    step = z_next - z
    parts = critic.reward_form(mid, chart_weights)
    gradient = parts["gradient"] if potential_in_reward else parts["gradient"].detach()
    modelled = gradient + parts["solenoidal"] + parts["harmonic"]
    reward_loss = (reward - (modelled * step).sum(-1)).pow(2).mean()
    gauge = critic.divergence(mid).pow(2).mean()
    # Orthogonality of the parts over the batch (module doc): <grad Phi, A>, and the means of
    # A and grad Phi (a constant 1-form belongs to the harmonic head).
    cross = (gradient * parts["solenoidal"]).sum(-1).mean()
    overlap = (cross.pow(2) + parts["solenoidal"].mean(0).pow(2).sum()
               + gradient.mean(0).pow(2).sum())
    value = critic.potential(z)
    value_next = (target_potential or critic.potential)(z_next).detach()
    td = (value - (reward + gamma * value_next)).pow(2).mean()
    grad_phi = parts["gradient"]
    inverse = (metric_inverse if metric_inverse is not None
               else torch.ones(critic.latent_dim, dtype=z.dtype, device=z.device))
    smoothness = (grad_phi.pow(2) * inverse).sum(-1).mean()
    return CriticLosses(reward=reward_loss, gauge=gauge, overlap=overlap, td=td,
                        smoothness=smoothness)


__all__ = ["CriticLosses", "HodgeCritic", "critic_losses"]
