from __future__ import annotations

from fractions import Fraction
from math import isqrt

import numpy as np
import pytest
import torch

from thermo_manifold.papers.kernels import rounding as r


def test_unit_roundoffs_match_torch():
    assert r.UNIT_ROUNDOFF["binary16"] == 2.0 ** -11 == torch.finfo(torch.float16).eps / 2
    assert r.UNIT_ROUNDOFF["binary32"] == torch.finfo(torch.float32).eps / 2


def test_rp_of_square_is_twice_rp(generator):
    x = torch.rand(1000, generator=generator, dtype=torch.float64) + 0.1
    x_tilde = x * torch.exp(1e-3 * torch.randn(1000, generator=generator, dtype=torch.float64))
    torch.testing.assert_close(r.relative_precision(x_tilde ** 2, x ** 2),
                               2 * r.relative_precision(x_tilde, x), rtol=1e-9, atol=1e-15)
    assert r.sensitivity(r.mul(r.Var("x"), r.Var("x")), "x") == 2.0
    with pytest.raises(ValueError):
        r.relative_precision(-1.0, 1.0)


EXPRESSIONS = {
    "x*y + z": r.add(r.mul(r.Var("x"), r.Var("y")), r.Var("z")),
    "(x + y) / z": r.div(r.add(r.Var("x"), r.Var("y")), r.Var("z")),
    "sqrt(x*x + y*y)": r.sqrt(r.add(r.mul(r.Var("x"), r.Var("x")), r.mul(r.Var("y"), r.Var("y")))),
    "x*x*x*x / (y + 0.1)": r.div(r.mul(r.mul(r.Var("x"), r.Var("x")), r.mul(r.Var("x"), r.Var("x"))),
                                 r.add(r.Var("y"), r.Lit(0.1))),
    "((x+y)+(z+x))*(y*z)": r.mul(r.add(r.add(r.Var("x"), r.Var("y")), r.add(r.Var("z"), r.Var("x"))),
                                  r.mul(r.Var("y"), r.Var("z"))),
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@pytest.mark.parametrize("precision", ["binary32", "binary16"])
def test_forward_error_grade_bounds_measured_error(generator, name, precision):
    expr = EXPRESSIONS[name]
    env = {v: 0.5 + 1.5 * torch.rand(20000, generator=generator, dtype=torch.float64) for v in "xyz"}
    grade = r.forward_error_grade(expr, precision)
    measured = r.measured_error(expr, env, precision)
    assert float(measured.max()) <= grade.value * (1 + 1e-9)
    assert float(measured.max()) > 0.05 * grade.value      # the bound is not vacuous
    assert grade.kind.value == "forward_error_bound"


def test_grade_composition_rules():
    eps = r.rp_epsilon("binary32")
    x, y = r.Var("x"), r.Var("y")
    assert r.forward_error_grade(r.mul(x, y), "binary32").value == pytest.approx(eps)
    assert r.forward_error_grade(r.mul(x, y), "binary32", {"x": 1e-3}).value == pytest.approx(1e-3 + eps)
    assert r.forward_error_grade(r.add(x, y), "binary32", {"x": 1e-3, "y": 2e-3}).value == pytest.approx(2e-3 + eps)
    assert r.forward_error_grade(r.Lit(0.5), "binary16").value == 0.0
    assert r.forward_error_grade(r.Lit(0.1), "binary16").value == pytest.approx(r.rp_epsilon("binary16"))
    assert r.forward_error_grade(r.Lit(0.1), "binary32").value == eps          # 0.1 is no float32
    assert r.forward_error_grade(r.Lit(1 + 2.0 ** -11), "binary16").value == r.rp_epsilon("binary16")
    assert r.forward_error_grade(r.Lit(1 + 2.0 ** -10), "binary16").value == 0.0
    assert r.forward_error_grade(r.div(x, y), "binary32", {"x": 1e-3, "y": 2e-3}).value == pytest.approx(3e-3 + eps)
    assert r.forward_error_grade(r.sqrt(x), "binary32", {"x": 1e-3}).value == pytest.approx(0.5e-3 + eps)
    with pytest.raises(ValueError, match="literals must be positive"):
        r.forward_error_grade(r.Lit(-1.0), "binary32")


def test_rp_epsilon_is_u_over_one_minus_u():
    for precision, u in (("binary16", 2.0 ** -11), ("bfloat16", 2.0 ** -8), ("binary32", 2.0 ** -24),
                         ("binary64", 2.0 ** -53)):
        assert r.rp_epsilon(precision) == u / (1 - u)
    with pytest.raises(ValueError, match="precision must be one of .*'binary16'.*; got 'fp8'"):
        r.rp_epsilon("fp8")


def test_expression_validation():
    with pytest.raises(ValueError, match=r"op must be one of \['\*', '\+', '/', 'sqrt'\]; got '-'"):
        r.Op("-", (r.Var("x"), r.Var("y")))
    with pytest.raises(ValueError, match=r"sqrt takes 1 argument\(s\); got 2"):
        r.Op("sqrt", (r.Var("x"), r.Var("y")))
    assert r.div(r.Var("a"), r.Lit(2.0)) == r.Op("/", (r.Var("a"), r.Lit(2.0)))


def test_sensitivity_rules():
    x, y, z = r.Var("x"), r.Var("y"), r.Var("z")
    assert r.sensitivity(x, "y") == 0.0 and r.sensitivity(r.Lit(3.0), "x") == 0.0
    assert r.sensitivity(r.mul(x, y), "x") == 1.0 and r.sensitivity(r.div(x, y), "y") == 1.0
    assert r.sensitivity(r.add(x, r.mul(x, x)), "x") == 2.0            # max(1, 2), not 1 + 2
    assert r.sensitivity(r.add(y, z), "x") == 0.0
    assert r.sensitivity(r.sqrt(r.mul(x, r.mul(x, x))), "x") == 1.5
    assert r.sensitivity(r.div(r.mul(x, x), r.sqrt(y)), "y") == 0.5


# --- the oracle itself: correctly rounded on any CPU ---------------------------------------------

def test_oracle_sqrt_is_correctly_rounded_where_torch_float32_is_not():
    # sqrt(1.8568692207336426) = 1.36266996...; the float32 neighbours are 1.3626698255538940
    # and 1.3626699447631836, and the exact root is nearer the second (checked in Fractions by
    # `_round_sqrt_exact` below). torch's float32 sqrt returns the first on some AMD CPUs.
    got = r.evaluate(r.sqrt(r.Var("x")), {"x": torch.tensor([1.8568692207336426])}, "binary32")
    assert got.tolist() == [1.3626699447631836]
    assert _round_sqrt_exact(Fraction(1.8568692207336426), 24) == Fraction(1.3626699447631836)


def _binade(q: Fraction, base: int) -> int:
    """e with base^(e-1) <= q < base^e, for q > 0."""
    e = 0
    while q >= Fraction(base) ** e:
        e += 1
    while q < Fraction(base) ** (e - 1):
        e -= 1
    return e


def _round_exact(q: Fraction, bits: int) -> Fraction:
    """q > 0 rounded to `bits` significant bits, to nearest, ties to even, in exact arithmetic."""
    e = _binade(q, 2)
    scaled = q * Fraction(2) ** (bits - e)            # in [2^(bits-1), 2^bits)
    m = scaled.numerator // scaled.denominator
    rest = scaled - m
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and m % 2 == 1):
        m += 1
    return m * Fraction(2) ** (e - bits)


def _round_sqrt_exact(q: Fraction, bits: int) -> Fraction:
    """sqrt(q) rounded to nearest even in exact arithmetic: m = floor(sqrt(q) 2^(bits-e)) by
    integer square root, then sqrt(q) 2^(bits-e) is compared with m + 1/2 by squaring."""
    e = _binade(q, 4)                                  # 2^(e-1) <= sqrt(q) < 2^e
    square = q * Fraction(4) ** (bits - e)
    m = isqrt(square.numerator // square.denominator)
    half_up = (Fraction(2 * m + 1, 2)) ** 2
    if square > half_up or (square == half_up and m % 2 == 1):
        m += 1
    return m * Fraction(2) ** (e - bits)


FORMATS = {"binary32": (24, np.float32), "binary16": (11, np.float16)}


@pytest.mark.parametrize("precision", sorted(FORMATS))
def test_oracle_operations_equal_exact_rational_rounding(precision):
    bits, dtype = FORMATS[precision]
    rng = np.random.default_rng(7)
    # Inputs exactly representable in the format (NumPy's own cast), spread over 12 binades.
    x = np.exp2(rng.uniform(-6, 6, 300)).astype(dtype).astype(np.float64)
    y = np.exp2(rng.uniform(-6, 6, 300)).astype(dtype).astype(np.float64)
    env = {"x": torch.from_numpy(x), "y": torch.from_numpy(y)}
    exact = {"+": lambda a, b: _round_exact(a + b, bits), "*": lambda a, b: _round_exact(a * b, bits),
             "/": lambda a, b: _round_exact(a / b, bits), "sqrt": lambda a, b: _round_sqrt_exact(a, bits)}
    ties = 0
    for op, rounded in exact.items():
        args = (r.Var("x"),) if op == "sqrt" else (r.Var("x"), r.Var("y"))
        got = r.evaluate(r.Op(op, args), env, precision).tolist()
        want = [float(rounded(Fraction(a), Fraction(b))) for a, b in zip(x, y)]
        assert got == want, op
        if op == "+":
            ties += sum(_round_exact(Fraction(a) + Fraction(b), bits + 1) == Fraction(a) + Fraction(b)
                        and _round_exact(Fraction(a) + Fraction(b), bits) != Fraction(a) + Fraction(b)
                        for a, b in zip(x, y))
    assert ties > 10                                   # sums exactly half-way were exercised


def test_oracle_rounds_ties_to_even_and_agrees_with_numpy_casts():
    # binary16 has 11 significant bits: 1 + 2^-11 is half-way between 1 and 1 + 2^-10 (odd),
    # 1 + 3 * 2^-11 half-way between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
    halfway = np.array([1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, -(1 + 2.0 ** -11)])
    assert r.round_to_precision(halfway, "binary16").tolist() == [1.0, 1 + 2.0 ** -9, -1.0]
    values = np.random.default_rng(3).normal(size=2000) * 100
    for precision, (_, dtype) in FORMATS.items():
        assert np.array_equal(r.round_to_precision(values, precision), values.astype(dtype).astype(np.float64))
    bf16 = torch.from_numpy(values).to(torch.bfloat16).to(torch.float64).numpy()
    assert np.array_equal(r.round_to_precision(values, "bfloat16"), bf16)
    assert np.array_equal(r.round_to_precision(values, "binary64"), values)
    single = np.array([1.0, 3.0, 0.1], dtype=np.float32)
    assert r.round_to_precision(single, "binary64").dtype == np.float64
    env = {"x": torch.tensor([0.1, 3.0]).to(torch.bfloat16)}               # no NumPy bfloat16
    assert r.evaluate(r.Var("x"), env, "bfloat16").tolist() == [0.10009765625, 3.0]
    with pytest.raises(ValueError, match="precision must be one of"):
        r.round_to_precision(values, "binary8")


def test_measured_error_rounds_inputs_and_literals():
    # x = 3 + 2^-11 is rounded to the binary16 input 3 first. 0.1 is not a binary16 number:
    # fl16(0.1) = 0.0999755859375, 3 * that = 0.2999267578125 is half-way between the binary16
    # neighbours 0.2998046875 (even) and 0.30029296875, so the computed value is 0.2998046875
    # (rounding 3 * 0.1 directly would give 0.300048828125). The reference is 3 * 0.1 in float64:
    # the literal's rounding counts as error, as its grade eps says.
    expr = r.mul(r.Var("x"), r.Lit(0.1))
    got = r.measured_error(expr, {"x": torch.tensor([3.0 + 2.0 ** -11])}, "binary16")
    assert float(got) == pytest.approx(abs(np.log(0.2998046875 / 0.30000000000000004)), rel=1e-12)
    assert float(got) <= r.forward_error_grade(expr, "binary16").value


def test_relative_precision_rejects_zero_and_mixed_signs():
    assert float(r.relative_precision(2.0, 1.0)) == pytest.approx(np.log(2.0))
    for a, b in (([1.0, 0.0], [1.0, 1.0]), (0.0, 1.0), (1.0, 0.0), ([1.0, -1.0], [1.0, 1.0])):
        with pytest.raises(ValueError, match="nonzero arguments of the same sign"):
            r.relative_precision(torch.tensor(a), torch.tensor(b))
    with pytest.raises(ValueError, match="literals must be positive in this fragment; got 0.0"):
        r.forward_error_grade(r.Lit(0.0), "binary32")
