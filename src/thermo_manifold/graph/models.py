"""Models of the bench: the sparse learner and the dense / magnitude-pruned baselines.

All three predict the next state in residual form (identity plus a learned correction): the
sparse learner because its layers are identity plus sparse delta, the dense MLP through an
explicit skip connection so that it gets the same prior for free.
"""

from __future__ import annotations

import torch
from torch import nn

from thermo_manifold.graph.sparse import SparseMaskedNN, sparse_objects
from thermo_manifold.graph.spline import SplineActivation


class SparseResidualMLP(nn.Module):
    """dim -> hidden -> dim: SparseMaskedNN, spline activation, SparseMaskedNN.

    With nothing Hot it is exactly the identity map (tiled widening identity, leading-block
    narrowing identity, identity activation).
    """

    def __init__(self, dim: int, hidden: int, layer_budget: int, spline_budget: int,
                 n_knots: int = 9, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.inp = SparseMaskedNN(dim, hidden, bias=True, budget=layer_budget, dtype=dtype)
        self.act = SplineActivation(hidden, n_knots, 2.0, budget=spline_budget, dtype=dtype)
        self.out = SparseMaskedNN(hidden, dim, bias=True, budget=layer_budget, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.inp(x)))

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(obj.c_active(eps) for obj in sparse_objects(self))


class StencilModel(nn.Module):
    """A single perceptron-local stencil layer (for fields such as the 1-D heat equation)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(obj.c_active(eps) for obj in sparse_objects(self))


class DenseResidualMLP(nn.Module):
    """x + W2 tanh(W1 x + b1) + b2, with optional fixed masks (magnitude pruning)."""

    def __init__(self, dim: int, hidden: int, generator: torch.Generator,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, dtype=dtype)
        self.fc2 = nn.Linear(hidden, dim, dtype=dtype)
        with torch.no_grad():  # seeded init (nn.Linear's default draws from the global RNG)
            for layer in (self.fc1, self.fc2):
                bound = layer.in_features ** -0.5
                for p in (layer.weight, layer.bias):
                    p.copy_((torch.rand(p.shape, generator=generator, dtype=dtype) * 2 - 1)
                            * bound)
            self.fc2.weight.mul_(0.1)
            self.fc2.bias.zero_()
        self.masks: dict[str, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(torch.tanh(self.fc1(x)))

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(int((p.detach().abs() > eps).sum()) for p in self.parameters())

    @torch.no_grad()
    def magnitude_prune(self, keep: int) -> None:
        """Keep about `keep` parameters: the largest magnitudes of every tensor, each tensor
        keeping the same fraction (at least one entry).

        Layer-wise rather than global: a global threshold deletes the whole output layer
        (its weights are smaller) and leaves a network that cannot compute anything.
        """
        params = dict(self.named_parameters())
        total = sum(p.numel() for p in params.values())
        keep = max(0, min(keep, total))
        quotas = {n: max(1, round(keep * p.numel() / total)) for n, p in params.items()}
        while sum(quotas.values()) > keep and any(q > 1 for q in quotas.values()):
            biggest = max(quotas, key=quotas.get)
            quotas[biggest] -= 1
        while sum(quotas.values()) < keep:
            room = {n: params[n].numel() - q for n, q in quotas.items()}
            quotas[max(room, key=room.get)] += 1
        self.masks = {}
        for name, p in params.items():
            flat = p.detach().abs().reshape(-1)
            m = torch.zeros(flat.numel(), dtype=torch.bool)
            m[torch.argsort(flat, descending=True, stable=True)[: quotas[name]]] = True
            self.masks[name] = m.reshape(p.shape)
            p.mul_(self.masks[name])

    @torch.no_grad()
    def apply_masks(self) -> None:
        if self.masks:
            for name, p in self.named_parameters():
                p.mul_(self.masks[name])


__all__ = ["DenseResidualMLP", "SparseResidualMLP", "StencilModel"]
