"""Issue 19's researcher API: `SparseDynamicsLearner` on a system the bench does not have (a
damped linear oscillator, whose equations are known), its input handling and its errors, and
`thermo-manifold graph fit` on a CSV file."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from thermo_manifold.cli import main
from thermo_manifold.graph import SparseDynamicsLearner

DT = 0.05


def _oscillator(x0: float, v0: float, steps: int = 200) -> np.ndarray:
    """Exact samples of x' = v, v' = -x - 0.2 v (the matrix exponential of one step)."""
    a = np.array([[0.0, 1.0], [-1.0, -0.2]])
    values, vectors = np.linalg.eig(a * DT)
    step = (vectors @ np.diag(np.exp(values)) @ np.linalg.inv(vectors)).real
    out = [np.array([x0, v0])]
    for _ in range(steps - 1):
        out.append(step @ out[-1])
    return np.array(out)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    trajectories = [_oscillator(*rng.uniform(-1, 1, 2)) for _ in range(6)]
    learner = SparseDynamicsLearner(max_active=32, cycles=40, steps_per_cycle=30, seed=0)
    return learner.fit(trajectories, DT), trajectories


def _coefficient(line: str, term: str) -> float:
    match = re.search(r"([+-][\d.e+-]+) " + re.escape(term) + r"(\s|$)", line)
    return float(match.group(1)) if match else 0.0


def test_a_fitted_learner_predicts_scores_and_recovers_the_known_terms(fitted):
    learner, trajectories = fitted
    held_out = [_oscillator(0.7, -0.3), _oscillator(-0.5, 0.8)]
    assert learner.score(held_out) > 0.99  # persistence scores about 0
    assert learner.active_weights <= 32
    x_dot, v_dot = learner.equations(names=["x", "v"], degree=1, threshold=0.05)
    assert x_dot.startswith("dx/dt =") and v_dot.startswith("dv/dt =")
    assert _coefficient(x_dot, "v") == pytest.approx(1.0, abs=0.05)
    assert _coefficient(v_dot, "x") == pytest.approx(-1.0, abs=0.05)
    assert _coefficient(v_dot, "v") == pytest.approx(-0.2, abs=0.05)
    assert _coefficient(x_dot, "x") == 0.0  # no spurious term


def test_inputs_numpy_torch_single_or_listed_give_the_same_fit():
    series = _oscillator(0.6, 0.0, steps=80)
    small = dict(max_active=16, cycles=3, steps_per_cycle=5, seed=1)
    a = SparseDynamicsLearner(**small).fit(series, DT)
    b = SparseDynamicsLearner(**small).fit([torch.tensor(series)], DT)
    np.testing.assert_array_equal(a.predict(series[:5]), b.predict(series[:5]))
    assert a.predict(series[0]).shape == (2,) and a.predict(series[:4]).shape == (4, 2)
    path = a.rollout(series[0], 10)
    assert path.shape == (11, 2)
    np.testing.assert_allclose(path[1], a.predict(series[0]))
    assert a.rollout(series[:3], 4).shape == (3, 5, 2)


@pytest.mark.parametrize("change, message", [
    ({"max_active": 4}, "max_active must be an integer >= 8"),
    ({"seed": 2**40}, "seed must be an integer from 0 to"),
    ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"judge_fraction": 1.5}, "judge_fraction must be a float in"),
])
def test_bad_parameters_are_named_with_their_allowed_values(change, message):
    with pytest.raises(ValueError, match=message):
        SparseDynamicsLearner(**change).fit(_oscillator(0.1, 0.1, 20), DT)


def test_bad_data_and_unfitted_use_are_clear_errors():
    learner = SparseDynamicsLearner(cycles=1, steps_per_cycle=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        learner.predict(np.zeros(2))
    with pytest.raises(ValueError, match="dt must be"):
        learner.fit(_oscillator(0.1, 0.1, 20), 0.0)
    with pytest.raises(ValueError, match="T >= 3"):
        learner.fit(np.zeros((2, 2)), DT)
    with pytest.raises(ValueError, match="NaN or inf"):
        learner.fit(np.full((5, 2), np.nan), DT)
    with pytest.raises(ValueError, match="same number of columns"):
        learner.fit([np.zeros((5, 2)), np.zeros((5, 3))], DT)
    learner.fit(_oscillator(0.1, 0.1, 20), DT)
    with pytest.raises(ValueError, match=r"x must be \[N, 2\]"):
        learner.predict(np.zeros((3, 3)))


def test_graph_fit_reads_a_csv_and_writes_its_equations(tmp_path, capsys):
    series = _oscillator(0.8, 0.0, steps=150)
    csv = tmp_path / "osc.csv"
    np.savetxt(csv, series, delimiter=",", header="x,v", comments="")
    out = tmp_path / "fit"
    assert main(["graph", "fit", "--csv", str(csv), "--dt", str(DT), "--cycles", "5",
                 "--degree", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dx/dt =" in printed and "dv/dt =" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["names"] == ["x", "v"] and len(metrics["equations"]) == 2
    assert main(["graph", "fit", "--csv", str(tmp_path / "none.csv"), "--dt", "0.1"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["graph", "fit", "--csv", str(csv), "--dt", "-1"]) == 2
    assert "--dt" in capsys.readouterr().err


def test_the_score_is_an_r2_of_increments_so_persistence_scores_near_zero(fitted):
    import copy

    learner, _ = fitted
    held_out = [_oscillator(0.7, -0.3)]
    persistence = copy.copy(learner)
    persistence.model_ = lambda x: x  # predicts x_{t+1} = x_t
    x = held_out[0]
    dx = x[1:] - x[:-1]
    expected = 1.0 - (dx ** 2).sum() / ((dx - dx.mean(0)) ** 2).sum()
    assert persistence.score(held_out) == pytest.approx(expected, rel=1e-6)
    assert persistence.score(held_out) < 0.1 < learner.score(held_out)
