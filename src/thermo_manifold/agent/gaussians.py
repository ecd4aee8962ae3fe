"""Diagonal Gaussians, shared by the policy (section 3) and the world models (section 4):
log-density, negative log-likelihood, entropy, closed-form KL, and a bounded log sigma.

    log N(x; mu, diag(sigma^2)) = sum_i -1/2 ((x_i - mu_i) / sigma_i)^2 - log sigma_i - 1/2 log 2 pi
    H                           = sum_i log sigma_i + 1/2 log(2 pi e)
    KL(p || q)                  = sum_i log(sigma_q / sigma_p)
                                  + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2

A network's raw output s becomes log sigma = lo + (hi - lo) (tanh(s) + 1) / 2, smooth and inside
[lo, hi], so a distribution's width never collapses to zero nor blows up.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
                      ) -> torch.Tensor:
    """log N(x; mean, diag(exp(log_std)^2)) per row [B]."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - 0.5 * LOG_2PI).sum(dim=-1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, diag(exp(log_std)^2)) per row [B]."""
    return -gaussian_log_prob(x, mean, log_std)


def gaussian_entropy(log_std: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian per row [B]."""
    return (log_std + 0.5 * (LOG_2PI + 1.0)).sum(dim=-1)


def diagonal_gaussian_kl(mean_p: torch.Tensor, log_std_p: torch.Tensor, mean_q: torch.Tensor,
                         log_std_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of diagonal Gaussians per row [B]."""
    var_q = torch.exp(2.0 * log_std_q)
    terms = (log_std_q - log_std_p
             + (torch.exp(2.0 * log_std_p) + (mean_p - mean_q) ** 2) / (2.0 * var_q) - 0.5)
    return terms.sum(dim=-1)


class BoundedLogStd:
    """raw -> log sigma in [low, high] by a rescaled tanh; the bounds are validated once."""

    def __init__(self, bounds: tuple[float, float]):
        low, high = bounds
        if not low < high:
            raise ValueError(f"log_std_bounds must be (low, high) with low < high; got "
                             f"{bounds!r}")
        self.low, self.high = float(low), float(high)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return self.low + 0.5 * (self.high - self.low) * (torch.tanh(raw) + 1.0)


__all__ = ["BoundedLogStd", "LOG_2PI", "diagonal_gaussian_kl", "gaussian_entropy",
           "gaussian_log_prob", "gaussian_nll"]
