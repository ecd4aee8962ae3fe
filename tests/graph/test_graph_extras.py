from __future__ import annotations

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.crossover import CrossoverPolicy, measure_costs
from thermo_manifold.graph.distribution import GaussianMixtureHead
from thermo_manifold.graph.sparse import SparseMaskedNN
from thermo_manifold.graph.stencil import StencilMaskedNN


def test_stencil_grows_by_rings():
    layer = StencilMaskedNN(10, radius=3)
    keys = layer.allowed_keys()
    rows, cols = keys // layer.cols, keys % layer.cols
    dist = torch.minimum((cols - rows).abs(), 10 - (cols - rows).abs())
    assert int(dist.max()) == 1  # first ring only
    layer.add_entries(torch.tensor([[4, 5]]), torch.tensor([0.5]))
    keys = layer.allowed_keys()
    row4 = keys[keys // layer.cols == 4] % layer.cols
    assert set(row4.tolist()) == {2, 3, 4, 5, 6}
    assert layer.stencil_of(4) == {0: 1.0, 1: 0.5}


def test_stencil_learns_heat_operator_with_planner():
    from thermo_manifold.graph.optim import SparseAdam
    from thermo_manifold.graph.planner import Planner, PlannerConfig, train_steps

    n = 12
    op = torch.eye(n) + 0.1 * (torch.roll(torch.eye(n), 1, 1) - 2 * torch.eye(n)
                               + torch.roll(torch.eye(n), -1, 1))

    def sample(g):
        x = torch.randn(64, n, generator=g)
        return x, x @ op.T

    def loss_fn(m, b):
        return torch.mean((m(b[0]) - b[1]) ** 2)

    layer = StencilMaskedNN(n, radius=2, budget=3 * n)
    planner = Planner(layer, loss_fn, sample, PlannerConfig(candidates_per_object=64),
                      make_generator(0))
    opt = SparseAdam([layer], lr=2e-2)
    first = planner.cycle().eval_loss
    for _ in range(30):
        train_steps(layer, opt, loss_fn, sample, planner.generator, 10)
        last = planner.cycle().eval_loss
    assert last < 0.2 * first
    keys = layer.keys()
    rows, cols = keys // layer.cols, keys % layer.cols
    dist = torch.minimum((cols - rows).abs(), n - (cols - rows).abs())
    assert int(dist.max()) <= 2


def test_crossover_switches_after_patience_and_keeps_function(generator):
    alpha, beta = measure_costs(rows=16, cols=16, batch=32, repeats=2)
    assert alpha > 0 and beta > 0
    layer = SparseMaskedNN(16, 16, bias=False)
    cells = layer.sample_cold(120, generator)  # density ~0.47 > high
    layer.add_entries(cells, torch.randn(cells.shape[0], generator=generator))
    x = torch.randn(8, 16, generator=generator)
    y_sparse = layer(x)
    policy = CrossoverPolicy(alpha, beta, patience=2, cooldown=1)
    assert policy.check(layer) == "sparse" and policy.check(layer) == "dense"
    torch.testing.assert_close(layer(x), y_sparse)
    assert layer.compute_paths == 16 * 16 and layer.c_struct == cells.shape[0]
    layer.remove_positions(torch.arange(layer.nnz - 2))  # density now < low
    modes = [policy.check(layer) for _ in range(4)]
    assert modes[-1] == "sparse"


def _mixture_sampler(bimodal: bool):
    def sample(g):
        mean = torch.zeros(512, 1)
        noise = 0.3 * torch.randn(512, 1, generator=g)
        if bimodal:
            noise = noise + torch.where(torch.rand(512, 1, generator=g) < 0.5, -2.0, 2.0)
        return mean, noise
    return sample


@pytest.mark.parametrize("bimodal", [True, False])
def test_distribution_head_grows_only_on_evidence(bimodal):
    g = make_generator(0)
    head = GaussianMixtureHead(1, max_components=3)
    sample = _mixture_sampler(bimodal)
    head.fit_base(*sample(g), steps=150)
    before = float(head.nll(*sample(make_generator(9))).detach())
    grew = [head.grow(sample, g) for _ in range(2)]
    head.fit_base(*sample(g), steps=150)
    after = float(head.nll(*sample(make_generator(9))).detach())
    assert head.sample(torch.zeros(4, 1), g, deterministic=True).abs().sum() == 0
    if bimodal:
        assert any(grew) and head.c_struct >= 1 and after < before - 0.3
    else:
        assert head.c_struct == 0 and not any(grew)
