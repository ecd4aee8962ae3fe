"""TYPE_BASED_ROUNDING: relative precision and NumFuzz-style forward-error grades.

Olver's relative precision RP(a, b) = |ln(a / b)| is a metric on numbers of one sign, and one
correctly rounded operation satisfies RP(fl(x op y), x op y) <= eps with eps = u / (1 - u). With
it the forward-error grade of an expression composes by simple rules (NumFuzz, Kellison & Hsu):

    var x          : the input's own grade (0 for exact inputs)
    a * b, a / b   : g(a) + g(b) + eps          (RP adds under products and quotients)
    a + b (a,b>0)  : max(g(a), g(b)) + eps      (a positive sum is 1-sensitive in each operand)
    sqrt a         : g(a) / 2 + eps
    literal c      : 0 if c is representable in the format, else eps

so RP(computed, exact) <= grade for every evaluation in that format, under the assumptions of
the rules: every + * / sqrt is correctly rounded (IEEE 754 round to nearest, ties to even) and
nothing overflows or underflows. `measured_error` checks grades against an evaluation that meets
these assumptions on any machine (it does not trust the CPU's float32 kernels, see `evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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
SIGNIFICAND_BITS = {"binary16": 11, "bfloat16": 8, "binary32": 24, "binary64": 53}


def rp_epsilon(precision: str) -> float:
    """Bound on RP(fl(z), z) for one round-to-nearest: u / (1 - u).

    Assumes fl is IEEE round to nearest (ties to even) and z is in the normal range of the
    format (no overflow or underflow); a faithful-only or flush-to-zero operation can exceed it."""
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
    """Bound on RP(computed, exact) for `expr` evaluated in `precision`.

    Assumes every + * / sqrt is correctly rounded (IEEE 754 round to nearest, ties to even), all
    inputs and intermediate values are positive and in the normal range (no overflow, no
    underflow), and each input's own RP error is at most its entry in `input_grades` (0 if absent).
    """
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


def round_to_precision(values: np.ndarray, precision: str) -> np.ndarray:
    """float64 `values` rounded to nearest, ties to even, to the significand width of `precision`.

    The exponent range is not limited (the grades assume no overflow or underflow). Every step is
    exact in float64: frexp and ldexp scale by powers of two, and rint rounds an integer-part
    value with ties to even, so the only rounding is the one intended."""
    if precision not in SIGNIFICAND_BITS:
        raise ValueError(f"precision must be one of {sorted(SIGNIFICAND_BITS)}; got {precision!r}")
    bits = SIGNIFICAND_BITS[precision]
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))   # 0.5 <= |mantissa| < 1
    return np.asarray(np.ldexp(np.rint(np.ldexp(mantissa, bits)), exponent - bits))


def _apply(op: str, args: list[np.ndarray]) -> np.ndarray:
    if op == "+":
        return np.add(args[0], args[1])
    if op == "*":
        return np.multiply(args[0], args[1])
    if op == "/":
        return np.divide(args[0], args[1])
    return np.sqrt(args[0])


def _evaluate(expr: Expr, env: dict[str, np.ndarray], precision: str) -> np.ndarray:
    if isinstance(expr, Var):
        return round_to_precision(env[expr.name], precision)
    if isinstance(expr, Lit):
        return round_to_precision(np.float64(expr.value), precision)
    args = [_evaluate(a, env, precision) for a in expr.args]
    return round_to_precision(_apply(expr.op, args), precision)


def evaluate(expr: Expr, env: dict[str, torch.Tensor], precision: str) -> torch.Tensor:
    """Evaluate with inputs, literals and every operation correctly rounded to `precision`.

    Returns float64 values that are representable in `precision`. torch's own float32 kernels
    are not used: on some CPUs its float32 sqrt is 1 ulp off on a fifth of the inputs, and the
    grades assume correctly rounded operations. Instead each operation is one IEEE float64
    operation (NumPy's float64 +, *, / and sqrt are correctly rounded by the hardware) followed
    by one rounding to p bits. For p-bit inputs that double rounding equals a single correct
    rounding of the exact result whenever 53 >= 2p + 2 (Figueroa, "When is double rounding
    innocuous?", 1995): p = 24 (binary32), 11 (binary16) and 8 (bfloat16) all qualify. For
    binary64 (p = 53) the float64 operation is itself the correctly rounded result."""
    arrays = {k: v.detach().cpu().to(torch.float64).numpy() for k, v in env.items()}
    return torch.from_numpy(_evaluate(expr, arrays, precision))


def measured_error(expr: Expr, env: dict[str, torch.Tensor], precision: str) -> torch.Tensor:
    """RP between the correctly rounded `precision` evaluation and a float64 one, on inputs first
    rounded to `precision` (float64 rounding is ~2^29 times smaller than binary32's)."""
    exact_inputs = {k: evaluate(Var(k), env, precision) for k in env}
    return relative_precision(evaluate(expr, exact_inputs, precision),
                              evaluate(expr, exact_inputs, "binary64"))


__all__ = ["DTYPES", "Lit", "Op", "SIGNIFICAND_BITS", "UNIT_ROUNDOFF", "Var", "add", "div",
           "evaluate", "forward_error_grade", "measured_error", "mul", "relative_precision",
           "round_to_precision", "rp_epsilon", "sensitivity", "sqrt"]
