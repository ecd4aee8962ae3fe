"""The screened-Poisson reading of the value (seed 003, section 2), as an optional residual.

    (-Delta_G + kappa^2) V(z) = rho_r(z),     Delta_G V = sum_i G^ii d_i d_i V   (diagonal G)

The value is the field that the reward density rho_r sources, screened over a length 1/kappa
(kappa^2 plays the role of the discount's 1 - gamma). On sampled points z [B, D] with their
reward densities [B], `screened_poisson_residual` is mean (-Delta_G V + kappa^2 V - rho)^2: a
term to add to a critic's loss (`critic.critic_losses` leaves it out; the control agent does not
use it). The Laplacian is exact, by autograd, one backward pass per latent dimension (D is
small here).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def metric_laplacian(potential: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                     metric_inverse: torch.Tensor | None = None, create_graph: bool = True
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(V(z) [B], Delta_G V(z) [B]) for a potential V of z [B, D]; `metric_inverse` is G^-1's
    diagonal [D] (default: the identity, the flat Laplacian)."""
    z = z if z.requires_grad else z.detach().requires_grad_(True)
    value = potential(z)
    if value.shape != z.shape[:1]:
        raise ValueError(f"potential must map [B, D] to [B]; got {tuple(value.shape)}")
    grad = torch.autograd.grad(value.sum(), z, create_graph=True)[0]
    d = z.shape[1]
    inverse = (torch.ones(d, dtype=z.dtype, device=z.device) if metric_inverse is None
               else metric_inverse)
    if inverse.shape != (d,) or not bool((inverse > 0).all()):
        raise ValueError(f"metric_inverse must be positive of shape ({d},)")
    second = [torch.autograd.grad(grad[:, i].sum(), z, create_graph=create_graph,
                                  retain_graph=True)[0][:, i] for i in range(d)]
    return value, (torch.stack(second, dim=-1) * inverse).sum(-1)


def screened_poisson_residual(potential: Callable[[torch.Tensor], torch.Tensor],
                              z: torch.Tensor, density: torch.Tensor, kappa: float,
                              metric_inverse: torch.Tensor | None = None) -> torch.Tensor:
    """mean (-Delta_G V + kappa^2 V - rho)^2 over the sampled points (module doc)."""
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0; got {kappa!r}")
    if density.shape != z.shape[:1]:
        raise ValueError(f"density must have shape [{z.shape[0]}]; got "
                         f"{tuple(density.shape)}")
    value, laplacian = metric_laplacian(potential, z, metric_inverse)
    return (-laplacian + kappa * kappa * value - density).pow(2).mean()


__all__ = ["metric_laplacian", "screened_poisson_residual"]
