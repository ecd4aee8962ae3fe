"""Cloud-in-cell (trilinear) transfer between particles and the grid.

Grid nodes sit at cell centres, x_i = (i + 1/2) h, i = 0..g-1. A particle's grid coordinate
u = x/h - 1/2 is clamped to [0, g-1], so particles in the outer half-cells deposit entirely on
the boundary nodes. The eight weights of a particle always sum to 1, so scattering conserves
mass and heat exactly. Gathering uses the same stencil; the gradient is the exact gradient of the
trilinear interpolant (differences of opposite faces), which reproduces the gradient of a linear
field exactly.

Fields are (gx, gy, gz) tensors indexed [x, y, z]; flat index = (x*gy + y)*gz + z.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Corner k = 4a + 2b + c of the unit cell has offsets (a, b, c) along (x, y, z).
_CORNER_BITS = torch.tensor([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)])


@dataclass
class CloudInCell:
    """The trilinear stencil of N particles on one grid."""

    index: torch.Tensor  # (N, 8) int64 flat node indices
    weights: torch.Tensor  # (N, 8) trilinear weights, rows sum to 1
    frac: torch.Tensor  # (N, 3) fractional offsets inside the cell, in [0, 1]
    grid_size: tuple[int, int, int]
    spacing: float

    @property
    def num_nodes(self) -> int:
        gx, gy, gz = self.grid_size
        return gx * gy * gz


def cloud_in_cell(
    positions: torch.Tensor, grid_size: tuple[int, int, int], spacing: float
) -> CloudInCell:
    """Stencil (node indices and weights) of each particle."""
    gx, gy, gz = grid_size
    dims = torch.tensor(grid_size, device=positions.device, dtype=positions.dtype)
    coords = positions / spacing - 0.5
    coords = torch.minimum(coords.clamp_min(0.0), dims - 1)
    base = coords.floor().clamp_max(dims - 2)
    frac = coords - base
    base = base.long()
    bits = _CORNER_BITS.to(positions.device)
    corners = base[:, None, :] + bits[None, :, :]  # (N, 8, 3)
    index = (corners[..., 0] * gy + corners[..., 1]) * gz + corners[..., 2]
    # Weight of corner (a, b, c) = prod over axes of (frac if bit else 1 - frac).
    per_axis = torch.where(bits[None, :, :].bool(), frac[:, None, :], 1.0 - frac[:, None, :])
    weights = per_axis.prod(dim=2)
    return CloudInCell(index=index, weights=weights, frac=frac, grid_size=tuple(grid_size),
                       spacing=float(spacing))


def scatter(stencil: CloudInCell, values: torch.Tensor) -> torch.Tensor:
    """Deposit per-particle `values` (N,) onto the grid; the grid total equals values.sum()."""
    contributions = (stencil.weights * values[:, None]).reshape(-1)
    flat = torch.zeros(stencil.num_nodes, dtype=values.dtype, device=values.device)
    flat.index_add_(0, stencil.index.reshape(-1), contributions)
    return flat.reshape(stencil.grid_size)


def corner_values(stencil: CloudInCell, field: torch.Tensor) -> torch.Tensor:
    """Field values at each particle's eight stencil nodes, (N, 8)."""
    return field.reshape(-1)[stencil.index]


def gather(stencil: CloudInCell, field: torch.Tensor) -> torch.Tensor:
    """Trilinear interpolation of `field` at the particles, (N,)."""
    return (corner_values(stencil, field) * stencil.weights).sum(dim=1)


def gather_gradient(stencil: CloudInCell, field: torch.Tensor,
                    corners: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of the trilinear interpolant of `field` at the particles, (N, 3)."""
    if corners is None:
        corners = corner_values(stencil, field)
    frac = stencil.frac
    bits = _CORNER_BITS.to(frac.device).bool()
    per_axis = torch.where(bits[None], frac[:, None, :], 1.0 - frac[:, None, :])  # (N, 8, 3)
    sign = bits.to(frac.dtype) * 2.0 - 1.0  # +1 on the upper face, -1 on the lower
    grads = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        face_weight = per_axis[:, :, others[0]] * per_axis[:, :, others[1]]
        grads.append((corners * face_weight * sign[None, :, axis]).sum(dim=1))
    return torch.stack(grads, dim=1) / stencil.spacing


__all__ = ["CloudInCell", "cloud_in_cell", "corner_values", "gather", "gather_gradient", "scatter"]
