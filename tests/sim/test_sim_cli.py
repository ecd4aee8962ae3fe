from __future__ import annotations

import json

import pytest
import torch

from thermo_manifold.cli import main
from thermo_manifold.reporting import image_is_blank

SMALL = ["--particles", "100", "--grid", "10", "--device", "cpu", "--quiet"]


def test_simulate_with_injections_budget_and_video(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["simulate", *SMALL, "--steps", "12", "--inject-every-steps", "5",
                 "--inject-particles-min", "10", "--inject-particles-max", "20",
                 "--inject-pattern", "grid", "--max-particles", "115", "--dashboard-every", "6",
                 "--dashboard-video", "dash.gif", "--log-every", "6", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "inject #1 at step 5" in printed and "step       6 |" in printed
    assert "SIMULATION SUMMARY (completed)" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files_injected"] == 2 and summary["final_particles"] <= 115
    assert not image_is_blank(out / "dashboard.png")
    assert (out / "dash.gif").is_file() and (out / "checkpoint.pt").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["simulation"]["injection"]["schedule"] == "steps"


def test_resume_continues_a_run_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", *SMALL, "--steps", "4", "--no-dashboard", "--out", str(out)]) == 0
    assert main(["simulate", "--resume", str(out), "--steps", "7", "--no-dashboard",
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 7 and summary["resumed_from_step"] == 4
    assert summary["session_steps"] == 3


def test_profile_flag_writes_trace_and_table(tmp_path):
    out = tmp_path / "prof"
    assert main(["simulate", *SMALL, "--steps", "1", "--no-dashboard", "--profile",
                 "--out", str(out)]) == 0
    assert json.loads((out / "profile" / "trace.json").read_text())["traceEvents"]
    assert "sim.physics" in (out / "tables" / "profile.md").read_text()
    assert (out / "tables" / "profile.tex").is_file()


@pytest.mark.parametrize("argv, fragment", [
    (["--inject-every-steps", "5", "--inject-min", "2"], "exclude each other"),
    (["--continuous", "--steps", "5"], "--max-seconds"),
    (["--inject-min", "9", "--inject-max", "3"], "inject_min"),
    (["--inject-particles-min", "9", "--inject-particles-max", "3"], "inject_particles_min"),
    (["--inject-pattern", "spiral"], "--inject-pattern"),
    (["--max-particles", "10", "--particles", "20"], "max_particles"),
    (["--dashboard-video", "x.avi"], ".gif or .mp4"),
    (["--no-dashboard", "--dashboard-video", "x.gif"], "--no-dashboard"),
    (["--dashboard-every", "0"], "--dashboard-every"),
    (["--max-seconds", "-1"], "--max-seconds"),
    (["--resume", "nowhere"], "no checkpoint"),
    (["--resume", "nowhere", "--particles", "5"], "--particles cannot be combined"),
])
def test_bad_simulate_flags_print_one_line_and_exit_2(argv, fragment, tmp_path, capsys):
    assert main(["simulate", *argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_broken_checkpoint_exits_2_with_one_line(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["simulate", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable checkpoint" in err
    torch.save({"format": "something else"}, tmp_path / "checkpoint.pt")
    assert main(["simulate", "--resume", str(tmp_path)]) == 2
    assert "not a thermo_manifold" in capsys.readouterr().err
