"""`SparseVectorField`: monomial features against brute force, the RK4 step against the bench's
own integrator and a closed form, the degree rules, and a short fit that finds the
Lotka-Volterra terms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from thermo_manifold.graph import bench
from thermo_manifold.graph.sparse import SparseMaskedNN
from thermo_manifold.graph.systems import make_system
from thermo_manifold.graph.vector_field import (
    SparseVectorField,
    candidate_degrees,
    choose_degree,
    library_degree,
    monomials,
)


def test_monomials_count_and_values_match_brute_force():
    for dim, degree in ((1, 3), (2, 2), (3, 3), (4, 2)):
        # Monomials of degree 1..k in d variables: C(d + k, k) - 1.
        assert len(monomials(dim, degree)) == math.comb(dim + degree, degree) - 1
    model = SparseVectorField(3, 3)
    x = torch.tensor([[2.0, -3.0, 0.5]], dtype=torch.float64)
    phi = model.features(x.float()).double()[0]
    names = model.features.names(["x", "y", "z"])
    values = dict(zip(names, phi.tolist()))
    assert values["x"] == pytest.approx(2.0)
    assert values["x*y"] == pytest.approx(-6.0)
    assert values["y^2*z"] == pytest.approx(4.5)
    assert values["x*y*z"] == pytest.approx(-3.0)
    assert values["z^3"] == pytest.approx(0.125)
    assert len(set(names)) == len(names)


def test_identity_off_layer_is_zero_until_an_entry_is_hot():
    layer = SparseMaskedNN(4, 2, bias=True, identity=False)
    x = torch.randn(5, 4)
    assert torch.equal(layer(x), torch.zeros(5, 2))
    layer.add_entries(torch.tensor([[1, 2], [0, 4]]), torch.tensor([3.0, -1.0]))
    expected = torch.stack([-torch.ones(5), 3.0 * x[:, 2]], dim=1)
    torch.testing.assert_close(layer(x), expected)


def test_untrained_field_is_persistence():
    x = torch.randn(7, 3)
    assert torch.equal(SparseVectorField(3, 2)(x), x)


def _set_rate(model: SparseVectorField, entries: dict[tuple[int, str], float],
              variables: list[str]) -> None:
    """Make rate[row] += value * term for each ((row, term name), value); term "1" is the
    bias column."""
    names = model.features.names(variables)
    cols = {name: k for k, name in enumerate(names)} | {"1": len(names)}
    idx = torch.tensor([[row, cols[term]] for row, term in entries])
    model.rate_map.add_entries(idx, torch.tensor(list(entries.values()), dtype=torch.float64))


def test_rk4_step_of_the_true_lotka_volterra_rate_is_the_systems_own_step():
    """The learner's map with the true coefficients (per sampling interval) is the bench's
    RK4 integrator: the same scheme, two substeps over dt."""
    system = make_system("lotka-volterra")
    model = SparseVectorField(2, 2, substeps=system.substeps, dtype=torch.float64)
    dt = system.dt
    _set_rate(model, {(0, "x"): 1.0 * dt, (0, "x*y"): -0.5 * dt,
                      (1, "x*y"): 0.5 * dt, (1, "y"): -1.0 * dt}, ["x", "y"])
    x = 0.5 + 2.5 * torch.rand(16, 2, dtype=torch.float64)
    torch.testing.assert_close(model(x), system.step(x), rtol=1e-12, atol=1e-12)


def test_rk4_of_a_linear_rate_matches_the_matrix_exponential_and_euler_does_not():
    a = np.array([[0.0, 0.3], [-0.3, -0.05]])  # a damped rotation, per sampling interval
    exact = torch.tensor(_expm(a))
    x = torch.randn(8, 2, dtype=torch.float64)
    for integrator, tolerance in (("rk4", 1e-5), ("euler", None)):
        model = SparseVectorField(2, 1, substeps=2, integrator=integrator,
                                  dtype=torch.float64)
        _set_rate(model, {(0, "v"): 0.3, (1, "x"): -0.3, (1, "v"): -0.05}, ["x", "v"])
        with torch.no_grad():
            error = float((model(x) - x @ exact.T).abs().max())
        if tolerance is None:
            assert error > 1e-3  # Euler's O(h^2) error, which the RK4 map removes
        else:
            assert error < tolerance


def _expm(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(a)
    return (vectors @ np.diag(np.exp(values)) @ np.linalg.inv(vectors)).real


def test_coefficients_put_the_bias_first_and_one_row_per_term():
    model = SparseVectorField(2, 2)
    _set_rate(model, {(0, "1"): 0.25, (1, "x*y"): -2.0}, ["x", "y"])
    table = model.coefficients()
    names = ["1"] + model.features.names(["x", "y"])
    assert table.shape == (len(names), 2)
    assert table[0, 0] == 0.25 and table[names.index("x*y"), 1] == -2.0
    assert int((table != 0).sum()) == 2


def test_degree_rules():
    assert candidate_degrees(3) == [1, 2, 3]
    assert candidate_degrees(10) == [1, 2, 3]  # 285 cubic monomials <= 400
    assert candidate_degrees(16) == [1, 2]     # 968 cubic monomials > 400
    assert library_degree(16) == 2
    losses = {1: 0.5, 2: 0.1, 3: 0.1}
    assert choose_degree(3, losses.__getitem__) == 2  # ties go to the lower degree
    assert choose_degree(16, {1: 0.2, 2: 0.3}.__getitem__) == 1
    assert choose_degree(3, {1: math.nan, 2: math.inf, 3: 0.4}.__getitem__) == 3


def test_a_short_fit_finds_the_lotka_volterra_terms_exactly():
    """With relaxed probes over every Cold cell, 30 planner cycles find the four true terms
    (in standardised coordinates the bias joins them) and nothing else."""
    cfg = bench.BenchConfig(n_train=8, n_test=2, length=120, cycles=30, steps_per_cycle=40,
                            checkpoints=1)
    system = make_system("lotka-volterra")
    data = bench.make_data(system, cfg, seed=0)
    fit = bench.pair_sampler(data.train[:6], cfg.batch)
    judge = bench.pair_sampler(data.train[6:], cfg.batch)
    model = bench.field_learner(2, cfg, degree=2)
    torch.manual_seed(0)
    checkpoints, _ = bench.train_sparse(model, fit, cfg, torch.Generator().manual_seed(1),
                                        data.test, planner_config=bench.FIELD_PLANNER,
                                        judge=judge)
    assert checkpoints[-1]["one_step_rmse"] < 1e-4  # persistence: about 0.06
    # Standardised x' = (x - m)/s turns x*y into x'*y', x' and y' terms and a constant.
    table = model.coefficients()
    names = ["1"] + model.features.names(["x", "y"])
    found = {(names[k], i) for k, i in torch.nonzero(table.abs() > 1e-4).tolist()}
    assert found <= {(t, i) for t in ("1", "x", "y", "x*y") for i in (0, 1)}
    assert ("x*y", 0) in found and ("x*y", 1) in found
    assert not any(t in ("x^2", "y^2") for t, _ in found)


def test_training_waits_while_nothing_is_hot():
    """A cycle that commits nothing leaves the field at persistence, with no gradient to
    follow: training skips its steps instead of failing (it once stopped the bench)."""
    cfg = bench.BenchConfig(n_train=4, n_test=2, length=80, cycles=2, steps_per_cycle=3,
                            checkpoints=1)
    data = bench.make_data(make_system("lotka-volterra"), cfg, seed=0)
    fit = bench.pair_sampler(data.train, cfg.batch)
    model = bench.field_learner(2, cfg, degree=2)
    no_commits = bench.PlannerConfig(commits_per_cycle=0)
    checkpoints, _ = bench.train_sparse(model, fit, cfg, torch.Generator().manual_seed(0),
                                        data.test, planner_config=no_commits)
    assert model.rate_map.nnz == 0
    x = data.test[0]
    assert torch.equal(model(x), x)
    assert checkpoints[-1]["active_weights"] == 0
