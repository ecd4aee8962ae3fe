from __future__ import annotations

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
