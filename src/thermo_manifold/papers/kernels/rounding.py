"""TYPE_BASED_ROUNDING: relative precision and NumFuzz-style forward-error grades.

Olver's relative precision RP(a, b) = |ln(a / b)| is a metric on numbers of one sign, and one
correctly rounded operation satisfies RP(fl(x op y), x op y) <= eps with eps = u / (1 - u). With
it the forward-error grade of an expression composes by simple rules (NumFuzz, Kellison & Hsu):

    var x          : the input's own grade (0 for exact inputs)
    a * b, a / b   : g(a) + g(b) + eps          (RP adds under products and quotients)
    a + b (a,b>0)  : max(g(a), g(b)) + eps      (a positive sum is 1-sensitive in each operand)
    sqrt a         : g(a) / 2 + eps
    literal c      : 0 if c is representable in the format, else eps

so RP(computed, exact) <= grade for every evaluation in that format (no underflow/overflow).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from thermo_manifold.papers.metadata import (PURE, Coeffect, CoeffectKind, Effect, EffectKind,
                                             Grade, GradeKind, implements)

PAPER = "TYPE_BASED_ROUNDING"

UNIT_ROUNDOFF = {
    "binary16": 2.0 ** -11,   # seed: 2^-10 (that is binary16's machine epsilon, not u)
    "bfloat16": 2.0 ** -8,
    "binary32": 2.0 ** -24,
    "binary64": 2.0 ** -53,
}
DTYPES = {"binary16": torch.float16, "bfloat16": torch.bfloat16, "binary32": torch.float32,
          "binary64": torch.float64}


def rp_epsilon(precision: str) -> float:
    """Bound on RP(fl(z), z) for one round-to-nearest: u / (1 - u)."""
    if precision not in UNIT_ROUNDOFF:
        raise ValueError(f"precision must be one of {sorted(UNIT_ROUNDOFF)}; got {precision!r}")
    u = UNIT_ROUNDOFF[precision]
    return u / (1.0 - u)


@implements(PAPER, summary="relative precision RP(x~, x) = |ln(x~/x)|",
            oracle="RP(x~^2, x^2) == 2 RP(x~, x) on random pairs (sensitivity 2 of squaring)",
            effects=(PURE,), coeffects=(Coeffect(CoeffectKind.INPUT_DOMAIN, "x~ and x nonzero, same sign"),),
            grades=(Grade(GradeKind.SENSITIVITY, 2.0, "RP", "of x -> x^2"),))
def relative_precision(x_tilde: torch.Tensor | float, x: torch.Tensor | float) -> torch.Tensor:
    a = torch.as_tensor(x_tilde, dtype=torch.float64)
    b = torch.as_tensor(x, dtype=torch.float64)
    if ((a == 0) | (b == 0) | (torch.sign(a) != torch.sign(b))).any():
        raise ValueError("relative precision needs nonzero arguments of the same sign")
    return torch.log(a / b).abs()


# --- a small expression language ---------------------------------------------------------------

@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Lit:
    value: float


@dataclass(frozen=True)
class Op:
    op: str                 # "+", "*", "/", "sqrt"
    args: tuple["Expr", ...]

    def __post_init__(self) -> None:
        arity = {"+": 2, "*": 2, "/": 2, "sqrt": 1}
        if self.op not in arity:
            raise ValueError(f"op must be one of {sorted(arity)}; got {self.op!r}")
        if len(self.args) != arity[self.op]:
            raise ValueError(f"{self.op} takes {arity[self.op]} argument(s); got {len(self.args)}")


Expr = Var | Lit | Op


def add(a: Expr, b: Expr) -> Op:
    return Op("+", (a, b))


def mul(a: Expr, b: Expr) -> Op:
    return Op("*", (a, b))


def div(a: Expr, b: Expr) -> Op:
    return Op("/", (a, b))


def sqrt(a: Expr) -> Op:
    return Op("sqrt", (a,))


def _representable(value: float, precision: str) -> bool:
    t = torch.tensor(value, dtype=torch.float64)
    return bool(t.to(DTYPES[precision]).to(torch.float64) == t)


@implements(PAPER, summary="NumFuzz forward-error grade of an expression over positive reals",
            oracle="measured RP of float32 and float16 evaluation against float64 never exceeds it",
            effects=(Effect(EffectKind.PURE, "static analysis"),),
            coeffects=(Coeffect(CoeffectKind.PRECISION, "binary16 | bfloat16 | binary32 | binary64"),
                       Coeffect(CoeffectKind.INPUT_DOMAIN, "positive inputs, no overflow/underflow")),
            grades=(Grade(GradeKind.FORWARD_ERROR_BOUND, unit="RP", detail="computed per expression"),),
            fixes=("binary16 unit roundoff u = 2^-11 (seed: 2^-10)",
                   "seed's derive_error_bound adds the errors of a sum; in RP a positive sum takes their max",
                   "seed's product rule s1*e2 + s2*e1 + e1*e2 is the absolute-error rule; RP errors add",
                   "per-operation error is u/(1-u) in RP, not u"))
def forward_error_grade(expr: Expr, precision: str, input_grades: dict[str, float] | None = None) -> Grade:
    eps = rp_epsilon(precision)
    inputs = input_grades or {}

    def grade(e: Expr) -> float:
        if isinstance(e, Var):
            return float(inputs.get(e.name, 0.0))
        if isinstance(e, Lit):
            if e.value <= 0:
                raise ValueError(f"literals must be positive in this fragment; got {e.value}")
            return 0.0 if _representable(e.value, precision) else eps
        parts = [grade(a) for a in e.args]
        if e.op in ("*", "/"):
            return parts[0] + parts[1] + eps
        if e.op == "+":
            return max(parts) + eps
        return parts[0] / 2.0 + eps          # sqrt

    return Grade(GradeKind.FORWARD_ERROR_BOUND, grade(expr), "RP", f"{precision}, eps = u/(1-u) = {eps:.3e}")


def sensitivity(expr: Expr, name: str) -> float:
    """Lipschitz factor of `expr` in RP with respect to variable `name` (sums of positives: max)."""
    if isinstance(expr, Var):
        return 1.0 if expr.name == name else 0.0
    if isinstance(expr, Lit):
        return 0.0
    parts = [sensitivity(a, name) for a in expr.args]
    if expr.op in ("*", "/"):
        return parts[0] + parts[1]
    if expr.op == "+":
        return max(parts)
    return parts[0] / 2.0


def evaluate(expr: Expr, env: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """Evaluate with every operation rounded to `dtype` (inputs are converted first)."""
    if isinstance(expr, Var):
        return env[expr.name].to(dtype)
    if isinstance(expr, Lit):
        return torch.tensor(expr.value, dtype=torch.float64).to(dtype)
    args = [evaluate(a, env, dtype) for a in expr.args]
    if expr.op == "+":
        return args[0] + args[1]
    if expr.op == "*":
        return args[0] * args[1]
    if expr.op == "/":
        return args[0] / args[1]
    return torch.sqrt(args[0])


def measured_error(expr: Expr, env: dict[str, torch.Tensor], precision: str) -> torch.Tensor:
    """RP between the `precision` evaluation and a float64 one on inputs exactly representable
    in `precision` (float64 rounding is ~2^29 times smaller than binary32's)."""
    low = DTYPES[precision]
    exact_inputs = {k: v.to(low).to(torch.float64) for k, v in env.items()}
    computed = evaluate(expr, exact_inputs, low).to(torch.float64)
    reference = evaluate(expr, exact_inputs, torch.float64)
    return relative_precision(computed, reference)


__all__ = ["DTYPES", "Lit", "Op", "UNIT_ROUNDOFF", "Var", "add", "div", "evaluate",
           "forward_error_grade", "measured_error", "mul", "relative_precision", "rp_epsilon",
           "sensitivity", "sqrt"]
