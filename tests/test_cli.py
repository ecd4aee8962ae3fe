from __future__ import annotations

import json
import subprocess
import sys

import pytest

from thermo_manifold.cli import main


def test_simulate_writes_a_summary(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["simulate", "--particles", "300", "--grid", "8", "--steps", "5", "--device",
                 "cpu", "--seed", "3", "--out", str(out), "--quiet", "--contact", "seed"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 5 and summary["particles"] == 300
    assert summary["ms_per_step_median"] > 0
    assert summary["ledger_residual"] < 1e-4
    assert set(summary["final_ledger"]) >= {"kinetic", "internal", "heat", "potential",
                                            "radiated", "injected", "removed", "residual"}
    config = json.loads((out / "config.json").read_text())
    assert config["physics"]["grid_size"] == [8, 8, 8]
    assert config["physics"]["contact"] == "seed"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["simulate", "--particles", "0"], "--particles"),
        (["simulate", "--steps", "ten"], "--steps"),
        (["simulate", "--device", "tpu"], "--device"),
        (["simulate", "--grid", "1"], "grid_size"),
        (["simulate", "--dtype", "float16"], "--dtype"),
        (["frobnicate"], "COMMAND"),
        (["bench", "gpus"], "WHAT"),
    ],
)
def test_bad_flags_print_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    assert main(argv + (["--out", str(tmp_path)] if argv[0] == "simulate" else [])) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_module_entry_point_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "thermo_manifold", "simulate", "--seed", "-1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_simulate_defaults_to_the_spring_dashpot_contact(tmp_path):
    out = tmp_path / "run"
    assert main(["simulate", "--particles", "300", "--grid", "8", "--steps", "5", "--out",
                 str(out), "--quiet", "--no-dashboard"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads((out / "config.json").read_text())["physics"]["contact"] == "spring_dashpot"
    ledger = summary["final_ledger"]
    assert ledger["conservative"] and ledger["contact_potential"] >= 0
    # The total stays near what came in: no energy source in the contact model.
    assert 0.5 < ledger["total"] / (ledger["initial_total"] + ledger["injected"]) < 2.0
