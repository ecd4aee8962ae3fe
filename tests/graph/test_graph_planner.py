from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.optim import SparseAdam, relativistic_gamma, taylor_scores
from thermo_manifold.graph.planner import Planner, PlannerConfig, train_steps
from thermo_manifold.graph.sparse import SparseMaskedNN


def linear_task(seed: int = 0, dim: int = 6):
    g = make_generator(seed)
    target = torch.eye(dim) + 0.5 * torch.randn(dim, dim, generator=g) * (
        torch.rand(dim, dim, generator=g) < 0.2)

    def sample(gen):
        x = torch.randn(64, dim, generator=gen)
        return x, x @ target.T

    def loss_fn(model, batch):
        x, y = batch
        return torch.mean((model(x) - y) ** 2)

    return sample, loss_fn


def test_config_validation_names_field():
    with pytest.raises(ValueError, match="commits_per_cycle"):
        PlannerConfig(commits_per_cycle=3)
    with pytest.raises(ValueError, match="probe_regime"):
        PlannerConfig(probe_regime="joint")
    with pytest.raises(ValueError, match="snr_batches"):
        PlannerConfig(snr_batches=1)


def test_commits_respect_two_per_object_and_budget():
    sample, loss_fn = linear_task()
    a, b = SparseMaskedNN(6, 6, budget=5), SparseMaskedNN(6, 6, budget=3)
    model = torch.nn.Sequential(a, b)
    planner = Planner(model, loss_fn, sample, PlannerConfig(shortlist_size=8),
                      make_generator(1))
    opt = SparseAdam([a, b], lr=1e-2)
    for _ in range(8):
        report = planner.cycle()
        assert report.commits_of(0) <= 2 and report.commits_of(1) <= 2
        assert a.c_struct <= 5 and b.c_struct <= 3
        train_steps(model, opt, loss_fn, sample, planner.generator, 10)
    assert a.c_struct > 0  # it did grow


def test_planner_growth_lowers_loss_and_is_deterministic():
    def run():
        sample, loss_fn = linear_task()
        layer = SparseMaskedNN(6, 6, budget=40)
        planner = Planner(layer, loss_fn, sample, PlannerConfig(), make_generator(3))
        opt = SparseAdam([layer], lr=2e-2)
        first = None
        for _ in range(12):
            report = planner.cycle()
            first = report.eval_loss if first is None else first
            opt.objects = [layer]
            train_steps(layer, opt, loss_fn, sample, planner.generator, 20)
        return first, planner.cycle().eval_loss, layer.M_idx.clone(), layer.W_vals.detach()

    first, last, idx, vals = run()
    assert last < 0.5 * first
    _, last2, idx2, vals2 = run()
    assert last == last2 and torch.equal(idx, idx2) and torch.equal(vals, vals2)


def test_pruning_removes_lowest_taylor_scores(generator):
    layer = SparseMaskedNN(5, 5, budget=None)
    cells = layer.sample_cold(10, generator)
    layer.add_entries(cells, torch.randn(10, generator=generator))
    with torch.no_grad():
        layer.adam_v.copy_(torch.rand(10, generator=generator))
    layer.adam_t = 0
    scores = taylor_scores(layer)
    expected_kept = set(layer.keys()[torch.argsort(scores)[4:]].tolist())
    layer.budget = 6
    planner = Planner(layer, lambda m, b: m(b).sum(), lambda g: torch.zeros(1, 5))
    assert planner.prune_over_budget(layer) == 4
    assert set(layer.keys().tolist()) == expected_kept
    assert planner.prune_over_budget(layer) == 0  # under budget: nothing pruned


def test_heat_counts_cover_every_cell():
    sample, loss_fn = linear_task()
    layer = SparseMaskedNN(6, 6, budget=10)
    planner = Planner(layer, loss_fn, sample, PlannerConfig(), make_generator(0))
    planner.cycle()
    counts = planner.heat_counts(0)
    assert sum(counts.values()) == layer.rows * layer.cols
    assert counts["warm"] > 0 and counts["hot"] == layer.nnz


def test_relaxed_probe_and_prox_l1_and_damping_run():
    sample, loss_fn = linear_task()
    layer = SparseMaskedNN(6, 6, budget=20)
    planner = Planner(layer, loss_fn, sample, PlannerConfig(probe_regime="relaxed"),
                      make_generator(0))
    opt = SparseAdam([layer], lr=1e-2, prox_l1=1e-3, relativistic=True)
    before = planner.cycle().eval_loss
    for _ in range(4):
        train_steps(layer, opt, loss_fn, sample, planner.generator, 10)
        after = planner.cycle().eval_loss
    assert after < before


def test_relativistic_gamma():
    assert relativistic_gamma(0, 100) == 1.0
    assert relativistic_gamma(50, 100) < relativistic_gamma(90, 100) < relativistic_gamma(99, 100)
    assert relativistic_gamma(200, 100, eps=1e-4) == pytest.approx(100.0)


def test_prox_l1_soft_thresholds_hot_weights():
    layer = SparseMaskedNN(2, 2)
    layer.add_entries(torch.tensor([[0, 0], [1, 1]]), torch.tensor([1e-4, 1.0]))
    opt = SparseAdam([layer], lr=1e-3, prox_l1=1.0)
    layer.W_vals.grad = torch.zeros(2)
    opt.step()
    assert layer.W_vals[0] == 0 and 0.99 < layer.W_vals[1] < 1.0
