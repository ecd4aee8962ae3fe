"""Perceptron-local stencils: each output unit owns a local, mask-controlled neighbourhood.

`StencilMaskedNN` is a square SparseMaskedNN over a 1-D field (periodic by default) whose Hot
cells may only lie within `radius` of their row: unit i reads u_{i-r..i+r}. Growth is by rings:
a row's Cold candidates are the cells one step beyond its current stencil (the identity centre
counts as radius 0), so a stencil widens only where the planner finds evidence for it, and the
forward pass is the same gather -> multiply -> grouped sum over a fixed index list.
"""

from __future__ import annotations

import torch

from thermo_manifold.graph.sparse import SparseMaskedNN


class StencilMaskedNN(SparseMaskedNN):
    def __init__(self, size: int, radius: int = 2, periodic: bool = True, bias: bool = False,
                 budget: int | None = None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu"):
        if not (isinstance(radius, int) and 0 <= radius < size):
            raise ValueError(f"radius must be an integer in [0, {size - 1}]; got {radius!r}")
        super().__init__(size, size, bias, budget, "leading", dtype, device)
        self.size, self.radius, self.periodic = size, radius, periodic

    def _distance(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        d = (cols - rows).abs()
        return torch.minimum(d, self.size - d) if self.periodic else d

    def allowed_keys(self) -> torch.Tensor:
        """Cells inside each row's next ring (bias column, if any, always allowed)."""
        rows = torch.arange(self.size, device=self.M_idx.device).repeat_interleave(self.size)
        cols = torch.arange(self.size, device=self.M_idx.device).repeat(self.size)
        reach = torch.zeros(self.size, dtype=torch.long, device=self.M_idx.device)
        hot = self.M_idx[self.M_idx[:, 1] < self.size]
        if hot.numel():
            d = self._distance(hot[:, 0], hot[:, 1])
            reach = reach.scatter_reduce(0, hot[:, 0], d, reduce="amax")
        limit = torch.clamp(reach + 1, max=self.radius)
        ok = self._distance(rows, cols) <= limit[rows]
        keys = rows[ok] * self.cols + cols[ok]
        if self.bias:
            keys = torch.cat([keys, torch.arange(self.size, device=keys.device) * self.cols
                              + self.size])
        return torch.sort(keys).values

    def group_regions(self, cells: torch.Tensor, region_size: int) -> list[torch.Tensor]:
        """Regions are rings: the candidate cells of one row at one distance (both arms)."""
        dist = self._distance(cells[:, 0], cells[:, 1])
        dist = torch.where(cells[:, 1] >= self.size, torch.full_like(dist, -1), dist)
        keys = cells[:, 0] * (self.size + 1) + dist + 1
        groups = []
        for key in torch.unique(keys).tolist():
            groups.append(torch.nonzero(keys == key).flatten())
        return groups

    def stencil_of(self, row: int) -> dict[int, float]:
        """Offsets -> effective weights of one unit (identity centre included)."""
        out = {0: 1.0}
        sel = (self.M_idx[:, 0] == row) & (self.M_idx[:, 1] < self.size)
        for col, w in zip(self.M_idx[sel, 1].tolist(), self.W_vals.detach()[sel].tolist()):
            off = col - row
            if self.periodic:
                off = (off + self.size // 2) % self.size - self.size // 2
            out[off] = out.get(off, 0.0) + w
        return out


__all__ = ["StencilMaskedNN"]
