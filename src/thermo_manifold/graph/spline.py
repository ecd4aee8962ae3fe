"""Spline activation with learnable complexity: identity plus sparse hinge terms.

act(x)_u = x_u + sum_k c_{u,k} * relu(x_u - t_k) over the Hot (unit, knot) pairs, with knots t_k
on a fixed grid. It is exactly the identity at init (no Hot hinge) and grows curvature through
the same Cold -> Warm -> Hot planner as the weights, so its complexity is the count of Hot
hinge coefficients.
"""

from __future__ import annotations

import torch

from thermo_manifold.graph.sparse import SparseCOO


class SplineActivation(SparseCOO):
    def __init__(self, width: int, n_knots: int = 9, knot_range: float = 2.0,
                 budget: int | None = None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu"):
        if n_knots < 1:
            raise ValueError(f"n_knots must be >= 1; got {n_knots}")
        if not knot_range > 0:
            raise ValueError(f"knot_range must be > 0; got {knot_range}")
        super().__init__(width, n_knots, budget, dtype, device)
        self.width = int(width)
        knots = torch.linspace(-knot_range, knot_range, n_knots, dtype=dtype, device=device)
        self.register_buffer("knots", knots)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.width:
            raise ValueError(f"expected width {self.width}, got {x.shape[-1]}")
        if self.is_pass_through:
            return x
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.width)
        idx, vals = self.effective()
        hinge = torch.relu(flat.index_select(1, idx[:, 0]) - self.knots[idx[:, 1]])
        curve = flat.new_zeros(flat.shape).index_add(1, idx[:, 0], hinge * vals)
        return (flat + curve).reshape(*lead, self.width)


__all__ = ["SplineActivation"]
