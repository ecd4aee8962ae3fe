"""The graph and agent renderers on small hand-made results (worked examples, no runs)."""

from __future__ import annotations

from thermo_manifold.reproduce import agent_tables, graph_tables


def _row(model: str, weights: int, one: float, roll: float) -> dict:
    return {"system": "lorenz", "model": model, "active_weights": weights,
            "one_step_rmse": one, "rollout50_rmse": roll}


def _seed(learner_weights: int, learner_one: float) -> list[dict]:
    rows = [_row("persistence (identity)", 0, 0.1, 1.0),
            _row("sparse learner (cycle 5)", 50, 0.08, 0.9),
            _row("sparse learner (cycle 10)", learner_weights, learner_one, 0.4),
            _row("dense MLP", 200, 0.001, 0.05),
            _row("magnitude-pruned MLP (50)", 50, 0.05, 0.8),
            _row(f"magnitude-pruned MLP ({learner_weights})", learner_weights, 0.004, 0.1)]
    recovery = [{"source": "data stream log", "precision": 1.0, "recall": 1.0, "coef_error": 0.01,
                 "terms_found": 7, "terms_true": 7, "equations": ["dx/dt = -10 x +10 y"]}]
    return [{"system": "lorenz", "rows": rows, "recovery": recovery, "seconds": 10.0}]


RAW = {"seeds": [0, 1, 2], "quick": False,
       "runs": {"0": _seed(120, 0.008), "1": _seed(128, 0.002), "2": _seed(128, 0.002)}}


def test_the_learner_is_paired_with_pruning_at_its_own_final_count():
    roles = graph_tables.roles(RAW["runs"]["0"][0]["rows"])
    assert roles["sparse learner, last cycle"]["model"] == "sparse learner (cycle 10)"
    assert roles["magnitude-pruned MLP at the sparse learner's count"]["model"] == "magnitude-pruned MLP (120)"


def test_summary_gives_mean_and_range_over_seeds():
    table = graph_tables.render(RAW)["graph.errors"]
    # weights 120, 128, 128 -> mean 125.3; one-step 0.008, 0.002, 0.002 -> mean 0.004
    assert "| lorenz | sparse learner, last cycle | 125 (120–128) | 0.004 (0.002–0.008) | 0.4 |" in table
    assert "| lorenz | magnitude-pruned MLP at the sparse learner's count | 125 (120–128) | 0.004 | 0.1 |" in table


def test_reading_counts_seeds_where_the_learner_beats_pruning():
    reading = graph_tables.render(RAW)["graph.reading"]
    # ratios 0.008/0.004 = 2, then 0.5 twice: mean 1, better on seeds 1 and 2
    assert ("lorenz, sparse learner / magnitude-pruned MLP at the same count: one-step RMSE ratio "
            "1 (range 0.5–2), 50-step 4; the sparse learner is better on 2 of 3 seeds.") in reading


def _models(topo_mse: float, vq_mse: float, topo_acc: float, vq_acc: float,
            topo_code: float, topo_hard: float) -> dict:
    return {"VQ-VAE": {"mse": vq_mse, "mse_hard": vq_mse, "classifier_accuracy": vq_acc,
                       "ami_code": 0.5},
            "VQ-VAE, 10 codes": {"mse": 0.05, "mse_hard": 0.05, "classifier_accuracy": 0.5,
                                 "ami_code": 0.55},
            "Autoencoder": {"mse": 0.001, "classifier_accuracy": 0.99},
            "TopoEncoder": {"mse": topo_mse, "mse_hard": topo_hard, "classifier_accuracy": topo_acc,
                            "ami_chart": 0.6, "ami_code": topo_code}}


def test_agent_reading_counts_each_comparison_seed_by_seed():
    runs = {"0": {"models": _models(0.01, 0.02, 0.9, 0.8, topo_code=0.6, topo_hard=0.1)},
            "1": {"models": _models(0.03, 0.02, 0.7, 0.8, topo_code=0.4, topo_hard=0.01)}}
    text = agent_tables._reading(runs)
    assert "(AMI code) than the VQ-VAE's codes on 1 of 2 seeds" in text
    assert "decoded from the code alone it reconstructs better (MSE, hard code) on 1 of 2" in text
    assert "with its continuous parts (MSE, soft) on 1 of 2." in text
    assert "(VQ-VAE, 10 codes): AMI chart above its AMI code on 2 of 2 seeds." in text
    assert "lowest (soft) MSE on 2 of 2 seeds and the most accurate classifier on 2 of 2." in text


def test_agent_tables_put_the_learner_first_whatever_order_was_stored():
    assert agent_tables.ordered(["VQ-VAE", "Autoencoder", "VQ-VAE, 10 codes", "TopoEncoder+sup",
                                 "TopoEncoder"]) == [
        "TopoEncoder", "TopoEncoder+sup", "VQ-VAE", "VQ-VAE, 10 codes", "Autoencoder"]
