"""The diagonal latent metric of seed 003, section 5: an Adam-style moving average of the risk.

    metric_t = beta metric_{t-1} + (1 - beta) (grad Phi)^2        [D]   (the risk's diagonal)
    G        = diag(max(metric_t, floor))                          [D, D] (kept as its diagonal)

The update is Adam's second moment v_t with beta_2 = beta and no bias correction (a test checks
it against `torch.optim.Adam`'s own state). The floor applies when G is read, not to the moving
average, so the average stays exactly Adam's and G stays invertible where Phi is flat: G^-1 and
G^-1/2 (the world model's preconditioner and noise scale) are element-wise.
"""

from __future__ import annotations

import torch
from torch import nn


class DiagonalMetric(nn.Module):
    """G = diag(metric) over a latent of `dim` dimensions (a buffer: saved with the model,
    moved with `.to()`, never trained by gradient)."""

    def __init__(self, dim: int, beta: float = 0.99, floor: float = 1e-4,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be an integer >= 1; got {dim!r}")
        if not (isinstance(beta, float) and 0.0 <= beta < 1.0):
            raise ValueError(f"beta must be a float in [0, 1); got {beta!r}")
        if not (isinstance(floor, float) and floor > 0.0):
            raise ValueError(f"floor must be a float > 0; got {floor!r}")
        self.beta = beta
        self.floor = floor
        self.register_buffer("second_moment", torch.zeros(dim, dtype=dtype))

    @torch.no_grad()
    def update(self, grad_potential: torch.Tensor) -> torch.Tensor:
        """One EMA step with the risk (grad Phi)^2 of `grad_potential` [D] or [B, D] (a batch is
        averaged: the risk tensor's diagonal estimated over the batch). Returns the new G."""
        if grad_potential.shape[-1] != self.second_moment.shape[0]:
            raise ValueError(f"grad_potential must end in dimension {self.second_moment.shape[0]}"
                             f"; got shape {tuple(grad_potential.shape)}")
        risk = grad_potential.detach().to(self.second_moment.dtype).pow(2)
        if risk.dim() > 1:
            risk = risk.reshape(-1, risk.shape[-1]).mean(dim=0)
        if not bool(torch.isfinite(risk).all()):
            raise ValueError("grad_potential contains NaN or inf")
        self.second_moment.mul_(self.beta).add_(risk, alpha=1.0 - self.beta)
        return self.diagonal()

    def diagonal(self) -> torch.Tensor:
        """G's diagonal [D], floored."""
        return self.second_moment.clamp_min(self.floor)

    def inverse(self) -> torch.Tensor:
        """G^-1's diagonal [D]."""
        return self.diagonal().reciprocal()

    def weighted_squared_error(self, prediction: torch.Tensor, target: torch.Tensor
                               ) -> torch.Tensor:
        """sum_i G_ii (prediction - target)_i^2 per row [B]: the world model's geodesic loss in
        the diagonal approximation (section 4, C.1)."""
        return ((prediction - target).pow(2) * self.diagonal()).sum(dim=-1)


__all__ = ["DiagonalMetric"]
