from __future__ import annotations

import json

import pytest

from thermo_manifold import cli
from thermo_manifold.reporting import image_is_blank
from thermo_manifold.sensorium.harness import (
    EXPERIMENTS,
    RunContext,
    experiment_module,
    run_experiments,
)


def check_outputs(root, name):
    run = root / name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["experiment"] == name
    assert (run / "config.json").is_file()
    tables = list((run / "tables").glob("*.md"))
    assert tables and all(t.with_suffix(".tex").is_file() for t in tables)
    figures = list((run / "figures").glob("*.png"))
    assert figures and not any(image_is_blank(f) for f in figures)
    return metrics


def test_continuous_quick_writes_its_files_and_the_ledger_closes(tmp_path):
    status = run_experiments(["continuous"], RunContext(quick=True), tmp_path, log=lambda s: None)
    assert status["continuous"]["ok"], status["continuous"].get("traceback")
    metrics = check_outputs(tmp_path, "continuous")
    assert metrics["final_ledger"]["residual"] < 1e-3
    assert metrics["final_ledger"]["injected"] > 0


def test_a_failing_experiment_does_not_stop_the_others(tmp_path, monkeypatch):
    from thermo_manifold.sensorium import harness

    calls = []

    def fake(name, context, out):
        calls.append(name)
        if name == "timeseries":
            raise RuntimeError("boom")
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(
            {"tables": {}, "comparisons": [], "skipped_sources": []}))
        return {}

    monkeypatch.setattr(harness, "run_experiment", fake)
    status = harness.run_experiments(["next_token", "timeseries", "rule_shift"], RunContext(),
                                     tmp_path, log=lambda s: None)
    assert calls == ["next_token", "timeseries", "rule_shift"]
    assert [n for n, s in status.items() if not s["ok"]] == ["timeseries"]
    assert "boom" in status["timeseries"]["error"]
    assert json.loads((tmp_path / "summary.json").read_text())["rule_shift"]["ok"]
    assert "FAILED: RuntimeError: boom" in (tmp_path / "summary.md").read_text()


def test_cli_reports_failures_with_nonzero_exit(tmp_path, monkeypatch, capsys):
    from thermo_manifold.sensorium import harness

    def fake(name, context, out):
        raise RuntimeError("broken")

    monkeypatch.setattr(harness, "run_experiment", fake)
    assert cli.main(["experiment", "rule_shift", "--out", str(tmp_path)]) == 1
    assert "failed: rule_shift" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["experiment", "nope"],
                                  ["experiment", "next_token", "--text", "/no/such/file"],
                                  ["experiment", "mnist_bytes", "--mnist-dir", "/no/such/dir"],
                                  ["experiment", "all", "--seed", "-1"],
                                  ["experiment", "rule_shift", "--readout", "nope"]])
def test_cli_user_errors_are_one_line(argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err


def test_every_experiment_offers_both_readouts_reservoir_first():
    for name in EXPERIMENTS:
        assert experiment_module(name).READOUTS == ("reservoir", "seed"), name


def test_a_readout_an_experiment_does_not_offer_is_refused_by_name():
    from types import SimpleNamespace

    module = SimpleNamespace(__name__="thermo_manifold.sensorium.experiments.fake",
                             READOUTS=("seed",))
    assert RunContext().readout_for(module) == "seed"
    assert RunContext(readout="seed").readout_for(module) == "seed"
    with pytest.raises(ValueError, match="'reservoir' is not available for fake .*offers seed"):
        RunContext(readout="reservoir").readout_for(module)


def test_every_experiment_runs_in_quick_mode(tmp_path):
    """All ten experiments in quick mode (about 15 s on the 2-core machine)."""
    status = run_experiments(list(EXPERIMENTS), RunContext(quick=True), tmp_path,
                             log=lambda s: None)
    failed = {n: s["traceback"] for n, s in status.items() if not s["ok"]}
    assert not failed, failed
    for name in EXPERIMENTS:
        metrics = check_outputs(tmp_path, name)
        assert metrics["tables"]


def test_rule_shift_summary_reads_drop_and_recovery():
    import numpy as np

    from thermo_manifold.sensorium.experiments.rule_shift import Config, summarise

    cfg = Config(steps=100, shift_at=50, pre_window=20, post_window=10)
    rr = np.concatenate([np.full(50, 0.9), np.full(15, 0.1), np.full(35, 0.9)])
    out = summarise(rr, 5, chance=0.1, cfg=cfg)
    assert out["pre_shift"] == pytest.approx(0.9)
    assert out["post_shift_immediate"] == pytest.approx(0.1)
    # Threshold 0.8 * 0.9 = 0.72: from k = 14 the next 5 steps average 0.74, from k = 13 0.58.
    assert out["recovery_steps"] == 14
    flat = summarise(np.full(100, 0.1), 5, chance=0.1, cfg=cfg)
    assert flat["recovery_steps"] is None  # nothing learned, nothing to recover


def _rows(root, name):
    metrics = json.loads((root / name / "metrics.json").read_text())
    return [r["method"] for r in metrics["tables"][name]["rows"]]


def test_the_reservoir_readout_adds_every_row_and_seed_keeps_the_seed_table(tmp_path):
    from thermo_manifold.sensorium.reservoir_rows import ROWS

    reservoir, seed = tmp_path / "reservoir", tmp_path / "seed"
    for out, readout in ((reservoir, None), (seed, "seed")):
        status = run_experiments(["rule_shift"], RunContext(quick=True, readout=readout), out,
                                 log=lambda s: None)
        assert status["rule_shift"]["ok"], status["rule_shift"].get("traceback")
    with_rows = _rows(reservoir, "rule_shift")
    assert with_rows[:len(ROWS)] == list(ROWS)
    assert "manifold, seed readout" in with_rows
    seed_rows = _rows(seed, "rule_shift")
    assert seed_rows[0] == "manifold" and not set(ROWS) & set(seed_rows)
    # The seed's scoring is the same run in both tables.
    pick = {}
    for out, name in ((reservoir, "manifold, seed readout"), (seed, "manifold")):
        table = json.loads((out / "rule_shift" / "metrics.json").read_text())["tables"]
        pick[out] = next(r for r in table["rule_shift"]["rows"] if r["method"] == name)
    assert pick[reservoir]["pre_shift"] == pick[seed]["pre_shift"]
