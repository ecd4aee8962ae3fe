"""Equation recovery from a delta-state log: candidate-term regression (TODO-5 of the seed).

d state / dt (central differences of the logged deltas) is regressed on a fixed library of
candidate terms by sequentially thresholded least squares (STLSQ): solve, zero every
coefficient below the threshold, re-solve on the surviving terms, repeat. It is a reading tool
for the log, never a training loss. Scoring compares the recovered support and coefficients
with the true equations: term precision and recall, and the relative coefficient error
||Xi - Xi_true||_F / ||Xi_true||_F.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

TermFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TermLibrary:
    """Named candidate terms; each maps states (T, n) to one column (T,)."""

    names: tuple[str, ...]
    functions: tuple[TermFn, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.functions) or not self.names:
            raise ValueError("a term library needs one function per name and at least one term")
        if len(set(self.names)) != len(self.names):
            raise ValueError("term names must be unique")

    def __len__(self) -> int:
        return len(self.names)

    def evaluate(self, states: torch.Tensor) -> torch.Tensor:
        return torch.stack([f(states) for f in self.functions], dim=1)

    def index(self, name: str) -> int:
        return self.names.index(name)


def polynomial_library(variables: Sequence[str], degree: int = 2) -> TermLibrary:
    """1, x_i, x_i x_j, ... up to `degree` (monomials named like 'x*y', 'x^2')."""
    if degree < 0:
        raise ValueError(f"degree must be >= 0; got {degree}")
    names, functions = ["1"], [lambda s: torch.ones_like(s[:, 0])]
    for d in range(1, degree + 1):
        for combo in itertools.combinations_with_replacement(range(len(variables)), d):
            parts = []
            for v in sorted(set(combo)):
                power = combo.count(v)
                parts.append(variables[v] + (f"^{power}" if power > 1 else ""))
            names.append("*".join(parts))
            functions.append(lambda s, c=combo: torch.prod(s[:, list(c)], dim=1))
    return TermLibrary(tuple(names), tuple(functions))


def stlsq(features: torch.Tensor, targets: torch.Tensor, threshold: float,
          iterations: int = 10, ridge: float = 1e-10) -> torch.Tensor:
    """Sequentially thresholded least squares; returns Xi of shape (n_terms, n_targets).

    Columns are scaled to unit RMS for the solve (conditioning) but the threshold applies to
    the coefficients in the original units, as in SINDy.
    """
    features = features.to(torch.float64)
    targets = targets.to(torch.float64)
    scale = features.pow(2).mean(dim=0).sqrt().clamp_min(1e-12)
    a = features / scale
    n_terms, n_out = features.shape[1], targets.shape[1]
    xi = torch.zeros(n_terms, n_out, dtype=torch.float64)
    for k in range(n_out):
        support = torch.ones(n_terms, dtype=torch.bool)
        coef = torch.zeros(n_terms, dtype=torch.float64)
        for _ in range(iterations):
            coef = torch.zeros(n_terms, dtype=torch.float64)
            if support.any():
                sub = a[:, support]
                gram = sub.T @ sub + ridge * torch.eye(sub.shape[1], dtype=torch.float64)
                coef[support] = torch.linalg.solve(gram, sub.T @ targets[:, k]) / scale[support]
            new_support = coef.abs() >= threshold
            if torch.equal(new_support, support):
                break
            support = new_support
        coef[~support] = 0.0
        xi[:, k] = coef
    return xi


@dataclass
class RecoveryScore:
    precision: float
    recall: float
    coefficient_error: float
    n_true: int
    n_found: int


def score_recovery(xi: torch.Tensor, xi_true: torch.Tensor) -> RecoveryScore:
    found = xi != 0
    true = xi_true != 0
    hits = int((found & true).sum())
    n_found, n_true = int(found.sum()), int(true.sum())
    precision = hits / n_found if n_found else 0.0
    recall = hits / n_true if n_true else 1.0
    err = float(torch.linalg.norm(xi - xi_true) / torch.linalg.norm(xi_true).clamp_min(1e-300))
    return RecoveryScore(precision, recall, err, n_true, n_found)


def format_equations(xi: torch.Tensor, library: TermLibrary, variables: Sequence[str],
                     digits: int = 3) -> list[str]:
    lines = []
    for k, var in enumerate(variables):
        terms = [f"{float(xi[t, k]):+.{digits}g} {name}" for t, name in enumerate(library.names)
                 if xi[t, k] != 0]
        lines.append(f"d{var}/dt = " + (" ".join(terms) if terms else "0"))
    return lines


def recover_from_logs(logs, dt: float, library: TermLibrary, threshold: float) -> torch.Tensor:
    """Xi recovered from the states and central-difference derivatives of DeltaStateLogs.

    Several logs (one per trajectory) are stacked after differencing, so no derivative is
    taken across the boundary between two trajectories.
    """
    pairs = [log.finite_differences(dt) for log in logs]
    states = torch.cat([p[0] for p in pairs])
    derivatives = torch.cat([p[1] for p in pairs])
    return stlsq(library.evaluate(states), derivatives, threshold)


def pysindy_recovery(states: torch.Tensor | Sequence[torch.Tensor], dt: float, degree: int,
                     threshold: float):
    """Xi from pysindy's STLSQ with a polynomial library, or None when pysindy is missing.
    `states` is one (T, n) trajectory or a list of them (fitted together, as
    `recover_from_logs` does, never differenced across two of them)."""
    try:
        import pysindy  # noqa: F401  (optional; never a hard dependency)
    except ImportError:
        return None
    model = pysindy.SINDy(optimizer=pysindy.STLSQ(threshold=threshold),
                          feature_library=pysindy.PolynomialLibrary(degree=degree))
    if isinstance(states, torch.Tensor):
        model.fit(states.numpy(), t=dt)
    else:
        model.fit([s.numpy() for s in states], t=dt)
    return torch.as_tensor(model.coefficients().T)


__all__ = ["RecoveryScore", "TermLibrary", "format_equations", "polynomial_library",
           "pysindy_recovery", "recover_from_logs", "score_recovery", "stlsq"]
