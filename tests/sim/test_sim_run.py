from __future__ import annotations

import json
import signal

import pytest
import torch

from thermo_manifold.sim import CheckpointError, Simulator
from thermo_manifold.sim.checkpoint import load_checkpoint
from thermo_manifold.sim.simulator import PARTICLE_FIELDS


def quiet(_message: str) -> None:
    pass


def same_state(a, b) -> bool:
    return all(torch.equal(getattr(a.state, f), getattr(b.state, f)) for f in PARTICLE_FIELDS)


@pytest.mark.parametrize("contact", ["seed", "spring_dashpot"])
def test_a_run_with_injections_and_a_budget_closes_the_ledger(make_simulator, contact):
    sim = make_simulator(steps=30, every_steps=8, max_particles=150, contact=contact)
    summary = sim.run()
    ledger = summary["final_ledger"]
    assert summary["stopped"] == "completed" and summary["steps"] == 30
    assert summary["files_injected"] == 3  # steps 8, 16, 24
    assert summary["final_particles"] <= 150
    # Particles in = initial + injected - evicted, and the ledger saw every flow.
    assert summary["final_particles"] == 120 + summary["particles_injected"] - summary[
        "particles_evicted"]
    assert summary["particles_evicted"] > 0
    assert ledger["removed"] == pytest.approx(summary["energy_evicted"], rel=1e-12)
    assert ledger["injected"] > 0
    if contact == "seed":  # no integrator error to report: closes to round-off
        assert summary["ledger_residual"] < 1e-9  # float64
    else:  # velocity Verlet's energy error, with injections and evictions booked
        assert ledger["conservative"] and ledger["potential_edits"] != 0
        # Measured 0.088: the seed's dense start releases its overlaps in a few coarse steps
        # (dt = 0.01 resolves a contact of unit masses in about 7; docs/physics.md).
        assert summary["ledger_residual"] < 0.15
    written = json.loads((sim.run_dir.root / "summary.json").read_text())
    assert written["ledger_residual"] == summary["ledger_residual"]


def test_carrier_anchors_follow_their_oscillators_through_eviction(make_simulator):
    sim = make_simulator(steps=0)
    if sim.carrier_engine is None:
        pytest.skip("thermo_manifold.spectral is not built")
    for _ in range(3):
        tick = sim.carrier_engine.tick(sim.state)
        sim.state = sim.physics.record_external(tick.particles, tick.energy_injected)
    carriers = sim.carrier_engine.carriers
    before = carriers.anchor_index.clone()
    from thermo_manifold.sim.carriers import forget_evicted

    forget_evicted(sim.carrier_engine, 5)
    after = sim.carrier_engine.carriers.anchor_index
    order = torch.argsort(carriers.slot)  # the engine keeps carriers sorted by slot
    before = before[order]
    assert torch.equal(after[before >= 5], before[before >= 5] - 5)
    assert bool((after[(before >= 0) & (before < 5)] == -1).all())


@pytest.mark.parametrize("how", ["hook", "signal"])
def test_interrupt_and_resume_reproduce_an_uninterrupted_run(make_simulator, tmp_path, how):
    whole = make_simulator(out=tmp_path / "whole", steps=36)
    whole.run()

    part = make_simulator(out=tmp_path / "part", steps=36)
    if how == "hook":
        first = part.run(stop_at_step=17)
    else:  # a real SIGINT, delivered at step 17, handled like Ctrl+C
        def press_ctrl_c(sim):
            if sim.step == 17:
                signal.raise_signal(signal.SIGINT)

        first = part.run(on_step=press_ctrl_c)
    assert first["stopped"] == "interrupted" and first["steps"] == 17

    resumed = Simulator.resume(tmp_path / "part", console=quiet)
    assert resumed.step == 17
    second = resumed.run()
    assert second["steps"] == 36 and second["resumed_from_step"] == 17
    assert same_state(resumed, whole)
    assert second["final_ledger"] == whole.summary()["final_ledger"]
    assert second["files_injected"] == whole.summary()["files_injected"]
    if whole.carrier_engine is not None:
        a, b = whole.carrier_engine.state_dict(), resumed.carrier_engine.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k]
                   for k in a)


def test_checkpoint_is_tensors_and_json_and_written_atomically(make_simulator, tmp_path):
    sim = make_simulator(steps=3)
    sim.run()
    files = sorted(p.name for p in sim.run_dir.root.iterdir())
    assert "checkpoint.pt" in files and not any(name.endswith(".tmp") for name in files)
    payload = torch.load(sim.run_dir.root / "checkpoint.pt", weights_only=True)
    assert payload["format"] == "thermo_manifold.sim.checkpoint"
    meta, _ = load_checkpoint(sim.run_dir.root)
    assert meta["step"] == 3 and meta["physics"]["grid_size"] == [12, 12, 12]


def test_truncated_and_foreign_checkpoints_give_clear_errors(make_simulator, tmp_path):
    sim = make_simulator(steps=2)
    sim.run()
    data = (sim.run_dir.root / "checkpoint.pt").read_bytes()
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        Simulator.resume(cut, console=quiet)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"weights": torch.zeros(3)}, foreign / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a thermo_manifold"):
        Simulator.resume(foreign, console=quiet)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Simulator.resume(tmp_path / "nowhere", console=quiet)


def test_resume_may_extend_a_finished_run(make_simulator, tmp_path):
    first = make_simulator(out=tmp_path / "a", steps=5, every_steps=None)
    first.run()
    more = Simulator.resume(tmp_path / "a", changes={"steps": 9}, console=quiet)
    assert more.run()["steps"] == 9
    with pytest.raises(ValueError, match="only change"):
        Simulator.resume(tmp_path / "a", changes={"seed": 3}, console=quiet)


def test_continuous_run_stops_at_max_seconds(make_simulator):
    sim = make_simulator(steps=None, every_steps=None, max_seconds=0.3)
    summary = sim.run()
    assert summary["stopped"] == "max_seconds" and summary["steps"] >= 1
    assert summary["target_steps"] is None


def test_profile_works_for_a_single_step(make_simulator, tmp_path):
    sim = make_simulator(steps=1, every_steps=None)
    sim.profile_steps = 100  # longer than the run: the profiler stops with it
    summary = sim.run()
    trace = json.loads((tmp_path / "run" / "profile" / "trace.json").read_text())
    names = {event.get("name") for event in trace["traceEvents"]}
    assert "sim.physics" in names
    table = (tmp_path / "run" / "tables" / "profile.md").read_text()
    assert "sim.physics" in table and summary["profile"]["trace"].endswith("trace.json")


def test_jacobi_warm_start_survives_a_resume(tmp_path):
    from thermo_manifold.physics import PhysicsConfig
    from thermo_manifold.sim import DashboardOptions, SimulationConfig

    physics = PhysicsConfig(grid_size=(10, 10, 10), poisson="jacobi")
    config = SimulationConfig(particles=80, steps=12, seed=1, carriers=False)
    off = DashboardOptions(enabled=False)
    whole = Simulator(config, physics, tmp_path / "a", dashboard=off, console=quiet)
    whole.run()
    part = Simulator(config, physics, tmp_path / "b", dashboard=off, console=quiet)
    part.run(stop_at_step=5)
    resumed = Simulator.resume(tmp_path / "b", dashboard=off, console=quiet)
    resumed.run()
    assert same_state(resumed, whole)
