"""The `curl` control task of issue 17: a 2-D point mass whose reward is a 1-form with curl.

State (x, y, vx, vy); action a in [-1, 1]^2 is a force. Each step of length dt (semi-implicit
Euler with linear drag):

    v <- (1 - drag dt) v + dt max_force a,    r <- r + dt v   (r = (x, y), walls at |r| <= size)
    reward = omega (x dy - y dx),  dx, dy the step's displacement, x, y at its midpoint

The reward integrates the 1-form omega (x dy - y dx), whose exterior derivative is 2 omega
dx ^ dy: circulating counter-clockwise pays (2 omega times the area enclosed per lap), radial
motion pays nothing. No scalar value function of the position represents such a reward: that
is what the critic's solenoidal head is for. Episodes last `horizon` steps. The interface
follows gymnasium's (reset(seed) -> (obs, info); step(a) -> (obs, reward, terminated,
truncated, info)) so the agent loop can drive it and gymnasium's tasks alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurlTaskConfig:
    omega: float = 1.0
    dt: float = 0.05
    drag: float = 0.5
    max_force: float = 1.0
    size: float = 2.0  # walls at |x|, |y| <= size (velocity component reversed and halved)
    horizon: int = 200

    def __post_init__(self) -> None:
        for name in ("dt", "max_force", "size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float))
                                               and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        for name in ("omega", "drag"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float))
                                               and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if self.drag < 0 or self.drag * self.dt >= 1:
            raise ValueError(f"drag must be >= 0 with drag * dt < 1; got drag={self.drag}, "
                             f"dt={self.dt}")
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int) or self.horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1; got {self.horizon!r}")


def one_form_reward(omega: float, start: np.ndarray, end: np.ndarray) -> float:
    """omega (x dy - y dx) along the segment start -> end, exact (the 1-form is linear, so the
    midpoint rule integrates it exactly on a straight segment)."""
    mid = 0.5 * (start + end)
    step = end - start
    return float(omega * (mid[0] * step[1] - mid[1] * step[0]))


class CurlTask:
    observation_dim = 4
    action_dim = 2

    def __init__(self, config: CurlTaskConfig | None = None):
        self.config = config if config is not None else CurlTaskConfig()
        self._rng = np.random.default_rng(0)
        self.state = np.zeros(4)
        self.steps = 0

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict]:
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        position = self._rng.uniform(-1.0, 1.0, 2)
        self.state = np.concatenate([position, np.zeros(2)])
        self.steps = 0
        return self.state.copy(), {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        cfg = self.config
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be 2 finite numbers; got {action!r}")
        a = np.clip(a, -1.0, 1.0)
        position, velocity = self.state[:2].copy(), self.state[2:].copy()
        velocity = (1.0 - cfg.drag * cfg.dt) * velocity + cfg.dt * cfg.max_force * a
        moved = position + cfg.dt * velocity
        for i in range(2):  # inelastic walls
            if abs(moved[i]) > cfg.size:
                moved[i] = math.copysign(cfg.size, moved[i])
                velocity[i] = -0.5 * velocity[i]
        reward = one_form_reward(cfg.omega, position, moved)
        self.state = np.concatenate([moved, velocity])
        self.steps += 1
        return self.state.copy(), reward, False, self.steps >= cfg.horizon, {}


__all__ = ["CurlTask", "CurlTaskConfig", "one_form_reward"]
