"""Baselines at the TopoEncoder's parameter count: a standard VQ-VAE and a plain autoencoder.

Both are MLPs  D_in -> h -> h -> D -> h -> h -> D_in  (GELU between layers); the VQ-VAE adds one
codebook of N_c * K_c codes (as many codes as the atlas has in all its charts). The width h is
chosen so that the parameter count is as close as possible to a target (the TopoEncoder's
encoder + decoder + jump operator).
"""

from __future__ import annotations

import torch
from torch import nn

from thermo_manifold.agent.layers import check_batch, count_parameters, mlp, seeded_parameter
from thermo_manifold.agent.losses import reconstruction_loss
from thermo_manifold.agent.model import Batch, Readout


def mlp_autoencoder_parameters(input_dim: int, latent_dim: int, width: int, codes: int = 0) -> int:
    """Parameter count of the baseline MLPs (plus a codebook of `codes` x latent_dim)."""
    encoder = input_dim * width + width + width * width + width + width * latent_dim + latent_dim
    decoder = latent_dim * width + width + width * width + width + width * input_dim + input_dim
    return encoder + decoder + codes * latent_dim


def matching_width(target: int, input_dim: int, latent_dim: int, codes: int = 0) -> int:
    """The width h >= 1 whose parameter count is nearest to `target`."""
    best, best_gap = 1, None
    for width in range(1, 8192):
        gap = abs(mlp_autoencoder_parameters(input_dim, latent_dim, width, codes) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = width, gap
        elif gap > best_gap:  # the count grows monotonically with the width
            break
    return best


class PlainAutoencoder(nn.Module):
    """x [B, D_in] -> z [B, D] -> x_hat [B, D_in]; loss = reconstruction MSE."""

    name = "Autoencoder"

    def __init__(self, input_dim: int, latent_dim: int, width: int, generator: torch.Generator):
        super().__init__()
        self.input_dim = input_dim
        self.encoder = mlp([input_dim, width, width, latent_dim], generator)
        self.decoder = mlp([latent_dim, width, width, input_dim], generator)

    def atlas_parameter_count(self) -> int:
        return count_parameters(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, D_in] -> (z [B, D], x_hat [B, D_in])."""
        check_batch("x", x, self.input_dim)
        z = self.encoder(x)
        return z, self.decoder(z)

    def readout(self, x: torch.Tensor) -> Readout:
        z, x_hat = self(x)
        return Readout(x_hat=x_hat, latent=z, chart=None, code=None)

    def training_losses(self, batch: Batch, generator: torch.Generator):
        z, x_hat = self(batch.x)
        recon = reconstruction_loss(x_hat, batch.x)
        return recon, {"recon": recon}, z


class VQVAE(nn.Module):
    """Standard VQ-VAE (van den Oord et al. 2017): one codebook, straight-through estimator.

    x [B, D_in] -> z_e [B, D] -> nearest code z_q [B, D] -> x_hat [B, D_in];
    loss = MSE + |sg(z_e) - z_q|^2 + beta |z_e - sg(z_q)|^2.
    """

    name = "VQ-VAE"

    def __init__(self, input_dim: int, latent_dim: int, width: int, num_codes: int,
                 generator: torch.Generator, beta: float = 0.25):
        super().__init__()
        self.input_dim = input_dim
        self.beta = beta
        self.encoder = mlp([input_dim, width, width, latent_dim], generator)
        self.decoder = mlp([latent_dim, width, width, input_dim], generator)
        self.codebook = seeded_parameter((num_codes, latent_dim), 0.1, generator)

    def atlas_parameter_count(self) -> int:
        return count_parameters(self)

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z_e [B, D] -> (code index [B], z_q [B, D])."""
        index = torch.cdist(z_e, self.codebook).argmin(dim=1)
        return index, self.codebook[index]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [B, D_in] -> (z_e [B, D], z_q [B, D], code [B], x_hat [B, D_in])."""
        check_batch("x", x, self.input_dim)
        z_e = self.encoder(x)
        code, z_q = self.quantize(z_e)
        z_st = z_e + (z_q - z_e).detach()
        return z_e, z_q, code, self.decoder(z_st)

    def readout(self, x: torch.Tensor) -> Readout:
        _, z_q, code, x_hat = self(x)
        return Readout(x_hat=x_hat, latent=z_q, chart=None, code=code)

    def training_losses(self, batch: Batch, generator: torch.Generator):
        z_e, z_q, _, x_hat = self(batch.x)
        recon = reconstruction_loss(x_hat, batch.x)
        vq = (z_q - z_e.detach()).pow(2).mean() + self.beta * (z_e - z_q.detach()).pow(2).mean()
        return recon + vq, {"recon": recon, "vq": vq}, z_q


__all__ = ["PlainAutoencoder", "VQVAE", "matching_width", "mlp_autoencoder_parameters"]
