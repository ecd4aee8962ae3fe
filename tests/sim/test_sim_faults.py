"""Runs survive faults: a failed step, a signal, a second run, a full disk, a stale target.

The oracle for "nothing lost" is the uninterrupted run: a run that fails part-way, resumed from
the checkpoint it left, must end bit-identical to a run that never failed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from thermo_manifold.cli import main
from thermo_manifold.physics import PhysicsConfig
from thermo_manifold.sim import Simulator
from thermo_manifold.sim import simulator as simulator_module
from thermo_manifold.sim.checkpoint import CheckpointWriteError, load_checkpoint
from thermo_manifold.sim.lock import RunDirectoryBusy, RunLock
from thermo_manifold.sim.simulator import PARTICLE_FIELDS, DashboardOptions

SMALL = ["--particles", "100", "--grid", "10", "--device", "cpu", "--quiet", "--no-dashboard"]


def quiet(_message: str) -> None:
    pass


def same_state(a, b) -> bool:
    return all(torch.equal(getattr(a.state, f), getattr(b.state, f)) for f in PARTICLE_FIELDS)


def test_a_step_that_fails_part_way_is_rewound_and_the_run_resumes_bit_identically(
        make_simulator, tmp_path, monkeypatch):
    whole = make_simulator(out=tmp_path / "whole", steps=44)
    whole.run()

    broken = make_simulator(out=tmp_path / "broken", steps=44)
    if broken.carrier_engine is None:
        pytest.skip("thermo_manifold.spectral is not built")
    # Step 40 injects a file (every 8 steps: the run's generator draws it, the counters and the
    # injection log grow, the budget evicts), steps the physics (particles, ledger, forces) and
    # then ticks the carriers (every 10): failing there, the fault lands after all of that.
    real_tick = broken.carrier_engine.tick

    def tick_that_fails_at_step_40(state):
        out = real_tick(state)
        if broken.step == 40:
            raise RuntimeError("simulated fault inside step 40")
        return out

    monkeypatch.setattr(broken.carrier_engine, "tick", tick_that_fails_at_step_40)
    summary = broken.run()
    assert summary["stopped"] == "failed" and summary["steps"] == 40
    assert "simulated fault" in summary["error"] and summary["user_error"] is False
    written = json.loads((tmp_path / "broken" / "summary.json").read_text())
    assert written["stopped"] == "failed" and written["error"] == summary["error"]
    meta, _ = load_checkpoint(tmp_path / "broken")
    assert meta["step"] == 40 and meta["counters"]["files_injected"] == 4  # 8, 16, 24, 32

    resumed = Simulator.resume(tmp_path / "broken", console=quiet)
    final = resumed.run()
    assert final["steps"] == 44 and final["stopped"] == "completed"
    assert same_state(resumed, whole)
    assert final["final_ledger"] == whole.summary()["final_ledger"]
    assert final["files_injected"] == whole.summary()["files_injected"]
    assert list(resumed.injections) == list(whole.injections)  # the log, step 40's file once


def test_an_unstable_config_stops_with_a_user_error_and_keeps_the_last_good_step(tmp_path):
    # Valid field by field, explosive together: the seed's contact push with a huge stiffness
    # and gravity turns heats non-finite within a step or two.
    config = simulator_module.SimulationConfig(particles=120, steps=20, seed=7)
    physics = PhysicsConfig(grid_size=(12, 12, 12), contact="seed", young_modulus=1e30, G=1e30)
    sim = Simulator(config, physics, tmp_path / "run", dtype=torch.float32,
                    dashboard=DashboardOptions(enabled=False), console=quiet)
    summary = sim.run()
    assert summary["stopped"] == "failed" and summary["user_error"] is True
    assert "non-finite" in summary["error"] and summary["steps"] < 20
    meta, payload = load_checkpoint(tmp_path / "run")
    assert meta["step"] == summary["steps"]
    assert all(bool(torch.isfinite(payload["particles"][f]).all()) for f in PARTICLE_FIELDS)


@pytest.mark.parametrize("signum, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl+C")])
def test_sigterm_stops_like_ctrl_c(make_simulator, signum, name):
    sim = make_simulator(steps=30, dashboard=DashboardOptions(enabled=True, every=10))

    def send(s):
        if s.step == 9:
            signal.raise_signal(signum)

    summary = sim.run(on_step=send)
    assert summary["stopped"] == "interrupted" and summary["signal"] == name
    assert summary["steps"] == 9
    assert json.loads((sim.run_dir.root / "summary.json").read_text())["steps"] == 9
    assert load_checkpoint(sim.run_dir.root)[0]["step"] == 9
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers given back


def test_one_signal_during_the_final_writes_does_not_cut_them_off(make_simulator, monkeypatch):
    sim = make_simulator(steps=5)
    real_save = sim.save_checkpoint

    def save_with_a_signal_in_the_middle():
        signal.raise_signal(signal.SIGTERM)  # arrives while the run is finishing
        return real_save()

    monkeypatch.setattr(sim, "save_checkpoint", save_with_a_signal_in_the_middle)
    summary = sim.run()
    assert summary["stopped"] == "completed" and summary["steps"] == 5
    assert (sim.run_dir.root / "summary.json").is_file()
    assert load_checkpoint(sim.run_dir.root)[0]["step"] == 5


def test_a_failed_final_write_costs_only_itself(make_simulator, monkeypatch):
    sim = make_simulator(steps=4, dashboard=DashboardOptions(enabled=True, every=2))

    def no_space():
        raise OSError(28, "No space left on device")

    original = simulator_module.Simulator._draw_dashboard

    def draw(self, final=False):
        if final:
            no_space()
        return original(self, final)

    monkeypatch.setattr(simulator_module.Simulator, "_draw_dashboard", draw)
    summary = sim.run()
    assert summary["stopped"] == "completed"
    assert summary["write_errors"] and "No space left" in summary["write_errors"][0]
    assert json.loads((sim.run_dir.root / "summary.json").read_text())["write_errors"]
    assert load_checkpoint(sim.run_dir.root)[0]["step"] == 4


def test_a_checkpoint_that_cannot_be_written_leaves_no_torn_file_and_keeps_the_old_one(
        make_simulator, monkeypatch):
    sim = make_simulator(steps=3)
    sim.run()
    before = (sim.run_dir.root / "checkpoint.pt").read_bytes()

    def torn_save(payload, path):
        with open(path, "wb") as handle:
            handle.write(b"PK\x03\x04half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(CheckpointWriteError, match="previous one, if any, is kept"):
        sim.save_checkpoint()
    names = sorted(p.name for p in sim.run_dir.root.iterdir())
    assert not any(name.endswith(".tmp") for name in names)
    assert (sim.run_dir.root / "checkpoint.pt").read_bytes() == before


def test_a_run_directory_has_one_owner(make_simulator, tmp_path):
    lock = RunLock(tmp_path / "run")
    lock.acquire()  # a live run (this process) holds it
    with pytest.raises(RunDirectoryBusy, match="another run"):
        make_simulator(out=tmp_path / "run")
    lock.release()
    # A lock left by a process that is gone is stale and taken over.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / "run" / "run.lock").write_text(f"{int(dead.stdout)} {socket.gethostname()}\n")
    sim = make_simulator(out=tmp_path / "run", steps=2)
    assert sim.run()["steps"] == 2 and not (tmp_path / "run" / "run.lock").exists()
    # One from another host cannot be checked: respected, with the way out in the message.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.lock").write_text("1 some-other-host\n")
    with pytest.raises(RunDirectoryBusy, match="delete .*run.lock"):
        make_simulator(out=tmp_path / "other")


def test_a_fresh_run_refuses_another_runs_checkpoint_unless_told_to_overwrite(
        make_simulator, tmp_path):
    make_simulator(out=tmp_path / "run", steps=3).run()
    with pytest.raises(ValueError, match="--overwrite"):
        make_simulator(out=tmp_path / "run", steps=2)
    replaced = make_simulator(out=tmp_path / "run", steps=2, overwrite=True)
    assert replaced.run()["steps"] == 2
    assert load_checkpoint(tmp_path / "run")[0]["step"] == 2


def test_resuming_a_run_whose_target_is_reached_changes_nothing(make_simulator, tmp_path):
    make_simulator(out=tmp_path / "run", steps=6).run()
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    for steps in (5, 6):
        with pytest.raises(ValueError, match="already at step 6"):
            Simulator.resume(tmp_path / "run", changes={"steps": steps}, console=quiet)
    with pytest.raises(ValueError, match="already at step 6"):
        Simulator.resume(tmp_path / "run", console=quiet)  # its own target, 6, is reached
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def test_session_steps_and_the_mean_count_every_step(make_simulator, monkeypatch):
    monkeypatch.setattr(simulator_module, "MEDIAN_WINDOW", 5)
    sim = make_simulator(steps=12)
    summary = sim.run()
    assert summary["session_steps"] == 12 and len(sim._step_times) == 5
    mean_all = 1000.0 * sim._session_step_seconds / 12
    assert summary["ms_per_step_mean"] == pytest.approx(mean_all)


def test_toml_grid_is_used_unless_the_flag_is_given(tmp_path):
    toml = tmp_path / "physics.toml"
    toml.write_text("[physics]\ngrid_size = [8, 8, 8]\n")
    small = ["--particles", "50", "--device", "cpu", "--quiet", "--no-dashboard", "--steps", "1"]
    assert main(["simulate", *small, "--config", str(toml), "--out", str(tmp_path / "a")]) == 0
    used = json.loads((tmp_path / "a" / "config.json").read_text())["physics"]["grid_size"]
    assert used == [8, 8, 8]
    assert main(["simulate", *small, "--config", str(toml), "--grid", "6",
                 "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["physics"][
        "grid_size"] == [6, 6, 6]


@pytest.mark.parametrize("argv, fragment", [
    (["--particles", "10000000000000"], "GiB of memory"),
    (["--grid", "100000"], "GiB of memory"),
    (["--inject-every-steps", "2", "--inject-particles-min", "10000000000000",
      "--inject-particles-max", "10000000000000"], "GiB of memory"),
    (["--out", "/proc/no/such/place"], "--out /proc/no/such/place: cannot write"),
])
def test_known_bad_sizes_and_paths_are_refused_before_any_work(argv, fragment, tmp_path,
                                                               capsys):
    args = ["simulate", "--steps", "2", "--no-dashboard", "--quiet"]
    if "--out" not in argv:
        args += ["--out", str(tmp_path / "o")]
    assert main(args + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "o" / "config.json").exists()


def test_an_unwritable_video_path_is_refused_before_the_run(tmp_path, capsys):
    (tmp_path / "video_is_a_dir.gif").mkdir()
    for video in ("/proc/no/such/dir/x.gif", str(tmp_path / "video_is_a_dir.gif")):
        assert main(["simulate", *SMALL[:-1], "--steps", "2", "--dashboard-video", video,
                     "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --dashboard-video") and err.count("\n") == 1
    assert not (tmp_path / "o" / "config.json").exists()


def test_cli_failed_run_is_one_line_with_status_2_and_keeps_the_checkpoint(tmp_path, capsys):
    toml = tmp_path / "unstable.toml"
    toml.write_text("[physics]\ncontact = \"seed\"\nyoung_modulus = 1e30\nG = 1e30\n")
    code = main(["simulate", *SMALL, "--steps", "20", "--config", str(toml),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "non-finite" in err and "checkpoint" in err
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["stopped"] == "failed"
    assert load_checkpoint(tmp_path / "run")[0]["step"] >= 0


def test_sigterm_from_outside_keeps_the_run(tmp_path):
    """The real thing: `simulate` in its own process, SIGTERM as `timeout` sends it."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "thermo_manifold", "simulate", *SMALL, "--continuous",
         "--max-seconds", "120", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 90
    while not (out / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # a few steps in
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped"] == "interrupted" and summary["signal"] == "SIGTERM"
    assert load_checkpoint(out)[0]["step"] == summary["steps"] > 0
    assert not (out / "run.lock").exists()


def test_the_ledger_watch_warns_once_when_energy_explodes_and_names_the_source(make_simulator):
    # The seed's contact push on the dense start: the ledger closes (contact_work is booked)
    # while the total grows many times over; the default contact conserves and stays quiet.
    exploding = make_simulator(steps=20, contact="seed", every_steps=0)
    summary = exploding.run()
    assert summary["ledger_residual"] < 1e-9  # closed, and yet
    assert len(summary["warnings"]) == 1 and "mostly through contact_work" in summary[
        "warnings"][0]
    assert summary["final_ledger"]["total"] > simulator_module.GROWTH_WARNING * summary[
        "final_ledger"]["initial_total"]
    assert make_simulator(steps=20, every_steps=0, out=exploding.run_dir.root.parent / "b"
                          ).run()["warnings"] == []


def test_the_ledger_watch_warns_when_the_residual_passes_its_bound(make_simulator, monkeypatch):
    monkeypatch.setattr(simulator_module, "RESIDUAL_WARNING", 0.0)
    summary = make_simulator(steps=5, every_steps=0).run()
    assert [w for w in summary["warnings"] if "residual" in w]


def test_the_residual_of_the_largest_energy_does_not_grow_with_the_energy():
    from thermo_manifold.physics import EnergyLedger

    # 10 units at the start, 1,000 supplied by the contact push, 1,009 there now: 1 unaccounted.
    ledger = EnergyLedger(initial_total=10.0, kinetic=1009.0, contact_work=1000.0)
    assert ledger.residual == pytest.approx(1 / 10)  # against the start: looks like a 10% leak
    assert simulator_module.residual_of_largest(ledger) == pytest.approx(1 / 1009)
    closed = EnergyLedger(initial_total=10.0, kinetic=12.0, injected=2.0)
    assert simulator_module.residual_of_largest(closed) == 0.0
