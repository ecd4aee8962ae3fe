"""The curl task's reward is the 1-form omega (x dy - y dx): closed forms for a lap, a radial
path, and its sign; the dynamics, walls, horizon and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thermo_manifold.agent.curl_task import CurlTask, CurlTaskConfig, one_form_reward


def test_a_lap_pays_twice_omega_times_the_enclosed_area():
    # A regular 720-gon of radius r: the exact integral of x dy - y dx around it is twice its
    # area, r^2 n sin(2 pi / n); omega scales it.
    r, n, omega = 0.8, 720, 1.7
    angles = np.linspace(0.0, 2 * math.pi, n + 1)
    points = np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)
    total = sum(one_form_reward(omega, a, b) for a, b in zip(points[:-1], points[1:]))
    assert total == pytest.approx(omega * r * r * n * math.sin(2 * math.pi / n), rel=1e-12)
    reverse = sum(one_form_reward(omega, b, a) for a, b in zip(points[:-1], points[1:]))
    assert reverse == pytest.approx(-total, rel=1e-12)  # clockwise costs as much


def test_radial_motion_pays_nothing_so_no_potential_can_explain_the_reward():
    assert one_form_reward(2.0, np.array([0.2, 0.1]), np.array([0.8, 0.4])) == pytest.approx(0.0)
    # The same start and end, by two paths, pay differently: the reward is not d(anything).
    a, b, c = np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 1.0])
    direct = one_form_reward(1.0, a, b)
    around = one_form_reward(1.0, a, c) + one_form_reward(1.0, c, b)
    assert direct != pytest.approx(around)


def test_dynamics_walls_horizon_and_seeding():
    task = CurlTask(CurlTaskConfig(dt=0.1, drag=0.0, max_force=1.0, size=0.5, horizon=3))
    obs, _ = task.reset(seed=4)
    again, _ = CurlTask(task.config).reset(seed=4)
    assert np.array_equal(obs, again) and np.all(obs[2:] == 0)
    task.state = np.array([0.0, 0.0, 0.0, 0.0])
    obs, reward, terminated, truncated, _ = task.step([1.0, 0.0])
    np.testing.assert_allclose(obs, [0.01, 0.0, 0.1, 0.0])  # v += dt a, then x += dt v
    assert reward == pytest.approx(0.0) and not terminated and not truncated
    task.state = np.array([0.49, 0.0, 1.0, 0.0])
    obs, *_ = task.step([0.0, 0.0])
    assert obs[0] == 0.5 and obs[2] == pytest.approx(-0.5)  # wall: reversed and halved
    *_, truncated, _ = task.step([0.0, 0.0])
    assert truncated  # third step of a 3-step episode
    with pytest.raises(ValueError, match="action must be 2 finite numbers"):
        task.step([float("nan"), 0.0])
    with pytest.raises(ValueError, match="drag"):
        CurlTaskConfig(drag=30.0, dt=0.05)
