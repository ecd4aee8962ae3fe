"""`SparseDynamicsLearner`: the sparse graph learner for a researcher's own series, with
scikit-learn's conventions (parameters in `__init__`, checked in `fit`; `fit` returns self).

    learner = SparseDynamicsLearner(max_active=128, seed=0).fit(trajectories, dt=0.01)
    learner.predict(x)              # the next state of each row
    learner.rollout(x0, steps)      # steps + 1 states from x0
    learner.equations(names=...)    # governing terms read off the learner's own rollouts
    learner.active_weights, learner.score(held_out)

What `fit` does (the bench's recipe, `graph/bench.py`): states are standardised per
coordinate; the one-step map x_t -> x_{t+1} is, with `model="field"` (default), a
`SparseVectorField`: a sparse rate over the monomials of the state up to `degree` (None:
chosen on the judging part by `choose_degree`), integrated by RK4 over one sampling
interval, with at most `max_active` weights; with `model="mlp"`, a `SparseResidualMLP` (identity plus a sparse
correction) with budgets that sum to `max_active` (a quarter for the spline activation, the
rest split between the two layers). The planner grows and prunes it on evidence, judged on the
last `judge_fraction` of the trajectories (of the time steps, for a single trajectory), and
SparseAdam trains it between planner cycles with a cosine learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.delta_log import DeltaStateLog
from thermo_manifold.graph.equations import format_equations, polynomial_library, recover_from_logs
from thermo_manifold.graph.models import SparseResidualMLP
from thermo_manifold.graph.optim import SparseAdam
from thermo_manifold.graph.planner import Planner, PlannerConfig
from thermo_manifold.graph.sparse import sparse_objects
from thermo_manifold.graph.vector_field import FIELD_PLANNER, SparseVectorField, choose_degree

MAX_SEED = 2**32 - 1
MODELS = ("field", "mlp")


def _as_trajectories(trajectories: Any, name: str = "trajectories") -> list[torch.Tensor]:
    """One [T, D] array or a list of them (NumPy or torch) -> float64 tensors, checked."""
    if isinstance(trajectories, (np.ndarray, torch.Tensor)) and np.ndim(trajectories) == 2:
        trajectories = [trajectories]
    if not isinstance(trajectories, (list, tuple)) or not trajectories:
        raise ValueError(f"{name} must be a [T, D] array or a non-empty list of them; got "
                         f"{type(trajectories).__name__}")
    out = []
    for k, item in enumerate(trajectories):
        try:
            array = torch.as_tensor(np.asarray(item, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name}[{k}] must hold numbers") from None
        if array.dim() != 2 or array.shape[0] < 3 or array.shape[1] < 1:
            raise ValueError(f"{name}[{k}] must be [T, D] with T >= 3 time steps; got shape "
                             f"{list(array.shape)}")
        if not bool(torch.isfinite(array).all()):
            raise ValueError(f"{name}[{k}] contains NaN or inf")
        out.append(array)
    if len({a.shape[1] for a in out}) != 1:
        raise ValueError(f"every trajectory in {name} must have the same number of columns; "
                         f"got {sorted({a.shape[1] for a in out})}")
    return out


def _pairs(trajectories: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.cat([t[:-1] for t in trajectories]), torch.cat([t[1:] for t in trajectories]))


class SparseDynamicsLearner:
    """A one-step map x_t -> x_{t+1} with at most `max_active` active weights (module doc).

    Parameters
    ----------
    max_active : int >= 8, the budget of active weights
    model : "field" (a sparse monomial vector field, stepped by RK4) or "mlp" (a sparse
        residual MLP with a spline activation)
    degree : int in [1, 4] or None, the field's highest monomial degree (None: chosen by
        `choose_degree`, a quarter-length fit per candidate degree judged on the judging part)
    hidden : int >= 1, the MLP's hidden width
    cycles : int >= 1, planner cycles; steps_per_cycle : int >= 1, SparseAdam steps between them
    lr : float > 0; batch : int >= 1
    judge_fraction : float in (0, 1), the share of the data that judges the planner's commits
    seed : int in [0, 2^32 - 1]
    """

    def __init__(self, max_active: int = 128, model: str = "field", degree: int | None = None,
                 hidden: int = 32, cycles: int = 150, steps_per_cycle: int = 40,
                 lr: float = 3e-3, batch: int = 256, judge_fraction: float = 0.25,
                 seed: int = 0):
        self.max_active, self.model, self.degree = max_active, model, degree
        self.hidden, self.cycles = hidden, cycles
        self.steps_per_cycle, self.lr, self.batch = steps_per_cycle, lr, batch
        self.judge_fraction, self.seed = judge_fraction, seed

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        for name, low in (("max_active", 8), ("hidden", 1), ("cycles", 1),
                          ("steps_per_cycle", 1), ("batch", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        if self.seed > MAX_SEED:
            raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}; got {self.seed}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}; got {self.model!r}")
        if self.degree is not None and (isinstance(self.degree, bool) or not isinstance(
                self.degree, (int, np.integer)) or not 1 <= self.degree <= 4):
            raise ValueError(f"degree must be None or an integer from 1 to 4; got "
                             f"{self.degree!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr!r}")
        if not (isinstance(self.judge_fraction, float) and 0.0 < self.judge_fraction < 1.0):
            raise ValueError(f"judge_fraction must be a float in (0, 1); got "
                             f"{self.judge_fraction!r}")

    def _fitted(self, method: str) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError(f"this SparseDynamicsLearner is not fitted yet; call fit(...) "
                               f"before {method}()")

    # ------------------------------------------------------------------ fit
    def fit(self, trajectories: Any, dt: float) -> "SparseDynamicsLearner":
        """Learn the one-step map from a [T, D] array or a list of them sampled every `dt`."""
        self._check_params()
        if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt)
                                        and dt > 0):
            raise ValueError(f"dt must be a finite number > 0; got {dt!r}")
        trajs = _as_trajectories(trajectories)
        every = torch.cat(trajs)
        self.mean_ = every.mean(0)
        self.std_ = every.std(0).clamp_min(1e-12)
        self.dt_, self.n_features_in_ = float(dt), int(every.shape[1])
        self.trajectories_ = trajs
        scaled = [((t - self.mean_) / self.std_).to(torch.float32) for t in trajs]
        if len(scaled) > 1:  # whole trajectories judge, so no judged pair is a fitted one
            n_judge = max(1, round(self.judge_fraction * len(scaled)))
            fit_part, judge_part = scaled[:-n_judge], scaled[-n_judge:]
        else:
            cut = max(2, round((1.0 - self.judge_fraction) * scaled[0].shape[0]))
            fit_part, judge_part = [scaled[0][:cut]], [scaled[0][cut - 1:]]
        fit_x, fit_y = _pairs(fit_part)
        judge_x, judge_y = _pairs(judge_part)

        def sampler(x, y):
            def sample(g: torch.Generator):
                rows = torch.randint(0, x.shape[0], (self.batch,), generator=g)
                return x[rows], y[rows]
            return sample

        def loss(model, batch):
            x, y = batch
            return torch.mean((model(x) - y) ** 2)

        fit_sample, judge_sample = sampler(fit_x, fit_y), sampler(judge_x, judge_y)

        def train(model, planner_config: PlannerConfig, cycles: int):
            g = make_generator(int(self.seed))
            planner = Planner(model, loss, fit_sample, planner_config, g, judge_sample)
            optimizer = SparseAdam(sparse_objects(model), lr=self.lr)
            for cycle in range(1, cycles + 1):
                planner.cycle()
                optimizer.lr = self.lr * 0.5 * (1 + math.cos(math.pi * (cycle - 1) / cycles))
                for _ in range(self.steps_per_cycle):
                    optimizer.zero_grad()
                    value = loss(model, fit_sample(g))
                    if not value.requires_grad:  # nothing is active yet: the identity map
                        break
                    value.backward()
                    optimizer.step()
            return model

        def field(degree: int) -> SparseVectorField:
            return SparseVectorField(self.n_features_in_, degree, budget=self.max_active)

        def judge_loss(degree: int) -> float:  # a quarter-length fit, judged on held-out pairs
            model = train(field(degree), FIELD_PLANNER, max(1, self.cycles // 4))
            with torch.no_grad():
                return float(loss(model, (judge_x, judge_y)))

        if self.model == "field":
            self.degree_ = int(self.degree or choose_degree(self.n_features_in_, judge_loss))
            model = train(field(self.degree_), FIELD_PLANNER, self.cycles)
        else:
            spline_budget = self.max_active // 4
            layer_budget = (self.max_active - spline_budget) // 2
            model = train(SparseResidualMLP(self.n_features_in_, self.hidden, layer_budget,
                                            spline_budget), PlannerConfig(), self.cycles)
        self.model_ = model
        return self

    # ------------------------------------------------------------------ use
    @property
    def active_weights(self) -> int:
        self._fitted("active_weights")
        return int(self.model_.active_weights())

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        scaled = ((x - self.mean_) / self.std_).to(torch.float32)
        with torch.no_grad():
            return self.model_(scaled).double() * self.std_ + self.mean_

    def _states(self, x: Any, name: str) -> tuple[torch.Tensor, bool]:
        array = torch.as_tensor(np.asarray(x, dtype=np.float64))
        single = array.dim() == 1
        array = array[None] if single else array
        if array.dim() != 2 or array.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} must be [N, {self.n_features_in_}] or "
                             f"[{self.n_features_in_}]; got shape {list(np.shape(x))}")
        return array, single

    def predict(self, x: Any) -> np.ndarray:
        """The next state of each row of x ([N, D] or [D]), float64."""
        self._fitted("predict")
        states, single = self._states(x, "x")
        out = self._step(states).numpy()
        return out[0] if single else out

    def rollout(self, x0: Any, steps: int) -> np.ndarray:
        """x0 and the `steps` states after it: [steps + 1, D] (or [N, steps + 1, D])."""
        self._fitted("rollout")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
        state, single = self._states(x0, "x0")
        path = [state]
        for _ in range(steps):
            state = self._step(state)
            path.append(state)
        out = torch.stack(path, dim=1).numpy()
        return out[0] if single else out

    def score(self, trajectories: Any) -> float:
        """R^2 of the one-step increments: 1 - sum |x_hat_{t+1} - x_{t+1}|^2 /
        sum |dx - mean dx|^2, dx = x_{t+1} - x_t. Persistence (x_hat = x_t) scores about 0
        and a perfect map 1 (the next *state*'s R^2 is near 1 for any smooth series)."""
        self._fitted("score")
        x, y = _pairs(_as_trajectories(trajectories))
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"trajectories must have {self.n_features_in_} columns; got "
                             f"{x.shape[1]}")
        residual = float(((self._step(x) - y) ** 2).sum())
        change = y - x
        total = float(((change - change.mean(0)) ** 2).sum())
        return 1.0 - residual / total if total > 0 else float("nan")

    def equations(self, names: Sequence[str] | None = None, degree: int = 2,
                  threshold: float = 0.05) -> list[str]:
        """Governing terms read off the learner's own rollouts from each training trajectory's
        first state (as long as that trajectory), by sparse regression (STLSQ with
        `threshold`) of central-difference derivatives on polynomials of `degree`."""
        self._fitted("equations")
        names = list(names) if names is not None else [f"x{i}" for i in
                                                       range(self.n_features_in_)]
        if len(names) != self.n_features_in_:
            raise ValueError(f"names must give {self.n_features_in_} names; got {len(names)}")
        logs = []
        for trajectory in self.trajectories_:
            path = torch.as_tensor(self.rollout(trajectory[0], trajectory.shape[0] - 1))
            if not bool(torch.isfinite(path).all()):
                raise ValueError("the learner's rollout diverged; no equations can be read")
            log = DeltaStateLog(epsilon=0.0, horizon=path.shape[0] + 1)
            for state in path:
                log.record(state)
            logs.append(log)
        library = polynomial_library(names, degree)
        xi = recover_from_logs(logs, self.dt_, library, threshold)
        return format_equations(xi, library, names)


__all__ = ["SparseDynamicsLearner"]
