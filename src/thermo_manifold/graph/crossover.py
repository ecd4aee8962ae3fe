"""Dense crossover policy: switch a sparse layer to dense math when dense is cheaper.

Costs are measured on the device, not assumed: `measure_costs` times the sparse path
(gather -> multiply -> scatter-add) per path and sample, alpha, and a dense matmul per
multiply-add, beta. The policy keeps a layer sparse below `low` density, prefers dense above
`high`, and in between compares alpha * nnz with beta * rows * cols; a switch needs `patience`
consecutive agreeing checks and is followed by `cooldown` checks without switching (no thrash).
The layer computes the same function in both modes; C_struct stays the mask size (semantics),
while `compute_paths` reports the work of the current representation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from thermo_manifold.graph.sparse import SparseMaskedNN


def _best_time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def measure_costs(device: torch.device | str = "cpu", batch: int = 256, rows: int = 128,
                  cols: int = 128, density: float = 0.1, repeats: int = 5,
                  generator: torch.Generator | None = None) -> tuple[float, float]:
    """(alpha, beta): seconds per sparse path-sample and per dense multiply-add."""
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = torch.randn(batch, cols, generator=g).to(device)
    nnz = max(1, int(density * rows * cols))
    keys = torch.randperm(rows * cols, generator=g)[:nnz].to(device)
    r, c = keys // cols, keys % cols
    vals = torch.randn(nnz, generator=g).to(device)
    w = torch.randn(rows, cols, generator=g).to(device)

    def sparse():
        x.new_zeros(batch, rows).index_add(1, r, x.index_select(1, c) * vals)

    def dense():
        x @ w.T

    alpha = _best_time(sparse, repeats) / (nnz * batch)
    beta = _best_time(dense, repeats) / (rows * cols * batch)
    return alpha, beta


@dataclass
class CrossoverPolicy:
    alpha: float
    beta: float
    low: float = 0.05
    high: float = 0.2
    patience: int = 3
    cooldown: int = 10
    _votes: dict[int, int] = field(default_factory=dict)
    _cool: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0):
            raise ValueError(f"alpha and beta must be > 0; got {self.alpha}, {self.beta}")
        if not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"need 0 <= low <= high <= 1; got low={self.low}, high={self.high}")

    def preferred(self, layer: SparseMaskedNN) -> str:
        density = layer.nnz / (layer.rows * layer.cols)
        if density < self.low:
            return "sparse"
        if density > self.high:
            return "dense"
        sparse_cost = self.alpha * layer.nnz
        dense_cost = self.beta * layer.rows * layer.cols
        return "dense" if dense_cost < sparse_cost else "sparse"

    def check(self, layer: SparseMaskedNN) -> str:
        """One periodic check; switches `layer.mode` when warranted and returns the mode."""
        key = id(layer)
        if self._cool.get(key, 0) > 0:
            self._cool[key] -= 1
            return layer.mode
        want = self.preferred(layer)
        if want == layer.mode:
            self._votes[key] = 0
            return layer.mode
        self._votes[key] = self._votes.get(key, 0) + 1
        if self._votes[key] >= self.patience:
            layer.mode = want
            self._votes[key] = 0
            self._cool[key] = self.cooldown
        return layer.mode


__all__ = ["CrossoverPolicy", "measure_costs"]
