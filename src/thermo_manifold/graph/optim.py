"""Adam over sparse objects with aligned moments, optional proximal L1 and relativistic damping.

The moments live on each `SparseCOO` as aligned buffers (adam_m, adam_v), so a structural edit
between two steps keeps every moment next to its weight; `torch.optim.Adam` would hold stale
references to the replaced `W_vals` parameter. The second moment is also the curvature proxy of
the Taylor prune score 0.5 * v * w^2.

Relativistic damping (Archive 03, optional): the step of an object whose complexity C nears its
budget B is divided by gamma(C) = 1 / sqrt(max(1 - (C/B)^2, eps)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from thermo_manifold.graph.sparse import SparseCOO


def relativistic_gamma(complexity: float, budget: float, eps: float = 1e-3) -> float:
    """gamma(C) = 1 / sqrt(max(1 - (C/B)^2, eps)); 1 far from the budget, large near it."""
    if budget <= 0:
        return 1.0 / math.sqrt(eps)
    ratio = complexity / budget
    return 1.0 / math.sqrt(max(1.0 - ratio * ratio, eps))


class SparseAdam:
    """Adam on the `W_vals` of sparse objects (moments stored on the objects themselves)."""

    def __init__(self, objects: Sequence[SparseCOO], lr: float = 1e-2, betas=(0.9, 0.999),
                 eps: float = 1e-8, prox_l1: float = 0.0, relativistic: bool = False):
        if not lr > 0:
            raise ValueError(f"lr must be > 0; got {lr}")
        if prox_l1 < 0:
            raise ValueError(f"prox_l1 must be >= 0; got {prox_l1}")
        self.objects = list(objects)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.prox_l1, self.relativistic = prox_l1, relativistic

    def zero_grad(self) -> None:
        for obj in self.objects:
            obj.W_vals.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for obj in self.objects:
            grad = obj.W_vals.grad
            if grad is None or obj.nnz == 0:
                continue
            obj.adam_t += 1
            obj.adam_m.mul_(b1).add_(grad, alpha=1 - b1)
            obj.adam_v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            m_hat = obj.adam_m / (1 - b1 ** obj.adam_t)
            v_hat = obj.adam_v / (1 - b2 ** obj.adam_t)
            lr = self.lr
            if self.relativistic and obj.budget:
                lr = lr / relativistic_gamma(obj.c_struct, obj.budget)
            obj.W_vals.sub_(lr * m_hat / (v_hat.sqrt() + self.eps))
            if self.prox_l1 > 0:  # soft threshold on Hot weights (off by default)
                w = obj.W_vals
                w.copy_(torch.sign(w) * torch.clamp(w.abs() - lr * self.prox_l1, min=0.0))


def taylor_scores(obj: SparseCOO) -> torch.Tensor:
    """Prune score 0.5 * v * w^2 per Hot entry (v: bias-corrected Adam second moment)."""
    v = obj.adam_v
    if obj.adam_t > 0:
        v = v / (1 - 0.999 ** obj.adam_t)
    return 0.5 * v * obj.W_vals.detach() ** 2


__all__ = ["SparseAdam", "relativistic_gamma", "taylor_scores"]
