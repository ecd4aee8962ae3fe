"""`thermo-manifold graph coupled`: the system against a graph built by hand (the connector's
lag is the delay line), and the command's outputs and refusals."""

from __future__ import annotations

import json

import torch

from thermo_manifold.cli import main
from thermo_manifold.device import make_generator
from thermo_manifold.graph import coupled
from thermo_manifold.graph.entities import Connector, Core, Graph, GraphModule, GraphOneStep


def test_a_hand_built_graph_predicts_the_driven_oscillator_exactly():
    """Core A = R (its net: identity plus R - I on its own state, plus COUPLING times the
    message's first component into its velocity); the connector from B reads lag DELAY with
    weight 1. On windows of real trajectories it gives A's next state exactly: the delay line
    is what a connector's lags express."""
    traj = coupled.trajectories(3, 60, make_generator(0)).float()
    x, y = coupled.windows(traj)
    r = coupled.oscillator_map(0.35, 0.05).float()
    a = Core(0, 2, n_inputs=1, history=coupled.HISTORY)
    b = Core(1, 2, n_inputs=1, history=coupled.HISTORY)
    cells = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1], [1, 2]])
    values = torch.stack([r[0, 0] - 1, r[0, 1], r[1, 0], r[1, 1] - 1,
                          torch.tensor(coupled.COUPLING)])
    a.net.add_entries(cells, values)
    to_a = Connector(b, lags=(coupled.DELAY,), values=(1.0,))
    graph = GraphOneStep(Graph([GraphModule(0, a, [to_a]),
                                GraphModule(1, b, [Connector(a)])]), order=[0, 1])
    with torch.no_grad():
        predicted = graph(x)
    torch.testing.assert_close(predicted[:, :2], y[:, :2], rtol=1e-4, atol=1e-4)
    # Read at lag 0 instead, the same graph misses the drive.
    to_a.remove_positions(torch.tensor([0]))
    to_a.add_entries(torch.tensor([[0, 0]]), torch.tensor([1.0]))
    with torch.no_grad():
        assert float((graph(x)[:, :2] - y[:, :2]).abs().max()) > 0.05


def test_cli_writes_the_table_and_the_head_events_and_keeps_a_previous_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["graph", "coupled", "--quick", "--out", str(out), "--quiet"]) == 0
    assert "distribution head" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["model"] for r in metrics["rows"]] == [
        "graph (two cores, connectors)", "graph, sparse-MLP cores (clone-and-split)",
        "single core", "least squares on the window", "magnitude-pruned least squares",
        "persistence"]
    graph, single = metrics["rows"][0], metrics["rows"][2]
    assert single["active_weights"] <= graph["active_weights"]  # its budget is the graph's count
    assert metrics["events"]["head_attempts"] == coupled.QUICK.cycles // coupled.HEAD_EVERY
    assert set(metrics["nll"]) == {"graph + base Gaussian", "graph + distribution head"}
    events = metrics["events"]
    assert events["splits_tried"] + events["splits_without_room"] >= 1
    assert 0 <= events["splits_kept"] <= events["splits_tried"]
    assert (out / "tables/coupled.md").exists()
    first = (out / "metrics.json").read_text()
    assert main(["graph", "coupled", "--quick", "--out", str(out), "--seed", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.json").read_text() == first
