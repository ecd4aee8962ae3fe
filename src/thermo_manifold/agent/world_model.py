"""The field-theory world model of seed 003, section 4: one Boris-BAOAB step of the
Lorentz-Langevin SDE whose learned parts are the heads of a covariant cross-attention layer over
the trajectory memory.

    p_t      = G (z_t - z_{t-1}) / h                                  momentum from the last move
    B (h/2)  : p += h/4 f;  p <- Boris(beta G^-1 F) p;  p += h/4 f
               f = -kappa grad Phi + C u + f_att                      the force
    A (h/2)  : z += h/2 (G^-1 p + d_att)                               d_att: drift correction
    O (h)    : p <- c p + sqrt((1 - c^2) T(z)) G^1/2 xi,  c = exp(-gamma h)
    A (h/2), B (h/2) as above;  z_{t+1} = z after the second A.

Phi and F = dA come from the Hodge critic (`critic.HodgeCritic`, detached: the world model does
not train the critic), kappa and beta are learned couplings that start at 0 (so an untrained
model is an integrator of the learned force alone, and the data decide how much of the critic's
field moves the latent), C is a learned control matrix (starting at 0.1 I: u is a force in the
tangent space), and the friction gamma = softplus(.) is learned (starting at 3: see
`__init__`).
The three heads, one cross-attention head each:

    query_k  = W_q,k [z, u] + Gamma_k (z (x) z)                       geodesic (Christoffel) terms
    W(m -> z)= U(z) U(m)^T,  U(x) = Cayley(skew(W_s x))               Wilson line of a pure gauge
    key_kj   = W(m_j -> z) W_k,k m_j,   value_kj = W(m_j -> z) W_v,k m_j
    tau(z)   = sqrt(d_k) / lambda(z),   lambda(z) = 2 / (1 - |b(z)|^2), b(z) = tanh(|z|/s) z/|z|
    out_k    = W_o,k sum_j softmax_j(<query_k, key_kj> / tau(z)) value_kj

- kick head: the learned force f_att (what the environment does that -grad Phi + C u misses);
- drift head: d_att, a correction to the drift velocity that stands in for the geodesic term
  -Gamma(z_dot, z_dot) h/2 (with G constant over a step the exact term is zero);
- thermostat head: log T(z) per latent dimension (bounded), the metric-dependent temperature.

U(x) is orthogonal, so W(m -> z) is a rotation: keys and values keep their length, and a memory
entry at z itself is not rotated at all (W(z -> z) = I, tested). lambda is the Poincare ball's
conformal factor; s = sqrt(D) scales the latent onto the ball so that tau is not pinned at its
floor for latents of order one per coordinate (issue 18 measured the router's tau at its floor for
most samples with s = 1).

The next latent is Gaussian in closed form: the O step's noise reaches z only through the second
drift, so z_{t+1} ~ N(mean, (h/2)^2 (1 - c^2) T(z) G^-1). Losses (section 4, C.1 and C.2): the
metric-weighted squared error sum_i (G_ii / mean G) (mean - z_true)_i^2 (G normalised, so the
loss scale does not follow the critic's gradient scale) and the Gaussian NLL of z_true.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from thermo_manifold.agent.gaussians import BoundedLogStd, gaussian_nll
from thermo_manifold.agent.integrator import drift, kick
from thermo_manifold.agent.layers import check_batch, seeded_linear
from thermo_manifold.agent.router import cayley_transform

Field = Callable[[torch.Tensor], torch.Tensor]
HEADS = ("kick", "drift", "thermostat")


@dataclass
class WorldModelStep:
    """z_next and p_next [B, D] of the mean path, log_std [B, D] of z_next, tau [B]."""

    z_next: torch.Tensor
    p_next: torch.Tensor
    log_std: torch.Tensor
    tau: torch.Tensor


class CovariantAttention(nn.Module):
    """One cross-attention layer with a head per BAOAB sub-step (module doc): z [B, D], u [B, D],
    memory [B, M, D] -> {head: [B, D]}, tau [B]."""

    def __init__(self, latent_dim: int, key_dim: int, generator: torch.Generator,
                 tau_min: float = 0.05):
        super().__init__()
        self.latent_dim, self.key_dim, self.tau_min = latent_dim, key_dim, tau_min
        rows, cols = torch.triu_indices(latent_dim, latent_dim)
        self.register_buffer("pair_rows", rows, persistent=False)
        self.register_buffer("pair_cols", cols, persistent=False)
        n = len(HEADS)
        self.query = seeded_linear(2 * latent_dim, n * key_dim, generator)
        self.christoffel = seeded_linear(rows.numel(), n * key_dim, generator, bias=False)
        self.key = seeded_linear(latent_dim, n * key_dim, generator)
        self.value = seeded_linear(latent_dim, n * key_dim, generator)
        self.gauge = seeded_linear(latent_dim, key_dim * key_dim, generator)
        with torch.no_grad():  # start near the trivial transport
            self.gauge.weight.mul_(0.1)
            self.gauge.bias.zero_()
        self.out = nn.ModuleDict({head: seeded_linear(key_dim, latent_dim, generator)
                                  for head in HEADS})
        with torch.no_grad():  # heads start silent: an untrained model is the bare integrator
            for layer in self.out.values():
                layer.weight.zero_()
                layer.bias.zero_()

    def temperature(self, z: torch.Tensor) -> torch.Tensor:
        """tau(z) = sqrt(d_k) / lambda(z) [B], floored at sqrt(d_k) tau_min."""
        ball = torch.tanh(z.norm(dim=-1) / math.sqrt(self.latent_dim)) ** 2
        return math.sqrt(self.key_dim) * torch.clamp(0.5 * (1.0 - ball), min=self.tau_min)

    def gauge_frame(self, x: torch.Tensor) -> torch.Tensor:
        """U(x) [..., d_k, d_k], orthogonal."""
        raw = self.gauge(x).unflatten(-1, (self.key_dim, self.key_dim))
        return cayley_transform(raw - raw.transpose(-1, -2))

    def wilson_line(self, z: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Transport from each memory entry to z: U(z) U(m_j)^T [B, M, d_k, d_k]."""
        return self.gauge_frame(z)[:, None] @ self.gauge_frame(memory).transpose(-1, -2)

    def forward(self, z: torch.Tensor, u: torch.Tensor, memory: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        b, m, d = memory.shape
        n, k = len(HEADS), self.key_dim
        query = (self.query(torch.cat([z, u], dim=-1))
                 + self.christoffel(z[:, self.pair_rows] * z[:, self.pair_cols])).view(b, n, k)
        line = self.wilson_line(z, memory)                                       # [B, M, k, k]
        keys = torch.einsum("bmij,bmhj->bhmi", line, self.key(memory).view(b, m, n, k))
        values = torch.einsum("bmij,bmhj->bhmi", line, self.value(memory).view(b, m, n, k))
        tau = self.temperature(z)
        scores = torch.einsum("bhi,bhmi->bhm", query, keys) / tau[:, None, None]
        mixed = torch.einsum("bhm,bhmi->bhi", torch.softmax(scores, dim=-1), values)
        return {head: self.out[head](mixed[:, i]) for i, head in enumerate(HEADS)}, tau


class CovariantAttentionWorldModel(nn.Module):
    """p(z_{t+1} | z_t, z_{t-1}, u_t, memory) by one Boris-BAOAB step (module doc).

    `step(z, p, u, memory, metric, grad_potential, curl)`: z, p, u [B, D]; memory [B, M, D] (the
    trajectory's last M latents, z_t last); metric G's diagonal [D]; grad_potential and curl are
    functions of z giving grad Phi [B, D] and F [B, D, D] (the critic's), or None."""

    def __init__(self, latent_dim: int, key_dim: int, generator: torch.Generator,
                 h: float = 1.0, friction: float = 3.0, control_gain: float = 0.1,
                 log_temperature_bounds: tuple[float, float] = (-12.0, 2.0)):
        super().__init__()
        if not (h > 0 and friction > 0):
            raise ValueError(f"h and friction must be > 0; got h={h}, friction={friction}")
        self.latent_dim, self.h = latent_dim, float(h)
        self.attention = CovariantAttention(latent_dim, key_dim, generator)
        # C starts as a small multiple of the identity (u is a force in the tangent space; a
        # unit force per step would throw a latent of order one across its range).
        self.control = nn.Parameter(control_gain * torch.eye(latent_dim))
        # gamma = softplus(raw) > 0, learned: how much of its velocity the latent keeps. It
        # starts high (c = exp(-3) = 0.05, nearly first order): when the observations already
        # hold velocities (every control task here), the finite-difference momentum of z counts
        # them twice, and a model that starts with little persistence learns the rest.
        self.friction_raw = nn.Parameter(torch.tensor(math.log(math.expm1(friction))))
        self.potential_coupling = nn.Parameter(torch.zeros(()))  # kappa
        self.lorentz_coupling = nn.Parameter(torch.zeros(()))    # beta
        self.log_temperature = BoundedLogStd(log_temperature_bounds)
        self.temperature_bias = nn.Parameter(torch.zeros(latent_dim))

    def momentum(self, z: torch.Tensor, z_prev: torch.Tensor, metric: torch.Tensor
                 ) -> torch.Tensor:
        """p = G (z - z_prev) / h [B, D]."""
        return metric * (z - z_prev) / self.h

    def step(self, z: torch.Tensor, p: torch.Tensor, u: torch.Tensor, memory: torch.Tensor,
             metric: torch.Tensor, grad_potential: Field | None = None,
             curl: Field | None = None) -> WorldModelStep:
        d = self.latent_dim
        for name, value in (("z", z), ("p", p), ("u", u)):
            check_batch(name, value, d)
        if memory.dim() != 3 or memory.shape[0] != z.shape[0] or memory.shape[2] != d:
            raise ValueError(f"memory must have shape [{z.shape[0]}, M, {d}]; got "
                             f"{list(memory.shape)}")
        if metric.shape != (d,) or not bool((metric > 0).all()):
            raise ValueError(f"metric must be G's positive diagonal of shape ({d},)")
        heads, tau = self.attention(z, u, memory)
        h = self.h
        control = u @ self.control.T + heads["kick"]
        kappa, beta = self.potential_coupling, self.lorentz_coupling

        def potential_force(x: torch.Tensor) -> torch.Tensor:
            if grad_potential is None:
                return torch.zeros_like(x)
            return kappa * grad_potential(x)

        field = curl(z) if curl is not None else None
        p = kick(z, p, potential_force, control, field, metric, beta, 0.5 * h)
        z = drift(z, p, metric, 0.5 * h) + 0.5 * h * heads["drift"]
        friction = nn.functional.softplus(self.friction_raw)
        c = torch.exp(-friction * h)
        temperature_log = self.log_temperature(heads["thermostat"] + self.temperature_bias)
        p = c * p  # the O step's mean; its noise is the Gaussian's width below
        z = drift(z, p, metric, 0.5 * h) + 0.5 * h * heads["drift"]
        p = kick(z, p, potential_force, control, field, metric, beta, 0.5 * h)
        # z_{t+1} noise: (h/2) G^-1 sqrt((1 - c^2) T) G^1/2 xi
        log_std = (math.log(0.5 * h) + 0.5 * torch.log1p(-c * c) + 0.5 * temperature_log
                   - 0.5 * torch.log(metric))
        return WorldModelStep(z_next=z, p_next=p, log_std=log_std, tau=tau)

    def loss(self, prediction: WorldModelStep, z_true: torch.Tensor, metric: torch.Tensor
             ) -> torch.Tensor:
        """Metric-weighted squared error plus Gaussian NLL, each a batch mean (module doc)."""
        weights = metric / metric.mean()
        mse = ((prediction.z_next - z_true).pow(2) * weights).sum(-1).mean()
        return mse + gaussian_nll(z_true, prediction.z_next, prediction.log_std).mean()


__all__ = ["CovariantAttention", "CovariantAttentionWorldModel", "HEADS", "WorldModelStep"]
