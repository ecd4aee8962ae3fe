"""The simulator entry's renderer on a small hand-made result (no simulate runs)."""

from __future__ import annotations

from thermo_manifold.reproduce import sim_tables as st

PROFILE_MD = """**torch.profiler over the first 100 step(s): ...**

| kind | name | calls | total CPU ms | self CPU ms | self % |
|---|---|---|---|---|---|
| phase | sim.physics | 100 | 741 | 600 | 49.94 |
| phase | sim.carriers | 10 | 26 | 3.424 | 0.04544 |
| phase | sim.dashboard | 4 | 2.45e+03 | 2450 | 32.51 |
| op | aten::_fft_r2c | 60 | 807.8 | 592.4 | 7.861 |
"""


def _summary(**changes):
    base = {"steps": 200, "session_steps": 200, "stopped": "completed", "resumed_from_step": None,
            "final_particles": 2205, "files_injected": 3, "particles_injected": 205,
            "particles_evicted": 0, "ms_per_step_mean": 4.9, "ms_per_step_median": 3.3,
            "ledger_residual": 5.1e-06, "wall_seconds_session": 1.0, "dtype": "float32",
            "carriers": {"status": "on", "count": 56, "crystallized": 0, "ticks": 20},
            "checkpoint": True}
    return {**base, **changes}


def _raw() -> dict:
    commands = {row: [st._shown(a) for a in runs] for row, runs in st._plan(False).items()}
    commands["video"] = [c.replace("d.gif", "d.mp4") for c in commands["video"]]
    on = {"carriers": {"status": "on", "ticks": 30}}
    off = {"carriers": {"status": "off"}}
    return {
        "quick": False, "settings": st._settings(False), "load": [0.5, 0.75], "commands": commands,
        "threads": {"torch": 1, "numba": 1},
        "main": {**_summary(), "call_seconds": 5.14},
        "profile": {"steps": 100, "phases": st.profile_phases(PROFILE_MD)},
        "carriers": [_summary(ms_per_step_mean=4.65, with_carriers=True, **on),
                     _summary(ms_per_step_mean=4.40, with_carriers=False, **off),
                     _summary(ms_per_step_mean=4.65, with_carriers=True, **on),
                     _summary(ms_per_step_mean=4.37, with_carriers=False, **off)],
        "dashboard": {"steps": 20, "phases": st.profile_phases(PROFILE_MD)},
        "resume": {"first": _summary(steps=54, stopped="interrupted", files_injected=5,
                                     particles_evicted=273),
                   "second": _summary(steps=86, resumed_from_step=54)},
        "video": {"steps": 20, "format": "mp4", "frames": 4, "size": [1120, 560], "fps": 10.0,
                  "codec": "h264", "pix_fmt": "yuv420p"},
    }


def test_profile_phases_reads_the_simulator_rows_only():
    assert st.profile_phases(PROFILE_MD) == {
        "sim.physics": {"calls": 100, "total_ms": 741.0},
        "sim.carriers": {"calls": 10, "total_ms": 26.0},
        "sim.dashboard": {"calls": 4, "total_ms": 2450.0}}


def test_entry_runs_every_row_in_full_settings():
    (entry,) = st.ENTRIES
    assert entry.name == "sim.measured" and entry.doc == "simulator.md"
    commands = entry.commands(False)
    assert commands[0].startswith("thermo-manifold simulate --particles 2000 --grid 32 --steps 200 "
                                  "--inject-every-steps 50 --quiet --out DIR")
    assert sum("--steps 300" in c for c in commands) == 6          # three runs each, on and off
    assert any("SIGINT after 14 s" in c for c in commands)
    assert all("--steps 20 " in c for c in entry.commands(True)[:1])


def test_table_rows():
    (entry,) = st.ENTRIES
    block = entry.render(_raw())["sim.measured"]
    assert block.startswith("float32, one torch thread and one Numba thread, 1-minute load "
                            "average 0.5 before and 0.75 after the run;")
    assert ("3 files (+205 particles), 56 carriers (0 crystallized), ledger residual 5.1e-06 "
            "(float32), 3.30 ms/step median (4.90 mean), 5.1 s for the whole call") in block
    assert ("`sim.physics` 741 ms over 100 steps; `sim.carriers` 26 ms over 10 ticks (2.6 ms per "
            "tick): the carriers cost 3.5 % of the physics time") in block
    assert ("on: 4.65, 4.65 ms/step mean (30 ticks per run); off: 4.40, 4.37 ms/step. Fastest of "
            "each: 215 against 229 steps/s, so the carriers cost 6 % of a step.") in block
    assert "2 runs each, alternating" in block
    assert "0.61 s per redraw (4 redraws" in block
    assert ("stopped (interrupted) at step 54 (5 files, 273 evicted, checkpoint written, exit 0); "
            "resumed at 54, ran to 86") in block
    assert "| MP4 |" in block and "4 frames, 1120 x 560, h264 yuv420p, 10 fps |" in block


def test_gif_fallback_says_why():
    raw = _raw()
    raw["video"] = {"steps": 20, "format": "gif", "frames": 4, "size": [1120, 560], "fps": 10.0,
                    "codec": None, "pix_fmt": None}
    block = st.ENTRIES[0].render(raw)["sim.measured"]
    assert "| GIF |" in block
    assert "4 frames, 1120 x 560, 10 fps (GIF: the optional imageio-ffmpeg was not installed" in block


def test_carrier_cost_compares_the_fastest_runs():
    cost = st.carrier_cost([{"with_carriers": True, "ms_per_step_mean": 5.0},
                            {"with_carriers": False, "ms_per_step_mean": 4.0},
                            {"with_carriers": True, "ms_per_step_mean": 9.0},
                            {"with_carriers": False, "ms_per_step_mean": 4.5}])
    assert cost["share"] == 0.2 and cost["on"] == [5.0, 9.0] and cost["off"] == [4.0, 4.5]


def test_carrier_cost_below_the_noise_is_said_so():
    raw = _raw()
    for run in raw["carriers"]:
        run["ms_per_step_mean"] = 4.0 if run["with_carriers"] else 4.2
    block = st.ENTRIES[0].render(raw)["sim.measured"]
    assert "the runs without carriers were not faster (5 %)" not in block
    assert "the runs without carriers were not faster (-5 %): the carriers' cost is below" in block
