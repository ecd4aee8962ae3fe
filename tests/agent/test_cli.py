from __future__ import annotations

import json

import numpy as np
import pytest

from thermo_manifold.agent.datasets import write_idx
from thermo_manifold.cli import main
from thermo_manifold.reporting import image_is_blank


def test_quick_digits_run_writes_table_metrics_and_figure(tmp_path):
    out = tmp_path / "run"
    assert main(["agent", "topoencoder", "--dataset", "digits", "--quick", "--out", str(out),
                 "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    models = metrics["models"]
    assert set(models) == {"TopoEncoder", "VQ-VAE", "VQ-VAE, 10 codes", "Autoencoder"}
    for name, row in models.items():
        assert row["mse"] > 0 and 0 <= row["classifier_accuracy"] <= 1
        assert len(row["history"]["test_recon"]) == 3
    assert models["TopoEncoder"]["ami_chart"] is not None and models["Autoencoder"]["ami_code"] is None
    assert 1 <= models["TopoEncoder"]["perplexity_code"] <= 80
    table = (out / "tables" / "topoencoder.md").read_text()
    assert "TopoEncoder" in table and "VQ-VAE" in table and "Autoencoder" in table
    assert (out / "tables" / "topoencoder.tex").read_text().count(r"\\") >= 4
    assert not image_is_blank(out / "figures" / "loss_curves.png")
    # --quick shrinks digits too: 600 training samples and a quarter as many test samples
    assert json.loads((out / "config.json").read_text())["n_test"] == 150
    topo = models["TopoEncoder"]
    assert topo["mse_hard"] > 0 and 0 <= topo["tau_floor_fraction"] <= 1
    assert 0 <= topo["router_agreement"] <= 1
    assert models["VQ-VAE"]["mse_hard"] == models["VQ-VAE"]["mse"]
    assert models["Autoencoder"]["mse_hard"] is None


def test_a_limit_below_the_class_count_per_cluster_still_runs(tmp_path):
    # 36 samples leave 9 test samples for 10 classes: k-means takes at most 9 clusters
    assert main(["agent", "topoencoder", "--dataset", "digits", "--limit", "36", "--epochs", "1",
                 "--out", str(tmp_path / "small"), "--quiet"]) == 0


def test_atlas2d_run_draws_the_charts(tmp_path):
    out = tmp_path / "atlas"
    assert main(["agent", "topoencoder", "--dataset", "atlas2d", "--epochs", "1", "--limit", "300",
                 "--out", str(out), "--quiet"]) == 0
    assert not image_is_blank(out / "figures" / "atlas_charts.png")
    history = json.loads((out / "metrics.json").read_text())["models"]["TopoEncoder"]["history"]
    assert "slowness" in history["train"][0] and "closure" in history["train"][0]


def test_mnist_idx_run_on_files_written_here(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (64, 4, 4), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", rng.integers(0, 3, 64, dtype=np.uint8))
    out = tmp_path / "run"
    assert main(["agent", "topoencoder", "--dataset", "mnist-idx", str(tmp_path), "--epochs", "1",
                 "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["n_train"] == 51


@pytest.mark.parametrize("argv, fragment", [
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    (["--dataset", "mnist-idx"], "needs exactly one directory"),
    (["--dataset", "digits", "extra"], "takes no argument"),
    (["--dataset", "mnist-idx", "/nonexistent/dir"], "does not exist"),
    (["--epochs", "0"], "--epochs"),
    (["--device", "tpu"], "--device"),
    (["--seed", "-3"], "--seed"),
])
def test_bad_arguments_print_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    assert main(["agent", "topoencoder", *argv, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_missing_agent_command_is_a_user_error(capsys):
    assert main(["agent"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
