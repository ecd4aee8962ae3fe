from __future__ import annotations

import math

import pytest
import torch

from thermo_manifold.device import make_generator
from thermo_manifold.graph.entities import Connector, Core, Graph, GraphModule, SuperGraph
from thermo_manifold.graph.models import SparseResidualMLP
from thermo_manifold.graph.split import clone_and_split, keep_split, remerge


def build_ring(order, frequency=1.0, seed=0):
    """Four cores on a ring, each reading its left neighbour; modules listed in `order`."""
    g = make_generator(seed)
    cores = [Core(i, 3, n_inputs=1, update_frequency=frequency) for i in range(4)]
    for core in cores:
        core.set_state(torch.randn(3, generator=g))
        cells = torch.tensor([[0, 3], [1, 4], [2, 5], [0, 0]])
        core.net.add_entries(cells, 0.3 * torch.randn(4, generator=g))
    modules = {i: GraphModule(i, cores[i], [Connector(cores[(i - 1) % 4], lags=(0, 2),
                                                      values=(0.5, 0.25))]) for i in range(4)}
    return Graph([modules[i] for i in order], generator=make_generator(seed + 1))


@pytest.mark.parametrize("frequency", [1.0, 0.5])
def test_two_phase_step_does_not_depend_on_module_order(frequency):
    a = build_ring([0, 1, 2, 3], frequency)
    b = build_ring([3, 1, 0, 2], frequency)
    for _ in range(6):
        a.step()
        b.step()
    sa = {c.core_id: c.memory for c in a.cores()}
    sb = {c.core_id: c.memory for c in b.cores()}
    assert all(torch.equal(sa[i], sb[i]) for i in range(4))


def test_gather_reads_only_committed_states():
    g = build_ring([0, 1, 2, 3])
    before = {c.core_id: c.state.clone() for c in g.cores()}
    draws = {i: 0.0 for i in range(4)}
    for m in g.graph_modules:
        m.gather(draws)
    # Nothing committed yet: states unchanged, and each next state used the old neighbours.
    assert all(torch.equal(c.state, before[c.core_id]) for c in g.cores())


def test_core_memory_shift_and_empty_edges():
    core = Core(0, 2, n_inputs=0, history=3)
    module = GraphModule(0, core)
    core.set_state(torch.tensor([1.0, 2.0]))
    graph = Graph([module])
    graph.step()  # empty mask: identity, no edges: reads its own state
    assert core.memory.shape == (3, 2) and torch.equal(core.state, torch.tensor([1.0, 2.0]))


def test_connector_message_weights_history():
    src = Core(0, 2, history=4)
    src.memory = torch.arange(8.0).reshape(4, 2)  # rows: oldest ... newest
    edge = Connector(src, lags=(0, 3), values=(1.0, -2.0))
    assert torch.equal(edge.message(), torch.tensor([6.0, 7.0]) - 2 * torch.tensor([0.0, 1.0]))


def test_update_frequency_skips_updates_and_adapts():
    graph = build_ring([0, 1, 2, 3], frequency=0.25)
    for _ in range(3):
        graph.step()
    assert any(not c.updatable for c in graph.cores())
    graph.adapt_update_frequencies(tolerance=1e9)
    assert all(c.update_frequency == 0.125 for c in graph.cores())


@pytest.mark.parametrize("n0", [2, 3, 5, 8, 9])
def test_supergraph_depth_bounded_by_ceil_log2(n0):
    cores = [Core(i, 2) for i in range(n0)]
    graph = Graph([GraphModule(i, c) for i, c in enumerate(cores)])
    sg = SuperGraph(graph)
    levels = 0
    while sg.organize():
        levels += 1
    assert sg.depth == levels <= sg.max_levels == math.ceil(math.log2(n0))
    assert len(graph.graph_modules) == 1
    assert sorted(c.core_id for c in graph.cores())[:n0] == list(range(n0))
    sg.step()  # the hierarchy steps


def test_clone_and_split_preserves_function_and_remerge_restores(generator):
    model = SparseResidualMLP(3, 12, layer_budget=None, spline_budget=None)
    used = torch.tensor([0, 1, 2, 4])  # hidden units 5.. stay free for the clone and carrier
    for obj, axis in ((model.inp, 0), (model.act, 0), (model.out, 1)):
        cells = obj.sample_cold(200, generator)
        cells = cells[torch.isin(cells[:, axis], used)][:8]
        obj.add_entries(cells, torch.randn(cells.shape[0], generator=generator))
    x = torch.randn(50, 3, generator=generator)
    before = model(x)
    unit = 4
    record = clone_and_split(model.inp, model.act, model.out, unit)
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)
    assert record.clone != unit
    remerge(model.inp, model.act, model.out, record)
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)


def test_keep_split_remerges_an_untrained_split(generator):
    model = SparseResidualMLP(2, 8, layer_budget=None, spline_budget=None)
    model.inp.add_entries(torch.tensor([[0, 1]]), torch.tensor([0.7]))
    model.act.add_entries(torch.tensor([[0, 4]]), torch.tensor([1.5]))
    record = clone_and_split(model.inp, model.act, model.out, 0)
    batches = [torch.randn(16, 2, generator=generator) for _ in range(3)]
    kept = keep_split(lambda m, b: m(b).pow(2).mean(), model, batches, model.inp, model.act,
                      model.out, record)
    assert kept is False  # an untrained split is no better than its merge
    assert not bool((model.inp.M_idx[:, 0] == record.clone).any())


def test_predict_is_the_steps_gather_and_is_differentiable():
    """Graph.predict on the cores' own memory windows gives the states step() commits (every
    core updating), and gradients reach the cores' nets and the connectors' lag weights."""
    graph = build_ring([0, 1, 2, 3])
    windows = {c.core_id: c.memory.unsqueeze(0).clone() for c in graph.cores()}
    predicted = graph.predict(windows)
    graph.step()
    for core in graph.cores():
        torch.testing.assert_close(predicted[core.core_id][0], core.state)
    loss = sum(p.pow(2).sum() for p in predicted.values())
    loss.backward()
    for core in graph.cores():
        assert core.net.W_vals.grad is not None and bool(core.net.W_vals.grad.abs().sum() > 0)
    edges = [edge for m in graph.graph_modules for edge in m.edges]
    assert all(e.W_vals.grad is not None and bool(e.W_vals.grad.abs().sum() > 0) for e in edges)
    with pytest.raises(ValueError, match="missing cores"):
        graph.predict({0: windows[0]})


def test_the_planner_trains_a_two_core_graph_on_a_coupled_linear_system():
    """x' = 0.9 x + 0.2 y (core 0 reads core 1 through a connector), y' = 0.8 y - 0.1 x: the
    graph starts as persistence (identity cores; each connector passes the other core's state
    at lag 0 with weight 1, which the core ignores until a cell of its message column is Hot)
    and the planner, with SparseAdam between cycles, grows the cells that fit it. (A
    connector of weight 0 would be a saddle: its weight and the message column's cells would
    each have zero gradient while the other is zero.)"""
    from thermo_manifold.graph.entities import GraphOneStep
    from thermo_manifold.graph.optim import SparseAdam
    from thermo_manifold.graph.planner import Planner, PlannerConfig, train_steps
    from thermo_manifold.graph.sparse import sparse_objects

    a = torch.tensor([[0.9, 0.2], [-0.1, 0.8]])
    cores = [Core(i, 1, n_inputs=1, history=1) for i in range(2)]
    modules = [GraphModule(i, cores[i], [Connector(cores[1 - i])]) for i in range(2)]
    model = GraphOneStep(Graph(modules), order=[0, 1])
    g = make_generator(0)

    def sample(gen):
        x = torch.randn(128, 2, generator=gen)
        return x, x @ a.T

    def loss_fn(m, batch):
        x, y = batch
        return torch.mean((m(x) - y) ** 2)

    with torch.no_grad():
        start = float(loss_fn(model, sample(make_generator(9))))
    planner = Planner(model, loss_fn, sample, PlannerConfig(probe_regime="relaxed"), g)
    optimizer = SparseAdam(sparse_objects(model), lr=0.02)
    for _ in range(15):
        planner.cycle()
        train_steps(model, optimizer, loss_fn, sample, g, 40)
    with torch.no_grad():
        end = float(loss_fn(model, sample(make_generator(9))))
    assert end < 1e-3 * start
    # The coupling sits in the connectors and the cores' message columns together.
    with torch.no_grad():
        probe = model(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(probe, a.T, atol=0.02, rtol=0.0)
