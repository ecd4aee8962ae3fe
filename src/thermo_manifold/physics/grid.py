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


@dataclass
class CloudInCell:
    """The trilinear stencil of N particles on one grid.

    Corner k = 4a + 2b + c of a particle's cell has offsets (a, b, c) along (x, y, z).
    """

    index: torch.Tensor  # (N, 8) int64 flat node indices
    weights: torch.Tensor  # (N, 8) trilinear weights, rows sum to 1
    axis_weights: torch.Tensor  # (N, 3, 2): (1 - frac, frac) per axis
    grid_size: tuple[int, int, int]
    spacing: float

    @property
    def num_nodes(self) -> int:
        gx, gy, gz = self.grid_size
        return gx * gy * gz

    # The transfer interface the physics stages use (shared with mesh_kernels.NumbaCloudInCell).
    def scatter(self, values: torch.Tensor) -> torch.Tensor:
        return scatter(self, values)

    def gather(self, field: torch.Tensor) -> torch.Tensor:
        return gather(self, field)

    def gather_with_gradient(self, field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        corners = corner_values(self, field)
        return (corners * self.weights).sum(dim=1), gather_gradient(self, field, corners)


def cloud_in_cell(
    positions: torch.Tensor, grid_size: tuple[int, int, int], spacing: float
) -> CloudInCell:
    """Stencil (node indices and weights) of each particle."""
    gx, gy, gz = grid_size
    dims = torch.tensor(grid_size, device=positions.device, dtype=positions.dtype)
    coords = positions / spacing - 0.5
    coords = torch.minimum(coords.clamp_min(0.0), dims - 1)
    base = torch.minimum(coords.floor(), dims - 2)
    frac = coords - base
    base = base.long()
    base_flat = (base[:, 0] * gy + base[:, 1]) * gz + base[:, 2]
    corner_offsets = torch.tensor(
        [a * gy * gz + b * gz + c for a in (0, 1) for b in (0, 1) for c in (0, 1)],
        device=positions.device,
    )
    index = base_flat[:, None] + corner_offsets[None, :]
    axis_weights = torch.stack([1.0 - frac, frac], dim=2)  # (N, 3, 2)
    weights = _outer(axis_weights[:, 0], axis_weights[:, 1], axis_weights[:, 2])
    return CloudInCell(index=index, weights=weights, axis_weights=axis_weights,
                       grid_size=tuple(grid_size), spacing=float(spacing))


def _outer(wx: torch.Tensor, wy: torch.Tensor, wz: torch.Tensor) -> torch.Tensor:
    """(N, 2) x (N, 2) x (N, 2) -> (N, 8) products in corner order 4a + 2b + c."""
    return (wx[:, :, None, None] * wy[:, None, :, None] * wz[:, None, None, :]).reshape(-1, 8)


def scatter(stencil: CloudInCell, values: torch.Tensor) -> torch.Tensor:
    """Deposit per-particle `values` (N,) onto the grid; the grid total equals values.sum()."""
    contributions = (stencil.weights * values[:, None]).reshape(-1)
    return _add_at_nodes(stencil.index.reshape(-1), contributions,
                         stencil.num_nodes).reshape(stencil.grid_size)


# Kept out of torch.compile graphs: Inductor turns a scatter-add into atomic adds, which on the
# CPU are compare-and-swap loops several times slower than ATen's plain serial index_add_.
@torch.compiler.disable
def _add_at_nodes(index: torch.Tensor, contributions: torch.Tensor, num_nodes: int
                  ) -> torch.Tensor:
    flat = torch.zeros(num_nodes, dtype=contributions.dtype, device=contributions.device)
    return flat.index_add_(0, index, contributions)


def corner_values(stencil: CloudInCell, field: torch.Tensor) -> torch.Tensor:
    """Field values at each particle's eight stencil nodes, (N, 8)."""
    return field.reshape(-1).index_select(0, stencil.index.reshape(-1)).view(-1, 8)


def gather(stencil: CloudInCell, field: torch.Tensor) -> torch.Tensor:
    """Trilinear interpolation of `field` at the particles, (N,)."""
    return (corner_values(stencil, field) * stencil.weights).sum(dim=1)


def gather_gradient(stencil: CloudInCell, field: torch.Tensor,
                    corners: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient of the trilinear interpolant of `field` at the particles, (N, 3)."""
    if corners is None:
        corners = corner_values(stencil, field)
    (x0, x1), (y0, y1), (z0, z1) = stencil.axis_weights.permute(1, 2, 0)  # each (N,)
    c000, c001, c010, c011, c100, c101, c110, c111 = corners.t()
    # d/dx of the interpolant: difference of the two x faces, weighted bilinearly over (y, z).
    grad_x = (y0 * (z0 * (c100 - c000) + z1 * (c101 - c001))
              + y1 * (z0 * (c110 - c010) + z1 * (c111 - c011)))
    grad_y = (x0 * (z0 * (c010 - c000) + z1 * (c011 - c001))
              + x1 * (z0 * (c110 - c100) + z1 * (c111 - c101)))
    grad_z = (x0 * (y0 * (c001 - c000) + y1 * (c011 - c010))
              + x1 * (y0 * (c101 - c100) + y1 * (c111 - c110)))
    return torch.stack([grad_x, grad_y, grad_z], dim=1) / stencil.spacing


__all__ = ["CloudInCell", "cloud_in_cell", "corner_values", "gather", "gather_gradient", "scatter"]
