"""`thermo-manifold graph coupled`: a graph of cores with connectors against a single core.

A connector is the one part of a graph that reads another core's *history* (a sparse weighting
of its memory window), so the bench puts it where that matters: a damped oscillator A
(position, velocity) driven through a delay line by a slow random source B (two components, an
AR(1) process kicked by a random telegraph force of +-`KICK`, so its noise is not Gaussian):

    A_{t+1} = R A_t + COUPLING e_v B_{t-DELAY}[0]
    B_{t+1} = RHO B_t + KICK s_t,   s_t in {-1, +1}^2

with R the exact one-step map of a damped oscillator. A's next state is a function of the
present and B's past; B's next state is unpredictable beyond RHO B_t. Models, all fitted on the
same windows of the last `HISTORY` states (the training trajectories less a quarter held out
for the planner's judging) and scored on held-out trajectories by the one-step RMSE of the mean
prediction (B's telegraph kicks set a floor no model passes):

* `graph`: core A and core B (each a `SparseMaskedNN` over [own state, message], identity
  first), joined by two connectors whose lags the planner grows (`GraphOneStep` over windows);
* `single core`: one core over the whole state [A, B] with the graph's final active-weight
  count as its budget; a core reads only its own present, so it cannot see the delay;
* `least squares on the window`: the dense linear map of the whole window (every weight), and
  `magnitude-pruned least squares` at the graph's count (the largest weights kept, then
  re-fitted on that support);
* `persistence`.

* `graph, sparse-MLP cores`: the same graph, each core's net a sparse MLP (input -> 16
  hidden units with a spline activation -> state, identity first), with clone-and-split in the
  training loop: every `SPLIT_EVERY` cycles the most loaded hidden unit (the largest sum of
  |w| over its Hot entries) is split (downstream weights halved, so the function is unchanged),
  trained for a cycle's steps, and kept only if it beats its own re-merged version on held-out
  batches (`split.keep_split`, the seed's "keep if the loss and stability improve").

The linear graph's residuals go to a `GaussianMixtureHead` inside the training loop: every
`HEAD_EVERY` cycles its base Gaussian is fitted and it tries to grow a component (a KS test of
the PIT on held-out residuals must fail on every window, and a frozen probe must lower the NLL
on fresh batches). The attempts, the components grown, the splits tried and kept, and the
held-out NLL with and without the grown components are in metrics.json.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import asdict, dataclass

import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.distribution import GaussianMixtureHead
from thermo_manifold.graph.entities import Connector, Core, Graph, GraphModule, GraphOneStep
from thermo_manifold.graph.optim import SparseAdam
from thermo_manifold.graph.planner import Planner, PlannerConfig, train_steps
from thermo_manifold.graph.sparse import SparseMaskedNN, sparse_objects
from thermo_manifold.graph.spline import SplineActivation
from thermo_manifold.graph.split import clone_and_split, keep_split

DELAY = 3
HISTORY = 6
COUPLING = 0.5
RHO = 0.97
KICK = 0.1
HEAD_EVERY = 10
SPLIT_EVERY = 10
HIDDEN = 16


@dataclass(frozen=True)
class CoupledConfig:
    n_train: int = 8
    n_test: int = 4
    length: int = 400
    cycles: int = 120
    steps_per_cycle: int = 40
    batch: int = 256
    budget: int = 24  # per core and per connector
    lr: float = 0.01

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "lr":
                if not (math.isfinite(value) and value > 0):
                    raise ValueError(f"lr must be a finite number > 0; got {value!r}")
            elif not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.n_train < 2:
            raise ValueError(f"n_train must be >= 2 (one part fits, one judges); got "
                             f"{self.n_train}")


QUICK = CoupledConfig(n_train=4, n_test=2, length=150, cycles=20, steps_per_cycle=20)


def oscillator_map(omega: float, damping: float) -> torch.Tensor:
    """The exact one-step map (dt = 1) of x'' = -omega^2 x - damping x' as a 2x2 matrix."""
    a = torch.tensor([[0.0, 1.0], [-omega ** 2, -damping]], dtype=torch.float64)
    return torch.linalg.matrix_exp(a)


def trajectories(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """(n, length, 4) float64: [A position, A velocity, B_0, B_1], after a burn-in of 200
    steps (so the source and the oscillator are stationary)."""
    r = oscillator_map(0.35, 0.05)
    states = [torch.zeros(n, 4, dtype=torch.float64)]
    burn_in = 200
    for t in range(burn_in + length - 1):
        now, past = states[-1], states[max(0, t - DELAY)]
        kicks = KICK * (2.0 * torch.randint(0, 2, (n, 2), generator=generator) - 1.0)
        a = now[:, :2] @ r.T
        a[:, 1] += COUPLING * past[:, 2]
        states.append(torch.cat([a, RHO * now[:, 2:] + kicks], dim=1))
    return torch.stack(states[burn_in:], dim=1)


def windows(traj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (window of HISTORY states, next state) pair: ([N, HISTORY, 4], [N, 4]) float32."""
    x = traj.unfold(1, HISTORY, 1).permute(0, 1, 3, 2)[:, :-1]   # [n, T - H, H, 4]
    y = traj[:, HISTORY:]
    return x.reshape(-1, HISTORY, 4).float(), y.reshape(-1, 4).float()


def sampler(x: torch.Tensor, y: torch.Tensor, batch: int):
    def sample(g: torch.Generator):
        rows = torch.randint(0, x.shape[0], (batch,), generator=g)
        return x[rows], y[rows]
    return sample


def mse_loss(model, batch) -> torch.Tensor:
    x, y = batch
    return torch.mean((model(x) - y) ** 2)


class SingleCore(torch.nn.Module):
    """One core over the whole state: its net reads the present (the window's last row)."""

    def __init__(self, budget: int):
        super().__init__()
        self.core = Core(0, 4, history=HISTORY, budget=budget)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.core.net(window[:, -1])

    def active_weights(self, eps: float = 1e-6) -> int:
        return sum(obj.c_active(eps) for obj in sparse_objects(self))


class SparseMLPNet(torch.nn.Module):
    """A core's net with hidden units: SparseMaskedNN (inputs -> HIDDEN, the inputs tiled),
    a spline activation, SparseMaskedNN (HIDDEN -> state, the leading block), so with nothing
    Hot it returns the core's own state."""

    def __init__(self, in_dim: int, state_dim: int, budget: int):
        super().__init__()
        self.first = SparseMaskedNN(in_dim, HIDDEN, bias=True, budget=budget)
        self.act = SplineActivation(HIDDEN, 9, 2.0, budget=budget)
        self.second = SparseMaskedNN(HIDDEN, state_dim, bias=True, budget=budget,
                                     narrow="leading")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.act(self.first(x)))

    def loads(self) -> torch.Tensor:
        """Sum of |w| of each hidden unit's Hot entries: incoming, hinges and outgoing."""
        load = torch.zeros(HIDDEN)
        for obj, axis in ((self.first, 0), (self.act, 0), (self.second, 1)):
            keep = obj.M_idx[:, axis] < HIDDEN  # not the bias column
            load.index_add_(0, obj.M_idx[keep, axis], obj.W_vals.detach().abs()[keep])
        return load


def two_core_graph(budget: int, mlp: bool = False) -> GraphOneStep:
    """Cores A (id 0) and B (id 1), each reading the other through a connector that starts at
    lag 0 with weight 1 (identity first: the core ignores it until a message cell is Hot)."""
    cores = [Core(i, 2, n_inputs=1, history=HISTORY, budget=budget,
                  net=SparseMLPNet(4, 2, budget) if mlp else None) for i in range(2)]
    modules = [GraphModule(i, cores[i], [Connector(cores[1 - i], budget=budget)])
               for i in range(2)]
    return GraphOneStep(Graph(modules), order=[0, 1])


def train(model, fit, judge, cfg: CoupledConfig, g: torch.Generator, on_cycle=None) -> None:
    planner = Planner(model, mse_loss, fit, PlannerConfig(probe_regime="relaxed"), g, judge)
    optimizer = SparseAdam(sparse_objects(model), lr=cfg.lr)
    for cycle in range(1, cfg.cycles + 1):
        planner.cycle()
        optimizer.lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * (cycle - 1) / cfg.cycles))
        train_steps(model, optimizer, mse_loss, fit, g, cfg.steps_per_cycle)
        if on_cycle is not None:
            on_cycle(cycle)


def least_squares(x: torch.Tensor, y: torch.Tensor, support: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """The linear map [window, 1] -> next state, float64, (H * 4 + 1, 4); with `support`
    (a boolean mask of that shape), fitted on the kept entries only, column by column."""
    design = torch.cat([x.reshape(x.shape[0], -1).double(),
                        torch.ones(x.shape[0], 1, dtype=torch.float64)], dim=1)
    target = y.double()
    if support is None:
        return torch.linalg.lstsq(design, target).solution
    out = torch.zeros(design.shape[1], target.shape[1], dtype=torch.float64)
    for k in range(target.shape[1]):
        keep = support[:, k]
        if keep.any():
            out[keep, k] = torch.linalg.lstsq(design[:, keep], target[:, k:k + 1]).solution[:, 0]
    return out


def linear_model(weights: torch.Tensor):
    def predict(window: torch.Tensor) -> torch.Tensor:
        flat = window.reshape(window.shape[0], -1).double()
        return (flat @ weights[:-1] + weights[-1]).float()
    return predict


def rmse(model, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x) - y) ** 2)))


def bench(cfg: CoupledConfig, seed: int, progress=None) -> dict:
    start = time.perf_counter()
    data = trajectories(cfg.n_train + cfg.n_test, cfg.length, make_generator(seed))
    n_fit = cfg.n_train - max(1, cfg.n_train // 4)
    # Standardised with the fitting part's statistics, as in `graph bench`.
    scale = data[:n_fit].reshape(-1, 4)
    data = (data - scale.mean(0)) / scale.std(0)
    fit_x, fit_y = windows(data[:n_fit])
    judge_x, judge_y = windows(data[n_fit:cfg.n_train])
    test_x, test_y = windows(data[cfg.n_train:])
    fit, judge = sampler(fit_x, fit_y, cfg.batch), sampler(judge_x, judge_y, cfg.batch)

    graph = two_core_graph(cfg.budget)
    head = GaussianMixtureHead(4)
    events = {"head_attempts": 0, "head_components_grown": 0}

    def head_sampler(gen: torch.Generator):  # the graph's mean and the truth, held out
        x, y = judge(gen)
        with torch.no_grad():
            return graph(x), y

    def grow_head(cycle: int) -> None:
        if progress is not None:
            progress.update(1)
        if cycle % HEAD_EVERY:
            return
        with torch.no_grad():
            mean = graph(judge_x)
        head.fit_base(mean, judge_y)
        events["head_attempts"] += 1
        events["head_components_grown"] += int(head.grow(head_sampler, make_generator(seed + 9)))

    train(graph, fit, judge, cfg, make_generator(seed + 1), grow_head)
    count = graph.active_weights()

    mlp_graph = two_core_graph(cfg.budget, mlp=True)
    split_g = make_generator(seed + 2)
    events.update(splits_tried=0, splits_kept=0, splits_without_room=0)

    def split_units(cycle: int) -> None:
        if progress is not None:
            progress.update(1)
        if cycle % SPLIT_EVERY or cycle == cfg.cycles:
            return
        for core in mlp_graph.graph.cores():
            net = core.net
            loads = net.loads()
            if float(loads.max()) == 0.0:
                continue
            try:
                record = clone_and_split(net.first, net.act, net.second, int(loads.argmax()))
            except ValueError:  # no free unit to split into
                events["splits_without_room"] += 1
                continue
            events["splits_tried"] += 1
            train_steps(mlp_graph, SparseAdam(sparse_objects(mlp_graph), lr=cfg.lr * 0.1),
                        mse_loss, fit, split_g, cfg.steps_per_cycle)
            batches = [judge(split_g) for _ in range(4)]
            events["splits_kept"] += int(keep_split(mse_loss, mlp_graph, batches, net.first,
                                                    net.act, net.second, record))

    train(mlp_graph, fit, judge, cfg, make_generator(seed + 1), split_units)
    single = SingleCore(budget=max(1, count))
    train(single, fit, judge, cfg, make_generator(seed + 1),
          (lambda cycle: progress.update(1)) if progress is not None else None)

    dense = least_squares(fit_x, fit_y)
    # Magnitude pruning per output (an equal share of the count each, like the MLP baseline's
    # per-tensor quotas: a global threshold would drop whole outputs), then a re-fit.
    keep = torch.zeros_like(dense, dtype=torch.bool)
    for k in range(4):
        share = count // 4 + (1 if k < count % 4 else 0)
        keep[torch.argsort(dense[:, k].abs(), descending=True, stable=True)[:share], k] = True
    pruned = least_squares(fit_x, fit_y, keep)

    base_only = GaussianMixtureHead(4)  # the same head with its grown components off
    base_only.load_state_dict(head.state_dict())
    base_only.hot[1:] = False
    with torch.no_grad():
        test_mean = graph(test_x)
        nll = {"graph + base Gaussian": float(base_only.nll(test_mean, test_y)),
               "graph + distribution head": float(head.nll(test_mean, test_y))}
    rows = [
        {"model": "graph (two cores, connectors)", "active_weights": count,
         "one_step_rmse": rmse(graph, test_x, test_y)},
        {"model": "graph, sparse-MLP cores (clone-and-split)",
         "active_weights": mlp_graph.active_weights(),
         "one_step_rmse": rmse(mlp_graph, test_x, test_y)},
        {"model": "single core", "active_weights": single.active_weights(),
         "one_step_rmse": rmse(single, test_x, test_y)},
        {"model": "least squares on the window", "active_weights": int((dense != 0).sum()),
         "one_step_rmse": rmse(linear_model(dense), test_x, test_y)},
        {"model": "magnitude-pruned least squares", "active_weights": int((pruned != 0).sum()),
         "one_step_rmse": rmse(linear_model(pruned), test_x, test_y)},
        {"model": "persistence", "active_weights": 0,
         "one_step_rmse": rmse(lambda w: w[:, -1], test_x, test_y)},
    ]
    lags = {f"connector {e.src.core_id}->{m.core.core_id}": sorted(
        int(lag) for lag in e.M_idx[:, 1][e.W_vals.detach().abs() > 1e-6].tolist())
        for m in graph.graph.graph_modules for e in m.edges}
    return {"seed": seed, "rows": rows, "nll": nll, "events": events,
            "connector_lags": lags,
            "seconds": time.perf_counter() - start}


def main(args: argparse.Namespace) -> int:
    """Run by `thermo-manifold graph coupled` (the CLI has checked --seed and --out)."""
    import sys

    from tqdm import tqdm

    from thermo_manifold.reporting import RunDirectory

    cfg = QUICK if args.quick else CoupledConfig()
    run = RunDirectory(args.out)
    run.write_json("config.json", {"seed": args.seed, "coupled": asdict(cfg), "delay": DELAY,
                                   "history": HISTORY, "coupling": COUPLING, "rho": RHO,
                                   "kick": KICK})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: intra-op threads only add contention
    try:
        with tqdm(total=3 * cfg.cycles, disable=args.quiet or not sys.stderr.isatty(),
                  desc="graph coupled") as bar:
            result = bench(cfg, args.seed, bar)
    finally:
        torch.set_num_threads(threads)
    run.write_table("coupled", result["rows"], ["model", "active_weights", "one_step_rmse"],
                    caption=f"An oscillator driven through a delay line (delay {DELAY}, "
                            f"window {HISTORY}), "
                            f"one-step RMSE on held-out trajectories, seed {args.seed}")
    run.write_json("metrics.json", result)
    for row in result["rows"]:
        print(f"{row['model']:<44}{row['active_weights']:>6}{row['one_step_rmse']:>12.5f}")
    print(f"distribution head: {result['events']['head_components_grown']} component(s) grown "
          f"in {result['events']['head_attempts']} attempts; held-out NLL "
          + ", ".join(f"{k} {v:.4f}" for k, v in result["nll"].items()))
    events = result["events"]
    print(f"clone-and-split: {events['splits_kept']} of {events['splits_tried']} splits kept "
          f"({events['splits_without_room']} without a free unit)")
    print(f"wrote {args.out}/tables/coupled.md, metrics.json")
    return 0


__all__ = ["CoupledConfig", "QUICK", "SparseMLPNet", "bench", "main", "trajectories",
           "two_core_graph"]
