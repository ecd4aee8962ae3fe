"""The growth/prune planner: Cold -> Warm -> Hot (and Cooling) by measured evidence.

One planner cycle, per sparse object (layer, spline, connector), independently:

1. Budget: if the object is over its structural budget, prune the lowest Taylor scores
   0.5 * v * w^2 (v = Adam second moment). Nothing is pruned while under budget.
2. Shortlist (Cold -> Warm): sample Cold cells, group them into regions, read their prospective
   gradients (toggle-mask probe: zero shadow delta) on m fresh batches, and rank regions by
   SNR = ||mean g|| / (std g + eps) on RMS-normalised (Adam-style, dimensionless) gradients.
3. Probe (frozen by default): for each shortlisted region, K micro-rollout steps on a shadow
   delta with the Hot weights frozen, each step on a fresh batch; then the loss change on a set
   of fresh evaluation batches, paired with the base loss on the same batches.
4. Commit (Warm -> Hot): at most `commits_per_cycle` (<= 2) regions whose mean gain is positive
   and whose win rate clears `min_win_rate` (default 1: the gain must show on every fresh
   batch, so marginal cells do not fill the budget), best mean first (ties: win rate, then lower
   variance). Warm start W_R <- delta_R. At the budget, a region is committed only by swapping
   out the lowest-Taylor Hot entries, and only when its measured gain beats their measured
   leave-one-out loss increase, so the budget is never exceeded.
5. Cooling: Hot entries whose Taylor score stays below `cool_fraction` of the object's mean for
   `cooling_patience` cycles are Cooling; they are made Cold if removing them together (LOO on
   fresh batches) costs less than `loo_tolerance` of the loss, else they are Hot again.

There is no penalty term in the loss. Proximal L1 and relativistic step damping live in
`SparseAdam` and are off by default.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from thermo_manifold.graph.optim import SparseAdam, taylor_scores
from thermo_manifold.graph.sparse import SparseCOO, sparse_objects

Batch = Any
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
Sampler = Callable[[torch.Generator], Batch]

MAX_COMMITS_PER_CYCLE = 2
PROBE_REGIMES = ("frozen", "relaxed")


class Heat(enum.Enum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"
    COOLING = "cooling"


def _check(name: str, ok: bool, value: Any, allowed: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


@dataclass(frozen=True)
class PlannerConfig:
    snr_batches: int = 4               # m: batches for the SNR shortlist
    candidates_per_object: int = 64    # Cold cells sampled per object per cycle
    region_size: int = 1               # cells per region
    shortlist_size: int = 6            # regions probed per object per cycle
    tau_snr: float = 0.0               # SNR gate for the shortlist
    probe_steps: int = 2               # K micro-rollout steps
    probe_lr: float = 0.05             # normalised step size of the shadow delta
    eval_batches: int = 4              # fresh batches judging a probe
    commits_per_cycle: int = 2         # <= 2 by the seed's hard rule
    min_win_rate: float = 1.0          # gain must be consistent: every fresh batch improves
    min_relative_gain: float = 0.0     # a commit must lower the loss by this fraction of it
    beta_sigma: float = 0.0            # Score = mu - beta*sigma - lambda_s|R| - lambda_a a_R
    lambda_struct: float = 0.0
    lambda_active: float = 0.0
    probe_regime: str = "frozen"
    relaxed_trust: float = 10.0        # trust-region weight on the Hot co-adaptation
    cooling: bool = True
    cooling_patience: int = 5
    cool_fraction: float = 1e-3
    loo_tolerance: float = 1e-4
    eps_active: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("snr_batches", "eval_batches"):
            value = getattr(self, name)
            _check(name, isinstance(value, int) and value >= 2, value, "an integer >= 2")
        for name in ("candidates_per_object", "region_size", "shortlist_size", "probe_steps",
                     "cooling_patience"):
            value = getattr(self, name)
            _check(name, isinstance(value, int) and value >= 1, value, "an integer >= 1")
        _check("commits_per_cycle", isinstance(self.commits_per_cycle, int)
               and 0 <= self.commits_per_cycle <= MAX_COMMITS_PER_CYCLE,
               self.commits_per_cycle, f"an integer in [0, {MAX_COMMITS_PER_CYCLE}]")
        _check("probe_regime", self.probe_regime in PROBE_REGIMES, self.probe_regime,
               f"one of {PROBE_REGIMES}")
        _check("min_win_rate", 0.0 <= self.min_win_rate <= 1.0, self.min_win_rate, "in [0, 1]")
        _check("probe_lr", self.probe_lr > 0, self.probe_lr, "> 0")
        for name in ("min_relative_gain", "tau_snr", "beta_sigma", "lambda_struct", "lambda_active", "relaxed_trust",
                     "cool_fraction", "loo_tolerance", "eps_active"):
            value = getattr(self, name)
            _check(name, math.isfinite(value) and value >= 0, value, "a finite number >= 0")


@dataclass
class RegionProbe:
    obj_index: int
    idx: torch.Tensor        # (|R|, 2) cells of the region
    delta: torch.Tensor      # probed shadow values (warm start)
    snr: float
    gains: torch.Tensor      # per evaluation batch: base loss - probed loss

    @property
    def mean(self) -> float:
        return float(self.gains.mean())

    @property
    def std(self) -> float:
        return float(self.gains.std()) if self.gains.numel() > 1 else 0.0

    @property
    def win_rate(self) -> float:
        return float((self.gains > 0).float().mean())


@dataclass
class CycleReport:
    committed: list[tuple[int, int]] = field(default_factory=list)   # (object, cells)
    pruned: dict[int, int] = field(default_factory=dict)
    cooled: dict[int, int] = field(default_factory=dict)
    probed: int = 0
    predicted_gain: float = 0.0
    eval_loss: float = float("nan")

    def commits_of(self, obj_index: int) -> int:
        return sum(1 for i, _ in self.committed if i == obj_index)


class Planner:
    """Runs planner cycles on the sparse objects of `model` (see the module docstring)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn, sample_batch: Sampler,
                 config: PlannerConfig | None = None, generator: torch.Generator | None = None,
                 judge_batch: Sampler | None = None):
        """`sample_batch` feeds gradients (shortlist, micro-rollouts); `judge_batch`, when
        given, draws the fresh batches that decide commits, swaps and cooling (a held-out
        split, so that structure is added only when it generalises)."""
        self.model, self.loss_fn, self.sample_batch = model, loss_fn, sample_batch
        self.judge_batch = judge_batch or sample_batch
        self.config = config or PlannerConfig()
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.objects: list[SparseCOO] = sparse_objects(model)
        self.history: list[CycleReport] = []
        self._warm: dict[int, int] = {}

    # ---- helpers -------------------------------------------------------------------------
    def _batches(self, n: int, judge: bool = False) -> list[Batch]:
        sampler = self.judge_batch if judge else self.sample_batch
        return [sampler(self.generator) for _ in range(n)]

    @torch.no_grad()
    def _losses(self, batches: list[Batch]) -> torch.Tensor:
        return torch.stack([self.loss_fn(self.model, b).detach() for b in batches])

    def heat_counts(self, obj_index: int) -> dict[str, int]:
        """Cells per heat state of one object. Warm: probed in the last cycle; Cooling: Hot
        entries that have been quiet for at least one cycle (on their way to the LOO check)."""
        obj = self.objects[obj_index]
        cooling = int((obj.idle_cycles > 0).sum())
        warm = self._warm.get(obj_index, 0)
        allowed = int(obj.allowed_keys().numel())
        return {Heat.COLD.value: allowed - obj.nnz - warm, Heat.WARM.value: warm,
                Heat.HOT.value: obj.nnz - cooling, Heat.COOLING.value: cooling}

    # ---- budget and pruning ----------------------------------------------------------------
    def prune_over_budget(self, obj: SparseCOO) -> int:
        """Remove the lowest Taylor scores until C_struct <= budget; no-op under budget."""
        if obj.budget is None or obj.c_struct <= obj.budget:
            return 0
        excess = obj.c_struct - obj.budget
        order = torch.argsort(taylor_scores(obj), stable=True)
        obj.remove_positions(order[:excess])
        return excess

    @torch.no_grad()
    def loo_delta_loss(self, obj: SparseCOO, positions: torch.Tensor,
                       batches: list[Batch], base: torch.Tensor | None = None) -> torch.Tensor:
        """Per-batch loss increase from zeroing the Hot entries at `positions` together."""
        base = self._losses(batches) if base is None else base
        saved = obj.W_vals.detach().clone()
        obj.W_vals[positions] = 0.0
        try:
            removed = self._losses(batches)
        finally:
            obj.W_vals.copy_(saved)
        return removed - base

    def calibrate_taylor(self, obj_index: int, n: int = 16) -> float:
        """Spearman rank correlation between Taylor scores and measured single-entry LOO loss
        increases on up to `n` Hot entries of one object (the seed's calibration subset)."""
        obj = self.objects[obj_index]
        if obj.nnz < 3:
            return float("nan")
        pick = torch.randperm(obj.nnz, generator=self.generator)[:n]
        batches = self._batches(self.config.eval_batches, judge=True)
        base = self._losses(batches)
        loo = torch.stack([self.loo_delta_loss(obj, p.reshape(1), batches, base).mean()
                           for p in pick])
        taylor = taylor_scores(obj)[pick]
        ranks = [torch.argsort(torch.argsort(v)).to(torch.float64) for v in (taylor, loo)]
        a, b = (r - r.mean() for r in ranks)
        return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))

    # ---- shortlist -------------------------------------------------------------------------
    def _shortlist(self) -> dict[int, list[tuple[torch.Tensor, float]]]:
        cfg = self.config
        candidates: dict[int, torch.Tensor] = {}
        for i, obj in enumerate(self.objects):
            cells = obj.sample_cold(cfg.candidates_per_object, self.generator)
            if cells.shape[0]:
                candidates[i] = cells
        if not candidates:
            return {}
        grads: dict[int, list[torch.Tensor]] = {i: [] for i in candidates}
        for batch in self._batches(cfg.snr_batches):
            deltas = {}
            for i, cells in candidates.items():
                obj = self.objects[i]
                deltas[i] = torch.zeros(cells.shape[0], dtype=obj.W_vals.dtype,
                                        device=obj.W_vals.device, requires_grad=True)
                obj.set_shadow(cells, deltas[i])
            try:
                loss = self.loss_fn(self.model, batch)
                got = torch.autograd.grad(loss, list(deltas.values()), allow_unused=True)
            finally:
                for i in candidates:
                    self.objects[i].clear_shadow()
            for i, g in zip(deltas, got):
                grads[i].append(torch.zeros_like(deltas[i]) if g is None else g.detach())
        shortlist = {}
        for i, cells in candidates.items():
            g = torch.stack(grads[i])                                  # (m, n)
            g = g / (g.pow(2).mean(dim=0).sqrt() + 1e-12)             # dimensionless
            groups = self.objects[i].group_regions(cells, cfg.region_size)
            if not groups:
                continue
            snrs, means = [], []
            for members in groups:
                gr = g[:, members]                                    # (m, |R|)
                mean = gr.mean(dim=0)
                var = ((gr - mean) ** 2).sum() / (g.shape[0] - 1)
                snrs.append(float(mean.norm() / (var.sqrt() + 1e-8)))
                means.append(float(mean.abs().sum()))
            order = sorted(range(len(groups)), key=lambda r: -snrs[r])
            shortlist[i] = [(cells[groups[r]], snrs[r]) for r in order[: cfg.shortlist_size]
                            if snrs[r] >= cfg.tau_snr and means[r] > 0]
        return shortlist

    # ---- probe -----------------------------------------------------------------------------
    def _probe(self, i: int, cells: torch.Tensor, snr: float, eval_set: list[Batch],
               base: torch.Tensor) -> RegionProbe:
        cfg, obj = self.config, self.objects[i]
        delta = torch.zeros(cells.shape[0], dtype=obj.W_vals.dtype, device=obj.W_vals.device)
        relaxed = cfg.probe_regime == "relaxed" and obj.nnz > 0
        hot_delta = torch.zeros_like(obj.W_vals.detach()) if relaxed else None
        prev_delta = prev_g = None
        for step in range(cfg.probe_steps):
            batch = self.sample_batch(self.generator)
            d = delta.clone().requires_grad_(True)
            leaves = [d]
            if relaxed:
                dh = hot_delta.clone().requires_grad_(True)
                leaves.append(dh)
                obj.set_shadow(torch.cat([cells, obj.M_idx]), torch.cat([d, dh]))
            else:
                obj.set_shadow(cells, d)
            try:
                loss = self.loss_fn(self.model, batch)
                if relaxed:
                    loss = loss + cfg.relaxed_trust * leaves[1].pow(2).sum()
                got = torch.autograd.grad(loss, leaves, allow_unused=True)
            finally:
                obj.clear_shadow()
            g = torch.zeros_like(delta) if got[0] is None else got[0].detach()
            delta, prev_delta, prev_g = self._micro_step(delta, g, prev_delta, prev_g), delta, g
            if relaxed and got[1] is not None:  # small, trust-region-damped co-adaptation
                gh = got[1].detach()
                hot_delta = hot_delta - 0.1 * cfg.probe_lr * gh / (gh.abs().max() + 1e-12)
        if relaxed:
            obj.set_shadow(torch.cat([cells, obj.M_idx]), torch.cat([delta, hot_delta]))
        else:
            obj.set_shadow(cells, delta)
        try:
            probed = self._losses(eval_set)
        finally:
            obj.clear_shadow()
        return RegionProbe(i, cells, delta, snr, base - probed)

    def _micro_step(self, delta: torch.Tensor, g: torch.Tensor, prev_delta, prev_g
                    ) -> torch.Tensor:
        """One micro-rollout step on the shadow delta.

        The first step is sign-normalised (size `probe_lr`, dimensionless like Adam's first
        step). Later steps use the per-cell secant curvature h = dg / d(delta) measured between
        the two fresh batches and take the Newton step -g / h, limited to 10 * probe_lr, when
        the curvature is positive; otherwise another normalised step. Two gradient reads
        therefore place the probe near the minimum of the loss along its cells instead of at a
        fixed-length guess, which is what makes the measured gain comparable across cells.
        """
        lr = self.config.probe_lr
        step = -lr * torch.sign(g)
        if prev_delta is not None:
            dd = delta - prev_delta
            h = (g - prev_g) / torch.where(dd.abs() > 0, dd, torch.ones_like(dd))
            newton = torch.clamp(-g / torch.where(h > 0, h, torch.ones_like(h)), -10 * lr, 10 * lr)
            step = torch.where((h > 0) & (dd.abs() > 0), newton, step)
        return delta + step

    def _score(self, probe: RegionProbe) -> float:
        cfg = self.config
        active = int((probe.delta.abs() > cfg.eps_active).sum())
        return (probe.mean - cfg.beta_sigma * probe.std - cfg.lambda_struct * probe.idx.shape[0]
                - cfg.lambda_active * active)

    # ---- commit ----------------------------------------------------------------------------
    def _commit(self, i: int, probes: list[RegionProbe], eval_set: list[Batch],
                base: torch.Tensor, report: CycleReport) -> None:
        cfg, obj = self.config, self.objects[i]
        floor = cfg.min_relative_gain * float(base.mean())
        eligible = [p for p in probes if self._score(p) > floor and p.win_rate >= cfg.min_win_rate]
        eligible.sort(key=lambda p: (-self._score(p), -p.win_rate, p.std))
        done = 0
        for probe in eligible:
            if done >= cfg.commits_per_cycle:
                break
            size = probe.idx.shape[0]
            if obj.budget is not None and obj.c_struct + size > obj.budget:
                if size > obj.budget:
                    continue
                need = obj.c_struct + size - obj.budget
                victims = torch.argsort(taylor_scores(obj), stable=True)[:need]
                cost = float(self.loo_delta_loss(obj, victims, eval_set, base).mean())
                if probe.mean <= cost:
                    continue
                obj.remove_positions(victims)
                report.pruned[i] = report.pruned.get(i, 0) + need
            obj.add_entries(probe.idx, probe.delta)
            report.committed.append((i, size))
            report.predicted_gain += probe.mean
            done += 1

    # ---- cooling ---------------------------------------------------------------------------
    def _cool(self, i: int, eval_set: list[Batch], base: torch.Tensor,
              report: CycleReport) -> None:
        cfg, obj = self.config, self.objects[i]
        if obj.nnz == 0:
            return
        scores = taylor_scores(obj)
        quiet = scores < cfg.cool_fraction * scores.mean()
        with torch.no_grad():
            obj.idle_cycles.copy_(torch.where(quiet, obj.idle_cycles + 1,
                                              torch.zeros_like(obj.idle_cycles)))
        cooling = torch.nonzero(obj.idle_cycles >= cfg.cooling_patience).flatten()
        if cooling.numel() == 0:
            return
        increase = float(self.loo_delta_loss(obj, cooling, eval_set, base).mean())
        if increase <= cfg.loo_tolerance * float(base.mean()):
            obj.remove_positions(cooling)
            report.cooled[i] = int(cooling.numel())
        else:
            with torch.no_grad():
                obj.idle_cycles[cooling] = 0

    # ---- one cycle -------------------------------------------------------------------------
    def cycle(self) -> CycleReport:
        cfg = self.config
        report = CycleReport()
        for i, obj in enumerate(self.objects):
            pruned = self.prune_over_budget(obj)
            if pruned:
                report.pruned[i] = pruned
        shortlist = self._shortlist()
        eval_set = self._batches(cfg.eval_batches, judge=True)
        base = self._losses(eval_set)
        report.eval_loss = float(base.mean())
        self._warm = {i: sum(c.shape[0] for c, _ in regions) for i, regions in shortlist.items()}
        for i, regions in shortlist.items():
            probes = [self._probe(i, cells, snr, eval_set, base) for cells, snr in regions]
            report.probed += len(probes)
            self._commit(i, probes, eval_set, base, report)
            if report.commits_of(i):
                base = self._losses(eval_set)  # later objects are judged against the new base
        if cfg.cooling:
            for i in range(len(self.objects)):
                self._cool(i, eval_set, base, report)
        self.history.append(report)
        return report


def train_steps(model: nn.Module, optimizer: SparseAdam, loss_fn: LossFn, sample_batch: Sampler,
                generator: torch.Generator, steps: int) -> float:
    """`steps` optimizer steps on fresh batches; returns the last loss."""
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model, sample_batch(generator))
        loss.backward()
        optimizer.step()
    return float(loss.detach())


__all__ = ["Heat", "MAX_COMMITS_PER_CYCLE", "Planner", "PlannerConfig", "RegionProbe",
           "CycleReport", "train_steps"]
