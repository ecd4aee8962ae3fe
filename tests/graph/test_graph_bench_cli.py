from __future__ import annotations

import json

import pytest

from thermo_manifold.cli import main
from thermo_manifold.graph.bench import ABLATIONS, BenchConfig, run_bench
from thermo_manifold.reporting import image_is_blank

TINY = BenchConfig(n_train=4, n_test=2, length=80, hidden=8, batch=64, dense_steps=60,
                   finetune_steps=20, cycles=4, steps_per_cycle=5, checkpoints=2,
                   layer_budget=12, spline_budget=6, recovery_rollout=60)


def test_bench_writes_tables_figure_and_metrics(tmp_path):
    metrics = run_bench(["lotka-volterra"], TINY, seed=0, out=tmp_path, ablation=True)
    res = metrics["systems"][0]
    assert res["library_degree"] in (1, 2, 3)
    variants = [r["variant"] for r in res["ablation"]]
    assert variants == ["full learner"] + [label for label, _ in ABLATIONS]
    full = res["ablation"][0]
    last = [r for r in res["rows"] if r["model"].startswith("sparse learner")][-1]
    assert full["one_step_rmse"] == last["one_step_rmse"]
    # Lotka-Volterra's library has fewer cells than the random sample: that variant is the
    # full learner, said in a note rather than trained again.
    random_64 = res["ablation"][variants.index(ABLATIONS[1][0])]
    assert "same as the full learner" in random_64["note"]
    assert (tmp_path / "tables/ablation.md").exists()
    models = [r["model"] for r in res["rows"]]
    assert "dense MLP" in models and any(m.startswith("sparse learner") for m in models)
    assert any(m.startswith("magnitude-pruned") for m in models)
    sparse_counts = {r["active_weights"] for r in res["rows"] if r["model"].startswith("sparse")}
    pruned_counts = {r["active_weights"] for r in res["rows"]
                     if r["model"].startswith("magnitude")}
    assert pruned_counts <= sparse_counts  # baselines at the same active-weight counts
    sources = [r["source"] for r in res["recovery"]]
    assert sources[:3] == ["data stream log", "sparse learner rollout log",
                           "dense MLP rollout log"]
    assert res["recovery"][0]["recall"] == 1.0
    for name in ("tables/errors.md", "tables/errors.tex", "tables/recovery.md", "metrics.json",
                 "config.json"):
        assert (tmp_path / name).exists()
    assert not image_is_blank(tmp_path / "figures/error_vs_active_weights.png")
    assert json.loads((tmp_path / "metrics.json").read_text())["systems"][0]["pysindy"]


@pytest.mark.parametrize("argv, fragment", [
    (["graph", "bench", "--system", "pendulum"], "--system"),
    (["graph", "bench", "--seed", "-1"], "--seed"),
    (["graph", "bench", "--seed", "99999999999999999999"], "--seed must be an integer from 0"),
    (["graph", "train"], "WHAT"),
])
def test_bad_flags_print_one_line_and_exit_2(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_cli_quick_bench_runs_and_keeps_a_previous_run_unless_told(tmp_path, capsys):
    assert main(["graph", "bench", "--system", "lotka-volterra", "--quick", "--out",
                 str(tmp_path), "--quiet"]) == 0
    assert "pysindy" in capsys.readouterr().out
    first = (tmp_path / "metrics.json").read_text()
    assert main(["graph", "bench", "--system", "lotka-volterra", "--quick", "--out",
                 str(tmp_path), "--quiet", "--seed", "1"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "metrics.json").read_text() == first  # the previous run is untouched
    table = (tmp_path / "tables/errors.md").read_text()
    assert "sparse learner" in table and "magnitude-pruned MLP" in table
    assert not image_is_blank(tmp_path / "figures/error_vs_active_weights.png")
