"""Graph entities (Archives 00-03): Core, Connector, GraphModule, Graph, SuperGraph.

* `Core`: a state memory window (history x state_dim), a learnable function (a SparseMaskedNN
  with leading-block identity, so a fresh core keeps its own state), an update frequency and the
  token/complexity accounting of the relativistic barrier.
* `Connector`: a typed edge whose message is a sparse temporal weighting of the source core's
  history, message = sum_l w_l * state_{t-l}; its weights are a planner-editable SparseCOO.
* `GraphModule`: a core, its incoming connectors and recursive sub-modules (levels).
* `Graph`: the two-phase step. Every core first computes its next state from the committed
  states only (gather), then all cores commit. The update-frequency draws are made for all
  cores at once, indexed by core id, so the result does not depend on module order.
* `SuperGraph`: groups top-level modules into parents (clusters of at least 2) under nascent
  identity cores; the hierarchy depth is bounded by L_max = ceil(log2 n_0).

Seed bugs fixed here: the history shift appends a rank-2 [1, d] row (the seed concatenated a
rank-1 state onto a rank-2 memory); a core without edges reads its own state instead of
concatenating an empty list; messages use the source history directly (no [in, out] transpose).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from thermo_manifold.graph.delta_log import DeltaStateLog
from thermo_manifold.graph.optim import relativistic_gamma
from thermo_manifold.graph.sparse import SparseCOO, SparseMaskedNN, sparse_objects


class Core(nn.Module):
    def __init__(self, core_id: int, state_dim: int, n_inputs: int = 0, history: int = 6,
                 update_frequency: float = 1.0, net: nn.Module | None = None,
                 budget: int | None = None, token_limit: float | None = None,
                 log_deltas: bool = False, dtype: torch.dtype = torch.float32):
        super().__init__()
        if state_dim < 1 or history < 1 or n_inputs < 0:
            raise ValueError(f"state_dim and history must be >= 1 and n_inputs >= 0; got "
                             f"{state_dim}, {history}, {n_inputs}")
        if not 0.0 < update_frequency <= 1.0:
            raise ValueError(f"update_frequency must be in (0, 1]; got {update_frequency}")
        self.core_id, self.state_dim, self.history = core_id, state_dim, history
        self.input_dim = state_dim * (1 + n_inputs)
        self.net = net if net is not None else SparseMaskedNN(
            self.input_dim, state_dim, bias=True, budget=budget, narrow="leading", dtype=dtype)
        self.register_buffer("memory", torch.zeros(history, state_dim, dtype=dtype))
        self.update_frequency = float(update_frequency)
        self.token_limit = token_limit
        self.log = DeltaStateLog(0.0, horizon=128) if log_deltas else None
        self.next_state: torch.Tensor | None = None
        self.updatable = True
        self.change_ema = 0.0

    @property
    def state(self) -> torch.Tensor:
        return self.memory[-1]

    def set_state(self, state: torch.Tensor) -> None:
        """Fill the whole memory window with `state` (a copy)."""
        self.memory = state.detach().to(self.memory.dtype).expand_as(self.memory).clone()
        if self.log is not None:
            self.log.record(self.state)

    def complexity(self) -> int:
        return sum(obj.c_struct for obj in sparse_objects(self))

    def gamma(self) -> float:
        """Relativistic barrier factor of this core (1 without a token limit)."""
        if not self.token_limit:
            return 1.0
        return relativistic_gamma(self.complexity(), self.token_limit)

    def prepare(self, inputs: torch.Tensor, draw: float) -> None:
        """Phase 1: compute the next state from committed states (update if draw < p)."""
        self.updatable = draw < self.update_frequency
        self.next_state = self.net(inputs) if self.updatable else None

    def commit(self) -> None:
        """Phase 2: shift the memory window by one row (a new tensor; no aliasing)."""
        if not self.updatable or self.next_state is None:
            return
        new = self.next_state.reshape(1, self.state_dim).to(self.memory.dtype)
        change = float((new[0] - self.memory[-1]).abs().mean())
        self.change_ema = 0.9 * self.change_ema + 0.1 * change
        self.memory = torch.cat([self.memory[1:], new], dim=0)
        if self.log is not None:
            self.log.record(self.state.detach())
        self.next_state = None


class Connector(SparseCOO):
    """Typed edge: message = sum over Hot lags l of w_l * src.memory[-1 - l]."""

    def __init__(self, src: Core, kind: str = "state", lags: Sequence[int] = (0,),
                 values: Sequence[float] | None = None, budget: int | None = None):
        super().__init__(1, src.history, budget, src.memory.dtype, src.memory.device)
        self._src = [src]  # a plain reference: the source core is owned by its own module
        self.kind = kind
        lags = list(lags)
        if lags:
            idx = torch.tensor([[0, lag] for lag in lags], dtype=torch.long)
            vals = torch.ones(len(lags)) if values is None else torch.tensor(list(values))
            self.add_entries(idx, vals)

    @property
    def src(self) -> Core:
        return self._src[0]

    def message(self, memory: torch.Tensor | None = None) -> torch.Tensor:
        """sum_l w_l memory[..., -1 - l, :] over the Hot lags: [..., state_dim] from a
        [..., history, state_dim] window (default: the source core's own memory)."""
        memory = self.src.memory if memory is None else memory
        if self.is_pass_through:
            return memory.new_zeros(*memory.shape[:-2], self.src.state_dim)
        idx, vals = self.effective()
        rows = memory.shape[-2] - 1 - idx[:, 1]               # lag l -> row -1 - l
        return (memory.index_select(-2, rows) * vals.unsqueeze(1)).sum(-2)


class GraphModule(nn.Module):
    def __init__(self, module_id: int, core: Core, edges: Iterable[Connector] = (),
                 sub_modules: Iterable["GraphModule"] = (), level: int = 0):
        super().__init__()
        self.module_id, self.core, self.level = module_id, core, level
        self.edges = nn.ModuleList(edges)
        self.sub_modules = nn.ModuleList(sub_modules)
        expected = core.state_dim * (1 + len(self.edges))
        if core.input_dim != expected:
            raise ValueError(f"core {core.core_id} reads {core.input_dim} inputs but its state "
                             f"plus {len(self.edges)} edges give {expected}")

    def is_atomic(self) -> bool:
        return self.level == 0

    def cores(self) -> list[Core]:
        out = [self.core]
        for sm in self.sub_modules:
            out.extend(sm.cores())
        return out

    def gather(self, draws: dict[int, float]) -> None:
        inputs = [self.core.state] + [edge.message() for edge in self.edges]
        self.core.prepare(torch.cat(inputs), draws[self.core.core_id])
        for sm in self.sub_modules:
            sm.gather(draws)

    def predict(self, windows: dict[int, torch.Tensor], out: dict[int, torch.Tensor]) -> None:
        """The gather phase as a batched, differentiable function: `windows[core_id]` is a
        [B, history, state_dim] memory window; writes every core's next state [B, state_dim]
        into `out` (every core updates: update-frequency draws belong to stepping)."""
        own = windows[self.core.core_id]
        inputs = [own[:, -1]] + [edge.message(windows[edge.src.core_id])
                                 for edge in self.edges]
        out[self.core.core_id] = self.core.net(torch.cat(inputs, dim=-1))
        for sm in self.sub_modules:
            sm.predict(windows, out)

    def commit(self) -> None:
        self.core.commit()
        for sm in self.sub_modules:
            sm.commit()


class Graph(nn.Module):
    def __init__(self, modules: Sequence[GraphModule], generator: torch.Generator | None = None):
        super().__init__()
        self.graph_modules = nn.ModuleList(modules)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        ids = [c.core_id for c in self.cores()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"core ids must be unique; got {sorted(ids)}")

    def cores(self) -> list[Core]:
        out = []
        for m in self.graph_modules:
            out.extend(m.cores())
        return out

    def predict(self, windows: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        """Next state [B, state_dim] of every core from memory windows [B, history,
        state_dim] keyed by core id: the two-phase step's gather as a function of the windows,
        differentiable in every core's net and connector (`GraphOneStep` trains a graph
        through it); nothing is committed."""
        missing = sorted(c.core_id for c in self.cores() if c.core_id not in windows)
        if missing:
            raise ValueError(f"windows are missing cores {missing}")
        out: dict[int, torch.Tensor] = {}
        for m in self.graph_modules:
            m.predict(windows, out)
        return out

    @torch.no_grad()
    def step(self) -> None:
        """Two-phase step: every core gathers from committed states, then all commit."""
        ids = sorted(c.core_id for c in self.cores())
        u = torch.rand(len(ids), generator=self.generator).tolist()
        draws = dict(zip(ids, u))
        for m in self.graph_modules:
            m.gather(draws)
        for m in self.graph_modules:
            m.commit()

    def adapt_update_frequencies(self, tolerance: float, minimum: float = 1 / 64) -> None:
        """Cores whose state barely changes are updated less often; busy ones more often.

        The seed leaves this as a placeholder; this rule halves p when the mean absolute
        change per update (EMA) is below `tolerance` and doubles it (up to 1) otherwise.
        """
        for core in self.cores():
            if core.change_ema < tolerance:
                core.update_frequency = max(minimum, core.update_frequency / 2)
            else:
                core.update_frequency = min(1.0, core.update_frequency * 2)


class GraphOneStep(nn.Module):
    """A Graph as a one-step model of a flat state [B, sum of state_dims] (the cores' states
    laid side by side in `order`, core ids): from the present [B, D] (connectors then read lag
    0) or from a window of the last states [B, history, D] (connectors read their lags), to the
    next state [B, D]. The planner and SparseAdam train it like any other model: its
    plannable objects are the cores' nets and the connectors."""

    def __init__(self, graph: Graph, order: Sequence[int]):
        super().__init__()
        cores = {c.core_id: c for c in graph.cores()}
        if sorted(order) != sorted(cores):
            raise ValueError(f"order must list every core id once; got {list(order)} for "
                             f"{sorted(cores)}")
        self.graph, self.order = graph, list(order)
        self.sizes = [cores[i].state_dim for i in self.order]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = x.unsqueeze(-2) if x.dim() == 2 else x
        parts = torch.split(window, self.sizes, dim=-1)
        windows = dict(zip(self.order, parts))
        nxt = self.graph.predict(windows)
        return torch.cat([nxt[i] for i in self.order], dim=-1)

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(obj.c_active(eps) for obj in sparse_objects(self))


class SuperGraph:
    """Hierarchy over a Graph: pairs top-level modules under nascent identity parents."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.n0 = sum(1 for m in graph.graph_modules if m.level == 0)
        self.max_levels = math.ceil(math.log2(self.n0)) if self.n0 > 1 else 0

    @property
    def depth(self) -> int:
        return max(m.level for m in self.graph.graph_modules)

    def organize(self) -> bool:
        """Add one level (clusters of >= 2 consecutive modules); False once at the top.

        Each parent gets a nascent core (identity on its own state, sparse and Cold) fed by
        lag-0 connectors from its children, initialised to the mean of their states.
        """
        top = list(self.graph.graph_modules)
        if len(top) < 2 or self.depth >= self.max_levels:
            return False
        next_id = max(c.core_id for c in self.graph.cores()) + 1
        groups = [top[i:i + 2] for i in range(0, len(top) - 1, 2)]
        if len(top) % 2:
            groups[-1].append(top[-1])  # an odd module joins the last pair (cluster of 3)
        parents = []
        for group in groups:
            child_cores = [m.core for m in group]
            dim = child_cores[0].state_dim
            if any(c.state_dim != dim for c in child_cores):
                raise ValueError("modules in one cluster must share a state size")
            core = Core(next_id, dim, n_inputs=len(group), history=child_cores[0].history)
            core.set_state(torch.stack([c.state for c in child_cores]).mean(0))
            edges = [Connector(c, kind="sub") for c in child_cores]
            parents.append(GraphModule(next_id, core, edges, group,
                                       level=max(m.level for m in group) + 1))
            next_id += 1
        self.graph.graph_modules = nn.ModuleList(parents)
        return True

    def step(self) -> None:
        self.graph.step()


__all__ = ["Connector", "Core", "Graph", "GraphModule", "GraphOneStep", "SuperGraph"]
