"""DREAMER4_WORLD_MODEL: shortcut schedule, x -> v, lambda-returns, symlog and two-hot."""

from __future__ import annotations

import torch

from thermo_manifold.papers.metadata import (GENERATOR, PURE, RANDOM, Coeffect, CoeffectKind,
                                             Grade, GradeKind, implements)

PAPER = "DREAMER4_WORLD_MODEL"


@implements(PAPER, summary="shortcut schedule: d = 1/k, k a power of two <= K_max; tau on the grid of d",
            oracle="tau is a multiple of d, tau + d <= 1, and every power of two occurs",
            effects=(RANDOM,), coeffects=(GENERATOR, Coeffect(CoeffectKind.PARAMETER, "K_max = 64")),
            fixes=("seed draws k from [1, 2, 4, 8, K_max], skipping 16 and 32 for K_max = 64",))
def shortcut_schedule(k_max: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if k_max < 1 or k_max & (k_max - 1):
        raise ValueError(f"k_max must be a power of two >= 1; got {k_max}")
    levels = k_max.bit_length()                        # k in {1, 2, 4, ..., k_max}
    k = 2 ** torch.randint(0, levels, (size,), generator=generator)
    step = torch.floor(torch.rand(size, generator=generator, dtype=torch.float64) * k).to(torch.int64)
    d = 1.0 / k.to(torch.float64)
    return step.to(torch.float64) * d, d


@implements(PAPER, summary="velocity from an x-prediction: v = (x_hat - z_tau) / (1 - tau)",
            oracle="for z_tau = (1-tau) z0 + tau z1 and x_hat = z1 it returns z1 - z0", effects=(PURE,),
            coeffects=(Coeffect(CoeffectKind.INPUT_DOMAIN, "tau < 1"),))
def x_to_v(x_hat: torch.Tensor, z_tau: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    tau = torch.as_tensor(tau, dtype=z_tau.dtype, device=z_tau.device)
    if (tau >= 1).any():
        raise ValueError("x_to_v needs tau < 1 (the clean end has no velocity to recover)")
    return (x_hat - z_tau) / (1.0 - tau)


@implements(PAPER, summary="TD(lambda) returns R_t = r_t + g((1-l) V_{t+1} + l R_{t+1}), R_{T-1} = V_{T-1}",
            oracle="lambda-weighted average of n-step returns computed by brute force; l=0 and l=1 limits",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "gamma = 0.997, lambda = 0.95"),),
            fixes=("seed bootstraps from V[t] (the current state); the lambda-return uses V[t+1]",))
def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, gamma: float = 0.997,
                   lam: float = 0.95) -> torch.Tensor:
    """rewards and values (T, ...): reward r_t follows state t; V_{T-1} bootstraps the tail."""
    if rewards.shape != values.shape:
        raise ValueError(f"rewards and values must have one shape; got {tuple(rewards.shape)} and {tuple(values.shape)}")
    returns = torch.empty_like(values)
    returns[-1] = values[-1]
    for t in range(values.shape[0] - 2, -1, -1):
        returns[t] = rewards[t] + gamma * ((1.0 - lam) * values[t + 1] + lam * returns[t + 1])
    return returns


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


@implements(PAPER, summary="symlog(x) = sign(x) ln(1+|x|) and its inverse symexp",
            oracle="symexp(symlog(x)) == x over 1e-6..1e8", effects=(PURE,))
def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def twohot_bins(num_bins: int = 255, low: float = -20.0, high: float = 20.0, dtype=torch.float64,
                device: torch.device | str | None = None) -> torch.Tensor:
    return torch.linspace(low, high, num_bins, dtype=dtype, device=device)


def _bins_like(x: torch.Tensor, bins: torch.Tensor | None) -> torch.Tensor:
    return twohot_bins(dtype=x.dtype, device=x.device) if bins is None else bins.to(x.device, x.dtype)


@implements(PAPER, summary="two-hot encoding of symlog(x) over 255 bins in [-20, 20]",
            oracle="weights are >= 0, sum to 1, on two adjacent bins; decode(encode(x)) == x",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.PARAMETER, "255 bins in [-20, 20]"),),
            grades=(Grade(GradeKind.EXACT, detail="round trip inside the bin range"),),
            fixes=("seed does not clamp symlog(x) to the bin range, giving negative weights outside it",))
def twohot_encode(x: torch.Tensor, bins: torch.Tensor | None = None) -> torch.Tensor:
    bins = _bins_like(x, bins)
    y = symlog(x).clamp(bins[0], bins[-1])
    hi = torch.searchsorted(bins, y.contiguous()).clamp_min(1)     # y <= bins[-1]: hi < len(bins)
    lo = hi - 1
    w_hi = (y - bins[lo]) / (bins[hi] - bins[lo])
    probs = torch.zeros(*x.shape, bins.numel(), dtype=x.dtype, device=x.device)
    probs.scatter_(-1, lo.unsqueeze(-1), (1.0 - w_hi).unsqueeze(-1))
    probs.scatter_add_(-1, hi.unsqueeze(-1), w_hi.unsqueeze(-1))
    return probs


def twohot_decode(probs: torch.Tensor, bins: torch.Tensor | None = None) -> torch.Tensor:
    bins = _bins_like(probs, bins)
    return symexp((probs * bins).sum(-1))


__all__ = ["lambda_returns", "shortcut_schedule", "symexp", "symlog", "twohot_bins",
           "twohot_decode", "twohot_encode", "x_to_v"]
