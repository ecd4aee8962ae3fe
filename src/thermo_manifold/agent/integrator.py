"""One step of the world model's Lorentz-Langevin SDE (seed 003, section 4) as a Boris-BAOAB split.

The SDE on the latent z [B, D] with the diagonal metric G (section 5), in momentum form
p = G z_dot:

    dz = G^-1 p ds
    dp = (-grad Phi(z) + u) ds + beta F(z) G^-1 p ds - gamma p ds + sqrt(2 gamma T) G^1/2 dW

F is the value curl (an antisymmetric [D, D] 2-form), u the policy's latent force, T the
temperature and gamma the friction. One step of length h is B(h/2) A(h/2) O(h) A(h/2) B(h/2)
(Leimkuhler and Matthews' BAOAB), each a pure function here:

- B, the kick: half the force, then the Lorentz term as a Boris rotation, then the other half.
  In q = G^-1/2 p the Lorentz term is dq/ds = A q with A = beta G^-1/2 F G^-1/2 antisymmetric,
  so the rotation q <- Cayley(h A) q is orthogonal: it keeps |q|^2 = p^T G^-1 p, the kinetic
  energy, exactly (the magnetic force does no work), for any F and G.
- A, the drift: z <- z + h G^-1 p. With G constant over a step the geodesic term
  Gamma(z_dot, z_dot) is zero; the learned correction enters through the world model's query.
- O, the thermostat: the exact Ornstein-Uhlenbeck solution p <- c p + sqrt((1 - c^2) T) G^1/2 xi,
  c = exp(-gamma h), whose stationary law is p ~ N(0, T G), i.e. q ~ N(0, T I).

With T = 0 and gamma = 0 the O step is the identity and the scheme is velocity Verlet with a
Boris kick: symplectic, time-reversible (flip p and beta), energy error O(h^2) without drift.
Tests check each of these against closed forms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from thermo_manifold.agent.router import cayley_transform

Field = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LangevinParams:
    """h: step length; beta: Lorentz coupling; gamma: friction; temperature: T."""

    h: float = 0.1
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 0.0

    def __post_init__(self) -> None:
        for name, low, strict in (("h", 0.0, True), ("beta", -math.inf, False),
                                  ("gamma", 0.0, False), ("temperature", 0.0, False)):
            value = getattr(self, name)
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value) and (value > low if strict else value >= low))
            if not ok:
                bound = f"> {low}" if strict else (f">= {low}" if low > -math.inf else "finite")
                raise ValueError(f"{name} must be a number {bound}; got {value!r}")


def _curl_at(curl: torch.Tensor | Field | None, z: torch.Tensor) -> torch.Tensor | None:
    return curl(z) if callable(curl) else curl


def boris_rotation(p: torch.Tensor, curl: torch.Tensor, metric: torch.Tensor,
                   beta: float | torch.Tensor, h: float) -> torch.Tensor:
    """p [B, D] after the Lorentz term beta F G^-1 p acts for time h, as the Cayley (Boris)
    rotation of q = G^-1/2 p; `curl` F is [D, D] or [B, D, D] and antisymmetric, `metric` is G's
    diagonal [D]. p^T G^-1 p is unchanged up to round-off."""
    if not torch.allclose(curl, -curl.transpose(-1, -2)):
        raise ValueError("curl must be antisymmetric (F^T = -F)")
    scale = metric.rsqrt()  # G^-1/2
    generator = beta * scale[:, None] * curl * scale[None, :]  # A = beta G^-1/2 F G^-1/2
    rotation = cayley_transform(-h * generator)  # (I - hA/2)^-1 (I + hA/2) ~ exp(hA)
    q = p * scale
    q = (rotation @ q.unsqueeze(-1)).squeeze(-1)
    return q / scale


def kick(z: torch.Tensor, p: torch.Tensor, grad_potential: Field,
         control: torch.Tensor | None, curl: torch.Tensor | Field | None,
         metric: torch.Tensor, beta: float | torch.Tensor, h: float) -> torch.Tensor:
    """B over time h: half of (-grad Phi(z) + u), the Boris rotation, the other half."""
    force = -grad_potential(z)
    if control is not None:
        force = force + control
    p = p + 0.5 * h * force
    f = _curl_at(curl, z)
    # A learned coupling (a tensor) always rotates, so its gradient flows even at beta = 0.
    if f is not None and (isinstance(beta, torch.Tensor) or beta != 0.0):
        p = boris_rotation(p, f, metric, beta, h)
    return p + 0.5 * h * force


def drift(z: torch.Tensor, p: torch.Tensor, metric: torch.Tensor, h: float) -> torch.Tensor:
    """A over time h: z + h G^-1 p."""
    return z + h * p / metric


def thermostat(p: torch.Tensor, metric: torch.Tensor, gamma: float, temperature: float,
               h: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """O over time h: the exact Ornstein-Uhlenbeck step towards N(0, T G)."""
    if gamma == 0.0:
        return p
    c = math.exp(-gamma * h)
    noise = torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device)
    return c * p + math.sqrt((1.0 - c * c) * temperature) * metric.sqrt() * noise


def baoab_step(z: torch.Tensor, p: torch.Tensor, grad_potential: Field, metric: torch.Tensor,
               params: LangevinParams, control: torch.Tensor | None = None,
               curl: torch.Tensor | Field | None = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, p) [B, D] after one step B(h/2) A(h/2) O(h) A(h/2) B(h/2); `metric` is G's
    diagonal [D] (positive), `control` u [B, D], `curl` F [D, D], [B, D, D] or a function of z."""
    if z.shape != p.shape or z.dim() != 2:
        raise ValueError(f"z and p must both be [B, D]; got {tuple(z.shape)}, {tuple(p.shape)}")
    if metric.shape != (z.shape[1],) or not bool((metric > 0).all()):
        raise ValueError(f"metric must be G's positive diagonal of shape ({z.shape[1]},); got "
                         f"shape {tuple(metric.shape)}")
    h = params.h
    p = kick(z, p, grad_potential, control, curl, metric, params.beta, 0.5 * h)
    z = drift(z, p, metric, 0.5 * h)
    p = thermostat(p, metric, params.gamma, params.temperature, h, generator)
    z = drift(z, p, metric, 0.5 * h)
    p = kick(z, p, grad_potential, control, curl, metric, params.beta, 0.5 * h)
    return z, p


def hamiltonian(z: torch.Tensor, p: torch.Tensor, potential: Field, metric: torch.Tensor
                ) -> torch.Tensor:
    """H = Phi(z) + 1/2 p^T G^-1 p per row [B] (conserved when T = gamma = 0 and u = 0)."""
    return potential(z) + 0.5 * (p * p / metric).sum(dim=-1)


__all__ = ["LangevinParams", "baoab_step", "boris_rotation", "drift", "hamiltonian", "kick",
           "thermostat"]
