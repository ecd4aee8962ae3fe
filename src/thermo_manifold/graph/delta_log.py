"""Delta-state log: a ring buffer of sparse state differences (Archive 04, "State History as
Differentials").

`record(state)` stores only the entries of delta_k = state_k - recon_{k-1} whose magnitude is
above `epsilon`, where recon is the log's own reconstruction. Measuring each difference against
the reconstruction (not the previous true state) keeps the reconstruction error of every entry
below `epsilon` forever instead of letting thresholding errors accumulate. Values are kept in
float64: the difference of two float32 numbers is exact there, so with epsilon = 0 a float32
state stream is reconstructed bit for bit.

When more than `horizon` deltas are held, the oldest is folded into the anchor state, so
`reconstruct(t)` works for every t inside the retained window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch


@dataclass
class SparseDelta:
    step: int
    indices: torch.Tensor   # flat indices into the state, int64
    values: torch.Tensor    # float64


class DeltaStateLog:
    def __init__(self, epsilon: float = 0.0, horizon: int = 128):
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0; got {epsilon}")
        if not (isinstance(horizon, int) and horizon >= 1):
            raise ValueError(f"horizon must be an integer >= 1; got {horizon!r}")
        self.epsilon, self.horizon = float(epsilon), horizon
        self.deltas: deque[SparseDelta] = deque()
        self.anchor: torch.Tensor | None = None   # float64 state at anchor_step
        self.anchor_step = 0
        self.shape: torch.Size | None = None
        self.dtype: torch.dtype | None = None
        self._recon: torch.Tensor | None = None
        self._step = -1

    def __len__(self) -> int:
        return len(self.deltas)

    @property
    def steps(self) -> range:
        """Steps that can be reconstructed."""
        return range(self.anchor_step, self._step + 1)

    @property
    def nnz(self) -> int:
        return sum(int(d.indices.numel()) for d in self.deltas)

    def record(self, state: torch.Tensor) -> None:
        """Append the next state of the stream (the caller's tensor is not kept or modified)."""
        flat = state.detach().reshape(-1).to(torch.float64)
        if self.anchor is None:
            self.shape, self.dtype = state.shape, state.dtype
            self.anchor = flat.clone()
            self._recon = flat.clone()
            self.anchor_step = self._step = 0
            return
        if state.shape != self.shape:
            raise ValueError(f"state shape changed from {tuple(self.shape)} to {tuple(state.shape)}")
        diff = flat - self._recon
        keep = torch.nonzero(diff.abs() > self.epsilon).flatten()
        values = diff[keep]
        self._step += 1
        self.deltas.append(SparseDelta(self._step, keep, values))
        self._recon = self._recon.index_add(0, keep, values)
        if len(self.deltas) > self.horizon:
            old = self.deltas.popleft()
            self.anchor = self.anchor.index_add(0, old.indices, old.values)
            self.anchor_step = old.step

    def reconstruct(self, step: int | None = None) -> torch.Tensor:
        """state_step = anchor + sum of the deltas up to `step` (default: the latest)."""
        if self.anchor is None:
            raise ValueError("the log is empty")
        step = self._step if step is None else step
        if step not in self.steps:
            raise ValueError(f"step {step} is outside the retained window "
                             f"[{self.anchor_step}, {self._step}]")
        state = self.anchor.clone()
        for delta in self.deltas:
            if delta.step > step:
                break
            state = state.index_add(0, delta.indices, delta.values)
        return state.reshape(self.shape).to(self.dtype)

    def trajectory(self) -> torch.Tensor:
        """All retained states in order, float64, shape (T, *state_shape)."""
        if self.anchor is None:
            raise ValueError("the log is empty")
        states = [self.anchor.clone()]
        for delta in self.deltas:
            states.append(states[-1].index_add(0, delta.indices, delta.values))
        return torch.stack(states).reshape(len(states), *self.shape)

    def finite_differences(self, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(states, d state/dt) at the interior steps, by central differences of the deltas.

        (delta_{k+1} + delta_k) / (2 dt) is the centred derivative at step k (O(dt^2) error).
        """
        states = self.trajectory().reshape(len(self.deltas) + 1, -1)
        if states.shape[0] < 3:
            raise ValueError("need at least 3 logged states for central differences")
        return states[1:-1], (states[2:] - states[:-2]) / (2.0 * dt)


__all__ = ["DeltaStateLog", "SparseDelta"]
