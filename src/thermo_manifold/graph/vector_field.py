"""A sparse vector field over a monomial library, stepped by an integrator.

The residual MLP of `models.py` learns the one-step map x_t -> x_{t+1} directly, from the
state's raw coordinates: a product such as x z (Lorenz) or x y (Lotka-Volterra) has to be built
from hidden units and hinges, and each costs many weights. Here the candidate regions are the
terms themselves (GRAPH.md's "candidate regions that include product features"):

    rate(x) = W phi(x) + b,   phi(x) = every monomial of x of degree 1..`degree`,

with W and b one planner-edited `SparseMaskedNN` (no identity: with nothing Hot the rate is
zero, so the model starts as persistence, the identity map of the state). The model's output is
the state one sampling interval later, integrated from the rate by `substeps` steps of RK4
(time in units of the sampling interval, so W carries dt): the map a smooth vector field
induces, rather than the field's first-order (Euler) approximation, which on Lorenz at dt = 0.01
leaves an O(dt^2) error no sparse term removes. `integrator="euler"` is the ablation.

Because the learnt object is a vector field over named terms, its equations can be read off W
(`equations`), in the physical units of the data once the standardisation is undone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from thermo_manifold.graph.planner import PlannerConfig
from thermo_manifold.graph.sparse import SparseMaskedNN, sparse_objects

INTEGRATORS = ("rk4", "euler")
# The sparse learner's planner: relaxed probes (the Hot weights co-adapt, in a trust region,
# while a candidate is probed, so a term is judged by what it adds once the others have
# re-fitted: on Lorenz the frozen probe commits x^2 and y^2 for the x*y that dz needs, since x
# and y are correlated on the attractor), and every Cold cell ranked each cycle rather than a
# random 64 (on Kuramoto's 2,860 cells a random sample rarely holds the terms that matter).
FIELD_PLANNER = PlannerConfig(probe_regime="relaxed", candidates_per_object=1 << 16)


def monomials(dim: int, degree: int) -> list[tuple[int, ...]]:
    """Every monomial of `dim` variables of degree 1..`degree`, as sorted index tuples."""
    if dim < 1 or degree < 1:
        raise ValueError(f"dim and degree must be >= 1; got dim={dim}, degree={degree}")
    return [combo for d in range(1, degree + 1)
            for combo in itertools.combinations_with_replacement(range(dim), d)]


def candidate_degrees(dim: int, max_terms: int = 400, max_degree: int = 3) -> list[int]:
    """Degrees 1..`max_degree` whose library has at most `max_terms` monomials (always 1), so
    the planner's candidate set stays a size it ranks in one pass."""
    return [d for d in range(1, max_degree + 1) if d == 1 or len(monomials(dim, d)) <= max_terms]


def library_degree(dim: int, max_terms: int = 400, max_degree: int = 3) -> int:
    """The highest of `candidate_degrees`: the default when no degree is chosen on data."""
    return candidate_degrees(dim, max_terms, max_degree)[-1]


def choose_degree(dim: int, judge_loss: Callable[[int], float]) -> int:
    """The candidate degree with the lowest `judge_loss(degree)` (a short fit judged on data
    held out of fitting, never on a test split). Ties go to the lower degree. Why choose: the
    richer library is not always better for the planner; on a 16-point heat equation the
    quadratic library's 2,448 cells drown the 48 linear ones the field needs."""
    losses = {d: judge_loss(d) for d in candidate_degrees(dim)}
    finite = {d: v for d, v in losses.items() if math.isfinite(v)}
    if not finite:
        return 1
    return min(finite, key=lambda d: (finite[d], d))


class MonomialFeatures(nn.Module):
    """phi(x): the monomials of `monomials(dim, degree)`, (..., dim) -> (..., n_terms)."""

    def __init__(self, dim: int, degree: int):
        super().__init__()
        self.terms = monomials(dim, degree)
        self.dim, self.degree = int(dim), int(degree)
        width = max(len(t) for t in self.terms)
        # Pad each index tuple with `dim`, which reads a constant 1 appended to x.
        table = [list(t) + [dim] * (width - len(t)) for t in self.terms]
        self.register_buffer("index", torch.tensor(table, dtype=torch.long))

    @property
    def n_terms(self) -> int:
        return len(self.terms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)
        return padded[..., self.index].prod(dim=-1)

    def names(self, variables: Sequence[str]) -> list[str]:
        out = []
        for combo in self.terms:
            parts = []
            for v in sorted(set(combo)):
                power = combo.count(v)
                parts.append(variables[v] + (f"^{power}" if power > 1 else ""))
            out.append("*".join(parts))
        return out


class SparseVectorField(nn.Module):
    """x -> x after one sampling interval, integrated from a sparse monomial rate."""

    def __init__(self, dim: int, degree: int, budget: int | None = None, substeps: int = 2,
                 integrator: str = "rk4", dtype: torch.dtype = torch.float32):
        super().__init__()
        if integrator not in INTEGRATORS:
            raise ValueError(f"integrator must be one of {INTEGRATORS}; got {integrator!r}")
        if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
            raise ValueError(f"substeps must be an integer >= 1; got {substeps!r}")
        self.features = MonomialFeatures(dim, degree)
        self.rate_map = SparseMaskedNN(self.features.n_terms, dim, bias=True, budget=budget,
                                       dtype=dtype, identity=False)
        self.dim, self.substeps, self.integrator = int(dim), substeps, integrator

    def rate(self, x: torch.Tensor) -> torch.Tensor:
        """dx per sampling interval at x."""
        return self.rate_map(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.integrator == "euler":
            return x + self.rate(x)
        h = 1.0 / self.substeps
        for _ in range(self.substeps):
            k1 = self.rate(x)
            k2 = self.rate(x + 0.5 * h * k1)
            k3 = self.rate(x + 0.5 * h * k2)
            k4 = self.rate(x + h * k3)
            x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        return x

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(obj.c_active(eps) for obj in sparse_objects(self))

    def coefficients(self) -> torch.Tensor:
        """The rate as a dense (1 + n_terms, dim) float64 matrix: row 0 the constant, then one
        row per monomial (per sampling interval, in the model's own coordinates)."""
        layer = self.rate_map
        dense = torch.zeros(layer.rows, layer.cols, dtype=torch.float64)
        idx = layer.M_idx
        dense[idx[:, 0], idx[:, 1]] = layer.W_vals.detach().double()
        # Columns: the terms, then the bias column; rows: the outputs.
        return torch.cat([dense[:, -1:], dense[:, :-1]], dim=1).T.contiguous()


__all__ = ["FIELD_PLANNER", "INTEGRATORS", "MonomialFeatures", "SparseVectorField",
           "candidate_degrees", "choose_degree", "library_degree", "monomials"]
