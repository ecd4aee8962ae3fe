"""The control tasks of issue 17 behind one interface: `make_task(name)`.

`curl` is written here (`curl_task.py`); `pendulum`, `cartpole` and `mountaincar` are
gymnasium's Pendulum-v1, CartPole-v1 and MountainCarContinuous-v0 (the `control` extra:
`pip install -e ".[control]"`). Every task gives `reset(seed) -> observation`,
`step(action) -> (observation, reward, done)` with NumPy float64 observations, and describes its
action space by `action_dim` and (`low`, `high`) for a box, or `num_actions` for a discrete
choice. `done` is gymnasium's terminated or truncated: the loop starts a new episode either way,
and bootstraps the value only through truncations (`terminated` tells them apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thermo_manifold.agent.curl_task import CurlTask

GYMNASIUM_TASKS = {"pendulum": "Pendulum-v1", "cartpole": "CartPole-v1",
                   "mountaincar": "MountainCarContinuous-v0"}
TASKS = ("curl", *GYMNASIUM_TASKS)


class TaskUnavailable(RuntimeError):
    """The task needs a package that is not installed."""


@dataclass(frozen=True)
class ActionSpace:
    """A box of `action_dim` numbers in [low, high], or `num_actions` discrete choices."""

    action_dim: int | None = None
    low: float = -1.0
    high: float = 1.0
    num_actions: int | None = None


class Task:
    """One environment: reset/step with NumPy observations (module doc)."""

    def __init__(self, name: str, env: Any, observation_dim: int, actions: ActionSpace):
        self.name, self.env = name, env
        self.observation_dim, self.actions = observation_dim, actions
        self.terminated = False

    def reset(self, seed: int) -> np.ndarray:
        observation, _ = self.env.reset(seed=int(seed))
        self.terminated = False
        return np.asarray(observation, dtype=np.float64)

    def step(self, action: np.ndarray | int) -> tuple[np.ndarray, float, bool]:
        if self.actions.num_actions is not None:
            action = int(action)
        else:
            action = np.asarray(action, dtype=np.float32 if self.name != "curl" else np.float64)
        observation, reward, terminated, truncated, _ = self.env.step(action)
        self.terminated = bool(terminated)
        return (np.asarray(observation, dtype=np.float64), float(reward),
                bool(terminated or truncated))

    def random_action(self, rng: np.random.Generator) -> np.ndarray | int:
        a = self.actions
        if a.num_actions is not None:
            return int(rng.integers(a.num_actions))
        return rng.uniform(a.low, a.high, a.action_dim)


def make_task(name: str) -> Task:
    """The task called `name` (one of TASKS)."""
    if name == "curl":
        env = CurlTask()
        return Task(name, env, CurlTask.observation_dim,
                    ActionSpace(action_dim=CurlTask.action_dim, low=-1.0, high=1.0))
    if name not in GYMNASIUM_TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
    try:
        import gymnasium
    except ImportError:
        raise TaskUnavailable(f"task {name!r} needs gymnasium: pip install -e \".[control]\" "
                              "(or pip install gymnasium)") from None
    env = gymnasium.make(GYMNASIUM_TASKS[name])
    space = env.action_space
    if hasattr(space, "n"):
        actions = ActionSpace(num_actions=int(space.n))
    else:
        actions = ActionSpace(action_dim=int(space.shape[0]), low=float(space.low.min()),
                              high=float(space.high.max()))
    return Task(name, env, int(env.observation_space.shape[0]), actions)


__all__ = ["ActionSpace", "GYMNASIUM_TASKS", "TASKS", "Task", "TaskUnavailable", "make_task"]
