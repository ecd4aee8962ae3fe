"""Seed 003 sections 4-5: the diagonal metric against Adam's own second moment, and the
Boris-BAOAB step against closed forms (Verlet's map of a harmonic oscillator, the Boris
rotation angle, the Ornstein-Uhlenbeck variance), reversibility and O(h^2) energy error."""

from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.agent.integrator import (
    LangevinParams,
    baoab_step,
    boris_rotation,
    hamiltonian,
    thermostat,
)
from thermo_manifold.agent.metric import DiagonalMetric

F64 = torch.float64


def test_the_metric_is_adams_second_moment_without_bias_correction():
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(5, generator=g, dtype=F64) * (k + 1) for k in range(40)]
    weight = torch.zeros(5, dtype=F64, requires_grad=True)
    adam = torch.optim.Adam([weight], betas=(0.9, 0.95))
    metric = DiagonalMetric(5, beta=0.95, floor=1e-12, dtype=F64)
    for grad in grads:
        weight.grad = grad.clone()
        adam.step()
        metric.update(grad)
        v = adam.state[weight]["exp_avg_sq"]
        torch.testing.assert_close(metric.second_moment, v, rtol=1e-12, atol=0)


def test_the_metric_floors_flat_directions_and_averages_a_batch():
    metric = DiagonalMetric(3, beta=0.5, floor=1e-3, dtype=F64)
    metric.update(torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]], dtype=F64))
    # risk = mean over the batch of the squares = [2, 0, 5]; half of it after one step
    torch.testing.assert_close(metric.second_moment, torch.tensor([1.0, 0.0, 2.5], dtype=F64))
    torch.testing.assert_close(metric.diagonal(), torch.tensor([1.0, 1e-3, 2.5], dtype=F64))
    pred, true = torch.ones(1, 3, dtype=F64), torch.zeros(1, 3, dtype=F64)
    torch.testing.assert_close(metric.weighted_squared_error(pred, true),
                               torch.tensor([1.0 + 1e-3 + 2.5], dtype=F64))
    with pytest.raises(ValueError, match="dimension 3"):
        metric.update(torch.zeros(4))
    with pytest.raises(ValueError, match="beta"):
        DiagonalMetric(3, beta=1.0)


def _quadratic(stiffness: torch.Tensor):
    def potential(z):
        return 0.5 * (z * z * stiffness).sum(dim=-1)

    def grad(z):
        return z * stiffness

    return potential, grad


def test_without_noise_the_step_is_velocity_verlet_with_its_exact_one_step_map():
    """1-D oscillator Phi = w^2 z^2 / 2, G = m: Verlet's map is linear with determinant 1
    (symplectic) and trace 2 - (w h)^2 / m, so it rotates by cos(theta) = 1 - (w h)^2 / (2m)."""
    w, m, h = 1.7, 2.5, 0.3
    _, grad = _quadratic(torch.tensor([w * w], dtype=F64))
    metric = torch.tensor([m], dtype=F64)
    params = LangevinParams(h=h, gamma=0.0, temperature=0.0)
    columns = []
    for z0, p0 in ((1.0, 0.0), (0.0, 1.0)):
        z, p = baoab_step(torch.tensor([[z0]], dtype=F64), torch.tensor([[p0]], dtype=F64),
                          grad, metric, params)
        columns.append([float(z), float(p)])
    step = torch.tensor(columns, dtype=F64).T
    assert float(torch.linalg.det(step)) == pytest.approx(1.0, abs=1e-14)
    assert float(torch.trace(step)) == pytest.approx(2.0 - (w * h) ** 2 / m, abs=1e-14)


def test_energy_error_is_second_order_and_does_not_drift():
    stiffness = torch.tensor([1.0, 4.0, 9.0], dtype=F64)
    potential, grad = _quadratic(stiffness)
    metric = torch.tensor([1.0, 0.5, 2.0], dtype=F64)
    curl = torch.tensor([[0.0, 0.7, -0.2], [-0.7, 0.0, 0.4], [0.2, -0.4, 0.0]], dtype=F64)
    z0 = torch.tensor([[0.5, -0.3, 0.2]], dtype=F64)
    p0 = torch.tensor([[0.1, 0.4, -0.6]], dtype=F64)

    def worst_error(h: float, steps: int) -> tuple[float, float]:
        z, p = z0, p0
        start = float(hamiltonian(z, p, potential, metric))
        errors = []
        for _ in range(steps):
            z, p = baoab_step(z, p, grad, metric, LangevinParams(h=h, beta=1.3, gamma=0.0),
                              curl=curl)
            errors.append(abs(float(hamiltonian(z, p, potential, metric)) - start))
        half = len(errors) // 2
        return max(errors), max(errors[half:]) / max(errors[:half])

    coarse, drift_coarse = worst_error(0.04, 1000)
    fine, _ = worst_error(0.02, 2000)
    assert 3.5 < coarse / fine < 4.5  # O(h^2)
    assert drift_coarse < 1.5  # the second half of the run is no worse than the first


def test_the_step_is_time_reversible_with_momentum_and_curl_flipped():
    _, grad = _quadratic(torch.tensor([1.0, 2.0], dtype=F64))
    metric = torch.tensor([1.5, 0.7], dtype=F64)
    curl = torch.tensor([[0.0, 1.1], [-1.1, 0.0]], dtype=F64)
    z0 = torch.tensor([[0.3, -0.8], [1.0, 0.2]], dtype=F64)
    p0 = torch.tensor([[0.5, 0.1], [-0.2, 0.9]], dtype=F64)
    z, p = z0, p0
    for _ in range(200):
        z, p = baoab_step(z, p, grad, metric, LangevinParams(h=0.05, beta=0.8, gamma=0.0),
                          curl=curl)
    p = -p
    for _ in range(200):
        z, p = baoab_step(z, p, grad, metric, LangevinParams(h=0.05, beta=-0.8, gamma=0.0),
                          curl=curl)
    torch.testing.assert_close(z, z0, rtol=0, atol=1e-12)
    torch.testing.assert_close(-p, p0, rtol=0, atol=1e-12)


def test_the_boris_rotation_keeps_the_kinetic_energy_and_turns_by_its_closed_form_angle():
    g = torch.Generator().manual_seed(1)
    p = torch.randn(6, 4, generator=g, dtype=F64)
    raw = torch.randn(4, 4, generator=g, dtype=F64)
    metric = torch.rand(4, generator=g, dtype=F64) + 0.2
    turned = boris_rotation(p, raw - raw.T, metric, beta=2.0, h=0.7)
    torch.testing.assert_close((turned ** 2 / metric).sum(-1), (p ** 2 / metric).sum(-1),
                               rtol=1e-14, atol=0)
    # Cyclotron motion, G = I: each step turns p by theta with tan(theta / 2) = beta h / 2.
    b, h = 1.5, 0.4
    cyclotron = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    p = torch.tensor([[1.0, 0.0]], dtype=F64)
    out = boris_rotation(p, cyclotron, torch.ones(2, dtype=F64), beta=b, h=h)
    theta = 2 * math.atan(b * h / 2)
    # dq/ds = A q with A = [[0, b], [-b, 0]]: (1, 0) turns towards -y.
    torch.testing.assert_close(out, torch.tensor([[math.cos(theta), -math.sin(theta)]],
                                                 dtype=F64), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="antisymmetric"):
        boris_rotation(p, torch.eye(2, dtype=F64), torch.ones(2, dtype=F64), 1.0, 0.1)


def test_the_thermostat_has_the_ornstein_uhlenbeck_variance():
    g = torch.Generator().manual_seed(2)
    metric = torch.tensor([1.0, 4.0], dtype=F64)
    temperature, gamma, h = 0.3, 2.0, 0.25
    c = math.exp(-gamma * h)
    start = torch.zeros(200_000, 2, dtype=F64)
    one = thermostat(start, metric, gamma, temperature, h, g)
    # From rest, one step: variance T (1 - c^2) G_ii.
    expected = temperature * (1 - c * c) * metric
    torch.testing.assert_close(one.var(dim=0), expected, rtol=0.02, atol=0)
    p = one
    for _ in range(30):
        p = thermostat(p, metric, gamma, temperature, h, g)
    # Stationary: p ~ N(0, T G), so q = G^-1/2 p has variance T in every direction.
    torch.testing.assert_close((p / metric.sqrt()).var(dim=0),
                               torch.full((2,), temperature, dtype=F64), rtol=0.02, atol=0)


@pytest.mark.parametrize("changes, field", [({"h": 0.0}, "h"), ({"gamma": -1.0}, "gamma"),
                                            ({"temperature": float("nan")}, "temperature"),
                                            ({"beta": True}, "beta")])
def test_bad_parameters_are_refused_by_name(changes, field):
    with pytest.raises(ValueError, match=field):
        LangevinParams(**changes)
