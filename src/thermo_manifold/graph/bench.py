"""`thermo-manifold graph bench`: learn one-step maps of dynamical systems, beside baselines.

For each system: trajectories are integrated in-process (RK4, float64), split into train and
test trajectories, and standardised with the training statistics. Three learners fit the
one-step map x_t -> x_{t+1} (normalised coordinates, MSE):

* the sparse learner (`SparseVectorField`: a sparse rate over the monomials of the state,
  integrated by RK4 over the sampling interval, grown by the planner with relaxed probes over
  every Cold cell; for heat1d also a perceptron-local stencil layer), checkpointed along its
  growth;
* a dense residual MLP;
* magnitude-pruned copies of that MLP (layer-wise magnitude pruning + fine-tuning with the
  mask fixed) at the sparse learner's active-weight count of every checkpoint;
* and persistence (x_{t+1} = x_t, zero weights) for scale.

Errors are RMSE in normalised coordinates on held-out trajectories: one step, and over 50-step
free rollouts (mean over all 50 steps). Governing terms are recovered from delta-state logs by
STLSQ on a candidate library and scored against the true coefficients, for (a) the logged data
stream, (b) rollouts of the trained sparse learner and (c) rollouts of the dense MLP; pysindy is
used only when it is importable, on the same training trajectories as (a).

With `ablation=True` the learner is trained again with one lever at a time taken away (the
`ABLATIONS`), and each variant's final errors are reported beside the full learner's.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.delta_log import DeltaStateLog
from thermo_manifold.graph.equations import (format_equations, pysindy_recovery,
                                             recover_from_logs, score_recovery)
from thermo_manifold.graph.models import DenseResidualMLP, SparseResidualMLP, StencilModel
from thermo_manifold.graph.optim import SparseAdam
from thermo_manifold.graph.planner import Planner, PlannerConfig, train_steps
from thermo_manifold.graph.sparse import sparse_objects
from thermo_manifold.graph.stencil import StencilMaskedNN
from thermo_manifold.graph.systems import SYSTEMS, System, make_system
from thermo_manifold.graph.vector_field import FIELD_PLANNER, SparseVectorField, choose_degree

ROLLOUT = 50
# One lever taken away at a time: (row name, what changes).
ABLATIONS = (
    ("without relaxed probes (frozen)", {"planner": {"probe_regime": "frozen"}}),
    ("without ranking every Cold cell (random 64)", {"planner": {"candidates_per_object": 64}}),
    ("without RK4 (Euler map)", {"integrator": "euler"}),
    ("without monomials (residual MLP learner)", {"mlp": True}),
)


@dataclass(frozen=True)
class BenchConfig:
    n_train: int = 32
    n_test: int = 8
    length: int = 200
    hidden: int = 32
    batch: int = 256
    dense_steps: int = 6000
    finetune_steps: int = 1500
    cycles: int = 150
    steps_per_cycle: int = 40
    checkpoints: int = 4
    layer_budget: int = 48
    spline_budget: int = 32
    lr: float = 3e-3
    recovery_rollout: int = 200

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "lr":
                if not (math.isfinite(value) and value > 0):
                    raise ValueError(f"lr must be a finite number > 0; got {value!r}")
            elif not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
        if self.length <= ROLLOUT + 1:
            raise ValueError(f"length must be > {ROLLOUT + 1}; got {self.length}")


QUICK = BenchConfig(n_train=16, n_test=4, length=120, dense_steps=600, finetune_steps=150,
                    cycles=20, steps_per_cycle=20, checkpoints=3, recovery_rollout=120)


@dataclass
class Data:
    system: System
    train: torch.Tensor      # (n, T, d_obs) normalised observations, float32
    test: torch.Tensor
    raw_train: torch.Tensor  # (n, T, dim) float64 states
    mean: torch.Tensor
    std: torch.Tensor


def make_data(system: System, cfg: BenchConfig, seed: int) -> Data:
    g = make_generator(seed)
    raw = system.trajectories(cfg.n_train + cfg.n_test, cfg.length, g)
    obs = system.encode(raw)
    train, test = obs[: cfg.n_train], obs[cfg.n_train:]
    mean = train.reshape(-1, train.shape[-1]).mean(0)
    std = train.reshape(-1, train.shape[-1]).std(0).clamp_min(1e-8)
    norm = lambda x: ((x - mean) / std).to(torch.float32)  # noqa: E731
    return Data(system, norm(train), norm(test), raw[: cfg.n_train], mean, std)


def pair_sampler(traj: torch.Tensor, batch: int):
    n, t, _ = traj.shape

    def sample(g: torch.Generator):
        i = torch.randint(0, n, (batch,), generator=g)
        j = torch.randint(0, t - 1, (batch,), generator=g)
        return traj[i, j], traj[i, j + 1]

    return sample


def mse_loss(model, batch) -> torch.Tensor:
    x, y = batch
    return torch.mean((model(x) - y) ** 2)


@torch.no_grad()
def evaluate(model, test: torch.Tensor) -> dict[str, float]:
    x, y = test[:, :-1], test[:, 1:]
    one = float(torch.sqrt(torch.mean((model(x) - y) ** 2)))
    starts = list(range(0, test.shape[1] - ROLLOUT, 10))
    state = test[:, starts].reshape(-1, test.shape[-1])
    err = []
    for k in range(1, ROLLOUT + 1):
        state = model(state)
        truth = test[:, [s + k for s in starts]].reshape(-1, test.shape[-1])
        err.append(torch.mean((state - truth) ** 2))
    roll = float(torch.sqrt(torch.stack(err).mean()))
    return {"one_step_rmse": one, "rollout50_rmse": roll if math.isfinite(roll) else float("inf")}


def train_dense(model: DenseResidualMLP, sample, steps: int, lr: float,
                g: torch.Generator) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        opt.zero_grad()
        loss = mse_loss(model, sample(g))
        loss.backward()
        opt.step()
        sched.step()
        model.apply_masks()


def train_sparse(model, sample, cfg: BenchConfig, g: torch.Generator, test: torch.Tensor,
                 progress=None, planner_config: PlannerConfig | None = None, judge=None):
    """Alternate planner cycles and training; returns checkpoints and the planner.

    `sample` (fit trajectories) feeds gradients; `judge` (held-out trajectories of the
    training set) decides what the planner commits."""
    planner = Planner(model, mse_loss, sample, planner_config or PlannerConfig(), g, judge)
    opt = SparseAdam(sparse_objects(model), lr=cfg.lr)
    marks = {round(cfg.cycles * (k + 1) / cfg.checkpoints) for k in range(cfg.checkpoints)}
    checkpoints = []
    for cycle in range(1, cfg.cycles + 1):
        planner.cycle()
        # Same cosine learning-rate decay as the dense baseline, over the cycles.
        opt.lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * (cycle - 1) / cfg.cycles))
        if any(obj.nnz for obj in sparse_objects(model)):  # else nothing can train yet
            train_steps(model, opt, mse_loss, sample, g, cfg.steps_per_cycle)
        if cycle in marks and test is not None:
            checkpoints.append({"cycle": cycle, "active_weights": model.active_weights(),
                                **evaluate(model, test)})
        if progress is not None:
            progress.update(1)
    return checkpoints, planner


def field_learner(d_obs: int, cfg: BenchConfig, degree: int,
                  integrator: str = "rk4") -> SparseVectorField:
    """The sparse learner, with the residual MLP learner's whole budget (two layers and the
    spline) in its one rate map."""
    return SparseVectorField(d_obs, degree, budget=2 * cfg.layer_budget + cfg.spline_budget,
                             integrator=integrator)


def chosen_degree(data: Data, n_fit: int, fit, judge, cfg: BenchConfig, seed: int) -> int:
    """The library degree, chosen by `choose_degree`: a quarter-length fit per candidate degree,
    judged by its 50-step rollout error on the held-out training trajectories (never the test
    ones). Rollouts, not one step: a cubic field can fit one step well and still leave the
    attractor within a few dozen steps (on Kuramoto's (cos, sin) coordinates it did), and a
    diverging candidate scores inf and is never chosen."""
    d_obs = data.train.shape[-1]
    held_out = data.train[n_fit:] if n_fit < data.train.shape[0] else data.train
    short = BenchConfig(**{**asdict(cfg), "cycles": max(1, cfg.cycles // 4), "checkpoints": 1})

    def judge_loss(degree: int) -> float:
        model = field_learner(d_obs, short, degree)
        train_sparse(model, fit, short, make_generator(seed + 1), None,
                     planner_config=FIELD_PLANNER, judge=judge)
        return evaluate(model, held_out)["rollout50_rmse"]

    return choose_degree(d_obs, judge_loss)


def ablation_rows(name: str, data: Data, fit, judge, cfg: BenchConfig, seed: int,
                  degree: int, full: dict) -> list[dict]:
    """The full learner's last checkpoint, then one row per lever taken away (`ABLATIONS`);
    a variant that is the full learner by construction (fewer Cold cells than the random
    sample) is not trained again and says so."""
    d_obs = data.train.shape[-1]
    cells = (field_learner(d_obs, cfg, degree).features.n_terms + 1) * d_obs
    rows = [{"system": name, "variant": "full learner", **full}]
    for label, change in ABLATIONS:
        if "candidates_per_object" in change.get("planner", {}) and cells <= 64:
            rows.append({"system": name, "variant": label, **full,
                         "note": f"same as the full learner ({cells} cells <= 64)"})
            continue
        g = make_generator(seed + 1)
        if change.get("mlp"):
            model = SparseResidualMLP(d_obs, cfg.hidden, cfg.layer_budget, cfg.spline_budget)
            planner_config = PlannerConfig()
        else:
            model = field_learner(d_obs, cfg, degree, change.get("integrator", "rk4"))
            planner_config = PlannerConfig(**{**asdict(FIELD_PLANNER),
                                              **change.get("planner", {})})
        checkpoints, _ = train_sparse(model, fit, cfg, g, data.test,
                                      planner_config=planner_config, judge=judge)
        last = checkpoints[-1]
        rows.append({"system": name, "variant": label,
                     **{k: last[k] for k in ("active_weights", "one_step_rmse",
                                             "rollout50_rmse")}})
    return rows


@torch.no_grad()
def rollout_logs(model, data: Data, steps: int) -> list[DeltaStateLog]:
    """Roll a model from the test initial states and log the decoded physical states."""
    system = data.system
    state = data.test[:, 0]
    obs = [state]
    for _ in range(steps - 1):
        state = model(state)
        obs.append(state)
    phys = torch.stack(obs, dim=1).to(torch.float64) * data.std + data.mean
    if system.name == "kuramoto":  # decode (cos, sin) back to unwrapped phases
        n = system.dim
        theta = torch.atan2(phys[..., n:], phys[..., :n])
        jumps = torch.diff(theta, dim=1)
        jumps = torch.remainder(jumps + math.pi, 2 * math.pi) - math.pi
        phys = torch.cat([theta[:, :1], theta[:, :1] + torch.cumsum(jumps, dim=1)], dim=1)
    logs = []
    for traj in phys:
        log = DeltaStateLog(epsilon=0.0, horizon=steps + 1)
        for x in traj:
            log.record(x)
        logs.append(log)
    return logs


def recovery_row(system: System, source: str, logs) -> dict:
    finite = all(bool(torch.isfinite(log.trajectory()).all()) for log in logs)
    if not finite:
        return {"system": system.name, "source": source, "precision": float("nan"),
                "recall": float("nan"), "coef_error": float("nan"), "terms_found": 0,
                "terms_true": int((system.xi_true != 0).sum())}
    xi = recover_from_logs(logs, system.dt, system.library, system.threshold)
    score = score_recovery(xi, system.xi_true)
    row = {"system": system.name, "source": source, "precision": score.precision,
           "recall": score.recall, "coef_error": score.coefficient_error,
           "terms_found": score.n_found, "terms_true": score.n_true}
    if system.dim <= 3:
        row["equations"] = format_equations(xi, system.library, system.variables)
    return row


def bench_system(name: str, cfg: BenchConfig, seed: int, progress=None,
                 ablation: bool = False) -> dict:
    t0 = time.perf_counter()
    system = make_system(name)
    data = make_data(system, cfg, seed)
    d_obs = data.train.shape[-1]
    sample = pair_sampler(data.train, cfg.batch)
    # The sparse learner fits on 3/4 of the training trajectories and lets the planner judge
    # structure on the other 1/4 (same data budget as the dense baselines).
    n_fit = max(1, (3 * cfg.n_train) // 4)
    fit = pair_sampler(data.train[:n_fit], cfg.batch)
    judge = pair_sampler(data.train[n_fit:], cfg.batch) if n_fit < cfg.n_train else None
    rows = [{"system": name, "model": "persistence (identity)", "active_weights": 0,
             **evaluate(lambda x: x, data.test)}]

    # Sparse learner(s).
    g = make_generator(seed + 1)
    degree = chosen_degree(data, n_fit, fit, judge, cfg, seed)
    sparse = field_learner(d_obs, cfg, degree)
    checkpoints, planner = train_sparse(sparse, fit, cfg, g, data.test, progress,
                                        planner_config=FIELD_PLANNER, judge=judge)
    for c in checkpoints:
        rows.append({"system": name, "model": f"sparse learner (cycle {c['cycle']})",
                     "active_weights": c["active_weights"], "one_step_rmse": c["one_step_rmse"],
                     "rollout50_rmse": c["rollout50_rmse"]})
    stencil_rows = []
    if name == "heat1d":
        g = make_generator(seed + 2)
        stencil = StencilModel(StencilMaskedNN(d_obs, radius=2, budget=4 * d_obs))
        stencil_ckpts, _ = train_sparse(stencil, fit, cfg, g, data.test, judge=judge)
        for c in stencil_ckpts:
            stencil_rows.append({"system": name, "model": f"sparse stencil (cycle {c['cycle']})",
                                 "active_weights": c["active_weights"],
                                 "one_step_rmse": c["one_step_rmse"],
                                 "rollout50_rmse": c["rollout50_rmse"]})
        rows += stencil_rows

    # Dense MLP and magnitude-pruned copies at the sparse learner's counts.
    g = make_generator(seed + 3)
    dense = DenseResidualMLP(d_obs, cfg.hidden, g)
    train_dense(dense, sample, cfg.dense_steps, cfg.lr, g)
    rows.append({"system": name, "model": "dense MLP", "active_weights": dense.active_weights(),
                 **evaluate(dense, data.test)})
    dense_state = {k: v.clone() for k, v in dense.state_dict().items()}
    counts = sorted({c["active_weights"] for c in checkpoints}
                    | {r["active_weights"] for r in stencil_rows})
    for count in counts:
        pruned = DenseResidualMLP(d_obs, cfg.hidden, make_generator(seed + 4))
        pruned.load_state_dict(dense_state)
        pruned.magnitude_prune(count)
        train_dense(pruned, sample, cfg.finetune_steps, cfg.lr, make_generator(seed + 5))
        rows.append({"system": name, "model": f"magnitude-pruned MLP ({count})",
                     "active_weights": pruned.active_weights(), **evaluate(pruned, data.test)})

    # Governing terms from delta-state logs.
    data_logs = []
    for traj in data.raw_train[: min(8, cfg.n_train)]:
        log = DeltaStateLog(epsilon=0.0, horizon=cfg.length + 1)
        for x in traj:
            log.record(x)
        data_logs.append(log)
    recovery = [recovery_row(system, "data stream log", data_logs),
                recovery_row(system, "sparse learner rollout log",
                             rollout_logs(sparse, data, cfg.recovery_rollout)),
                recovery_row(system, "dense MLP rollout log",
                             rollout_logs(dense, data, cfg.recovery_rollout))]
    states = [log.trajectory() for log in data_logs]  # the same trajectories as row (a)
    sindy_degree = {"lorenz": 2, "lotka-volterra": 2, "heat1d": 1}.get(name)
    xi = (pysindy_recovery(states, system.dt, sindy_degree, system.threshold)
          if sindy_degree else None)
    pysindy_note = "pysindy not installed"
    try:
        import pysindy  # noqa: F401
        pysindy_note = ("pysindy installed" if sindy_degree else
                        "pysindy installed; not run (library is not polynomial)")
    except ImportError:
        pass
    if xi is not None and xi.shape == system.xi_true.shape:
        score = score_recovery(xi, system.xi_true)
        recovery.append({"system": name, "source": "pysindy (data)",
                         "precision": score.precision, "recall": score.recall,
                         "coef_error": score.coefficient_error, "terms_found": score.n_found,
                         "terms_true": score.n_true})
    heat = [planner.heat_counts(i) for i in range(len(planner.objects))]
    taylor_loo = [planner.calibrate_taylor(i) for i in range(len(planner.objects))]
    extra = {}
    if ablation:
        last = checkpoints[-1]
        extra["ablation"] = ablation_rows(
            name, data, fit, judge, cfg, seed, degree,
            {k: last[k] for k in ("active_weights", "one_step_rmse", "rollout50_rmse")})
    return {"system": name, "description": system.description, "rows": rows, **extra,
            "library_degree": degree,
            "recovery": recovery, "pysindy": pysindy_note, "heat_states": heat,
            "taylor_loo_spearman": taylor_loo,
            "commits": sum(len(r.committed) for r in planner.history),
            "cooled": sum(sum(r.cooled.values()) for r in planner.history),
            "pruned": sum(sum(r.pruned.values()) for r in planner.history),
            "seconds": time.perf_counter() - t0}


def plot_errors(results: list[dict], run) -> None:
    plt = run_pyplot()
    fig, axes = plt.subplots(len(results), 2, figsize=(10, 3.2 * len(results)), squeeze=False)
    for row_axes, res in zip(axes, results):
        rows = res["rows"]
        for ax, key, title in ((row_axes[0], "one_step_rmse", "one-step"),
                               (row_axes[1], "rollout50_rmse", "50-step rollout")):
            groups = {"sparse learner": ("o-", "C0"), "sparse stencil": ("D-", "C4"),
                      "magnitude-pruned": ("s--", "C1")}
            for prefix, (style, color) in groups.items():
                pts = sorted((r["active_weights"], r[key]) for r in rows
                             if r["model"].startswith(prefix) and math.isfinite(r[key]))
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color,
                            label=prefix)
            for r in rows:
                if r["model"] == "dense MLP" and math.isfinite(r[key]):
                    ax.plot([r["active_weights"]], [r[key]], "k*", markersize=12,
                            label="dense MLP")
                if r["model"].startswith("persistence") and math.isfinite(r[key]):
                    ax.axhline(r[key], color="grey", linestyle=":", label="persistence")
            ax.set_yscale("log")
            ax.set_xlabel("active weights")
            ax.set_ylabel("RMSE (normalised)")
            ax.set_title(f"{res['system']}: {title}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    run.save_figure(fig, "error_vs_active_weights")


def run_pyplot():
    from thermo_manifold.reporting import headless_pyplot

    return headless_pyplot()


def run_bench(systems: list[str], cfg: BenchConfig, seed: int, out, quiet: bool = True,
              ablation: bool = False) -> dict:
    from tqdm import tqdm

    from thermo_manifold.reporting import RunDirectory

    for name in systems:
        if name not in SYSTEMS:
            raise ValueError(f"system must be one of {', '.join(SYSTEMS)}; got {name!r}")
    run = RunDirectory(out)
    run.write_json("config.json", {"systems": systems, "seed": seed, "bench": asdict(cfg),
                                   "planner": asdict(PlannerConfig())})
    results = []
    with tqdm(total=cfg.cycles * len(systems), disable=quiet, desc="graph bench") as bar:
        for name in systems:
            results.append(bench_system(name, cfg, seed, bar, ablation=ablation))
    columns = ["system", "model", "active_weights", "one_step_rmse", "rollout50_rmse"]
    run.write_table("errors", [r for res in results for r in res["rows"]], columns,
                    caption="One-step and 50-step rollout RMSE (normalised units, held-out "
                            "trajectories) against active weights")
    rec_cols = ["system", "source", "precision", "recall", "coef_error", "terms_found",
                "terms_true"]
    run.write_table("recovery", [r for res in results for r in res["recovery"]], rec_cols,
                    caption="Governing terms recovered from delta-state logs (STLSQ)")
    if ablation:
        run.write_table("ablation", [r for res in results for r in res["ablation"]],
                        ["system", "variant", "active_weights", "one_step_rmse",
                         "rollout50_rmse", "note"],
                        caption="The sparse learner with one lever taken away at a time "
                                "(last checkpoint, held-out trajectories)")
    plot_errors(results, run)
    metrics = {"systems": results}
    run.write_json("metrics.json", metrics)
    return metrics


__all__ = ["BenchConfig", "QUICK", "bench_system", "evaluate", "run_bench"]
