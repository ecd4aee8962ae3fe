"""Sparse objects: a true COO mask with aligned trainable values, and the SparseMaskedNN layer.

Every learnable piece of the graph learner (layer weights, spline hinge coefficients, connector
temporal weights, stencils) is a `SparseCOO`: the Hot set is `M_idx` (nnz x 2, int64, rows then
cols), kept sorted by the linear key `row * cols + col` and free of duplicates, with `W_vals`
(nnz) aligned one-to-one. Per-entry optimizer moments and cooling counters are "aligned
buffers": every structural edit re-indexes them together with `W_vals`, so nothing drifts out of
alignment when the planner grows or prunes.

A *shadow delta* (the seed's Warm probe) is an extra (R_idx, delta_R) list concatenated to the
Hot list during a forward pass; the probe differentiates with respect to `delta_R` only, so the
committed weights stay frozen and receive no gradient.
"""

from __future__ import annotations

import torch
from torch import nn

ALIGNED_BUFFERS = ("adam_m", "adam_v", "idle_cycles")


class SparseCOO(nn.Module):
    """A (rows x cols) sparse matrix whose structure is edited by the planner, not by autograd."""

    def __init__(self, rows: int, cols: int, budget: int | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        super().__init__()
        if rows < 1 or cols < 1:
            raise ValueError(f"sparse shape must be positive; got rows={rows}, cols={cols}")
        if budget is not None and budget < 0:
            raise ValueError(f"budget must be >= 0 or None; got {budget}")
        self.rows, self.cols = int(rows), int(cols)
        self.budget = budget
        self.plannable = True
        self.register_buffer("M_idx", torch.empty(0, 2, dtype=torch.long, device=device))
        self.W_vals = nn.Parameter(torch.empty(0, dtype=dtype, device=device))
        self.register_buffer("adam_m", torch.empty(0, dtype=dtype, device=device))
        self.register_buffer("adam_v", torch.empty(0, dtype=dtype, device=device))
        self.register_buffer("idle_cycles", torch.empty(0, dtype=torch.long, device=device))
        self.adam_t = 0
        self._shadow: tuple[torch.Tensor, torch.Tensor] | None = None

    # ---- structure -------------------------------------------------------------------------
    @property
    def nnz(self) -> int:
        return int(self.M_idx.shape[0])

    @property
    def c_struct(self) -> int:
        """Structural complexity: number of Hot cells."""
        return self.nnz

    def c_active(self, eps: float = 1e-6) -> int:
        """Active complexity: Hot cells whose weight is above `eps` in magnitude."""
        return int((self.W_vals.detach().abs() > eps).sum())

    def keys(self, idx: torch.Tensor | None = None) -> torch.Tensor:
        idx = self.M_idx if idx is None else idx
        return idx[:, 0] * self.cols + idx[:, 1]

    def allowed_keys(self) -> torch.Tensor:
        """Linear keys that may ever become Hot (all cells; stencils restrict this)."""
        return torch.arange(self.rows * self.cols, device=self.M_idx.device)

    def _check_new(self, idx: torch.Tensor) -> torch.Tensor:
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.M_idx.device).reshape(-1, 2)
        if idx.numel() and (idx[:, 0].min() < 0 or idx[:, 0].max() >= self.rows
                            or idx[:, 1].min() < 0 or idx[:, 1].max() >= self.cols):
            raise ValueError(f"indices outside the {self.rows}x{self.cols} shape")
        keys = self.keys(idx)
        if torch.unique(keys).numel() != keys.numel():
            raise ValueError("new indices contain duplicates")
        if torch.isin(keys, self.keys()).any():
            raise ValueError("new indices are already Hot")
        return idx

    def add_entries(self, idx: torch.Tensor, values: torch.Tensor | None = None) -> None:
        """Make `idx` Hot with initial `values` (zeros if None); keeps the list sorted."""
        idx = self._check_new(idx)
        n = idx.shape[0]
        if values is None:
            values = torch.zeros(n, dtype=self.W_vals.dtype, device=idx.device)
        values = torch.as_tensor(values, dtype=self.W_vals.dtype, device=idx.device).reshape(-1)
        if values.numel() != n:
            raise ValueError(f"got {values.numel()} values for {n} indices")
        all_idx = torch.cat([self.M_idx, idx])
        order = torch.argsort(self.keys(all_idx))
        fresh = {"adam_m": torch.zeros(n, dtype=self.adam_m.dtype, device=idx.device),
                 "adam_v": torch.zeros(n, dtype=self.adam_v.dtype, device=idx.device),
                 "idle_cycles": torch.zeros(n, dtype=torch.long, device=idx.device)}
        with torch.no_grad():
            self.M_idx = all_idx[order]
            self.W_vals = nn.Parameter(torch.cat([self.W_vals.detach(), values.detach()])[order])
            for name in ALIGNED_BUFFERS:
                setattr(self, name, torch.cat([getattr(self, name), fresh[name]])[order])

    def remove_positions(self, positions: torch.Tensor) -> None:
        """Make the Hot entries at `positions` (indices into M_idx) Cold again."""
        positions = torch.as_tensor(positions, dtype=torch.long, device=self.M_idx.device)
        if positions.numel() and (positions.min() < 0 or positions.max() >= self.nnz):
            raise ValueError(f"positions out of range for nnz={self.nnz}")
        keep = torch.ones(self.nnz, dtype=torch.bool, device=self.M_idx.device)
        keep[positions] = False
        with torch.no_grad():
            self.M_idx = self.M_idx[keep]
            self.W_vals = nn.Parameter(self.W_vals.detach()[keep])
            for name in ALIGNED_BUFFERS:
                setattr(self, name, getattr(self, name)[keep])

    def positions_of(self, idx: torch.Tensor) -> torch.Tensor:
        """Positions in M_idx of the given (row, col) pairs (-1 where not Hot)."""
        keys = self.keys(torch.as_tensor(idx, dtype=torch.long).reshape(-1, 2))
        hot = self.keys()
        pos = torch.searchsorted(hot, keys)
        found = (pos < hot.numel()) & (hot[pos.clamp(max=max(hot.numel() - 1, 0))] == keys)
        return torch.where(found, pos, torch.full_like(pos, -1))

    def sample_cold(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Up to `n` distinct Cold cells (as (row, col)) drawn uniformly from the allowed set."""
        allowed = self.allowed_keys()
        cold = allowed[~torch.isin(allowed, self.keys())]
        if cold.numel() == 0 or n <= 0:
            return torch.empty(0, 2, dtype=torch.long, device=self.M_idx.device)
        pick = torch.randperm(cold.numel(), generator=generator)[:n].to(cold.device)
        keys = cold[pick]
        return torch.stack([keys // self.cols, keys % self.cols], dim=1)

    def group_regions(self, cells: torch.Tensor, region_size: int) -> list[torch.Tensor]:
        """Split candidate cells (positions into `cells`) into regions of `region_size`."""
        n = cells.shape[0] // region_size
        return [torch.arange(r * region_size, (r + 1) * region_size) for r in range(n)]

    def dense(self) -> torch.Tensor:
        """The Hot values as a dense (rows x cols) matrix (for inspection and dense mode)."""
        out = torch.zeros(self.rows * self.cols, dtype=self.W_vals.dtype, device=self.W_vals.device)
        out = out.index_add(0, self.keys(), self.W_vals)
        return out.reshape(self.rows, self.cols)

    # ---- shadow delta (Warm probes) --------------------------------------------------------
    def set_shadow(self, idx: torch.Tensor, delta: torch.Tensor) -> None:
        self._shadow = (idx, delta)

    def clear_shadow(self) -> None:
        self._shadow = None

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, values) used by the forward pass: Hot entries plus any shadow delta."""
        if self._shadow is None:
            return self.M_idx, self.W_vals
        idx, delta = self._shadow
        return torch.cat([self.M_idx, idx]), torch.cat([self.W_vals, delta])

    @property
    def is_pass_through(self) -> bool:
        return self.nnz == 0 and self._shadow is None


NARROW_MODES = ("mean", "leading")


def rectangular_identity(x: torch.Tensor, out_dim: int, narrow: str = "mean") -> torch.Tensor:
    """The identity of a non-square layer (TODO-1 of the seed), applied without a matmul.

    Widening (out > in): y_j = x_{j mod in}, the input tiled over block copies.
    Narrowing (out < in): with `narrow="mean"`, y_i is the mean of the input's copies
    x_i, x_{i+out}, x_{i+2 out}, ... computed as x_i + sum_k (x_{i+k out} - x_i) / c_i, which is
    exactly x_i whenever the copies agree; with `narrow="leading"`, y_i = x_i (leading block).

    Tile-then-mean is exactly the identity map, and every hidden unit of a widen-narrow stack
    has a downstream path (weight 1/c_i) from the start. With zero-padded widening and
    leading-block narrowing, a fresh hidden unit would sit at a saddle: its incoming weights,
    outgoing weights and activation terms all have zero gradient, so evidence-driven growth
    could never reach nonlinear features.
    """
    in_dim = x.shape[-1]
    if narrow not in NARROW_MODES:
        raise ValueError(f"narrow must be one of {NARROW_MODES}; got {narrow!r}")
    if out_dim == in_dim:
        return x
    if out_dim > in_dim:
        reps = -(-out_dim // in_dim)
        return x.repeat(*([1] * (x.dim() - 1)), reps)[..., :out_dim]
    lead = x[..., :out_dim]
    if narrow == "leading":
        return lead
    reps = -(-in_dim // out_dim)
    tail = x[..., out_dim:]
    missing = reps * out_dim - in_dim
    if missing:  # pad with the leading block itself: a zero difference, no count
        tail = torch.cat([tail, lead[..., out_dim - missing:]], dim=-1)
    blocks = tail.reshape(*x.shape[:-1], reps - 1, out_dim)
    counts = torch.full((out_dim,), float(reps), dtype=x.dtype, device=x.device)
    if missing:
        counts[out_dim - missing:] -= 1
    return lead + (blocks - lead.unsqueeze(-2)).sum(dim=-2) / counts


class SparseMaskedNN(SparseCOO):
    """y = (I + W_sp) x (+ sparse bias), with W_sp a planner-edited COO matrix; with
    `identity=False`, y = W_sp x (+ sparse bias): a sparse linear map that starts at zero (the
    rate of a vector field, where "nothing learnt" means "nothing changes").

    Shape of the COO: (out_dim, in_dim + 1) when `bias` is on; column `in_dim` is the bias
    column (the input is augmented with a constant 1 only when a bias entry is Hot). The
    forward gathers x at the Hot columns, multiplies by W_vals and scatter-adds into the Hot
    rows, so its cost is O(batch * nnz); with nothing Hot it returns the identity and does no
    arithmetic at all. `mode="dense"` (chosen by the crossover policy) materialises the delta
    and uses one matmul; both modes compute the same function.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, budget: int | None = None,
                 narrow: str = "mean", dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu", identity: bool = True):
        if narrow not in NARROW_MODES:
            raise ValueError(f"narrow must be one of {NARROW_MODES}; got {narrow!r}")
        super().__init__(out_dim, in_dim + (1 if bias else 0), budget, dtype, device)
        self.narrow = narrow
        self.in_dim, self.out_dim, self.bias = int(in_dim), int(out_dim), bool(bias)
        self.identity = bool(identity)
        self.mode = "sparse"
        self.delta_calls = 0  # forward passes that did arithmetic on the delta (for tests)

    @property
    def compute_paths(self) -> int:
        """Multiply-adds per sample in the current mode (the crossover policy's path count)."""
        if self.is_pass_through:
            return 0
        return self.rows * self.cols if self.mode == "dense" else self.effective()[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"expected input width {self.in_dim}, got {x.shape[-1]}")
        if self.identity:
            base = rectangular_identity(x, self.out_dim, self.narrow)
        else:
            base = x.new_zeros(*x.shape[:-1], self.out_dim)
        if self.is_pass_through:
            return base
        self.delta_calls += 1
        lead = x.shape[:-1]
        flat = x.reshape(-1, self.in_dim)
        idx, vals = self.effective()
        if self.bias and bool((idx[:, 1] == self.in_dim).any()):
            flat = torch.cat([flat, flat.new_ones(flat.shape[0], 1)], dim=1)
        if self.mode == "dense":
            dense = torch.zeros(self.rows, self.cols, dtype=vals.dtype, device=vals.device)
            dense = dense.index_put((idx[:, 0], idx[:, 1]), vals, accumulate=True)
            delta = flat @ dense[:, : flat.shape[1]].T
        else:
            contrib = flat.index_select(1, idx[:, 1]) * vals
            delta = flat.new_zeros(flat.shape[0], self.out_dim).index_add(1, idx[:, 0], contrib)
        return base + delta.reshape(*lead, self.out_dim)


def sparse_objects(module: nn.Module) -> list[SparseCOO]:
    """The plannable sparse objects of a model, in registration order."""
    return [m for m in module.modules() if isinstance(m, SparseCOO) and m.plannable]


__all__ = ["SparseCOO", "SparseMaskedNN", "rectangular_identity", "sparse_objects", "NARROW_MODES"]
