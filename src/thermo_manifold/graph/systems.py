"""Dynamical systems for the graph bench, integrated in-process (RK4, float64).

Each `System` has a vector field f(x), its true coefficients on a candidate-term library (for
scoring equation recovery), a sampler of initial conditions, an observation encoding for the
learner (Kuramoto phases are seen as (cos, sin) so the learner never meets the 2*pi wrap) and
the STLSQ threshold used for recovery.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from thermo_manifold.graph.equations import TermLibrary, polynomial_library

SYSTEMS = ("lorenz", "lotka-volterra", "kuramoto", "heat1d")


@dataclass(frozen=True)
class System:
    name: str
    dim: int
    dt: float
    substeps: int
    variables: tuple[str, ...]
    field: Callable[[torch.Tensor], torch.Tensor]
    initial: Callable[[int, torch.Generator], torch.Tensor]
    library: TermLibrary
    xi_true: torch.Tensor
    threshold: float
    burn_in: int = 0
    encode: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
    description: str = ""

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One sampling interval dt of RK4 with `substeps` internal steps."""
        h = self.dt / self.substeps
        for _ in range(self.substeps):
            k1 = self.field(x)
            k2 = self.field(x + 0.5 * h * k1)
            k3 = self.field(x + 0.5 * h * k2)
            k4 = self.field(x + h * k3)
            x = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        return x

    def trajectories(self, n: int, length: int, generator: torch.Generator) -> torch.Tensor:
        """(n, length, dim) float64 trajectories sampled every dt after the burn-in."""
        x = self.initial(n, generator).to(torch.float64)
        for _ in range(self.burn_in):
            x = self.step(x)
        out = [x]
        for _ in range(length - 1):
            x = self.step(x)
            out.append(x)
        return torch.stack(out, dim=1)


def _lorenz(sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0) -> System:
    def field(s):
        x, y, z = s.unbind(-1)
        return torch.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], dim=-1)

    lib = polynomial_library(("x", "y", "z"), 2)
    xi = torch.zeros(len(lib), 3, dtype=torch.float64)
    for name, k, c in (("x", 0, -sigma), ("y", 0, sigma), ("x", 1, rho), ("y", 1, -1.0),
                       ("x*z", 1, -1.0), ("x*y", 2, 1.0), ("z", 2, -beta)):
        xi[lib.index(name), k] = c

    def initial(n, g):
        return torch.randn(n, 3, generator=g, dtype=torch.float64) * torch.tensor([8.0, 8.0, 8.0]) \
            + torch.tensor([0.0, 0.0, 25.0])

    return System("lorenz", 3, 0.01, 2, ("x", "y", "z"), field, initial, lib, xi, 0.1,
                  burn_in=200, description="sigma=10, rho=28, beta=8/3, dt=0.01")


def _lotka_volterra(a: float = 1.0, b: float = 0.5, c: float = 0.5, d: float = 1.0) -> System:
    def field(s):
        x, y = s.unbind(-1)
        return torch.stack([a * x - b * x * y, c * x * y - d * y], dim=-1)

    lib = polynomial_library(("x", "y"), 2)
    xi = torch.zeros(len(lib), 2, dtype=torch.float64)
    for name, k, v in (("x", 0, a), ("x*y", 0, -b), ("x*y", 1, c), ("y", 1, -d)):
        xi[lib.index(name), k] = v

    def initial(n, g):
        return 0.5 + 2.5 * torch.rand(n, 2, generator=g, dtype=torch.float64)

    return System("lotka-volterra", 2, 0.05, 2, ("x", "y"), field, initial, lib, xi, 0.05,
                  description="dx=x-0.5xy, dy=0.5xy-y, dt=0.05")


def _kuramoto(n_osc: int = 5, coupling: float = 1.0) -> System:
    # Natural frequencies are fixed constants of the system (not drawn per run).
    omega = torch.linspace(-1.0, 1.0, n_osc, dtype=torch.float64) + 0.3
    names = [f"th{i}" for i in range(n_osc)]

    def field(s):
        diff = s.unsqueeze(-2) - s.unsqueeze(-1)           # [..., i, j] = th_j - th_i
        return omega + (coupling / n_osc) * torch.sin(diff).sum(-1)

    # Library: 1, sin th_a, cos th_a and every product sin th_a cos th_b (ordered pairs; each
    # product appears once, so no two columns are the same function).
    lib_names, funcs = ["1"], [lambda s: torch.ones_like(s[:, 0])]
    for a in range(n_osc):
        lib_names += [f"sin{a}", f"cos{a}"]
        funcs += [lambda s, a=a: torch.sin(s[:, a]), lambda s, a=a: torch.cos(s[:, a])]
    for a in range(n_osc):
        for b in range(n_osc):
            lib_names.append(f"sin{a}*cos{b}")
            funcs.append(lambda s, a=a, b=b: torch.sin(s[:, a]) * torch.cos(s[:, b]))
    lib = TermLibrary(tuple(lib_names), tuple(funcs))
    xi = torch.zeros(len(lib), n_osc, dtype=torch.float64)
    k = coupling / n_osc
    for i in range(n_osc):
        xi[lib.index("1"), i] = omega[i]
        for j in range(n_osc):
            if j != i:  # sin(th_j - th_i) = sin th_j cos th_i - sin th_i cos th_j
                xi[lib.index(f"sin{j}*cos{i}"), i] = k
                xi[lib.index(f"sin{i}*cos{j}"), i] = -k

    def initial(n, g):
        return 2 * math.pi * torch.rand(n, n_osc, generator=g, dtype=torch.float64)

    def encode(th):
        return torch.cat([torch.cos(th), torch.sin(th)], dim=-1)

    return System("kuramoto", n_osc, 0.05, 2, tuple(names), field, initial, lib, xi, 0.05,
                  encode=encode,
                  description=f"N={n_osc}, K={coupling}, omega=linspace(-0.7,1.3), dt=0.05")


def _heat1d(n: int = 16, alpha: float = 0.01) -> System:
    h = 1.0 / n
    c = alpha / (h * h)

    def field(u):
        return c * (torch.roll(u, 1, -1) - 2 * u + torch.roll(u, -1, -1))

    names = [f"u{i}" for i in range(n)]
    lib = polynomial_library(tuple(names), 1)
    xi = torch.zeros(len(lib), n, dtype=torch.float64)
    for i in range(n):
        xi[lib.index(f"u{i}"), i] = -2 * c
        xi[lib.index(f"u{(i - 1) % n}"), i] += c
        xi[lib.index(f"u{(i + 1) % n}"), i] += c

    def initial(m, g):
        # Every Fourier mode is excited (amplitude ~ 1/(1+k)) so that all 16 linear terms are
        # identifiable from the logged states; fast modes decay within a few dozen steps.
        x = torch.arange(n, dtype=torch.float64) * h
        u = torch.zeros(m, n, dtype=torch.float64)
        for k in range(n // 2 + 1):
            a = torch.randn(m, 1, generator=g, dtype=torch.float64) / (1 + k)
            b = torch.randn(m, 1, generator=g, dtype=torch.float64) / (1 + k)
            u = u + a * torch.sin(2 * math.pi * k * x) + b * torch.cos(2 * math.pi * k * x)
        return u

    return System("heat1d", n, 0.02, 2, tuple(names), field, initial, lib, xi, 0.02 * c,
                  description=f"periodic, N={n}, alpha={alpha}, dt=0.02 (c=alpha/h^2={c:.3g})")


def make_system(name: str) -> System:
    builders = {"lorenz": _lorenz, "lotka-volterra": _lotka_volterra, "kuramoto": _kuramoto,
                "heat1d": _heat1d}
    if name not in builders:
        raise ValueError(f"system must be one of {', '.join(SYSTEMS)}; got {name!r}")
    return builders[name]()


__all__ = ["SYSTEMS", "System", "make_system"]
