"""Issue 19, item 5: each evidence rule of the planner decides an outcome here, so breaking the
rule (cooling off, swaps without their leave-one-out cost, no win-rate gate, the judging split
ignored) fails a test. Probes are built by hand where the rule sits in `_commit`."""

from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.optim import SparseAdam
from thermo_manifold.graph.planner import (
    CycleReport,
    Planner,
    PlannerConfig,
    RegionProbe,
    train_steps,
)
from thermo_manifold.graph.sparse import SparseMaskedNN


def _loss(model, batch):
    x, y = batch
    return torch.mean((model(x) - y) ** 2)


def _task(target: torch.Tensor):
    def sample(g):
        x = torch.randn(64, target.shape[1], generator=g)
        return x, x @ target.T
    return sample


def _planner(layer: SparseMaskedNN, config: PlannerConfig, sample=None, judge=None) -> Planner:
    sample = sample or _task(torch.eye(layer.out_dim if hasattr(layer, "out_dim") else 3))
    return Planner(layer, _loss, sample, config, make_generator(0), judge)


def _probe(cells, gains, delta=None) -> RegionProbe:
    idx = torch.tensor(cells, dtype=torch.long)
    return RegionProbe(obj_index=0, idx=idx,
                       delta=delta if delta is not None else torch.full((idx.shape[0],), 0.5),
                       snr=1.0, gains=torch.tensor(gains))


def test_a_probe_that_loses_on_one_fresh_batch_is_not_committed():
    layer = SparseMaskedNN(3, 3, bias=False)
    planner = _planner(layer, PlannerConfig(min_win_rate=1.0), _task(torch.eye(3)))
    eval_set = planner._batches(4, judge=True)
    base = planner._losses(eval_set)
    report = CycleReport()
    # a large mean gain, but one batch of four got worse: the gate says no
    planner._commit(0, [_probe([[0, 1]], [1.0, 1.0, 1.0, -0.1])], eval_set, base, report)
    assert report.committed == [] and layer.c_struct == 0
    planner._commit(0, [_probe([[0, 1]], [0.2, 0.2, 0.2, 0.1])], eval_set, base, report)
    assert report.committed == [(0, 1)] and layer.c_struct == 1


def test_a_swap_is_refused_when_the_victim_costs_more_than_the_probe_gains():
    target = torch.eye(3)
    target[0, 1] = 2.0  # the one cell that matters
    layer = SparseMaskedNN(3, 3, bias=False, budget=1)
    layer.add_entries(torch.tensor([[0, 1]]), torch.tensor([2.0]))  # it is the Hot one
    planner = _planner(layer, PlannerConfig(min_win_rate=0.0), _task(target))
    eval_set = planner._batches(4, judge=True)
    base = planner._losses(eval_set)
    report = CycleReport()
    # At budget: committing needs a victim, whose leave-one-out cost (losing the 2.0 entry,
    # a loss increase of about 4) far exceeds this probe's gain.
    planner._commit(0, [_probe([[2, 0]], [0.01, 0.01, 0.01, 0.01])], eval_set, base, report)
    assert report.committed == [] and report.pruned == {}
    assert layer.c_struct == 1 and torch.equal(layer.M_idx, torch.tensor([[0, 1]]))
    # A gain above the victim's cost is swapped in.
    planner._commit(0, [_probe([[2, 0]], [50.0, 50.0, 50.0, 50.0])], eval_set, base, report)
    assert report.committed == [(0, 1)] and report.pruned == {0: 1}


def test_cooling_removes_a_weight_idle_for_its_patience_and_only_when_enabled():
    def run(cooling: bool) -> tuple[SparseMaskedNN, Planner]:
        target = torch.eye(3)
        target[0, 1] = 1.0
        layer = SparseMaskedNN(3, 3, bias=False)
        # a useful entry (still training towards 1) and a useless one (zero: Taylor score 0)
        layer.add_entries(torch.tensor([[0, 1], [2, 0]]), torch.tensor([0.5, 0.0]))
        config = PlannerConfig(cooling=cooling, cooling_patience=2, candidates_per_object=1,
                               shortlist_size=1, commits_per_cycle=0)
        planner = _planner(layer, config, _task(target))
        optimizer = SparseAdam([layer], lr=1e-2)
        for _ in range(3):
            train_steps(layer, optimizer, _loss, _task(target), planner.generator, 5)
            planner.cycle()
        return layer, planner

    layer, planner = run(cooling=True)
    assert layer.M_idx.tolist() == [[0, 1]]  # the idle entry went, after its patience
    assert sum(r.cooled.get(0, 0) for r in planner.history) == 1
    layer, _ = run(cooling=False)
    assert layer.c_struct == 2


def test_commits_are_judged_on_the_held_out_split():
    """The fitting split rewards cell (0, 1); the judging split punishes it. The planner, judged
    on the held-out split, must not commit it; judged on the fitting split it does."""
    fit_target, judge_target = torch.eye(2), torch.eye(2)
    fit_target[0, 1], judge_target[0, 1] = 1.0, -1.0
    config = PlannerConfig(candidates_per_object=4, shortlist_size=4, min_win_rate=1.0)

    def committed_cells(judge) -> set:
        layer = SparseMaskedNN(2, 2, bias=False)
        planner = Planner(layer, _loss, _task(fit_target), config, make_generator(0), judge)
        planner.cycle()
        return {tuple(c) for c in layer.M_idx.tolist()}

    assert (0, 1) in committed_cells(None)  # judged on the fitting split: committed
    assert (0, 1) not in committed_cells(_task(judge_target))


def test_a_commit_is_warm_started_with_the_probes_delta():
    """W_R <- delta_R: a committed cell starts at the value its probe found, so the loss falls
    at the commit itself, before any training step (a cold start at 0 would leave it)."""
    target = torch.eye(3)
    target[0, 1] = 1.5
    layer = SparseMaskedNN(3, 3, bias=False)
    planner = _planner(layer, PlannerConfig(min_win_rate=0.0), _task(target))
    eval_set = planner._batches(4, judge=True)
    base = planner._losses(eval_set)
    planner._commit(0, [_probe([[0, 1]], [1.0, 1.0, 1.0, 1.0], delta=torch.tensor([1.2]))],
                    eval_set, base, CycleReport())
    assert layer.c_struct == 1 and float(layer.W_vals[0]) == pytest.approx(1.2)
    assert float(planner._losses(eval_set).mean()) < 0.1 * float(base.mean())
